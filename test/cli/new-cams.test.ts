// gradlens explain with KPCA-CAM, Finer-CAM, Deep Feature Factorization
// (--concepts, the concepts' top classes printed) and Faster-Score-CAM
// (--top-n) on resnet_mini (32x32, a .npy input), and their flag errors.

import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import { afterAll, afterEach, beforeAll, describe, expect, test, vi } from 'vitest';
import { readNpy, writeNpy } from '../../importers/onnx/npy.js';
import { reference } from '../fixtures/explain/reference.js';
import { cli } from '../helpers/cli.js';

const MODEL = 'test/fixtures/explain/resnet_mini.onnx';
const LAYER = '/layer3/relu2/Relu_output_0';
const dir = mkdtempSync(join(tmpdir(), 'gradlens-new-cams-'));
const file = (name: string) => join(dir, name);
const ref = reference();

beforeAll(() => writeFileSync(file('x.npy'), writeNpy(ref.inputs.chelsea, [1, 3, 32, 32])));
afterEach(() => vi.restoreAllMocks());
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const explain = (...args: string[]) => cli('explain', '--model', MODEL, '--input', file('x.npy'), '--layer', LAYER, ...args);
const map = (name: string) => Float32Array.from(readNpy(readFileSync(file(name))).data as Float32Array);

describe('gradlens explain: kpcacam, finercam, dff, --top-n', () => {
  test('--method kpcacam and finercam write maps; finercam names what it compares', async () => {
    const kpca = await explain('--method', 'kpcacam', '--map', file('kpca.npy'), '--json');
    expect(kpca.code).toBe(0);
    expect(JSON.parse(kpca.out).layers).toEqual([{ name: LAYER, shape: [1, 16, 8, 8] }]);
    expect(Math.max(...map('kpca.npy'))).toBeCloseTo(1, 5);
    const finer = await explain('--method', 'finercam', '--class', '4', '--map', file('finer.npy'));
    expect(finer.code).toBe(0);
    expect(finer.out).toMatch(/finercam: Finer-CAM: class 4 vs \d,\d,\d \(alpha 1\)/);
    expect(Math.max(...map('finer.npy'))).toBeCloseTo(1, 5);
  });

  test('--method dff --concepts 3 prints each concept\'s top classes and the concept drawn', async () => {
    const r = await explain('--method', 'dff', '--concepts', '3', '--class', '4', '--map', file('dff.npy'));
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(new RegExp(`dff at '${LAYER}': 3 concepts; drawn: concept \\d \\(the concept the classifier gives the class the highest probability\\)`));
    for (const j of [0, 1, 2]) expect(r.out).toMatch(new RegExp(`concept ${j}: \\d 0\\.\\d{3}, \\d 0\\.\\d{3}`));
    expect(Math.max(...map('dff.npy'))).toBeCloseTo(1, 5);
    // --json keeps stdout one JSON document.
    const json = await explain('--method', 'dff', '--concepts', '2', '--json');
    expect(json.code).toBe(0);
    expect(() => JSON.parse(json.out)).not.toThrow();
  });

  test('--method dff on a photo draws every concept with a legend of its top classes; --json lists them', async () => {
    // PP-OCR's direction classifier: GAP + linear head, so each concept gets its classes (0 and 180 degrees).
    const photo = 'test/fixtures/explain/text.png';
    const ocr = 'test/fixtures/onnx/ch_ppocr_mobile_v2.0_cls_infer.onnx';
    const r = await cli('explain', '--model', ocr, '--image', photo, '--method', 'dff', '--concepts', '3', '--out', file('dff.png'), '--json');
    expect(r.code).toBe(0);
    const json = JSON.parse(r.out);
    expect(json.concepts.count).toBe(3);
    expect(json.concepts.topClasses).toHaveLength(3);
    for (const top of json.concepts.topClasses) expect(top[0].probability).toBeGreaterThanOrEqual(top[1].probability);
    const drawn = PNG.sync.read(readFileSync(file('dff.png')));
    const source = PNG.sync.read(readFileSync(photo));
    // The photo, then one legend line per concept below it.
    expect(drawn.width).toBe(source.width);
    expect(drawn.height).toBeGreaterThan(source.height + 3 * 9);
  });

  test('--top-n: Faster-Score-CAM; 16 of 16 channels is Score-CAM', async () => {
    expect((await explain('--method', 'scorecam', '--class', '4', '--map', file('score.npy'))).code).toBe(0);
    expect((await explain('--method', 'scorecam', '--class', '4', '--top-n', '16', '--map', file('score16.npy'))).code).toBe(0);
    expect(map('score16.npy')).toEqual(map('score.npy'));
    expect((await explain('--method', 'scorecam', '--class', '4', '--top-n', '4', '--map', file('score4.npy'))).code).toBe(0);
    expect(map('score4.npy')).not.toEqual(map('score.npy'));
  });

  test('the flags are refused where they do not apply', async () => {
    const topN = await explain('--method', 'gradcam', '--top-n', '4');
    expect(topN.code).not.toBe(0);
    expect(topN.err).toMatch(/--top-n applies to --method scorecam/);
    const concepts = await explain('--method', 'gradcam', '--concepts', '4');
    expect(concepts.err).toMatch(/--concepts applies to --method dff/);
    const zero = await explain('--method', 'scorecam', '--top-n', '0');
    expect(zero.err).toMatch(/--top-n/);
    const many = await explain('--method', 'scorecam', '--top-n', '17');
    expect(many.err).toMatch(/topN 17 is more than the 16 channels/);
  });
});

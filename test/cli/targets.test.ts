// gradlens explain --target (cli/target.ts): the syntax (each form, each
// error), the forms on resnet_mini and on a one-conv "segmentation" model
// checked against host computations, the shorthands, detectors; and
// --smooth over gradcam.

import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { readNpy, writeNpy } from '../../importers/onnx/npy.js';
import { encodePng } from '../../explainers/node-image.js';
import { nearestResize, parseTarget, TARGET_FORMS } from '../../cli/target.js';
import { UsageError } from '../../cli/args.js';
import { seeded } from '../fixtures/onnx/synthetic.js';
import { cli } from '../helpers/cli.js';
import { oneConvMap } from './tiny-models.js';

const dir = mkdtempSync(join(tmpdir(), 'gradlens-target-'));
const file = (name: string) => join(dir, name);
const MODEL = 'test/fixtures/explain/resnet_mini.onnx';
const CAT = 'test/fixtures/explain/chelsea.png';
const mini = (...args: string[]) => cli('explain', '--model', MODEL, '--image', CAT, ...args);
const firstLine = (r: { err: string }) => r.err.split('\n')[0];

describe('--target syntax', () => {
  test('every accepted form', () => {
    expect(parseTarget('class:3')).toEqual({ kind: 'class', index: 3 });
    expect(parseTarget('softmax:0')).toEqual({ kind: 'softmax', index: 0 });
    expect(parseTarget('binary:1')).toEqual({ kind: 'binary', index: 1 });
    expect(parseTarget('binary:0')).toEqual({ kind: 'binary', index: 0 });
    expect(parseTarget('counterfactual:class:3')).toEqual({ kind: 'counterfactual', inner: { kind: 'class', index: 3 } });
    expect(parseTarget('counterfactual:mask:1:a/b.png')).toEqual({ kind: 'counterfactual', inner: { kind: 'mask', index: 1, file: 'a/b.png' } });
    expect(parseTarget('mask:2:m.npy')).toEqual({ kind: 'mask', index: 2, file: 'm.npy' });
    expect(parseTarget('mask:2:C:/masks/m.PNG')).toEqual({ kind: 'mask', index: 2, file: 'C:/masks/m.PNG' });
    expect(parseTarget('similar:ref.npy')).toEqual({ kind: 'similar', file: 'ref.npy' });
    expect(parseTarget('detection:4')).toEqual({ kind: 'detection', index: 4 });
    expect(parseTarget('detection:all')).toEqual({ kind: 'detection', index: 'all' });
    expect(parseTarget('max')).toEqual({ kind: 'max' });
  });

  test.each([
    ['klass:3', "unknown target kind ('klass')"],
    ['class', "class needs an argument after 'class:' ('class')"],
    ['class:', "class needs an argument after 'class:' ('class:')"],
    ['class:-1', "the class must be a non-negative integer ('-1')"],
    ['softmax:1.5', "the class must be a non-negative integer ('1.5')"],
    ['binary:2', "binary takes class 0 or 1 ('2')"],
    ['detection:top', "the detection (an index, or 'all') must be a non-negative integer ('top')"],
    ['counterfactual:counterfactual:class:1', "a counterfactual of a counterfactual is the target itself ('counterfactual:class:1')"],
    ['counterfactual:detection:0', "counterfactual explanations of detections are not supported"],
    ['counterfactual:nope', "unknown target kind ('nope')"],
    ['mask:1', "mask needs a class and a file: mask:K:<mask.npy|mask.png> ('1')"],
    ['mask:x:m.npy', "the class must be a non-negative integer ('x')"],
    ['mask:1:m.jpg', "mask reads a .npy or a .png file ('m.jpg')"],
    ['similar:ref.txt', "similar reads a .npy or a .png file ('ref.txt')"],
    ['max:3', "max takes no argument ('3')"],
  ])('%s: a UsageError naming the flag, the bad part and the forms', (value, message) => {
    let error: unknown;
    try {
      parseTarget(value);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(UsageError);
    const text = (error as Error).message;
    expect(text.startsWith(`--target '${value}': `)).toBe(true);
    expect(text).toContain(message);
    expect(text).toContain(`Accepted forms: ${TARGET_FORMS.join(', ')}`);
  });

  test('nearest resize of a mask (pixel centres)', () => {
    const mask = { data: Float32Array.from([1, 0, 0, 1]), height: 2, width: 2 };
    expect(Array.from(nearestResize(mask, 4, 4))).toEqual([1, 1, 0, 0, 1, 1, 0, 0, 0, 0, 1, 1, 0, 0, 1, 1]);
    expect(Array.from(nearestResize({ data: Float32Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9]), height: 3, width: 3 }, 1, 1))).toEqual([5]);
  });

  test('--help documents --target and its forms', async () => {
    const r = await cli('explain', '--help');
    const text = r.out + r.err;
    expect(text).toContain('--target');
    for (const form of TARGET_FORMS) expect(text).toContain(form);
  });
});

describe('--target on resnet_mini (chelsea)', () => {
  test('class:K is --class K; counterfactual negates it; max is the top logit; softmax is a probability', async () => {
    const top = JSON.parse((await mini('--json')).out);
    const cls = JSON.parse((await mini('--target', `class:${top.class}`, '--json')).out);
    const short = JSON.parse((await mini('--class', String(top.class), '--json')).out);
    expect(cls.score).toBe(short.score);
    expect(cls.score).toBe(top.score);
    const cf = await mini('--target', `counterfactual:class:${top.class}`, '--json', '--map', file('cf.npy'));
    expect(cf.code).toBe(0); // (its map may be all zero here, with the warning that says so)
    expect(JSON.parse(cf.out).score).toBeCloseTo(-top.score, 5);
    const max = JSON.parse((await mini('--target', 'max', '--json')).out);
    expect(max.score).toBeCloseTo(top.score, 5);
    const soft = JSON.parse((await mini('--target', `softmax:${top.class}`, '--json')).out);
    expect(soft.score).toBeGreaterThan(0);
    expect(soft.score).toBeLessThan(1);
    expect(soft.class).toBe(top.class);
    // The counterfactual map is a map of what lowers the class: not the class map.
    const text = await mini('--target', `counterfactual:class:${top.class}`);
    expect(text.out).toMatch(/counterfactual \(negated\) class \d+ score/);
  });

  test('similar: a photo against itself is 1; a .npy embedding of the wrong size is refused naming both sizes', async () => {
    const same = await mini('--target', `similar:${CAT}`, '--json');
    expect(same.code).toBe(0);
    expect(JSON.parse(same.out).score).toBeCloseTo(1, 5);
    // At its maximum the similarity's gradient vanishes: the map is flagged, not drawn as evidence.
    expect(same.err).toMatch(/warning: the gradient of cosine similarity .* is all zero/);
    const other = JSON.parse((await mini('--target', 'similar:test/fixtures/images/astronaut.png', '--json')).out);
    expect(other.score).toBeLessThan(0.9999);
    writeFileSync(file('ref7.npy'), writeNpy(new Float32Array(7), [7]));
    const wrong = await mini('--target', `similar:${file('ref7.npy')}`);
    expect(wrong.code).toBe(1);
    expect(firstLine(wrong)).toMatch(/reference has 7 values \(shape \[7\]\) but each item of output \[1, \d+\] has \d+/);
  });

  test('errors: --target with a shorthand, bad syntax through the CLI, forms that do not fit the model, a missing file', async () => {
    let r = await mini('--target', 'class:1', '--class', '1');
    expect(r.code).toBe(1);
    expect(firstLine(r)).toBe('gradlens: give --target or its shorthand --class, not both (--class 1 is --target class:1)');
    r = await mini('--target', 'detection:0', '--detection', '0');
    expect(firstLine(r)).toBe('gradlens: give --target or its shorthand --detection, not both (--detection 0 is --target detection:0)');
    r = await mini('--target', 'clas:1');
    expect(firstLine(r)).toMatch(/^gradlens: --target 'clas:1': unknown target kind \('clas'\)\. Accepted forms: class:K/);
    r = await mini('--target', 'binary:1');
    expect(firstLine(r)).toMatch(/binary class 1 .*expects one logit per item \(\[N\] or \[N, 1\]\), got \[1, \d+\]/);
    r = await mini('--target', 'mask:0:nowhere.npy');
    expect(firstLine(r)).toMatch(/cannot read the mask 'nowhere\.npy': no such file or directory/);
    writeFileSync(file('m.npy'), writeNpy(new Float32Array(4), [2, 2]));
    r = await mini('--target', `mask:0:${file('m.npy')}`);
    expect(firstLine(r)).toMatch(/expects segmentation logits \[N, K, H, W\] or a map \[N, H, W\], got \[1, \d+\]/);
    r = await mini('--target', 'detection:0');
    expect(firstLine(r)).toMatch(/--detection, --score and --meta apply to detectors/);
  });

  test('--smooth over gradcam: noise 0 is the plain map; noise changes it; the score stays the clean input\'s', async () => {
    const plain = await mini('--json', '--map', file('plain.npy'));
    const zero = await mini('--smooth', '3', '--noise', '0', '--json', '--map', file('zero.npy'));
    const noisy = await mini('--smooth', '3', '--noise', '0.2', '--seed', '3', '--batch-size', '2', '--json', '--map', file('noisy.npy'));
    expect(zero.err).toBe('');
    const map = (f: string) => Array.from(readNpy(readFileSync(file(f))).data as Float32Array);
    expect(map('zero.npy')).toEqual(map('plain.npy'));
    expect(map('noisy.npy')).not.toEqual(map('plain.npy'));
    expect(JSON.parse(noisy.out).score).toBe(JSON.parse(plain.out).score);
    const vg = await mini('--method', 'gradcam++', '--smooth', '2', '--smooth-type', 'vargrad', '--json');
    expect(vg.code).toBe(0);
  });
});

describe('--target mask on a segmentation-like output (one conv, y [1, 2, 8, 8])', () => {
  test('mask:K:<npy> and <png> (resized, nearest) against the host sum; a wrong-size .npy names both shapes', async () => {
    writeFileSync(file('conv.onnx'), oneConvMap());
    const x = seeded(192, 1);
    writeFileSync(file('x.npy'), writeNpy(x, [1, 3, 8, 8]));
    expect((await cli('run', '--model', file('conv.onnx'), '--input', file('x.npy'), '--out', file('y.npy'))).code).toBe(0);
    const y = readNpy(readFileSync(file('y.npy'))).data as Float32Array;
    // The left half of the image.
    const mask = Float32Array.from({ length: 64 }, (_, p) => (p % 8 < 4 ? 1 : 0));
    writeFileSync(file('mask.npy'), writeNpy(mask, [8, 8]));
    const expected = mask.reduce((a, m, p) => a + m * y[64 + p], 0);
    const run = (target: string) => cli('explain', '--model', file('conv.onnx'), '--input', file('x.npy'), '--target', target, '--json');
    const r = await run(`mask:1:${file('mask.npy')}`);
    expect(r.err).toBe('');
    expect(JSON.parse(r.out).score).toBeCloseTo(expected, 4);
    // A 4x4 PNG, left half white: resized to 8x8 it is the same mask.
    const png = { width: 4, height: 4, data: new Uint8ClampedArray(64) };
    for (let p = 0; p < 16; p++) png.data.set(p % 4 < 2 ? [255, 255, 255, 255] : [0, 0, 0, 255], 4 * p);
    writeFileSync(file('mask.png'), encodePng(png));
    const fromPng = await run(`mask:1:${file('mask.png')}`);
    expect(JSON.parse(fromPng.out).score).toBeCloseTo(expected, 4);
    const cf = await run(`counterfactual:mask:1:${file('mask.npy')}`);
    expect(JSON.parse(cf.out).score).toBeCloseTo(-expected, 4);
    writeFileSync(file('mask6.npy'), writeNpy(new Float32Array(48), [6, 8]));
    const wrong = await run(`mask:1:${file('mask6.npy')}`);
    expect(wrong.code).toBe(1);
    expect(firstLine(wrong)).toMatch(/the mask has shape \[6, 8\] \(48 values\) but the output is \[1, 2, 8, 8\]: the mask must be \[8, 8\]/);
    const outOfRange = await run(`mask:2:${file('mask.npy')}`);
    expect(firstLine(outOfRange)).toMatch(/class 2 is out of range for 2 classes/);
  });
});

describe('--target on a detector (embedded Yolo-Fastest, dog.jpg)', () => {
  test('detection:J is --detection J; class:K picks the top detection of class K; other forms are refused', async () => {
    const a = JSON.parse((await cli('explain', '--target', 'detection:1', '--json')).out);
    const b = JSON.parse((await cli('explain', '--detection', '1', '--json')).out);
    expect(a.score).toBe(b.score);
    expect(a.detection).toEqual(b.detection);
    const c = JSON.parse((await cli('explain', '--target', 'class:16', '--json')).out);
    expect(c.detection.className).toBe('dog');
    const r = await cli('explain', '--target', 'counterfactual:class:16');
    expect(r.code).toBe(1);
    expect(firstLine(r)).toMatch(/--target counterfactual:class:16: a detector explains a detection's score .*counterfactual explanations of detections are not supported/);
    const m = await cli('explain', '--target', 'max');
    expect(firstLine(m)).toMatch(/--target max: a detector explains a detection's score/);
  });

  test('--smooth over a detection (gradcam): noise 0 is the plain map (the detection score is not per copy: one copy a pass)', async () => {
    const plain = await cli('explain', '--detection', '1', '--json', '--map', file('det.npy'));
    const zero = await cli('explain', '--detection', '1', '--smooth', '2', '--noise', '0', '--json', '--map', file('det-zero.npy'));
    expect(zero.code).toBe(0);
    expect(JSON.parse(zero.out).score).toBe(JSON.parse(plain.out).score);
    const map = (f: string) => Array.from(readNpy(readFileSync(file(f))).data as Float32Array);
    expect(map('det-zero.npy')).toEqual(map('det.npy'));
  });
});

// gradlens detect: the detection list of a YOLO model, as text and as JSON,
// and its errors. Runs the command in-process (cli/main.ts main()).

import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, test, vi } from 'vitest';
import { main } from '../../cli/main.js';
import { decodeImage } from '../../explainers/node-image.js';
import { writeNpy } from '../../importers/onnx/npy.js';

const dir = mkdtempSync(join(tmpdir(), 'gradlens-detect-'));

async function detectCli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const log = vi.spyOn(console, 'log').mockImplementation((...a) => void out.push(a.join(' ')));
  const error = vi.spyOn(console, 'error').mockImplementation((...a) => void err.push(a.join(' ')));
  try {
    const code = await main(['detect', ...args]);
    return { code, out: out.join('\n'), err: err.join('\n') };
  } finally {
    log.mockRestore();
    error.mockRestore();
  }
}

afterEach(() => vi.restoreAllMocks());

const SIDECAR = 'test/fixtures/onnx/yolo_fastest_1.1_coco.json';
const MODEL = 'explainers/assets/yolo_fastest_1.1_coco.onnx';

describe('gradlens detect', () => {
  test('--json: one object per detection, boxes on the photo and in the input, the head it came from', async () => {
    const r = await detectCli(['--model', MODEL, '--image', 'explainers/assets/dog.jpg', '--meta', SIDECAR, '--json', '--out', join(dir, 'boxes.png')]);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    const list = JSON.parse(r.out);
    expect(list).toHaveLength(7);
    expect(Object.keys(list[0]).sort()).toEqual(['anchor', 'box', 'cell', 'className', 'classId', 'head', 'index', 'inputBox', 'output', 'score'].sort());
    expect(list[0]).toMatchObject({ index: 0, classId: 2, className: 'car', head: 0, anchor: 0, cell: [7, 2], output: 'yolo0_stride32' });
    expect(list[0].score).toBeCloseTo(0.88246, 3);
    expect(list[0].box.map(Math.round)).toEqual([454, 79, 685, 180]);
    expect(list[0].inputBox[0]).toBeCloseTo((list[0].box[0] * 320) / 768, 1);
    expect(list.map((d: { index: number }) => d.index)).toEqual([0, 1, 2, 3, 4, 5, 6]);
    expect(list[2]).toMatchObject({ className: 'cat', head: 1, output: 'yolo1_stride16' });
    const png = decodeImage(readFileSync(join(dir, 'boxes.png')));
    expect([png.width, png.height]).toEqual([768, 576]);
  });

  test('text output, thresholds, an .npy input (boxes in input pixels), errors', async () => {
    const r = await detectCli(['--conf', '0.5', '--iou', '0.3']);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^4 detections \(darknet heads 'yolo0_stride32' \(stride 32, 3 anchors\), 'yolo1_stride16' \(stride 16, 3 anchors\), 80 classes; conf 0\.5, iou 0\.3\):\n +0 +car +0\.882/);

    // A prepared input: the boxes are in its pixels.
    const x = new Float32Array(3 * 320 * 320).fill(0.5);
    writeFileSync(join(dir, 'x.npy'), writeNpy(x, [1, 3, 320, 320]));
    const grey = await detectCli(['--model', MODEL, '--input', join(dir, 'x.npy'), '--json', '--conf', '0.01']);
    expect(grey.err).toBe('');
    for (const d of JSON.parse(grey.out)) expect(d.box).toEqual(d.inputBox);

    // <model>.json beside the model is read as its sidecar; without it, raw heads are an unknown layout.
    copyFileSync(MODEL, join(dir, 'm.onnx'));
    const bare = await detectCli(['--model', join(dir, 'm.onnx'), '--image', 'explainers/assets/dog.jpg']);
    expect(bare.code).toBe(1);
    expect(bare.err).toMatch(/outputs 'yolo0_stride32' \[1, 255, 10, 10\], 'yolo1_stride16' \[1, 255, 20, 20\] match no known detector layout\..*need their anchors: pass --meta <sidecar\.json>/);
    copyFileSync(SIDECAR, join(dir, 'm.json'));
    const beside = await detectCli(['--model', join(dir, 'm.onnx'), '--image', 'explainers/assets/dog.jpg']);
    expect(beside.err).toBe('');
    expect(beside.out).toMatch(/^\d+ detections \(darknet heads 'yolo0_stride32'.*\n +0 +car +0\.8/);

    let e = await detectCli(['--model', 'test/fixtures/onnx/nsfwjs_mobilenet_v2.onnx', '--image', 'test/fixtures/explain/chelsea.png']);
    expect(e.code).toBe(1);
    expect(e.err).toMatch(/outputs 'dense_3' \[1, 5\].* match no known detector layout/);
    e = await detectCli(['--conf', '2']);
    expect(e.err).toMatch(/--conf '2' must be a number from 0 to 1/);
    e = await detectCli(['--model', MODEL, '--image', 'explainers/assets/dog.jpg', '--meta', join(dir, 'missing.json')]);
    expect(e.err).toMatch(/cannot read the sidecar '.*missing\.json': no such file or directory/);
  });
});

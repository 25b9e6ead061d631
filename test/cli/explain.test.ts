// gradlens explain: the main job on the embedded default, files it writes, and
// its errors. Runs the command in-process (cli/main.ts main()).

import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, test, vi } from 'vitest';
import { main } from '../../cli/main.js';
import { blank, paste } from '../../explainers/image.js';
import { decodeImage } from '../../explainers/node-image.js';
import { readNpy, writeNpy } from '../../importers/onnx/npy.js';

const dir = mkdtempSync(join(tmpdir(), 'gradlens-explain-'));
const file = (name: string) => join(dir, name);

/** Runs `gradlens explain ...args` and returns its exit code and what it printed. */
async function explainCli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const log = vi.spyOn(console, 'log').mockImplementation((...a) => void out.push(a.join(' ')));
  const error = vi.spyOn(console, 'error').mockImplementation((...a) => void err.push(a.join(' ')));
  try {
    const code = await main(['explain', ...args]);
    return { code, out: out.join('\n'), err: err.join('\n') };
  } finally {
    log.mockRestore();
    error.mockRestore();
  }
}

/** Row and column of the largest value of an [H, W] map. */
function peak(map: Float32Array, width: number): [number, number] {
  let best = 0;
  for (let i = 1; i < map.length; i++) if (map[i] > map[best]) best = i;
  return [Math.floor(best / width), best % width];
}

afterEach(() => vi.restoreAllMocks());

describe('gradlens explain', () => {
  test('the embedded default explains the top detection (a car) and writes every file', async () => {
    const r = await explainCli(['--json', '--out', file('car.png'), '--map', file('car-map.npy'), '--raw', file('car-raw.npy'), '--grad', file('car-grad.npy')]);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    const json = JSON.parse(r.out);
    expect(json.class).toBe(2); // car, the strongest Yolo-Fastest detection on dog.jpg (0.883 in onnxruntime)
    expect(json.detection).toMatchObject({ index: 0, classId: 2, className: 'car', head: 0, anchor: 0, cell: [7, 2], output: 'yolo0_stride32' });
    expect(json.detection.score).toBeCloseTo(0.882, 2);
    // The default score is the car's class logit (sigmoid(logit) x objectness = 0.882).
    expect(json.scoreKind).toBe('logit');
    expect(json.score).toBeGreaterThan(2);
    expect(json.layers).toEqual([{ name: '/mods.118/act/LeakyRelu_output_0', shape: [1, 96, 10, 10] }]);
    expect(json.ms).toBeGreaterThan(0);

    const png = decodeImage(readFileSync(file('car.png')));
    expect([png.width, png.height]).toEqual([768, 576]); // the photo's size
    const map = readNpy(readFileSync(file('car-map.npy')));
    expect(map.shape).toEqual([320, 320]);
    const values = Float32Array.from(map.data as Float32Array);
    expect(Math.max(...values)).toBeCloseTo(1, 5);
    expect(Math.min(...values)).toBeGreaterThanOrEqual(0);
    // The car is in the upper right of the photo: so is the map's peak.
    const [row, col] = peak(values, 320);
    expect(row).toBeLessThan(160);
    expect(col).toBeGreaterThan(160);
    expect(readNpy(readFileSync(file('car-raw.npy'))).shape).toEqual([10, 10]);
    expect(readNpy(readFileSync(file('car-grad.npy'))).shape).toEqual([96, 10, 10]);
  });

  test('--class picks the detection of that class: the dog, lower left', async () => {
    const r = await explainCli(['--class', '16', '--method', 'layercam', '--map', file('dog-map.npy')]);
    expect(r.code).toBe(0);
    // The detections first (index, class, score, box on the photo, head), then what was explained.
    expect(r.out).toMatch(/^7 detections \(darknet heads .*\n +0 +car +0\.882 +\[454, 79, 685, 180\] +head 0 \(stride 32\) anchor 0 cell 7,2\n/);
    expect(r.out).toMatch(/^layercam: detection class 16 \(dog\) logit \(head 0 anchor 1 cell 3,6 of 'yolo0_stride32'\), score \d/m);
    const map = readNpy(readFileSync(file('dog-map.npy')));
    const [row, col] = peak(Float32Array.from(map.data as Float32Array), 320);
    expect(row).toBeGreaterThan(160);
    expect(col).toBeLessThan(160);
  });

  test('a classifier from an .npy input: the map has the input size', async () => {
    const x = new Float32Array(3 * 48 * 192).map((_, i) => Math.sin(i / 50));
    const npyPath = file('x.npy');
    writeFileSync(npyPath, writeNpy(x, [1, 3, 48, 192]));
    const r = await explainCli(['--model', 'test/fixtures/onnx/ch_ppocr_mobile_v2.0_cls_infer.onnx', '--input', npyPath, '--method', 'xgradcam', '--class', '1', '--map', file('cls-map.npy'), '--json']);
    expect(r.err).toBe('');
    expect(JSON.parse(r.out).class).toBe(1);
    expect(readNpy(readFileSync(file('cls-map.npy'))).shape).toEqual([48, 192]);
  });

  test('the tiny face detector explains its face (objectness-only darknet head)', async () => {
    const r = await explainCli(['--model', 'test/fixtures/onnx/tiny_face_detector_416.onnx', '--image', 'test/fixtures/images/astronaut.png', '--map', file('face.npy'), '--json']);
    expect(r.err).toBe('');
    const json = JSON.parse(r.out);
    expect(json.detection.className).toBe('face');
    expect(json.detection.score).toBeGreaterThan(0.95); // onnxruntime: 0.975
    expect(json.scoreKind).toBe('logit'); // no class channels: the objectness logit
    const map = readNpy(readFileSync(file('face.npy')));
    expect(map.shape).toEqual([416, 416]);
    // The face's box is about [163, 76, 279, 187] on the 512 px photo: [132, 62, 227, 152] at 416.
    const [row, col] = peak(Float32Array.from(map.data as Float32Array), 416);
    expect(row).toBeGreaterThan(62);
    expect(row).toBeLessThan(152);
    expect(col).toBeGreaterThan(132);
    expect(col).toBeLessThan(227);
  });

  test('a channels-last model (BlazeFace) gets an H x W map, and input-space methods are refused', async () => {
    const args = ['--model', 'test/fixtures/onnx/face_detection_front_128x128_barracuda.onnx', '--image', 'test/fixtures/images/astronaut.png'];
    const r = await explainCli([...args, '--map', file('bf.npy')]);
    expect(r.code).toBe(0);
    expect(readNpy(readFileSync(file('bf.npy'))).shape).toEqual([128, 128]);
    const refused = await explainCli([...args, '--method', 'scorecam']);
    expect(refused.code).toBe(1);
    expect(refused.err).toMatch(/channels-last \(NHWC\) input: scorecam need NCHW/);
  });

  test('errors name the problem', async () => {
    let r = await explainCli(['--method', 'gradkam']);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/unknown method 'gradkam'\. Did you mean 'gradcam'.* Methods: .*gradcam/);
    r = await explainCli(['--class', '5']);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/no detection of class 5 above confidence 0\.25 \(detected classes: .*2.*\)/);
    r = await explainCli(['--model', 'explainers/assets/yolo_fastest_1.1_coco.onnx']);
    expect(r.err).toMatch(/--model needs an --image or an --input/);
    r = await explainCli(['--layer', 'nope']);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/nope/);
    // MobileNetV2's whole-map AveragePool counts as global pooling; its 3-layer head is then what rules CAM out.
    r = await explainCli(['--model', 'test/fixtures/onnx/nsfwjs_mobilenet_v2.onnx', '--image', 'test/fixtures/explain/chelsea.png', '--method', 'cam']);
    expect(r.err).toMatch(/cam: the target reads 'dense_3', which is not the class scores of the linear layer after 'out_relu' \(dense_1_pre\)/);
    r = await explainCli(['--alpha', 'abc']);
    expect(r.err).toMatch(/--alpha 'abc' must be a number from 0 to 1/);
    r = await explainCli(['--method', 'eigencam', '--grad', file('g.npy')]);
    expect(r.err).toMatch(/--grad: method 'eigencam' computes no gradient/);
    r = await explainCli(['--image', file('missing.jpg')]);
    expect(r.err).toMatch(/cannot read the image '.*missing\.jpg': no such file or directory/);
    r = await explainCli(['--detection', '9']);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/detection 9 is out of range: there are 7 detections \(indices 0\.\.6\)/);
    r = await explainCli(['--detection', 'top']);
    expect(r.err).toMatch(/--detection 'top' must be an index in the detection list \(0 = highest score\) or 'all'/);
    r = await explainCli(['--score', 'area']);
    expect(r.err).toMatch(/--score 'area' must be one of logit, prob, obj, box/);
    r = await explainCli(['--model', 'test/fixtures/onnx/nsfwjs_mobilenet_v2.onnx', '--image', 'test/fixtures/explain/chelsea.png', '--detection', '0']);
    expect(r.err).toMatch(/--detection, --score and --meta apply to detectors/);
  });

  test('--detection all: the grid of the composite and one overlay per detection; --map writes the composite', async () => {
    const r = await explainCli(['--detection', 'all', '--score', 'prob', '--out', file('all.png'), '--map', file('all.npy'), '--json']);
    expect(r.err).toBe('');
    const json = JSON.parse(r.out);
    expect(json.scoreKind).toBe('prob');
    expect(json.results.map((x: { detection: { className: string } }) => x.detection.className)).toEqual(['car', 'dog', 'cat', 'bicycle', 'car', 'person', 'bicycle']);
    json.results.forEach((x: { detection: { score: number }; score: number }) => expect(x.score).toBeCloseTo(x.detection.score, 3));
    expect(json.results[2].layers).toEqual([{ name: '/mods.127/act/LeakyRelu_output_0', shape: [1, 120, 20, 20] }]);
    // 8 tiles (composite + 7), 4 per row, 4 px apart, each the photo's size.
    const png = decodeImage(readFileSync(file('all.png')));
    expect([png.width, png.height]).toEqual([4 * 768 + 3 * 4, 2 * 576 + 4]);
    const composite = Float32Array.from(readNpy(readFileSync(file('all.npy'))).data as Float32Array);
    expect(Math.max(...composite)).toBeCloseTo(1, 5);
    expect(composite[319 * 320 + 319]).toBe(0); // the bottom-right corner is in no box
  });
});

describe('image decoding and layout', () => {
  test('paste places an image at an offset and crops what falls outside (center crop, letterbox, grids)', () => {
    const src = { width: 3, height: 2, data: Uint8ClampedArray.from({ length: 24 }, (_, i) => i) };
    const dst = blank(2, 2, 7);
    paste(dst, src, -1, 1); // src pixel (1, 0) lands on dst (0, 1); src row 1 falls outside
    expect(Array.from(dst.data)).toEqual([7, 7, 7, 255, 7, 7, 7, 255, 4, 5, 6, 7, 8, 9, 10, 11]);
  });

  test('a PNG declaring more than 100 megapixels is refused before decoding (decompression bomb)', () => {
    // Signature, IHDR chunk with width 20000 and height 20000; no image data needed.
    const png = Buffer.alloc(33);
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]).copy(png, 0);
    png.writeUInt32BE(13, 8);
    png.write('IHDR', 12, 'ascii');
    png.writeUInt32BE(20000, 16);
    png.writeUInt32BE(20000, 20);
    expect(() => decodeImage(png, 'bomb.png')).toThrow(/bomb\.png: PNG declares 20000x20000 pixels, more than the 100 megapixels/);
  });
});

// YOLO attribution as a library (explainers/yolo): detections of real
// detectors against their stored expectations, every score kind and every
// method on detection targets, all detections from one forward pass, the
// per-box composite, the anchor-free (YOLOv8) layout on a small synthetic
// export, and the errors. Yolo-Fastest and the tiny face detector are
// committed; YOLOv5n (AGPL) is read from ../shared/models and skipped when absent.

import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import {
  boxComposite,
  detect,
  detectInput,
  detectionAt,
  DetectorFormatError,
  detectorHead,
  explainDetection,
  explainDetections,
  MethodNotApplicable,
  methods,
  parseNames,
  SCORE_KINDS,
  TargetError,
  type DarknetSidecar,
  type DetectResult,
  type ExplainableModel,
} from '../../explainers/index.js';
import { boxRegion } from '../../explainers/yolo/explain.js';
import { decodeModel, OnnxGraphModel } from '../../importers/onnx/index.js';
import { encodeModel, floats, int64s, type NodeSpec } from '../fixtures/onnx/onnx-writer.js';
import { modelPath, readModel, SHARED_MODELS } from '../fixtures/onnx/models.js';
import { expectedDetections, readPhoto } from '../fixtures/onnx/photos.js';
import { seeded } from '../fixtures/onnx/synthetic.js';

const FIXTURES = resolve(import.meta.dirname, '../fixtures/onnx');
const sidecar = JSON.parse(readFileSync(resolve(FIXTURES, 'yolo_fastest_1.1_coco.json'), 'utf8')) as DarknetSidecar;
const sig = (v: number) => 1 / (1 + Math.exp(-v));

function load(file: string): OnnxGraphModel | undefined {
  const bytes = readModel(file);
  return bytes && new OnnxGraphModel(decodeModel(bytes));
}

/** The model, counting its forward passes. */
function counted(model: ExplainableModel): { model: ExplainableModel; runs: () => number } {
  let runs = 0;
  const proxy = new Proxy(model, {
    get(target, key) {
      if (key === 'run') return (...args: Parameters<ExplainableModel['run']>) => (runs++, target.run(...args));
      const v = Reflect.get(target, key);
      return typeof v === 'function' ? v.bind(target) : v;
    },
  });
  return { model: proxy, runs: () => runs };
}

/** Same classes in the same order, scores within 0.01, boxes within 2 px. */
function expectDetections(found: DetectResult['detections'], expected: { cls: number; score: number; box: number[]; output?: string }[]): void {
  const show = found.map((d) => `${d.className} ${d.score.toFixed(3)} [${d.box.map((v) => v.toFixed(0))}]`).join('; ');
  expect(found.map((d) => d.classId), show).toEqual(expected.map((e) => e.cls));
  found.forEach((d, i) => {
    expect(d.index).toBe(i);
    expect(Math.abs(d.score - expected[i].score), `${d.className} score`).toBeLessThan(0.01);
    expect(Math.max(...d.box.map((v, k) => Math.abs(v - expected[i].box[k]))), `${d.className} box`).toBeLessThan(2);
    if (expected[i].output) expect(d.source.output).toBe(expected[i].output);
  });
}

test('class names from metadata: Python dicts, Python and JSON lists', () => {
  expect(parseNames("{0: 'person', 1: 'bicycle', 2: \"teddy's bear\"}")).toEqual(['person', 'bicycle', "teddy's bear"]);
  expect(parseNames("['person', 'traffic light']")).toEqual(['person', 'traffic light']);
  expect(parseNames('["a", "b"]')).toEqual(['a', 'b']);
  expect(parseNames("{1: 'no zero'}")).toBeUndefined();
  expect(parseNames(undefined)).toBeUndefined();
});

describe('Yolo-Fastest (darknet heads, sidecar)', () => {
  let model: OnnxGraphModel;
  let result: DetectResult;
  beforeAll(async () => {
    model = load('yolo_fastest_1.1_coco.onnx')!;
    result = await detect(model, readPhoto('dog.jpg')!, { preset: 'yolo-fastest', meta: sidecar });
  });
  afterAll(() => model.dispose());

  test('detects what darknet does on dog.jpg: classes, scores, boxes, heads', () => {
    expect(result.head.format).toBe('darknet');
    expect(result.head.scales.map((s) => [s.output, s.stride, s.layer])).toEqual([
      ['yolo0_stride32', 32, '/mods.118/act/LeakyRelu_output_0'],
      ['yolo1_stride16', 16, '/mods.127/act/LeakyRelu_output_0'],
    ]);
    const expected = expectedDetections('yolo_fastest_detections.json', undefined, 'dog.jpg')!;
    expectDetections(result.detections, expected);
    const car = result.detections[0];
    expect(car).toMatchObject({ className: 'car', head: 0, anchor: 0, cell: [7, 2], stride: 32 });
    // inputBox is in the 320 x 320 input: the photo's box scaled by 320 / 768 and 320 / 576.
    expect(car.inputBox[0]).toBeCloseTo((car.box[0] * 320) / 768, 3);
    expect(car.inputBox[3]).toBeCloseTo((car.box[3] * 320) / 576, 3);
    // The preset alone gives the same head (anchors in presets.ts, names from the file's metadata).
    expect(detectorHead(model, { preset: 'yolo-fastest' }).classNames[2]).toBe('car');
  });

  test('every score kind gives a finite map; prob is the detection score, logit its class logit', async () => {
    const car = result.detections[0];
    const scores: Record<string, number> = {};
    for (const score of SCORE_KINDS) {
      const r = await explainDetection(model, result.input, car, 'gradcam', { head: result.head, score });
      expect(r.layers, score).toEqual(['/mods.118/act/LeakyRelu_output_0']);
      expect(r.map.every(Number.isFinite), score).toBe(true);
      expect(Math.max(...r.map), score).toBeCloseTo(1, 5);
      scores[score] = r.score[0];
    }
    expect(scores.prob).toBeCloseTo(car.score, 4);
    expect(scores.obj * sig(scores.logit)).toBeCloseTo(car.score, 4);
    // The box score sums the car's matched predictions (itself included).
    expect(car.matches.length).toBeGreaterThanOrEqual(1);
    expect(scores.box).toBeGreaterThanOrEqual(scores.prob - 1e-5);
    await expect(explainDetection(model, result.input, car, 'gradcam', { head: result.head, score: 'nope' as never })).rejects.toThrow(/unknown score 'nope'/);
  });

  test('Score-CAM and Ablation-CAM score batches of masked / ablated copies with detection targets', async () => {
    const cat = result.detections[2]; // from the stride-16 head
    for (const [name, score] of [['scorecam', 'box'], ['ablationcam', 'prob']] as const) {
      // Few copies, in batches of 2: each target scores every batch item.
      const r = await explainDetection(model, result.input, cat, name, { head: result.head, score, channels: [0, 30, 60], batchSize: 2 });
      expect(r.layers).toEqual(['/mods.127/act/LeakyRelu_output_0']);
      expect(r.map.every((v) => Number.isFinite(v) && v >= 0 && v <= 1 + 1e-6), `${name} ${score}`).toBe(true);
    }
  });

  test('all detections: one forward pass, maps equal to one-at-a-time, the composite renormalized in each box', async () => {
    const { model: m, runs } = counted(model);
    const all = await explainDetections(m, result.input, result.detections, 'gradcam', { head: result.head });
    expect(runs()).toBe(1);
    expect(all.results.map((r) => r.detection.index)).toEqual(result.detections.map((d) => d.index));
    for (const j of [0, 2]) {
      const one = await explainDetection(model, result.input, result.detections[j], 'gradcam', { head: result.head });
      expect(all.results[j].layers).toEqual(one.layers);
      expect(all.results[j].score[0]).toBeCloseTo(one.score[0], 5);
      expect(Math.max(...all.results[j].map.map((v, i) => Math.abs(v - one.map[i])))).toBeLessThan(1e-4);
      expect(all.results[j].gradient?.shape).toEqual(one.gradient?.shape);
    }
    // Inside each box its map spans [0, 1] (the maximum over overlapping boxes keeps the 1); outside every box, 0.
    const inside = new Uint8Array(320 * 320);
    result.detections.forEach((d, j) => {
      const [x1, y1, x2, y2] = boxRegion(d.inputBox, 320, 320);
      let top = 0;
      for (let y = y1; y < y2; y++) for (let x = x1; x < x2; x++) (inside[y * 320 + x] = 1), (top = Math.max(top, all.composite[y * 320 + x]));
      const own = all.results[j].map;
      let lo = Infinity;
      let hi = -Infinity;
      for (let y = y1; y < y2; y++) for (let x = x1; x < x2; x++) (lo = Math.min(lo, own[y * 320 + x])), (hi = Math.max(hi, own[y * 320 + x]));
      if (hi > lo) expect(top, `detection ${j}`).toBeCloseTo(1, 6);
    });
    expect(all.composite.every((v, i) => inside[i] || v === 0)).toBe(true);
    expect(boxComposite([Float32Array.from([0, 1, 2, 3])], [[0, 0, 2, 1]], 2, 2)).toEqual(Float32Array.from([0, 1, 0, 0]));

    // Eigen-CAM needs no target and no backward: one forward too.
    const eigen = counted(model);
    const e = await explainDetections(eigen.model, result.input, result.detections.slice(0, 3), 'eigencam', { head: result.head });
    expect(eigen.runs()).toBe(1);
    expect(e.results.every((r) => r.map.every(Number.isFinite))).toBe(true);
  });

  test('errors: index out of range, unknown layout without a sidecar, a sidecar that disagrees', () => {
    expect(() => detectionAt(result.detections, 7)).toThrow(/detection 7 is out of range: there are 7 detections \(indices 0\.\.6\)/);
    expect(() => detectionAt([], 0)).toThrow(/there are 0 detections \(nothing to explain\)/);
    expect(() => detectorHead(model)).toThrow(DetectorFormatError);
    expect(() => detectorHead(model)).toThrow(/outputs 'yolo0_stride32' \[1, 255, 10, 10\], 'yolo1_stride16' \[1, 255, 20, 20\] match no known detector layout.*sidecar/);
    const twenty = { ...sidecar, num_classes: 20, names: undefined, outputs: sidecar.outputs.map((o) => ({ ...o, classes: 20 })) };
    expect(() => detectorHead(model, { meta: twenty })).toThrow(
      /output 'yolo0_stride32' has 255 channels, but the sidecar's 3 anchors x \(5 \+ 20 classes\) make 75/,
    );
    const renamed = { ...sidecar, outputs: [{ ...sidecar.outputs[0], name: 'yolo_p5' }] };
    expect(() => detectorHead(model, { meta: renamed })).toThrow(/the sidecar describes output 'yolo_p5', which the model does not have \(outputs: yolo0_stride32, yolo1_stride16\)/);
    const reshaped = { ...sidecar, outputs: [{ ...sidecar.outputs[0], shape: [1, 255, 20, 20] }] };
    expect(() => detectorHead(model, { meta: reshaped })).toThrow(/sidecar says output 'yolo0_stride32' has shape \[1, 255, 20, 20\], the model's is \[1, 255, 10, 10\]/);
    expect(() => detectorHead(model, { preset: 'yolov5' })).toThrow(/preset 'yolov5' expects one yolov5 output/);
  });
});

test('the tiny face detector (Tiny-YOLOv2 head): one face on astronaut.png, explained by objectness', async () => {
  const model = load('tiny_face_detector_416.onnx')!;
  try {
    const result = await detect(model, readPhoto('astronaut.png')!, { preset: 'tiny-face' });
    expect(result.head.format).toBe('tiny-yolov2');
    expectDetections(result.detections, [{ cls: 0, score: 0.975, box: [163, 76, 279, 187] }]);
    expect(result.detections[0].className).toBe('face');
    for (const score of SCORE_KINDS) {
      const r = await explainDetection(model, result.input, result.detections[0], 'layercam', { head: result.head, score });
      expect(r.layers).toEqual(['pool5']);
      expect(r.map.every(Number.isFinite), score).toBe(true);
      if (score === 'prob' || score === 'obj') expect(r.score[0]).toBeCloseTo(result.detections[0].score, 4);
    }
  } finally {
    model.dispose();
  }
});

describe.skipIf(!modelPath('yolov5n_320.onnx'))(`YOLOv5n 320 (../shared/models; skipped when ${SHARED_MODELS} lacks it)`, () => {
  test('the expected detections on three photos, names from the metadata, heads and logits traced through the graph', async () => {
    const model = load('yolov5n_320.onnx')!;
    try {
      const head = detectorHead(model, { preset: 'yolov5' });
      expect(head.format).toBe('yolov5');
      expect(head.classNames[3]).toBe('motorcycle'); // ultralytics' names, not the preset's darknet ones
      expect(head.scales.map((s) => [s.stride, s.grid[0], s.anchors, s.layer])).toEqual([
        [8, 40, 3, '/model.17/cv3/act/Mul_output_0'],
        [16, 20, 3, '/model.20/cv3/act/Mul_output_0'],
        [32, 10, 3, '/model.23/cv3/act/Mul_output_0'],
      ]);
      expect(head.defaultScore).toBe('logit');
      let dog: DetectResult | undefined;
      for (const photo of ['dog.jpg', 'person.jpg', 'horses.jpg']) {
        const img = readPhoto(photo);
        const expected = expectedDetections('yolov5n_detections.json', 'yolov5n_320.onnx', photo);
        if (!img || !expected) continue;
        const result = await detect(model, img, { preset: 'yolov5', head });
        expectDetections(result.detections, expected);
        if (photo === 'dog.jpg') dog = result;
      }
      const car = dog!.detections[0];
      expect(car).toMatchObject({ className: 'car', head: 2, anchor: 0, stride: 32 });
      const score: Record<string, number> = {};
      for (const kind of SCORE_KINDS) {
        const r = await explainDetection(model, dog!.input, car, 'gradcam', { head, score: kind });
        expect(r.layers).toEqual(['/model.23/cv3/act/Mul_output_0']);
        expect(r.map.every(Number.isFinite), kind).toBe(true);
        score[kind] = r.score[0];
      }
      // The logit is read before the decode's Sigmoid: objectness x sigmoid(logit) = the detection's score.
      expect(score.prob).toBeCloseTo(car.score, 4);
      expect(score.obj * sig(score.logit)).toBeCloseTo(car.score, 4);
    } finally {
      model.dispose();
    }
  });
});

// ---- YOLOv8 / YOLO11 layout on a small synthetic export --------------------------------------

/**
 * The anchor-free export layout on a 32 x 32 input, 2 classes: per stride s in
 * 8, 16, 32 a neck tensor p_s (Conv s x s stride s, Relu) feeds a box conv
 * (4 channels) and a class branch (Conv 3x3, Relu, Conv 1x1: 2 channels),
 * every conv with a bias (FullGrad reads them); per head Concat(box, cls) on
 * channels, Reshape to [N, 6, h*w] (shape 0 keeps the batch: Score-CAM runs
 * batches); Concat of the heads on the last axis (columns: 16 + 4 + 1), Split
 * [4, 2], Sigmoid on the class part, Concat back: output [1, 6, 21].
 */
function syntheticV8(): Uint8Array {
  const initializers = [int64s('flat', [3], [0, 6, -1]), int64s('parts', [2], [4, 2])];
  const nodes: NodeSpec[] = [];
  const heads: string[] = [];
  for (const [k, s] of [8, 16, 32].entries()) {
    const w = (name: string, dims: number[], scale: number) => initializers.push(floats(`${name}${k}`, dims, seeded(dims.reduce((a, b) => a * b, 1), 10 * k + initializers.length, -scale, scale)));
    w('wp', [8, 3, s, s], 0.1);
    w('bp', [8], 0.1);
    w('wb', [4, 8, 1, 1], 1);
    w('bb', [4], 0.1);
    w('wc0', [8, 8, 3, 3], 0.3);
    w('bc0', [8], 0.1);
    w('wc', [2, 8, 1, 1], 0.5);
    w('bc', [2], 0.1);
    nodes.push(
      { opType: 'Conv', inputs: ['x', `wp${k}`, `bp${k}`], outputs: [`c${k}`], attrs: { strides: { ints: [s, s] } } },
      { opType: 'Relu', inputs: [`c${k}`], outputs: [`p${k}`] },
      { opType: 'Conv', inputs: [`p${k}`, `wb${k}`, `bb${k}`], outputs: [`box${k}`] },
      { opType: 'Conv', inputs: [`p${k}`, `wc0${k}`, `bc0${k}`], outputs: [`h${k}`], attrs: { pads: { ints: [1, 1, 1, 1] } } },
      { opType: 'Relu', inputs: [`h${k}`], outputs: [`r${k}`] },
      { opType: 'Conv', inputs: [`r${k}`, `wc${k}`, `bc${k}`], outputs: [`cls${k}`] },
      { opType: 'Concat', inputs: [`box${k}`, `cls${k}`], outputs: [`cat${k}`], attrs: { axis: { i: 1 } } },
      { opType: 'Reshape', inputs: [`cat${k}`, 'flat'], outputs: [`view${k}`] },
    );
    heads.push(`view${k}`);
  }
  nodes.push(
    { opType: 'Concat', inputs: heads, outputs: ['xcat'], attrs: { axis: { i: 2 } } },
    { opType: 'Split', inputs: ['xcat', 'parts'], outputs: ['boxes', 'logits'], attrs: { axis: { i: 1 } } },
    { opType: 'Sigmoid', inputs: ['logits'], outputs: ['probs'] },
    { opType: 'Concat', inputs: ['boxes', 'probs'], outputs: ['output0'], attrs: { axis: { i: 1 } } },
  );
  return encodeModel({
    opset: 13,
    metadata: { names: "{0: 'cat', 1: \"dog's\"}", stride: '32' },
    inputs: [{ name: 'x', dims: [1, 3, 32, 32] }],
    outputs: [{ name: 'output0', dims: [1, 6, 21] }],
    initializers,
    nodes: nodes.map((n, i) => ({ ...n, name: `n${i}` })),
  });
}

test('YOLOv8 layout: recognized from the output shape, heads and logits traced, explained at the neck tensor by every method', async () => {
  const model = new OnnxGraphModel(decodeModel(syntheticV8()));
  try {
    const head = detectorHead(model);
    expect(head.format).toBe('yolov8');
    expect(head.classNames).toEqual(['cat', "dog's"]);
    expect(head.scores).toEqual(['logit', 'prob', 'box']);
    expect(head.scales.map((s) => [s.start, s.count, s.stride, s.anchors, s.layer])).toEqual([
      [0, 16, 8, 1, 'p0'],
      [16, 4, 16, 1, 'p1'],
      [20, 1, 32, 1, 'p2'],
    ]);
    const x = { data: Float32Array.from(seeded(3 * 32 * 32, 99, 0, 1)), shape: [1, 3, 32, 32] };
    const { detections } = await detectInput(model, x, { head, conf: 0.01, iou: 1 });
    expect(detections.length).toBeGreaterThan(0);
    for (const d of detections) {
      const column = d.source.index;
      const h = column < 16 ? 0 : column < 20 ? 1 : 2;
      const local = column - [0, 16, 20][h];
      const gw = [4, 2, 1][h];
      expect([d.head, d.anchor, d.cell]).toEqual([h, undefined, [local % gw, Math.floor(local / gw)]]);
      expect(d.box).toEqual(d.inputBox); // no photo: input pixels
    }
    const d = detections.find((e) => e.head === 1) ?? detections[0];
    const logit = await explainDetection(model, x, d, 'gradcam', { head, score: 'logit' });
    const prob = await explainDetection(model, x, d, 'gradcam', { head, score: 'prob' });
    expect(logit.layers).toEqual([`p${d.head}`]);
    expect(logit.target).toMatch(/'logits' before the Sigmoid/);
    expect(sig(logit.score[0])).toBeCloseTo(d.score, 5);
    expect(prob.score[0]).toBeCloseTo(d.score, 5);
    expect(logit.map.every(Number.isFinite)).toBe(true);
    // Every registered method explains a detection (small copies sets: the targets score batches).
    for (const name of Object.keys(methods)) {
      const run = explainDetection(model, x, d, name, { head, channels: [0, 3, 6], batchSize: 2, patch: 8, stride: 8 });
      if (name === 'cam' || name === 'finercam') {
        // CAM reads the weights of a GAP + linear classifier head, Finer-CAM compares a class score with
        // the most similar classes' scores: a detection's score is neither.
        await expect(run, name).rejects.toThrow(MethodNotApplicable);
        continue;
      }
      const r = await run;
      expect(r.map.length, name).toBe(32 * 32);
      expect(r.map.every((v) => Number.isFinite(v) && v >= 0 && v <= 1 + 1e-6), name).toBe(true);
      expect(Number.isFinite(r.score[0]), name).toBe(true);
    }
    await expect(explainDetection(model, x, d, 'gradcam', { head, score: 'obj' })).rejects.toThrow(TargetError);
    await expect(explainDetection(model, x, d, 'gradcam', { head, score: 'obj' })).rejects.toThrow(/score 'obj' is not available for yolov8 detections/);
  } finally {
    model.dispose();
  }
});

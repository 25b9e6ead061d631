// Gradient-free CAMs (Score-CAM, Ablation-CAM, Eigen-CAM, FEM) against float64
// CPU computations of the same formulas, on real ONNX models: resnet_mini (a
// PyTorch-exported ResNet, 32x32, small enough for every channel and a CPU
// forward per mask) and the PP-OCR direction classifier (a real model; a
// channel subset keeps Score-CAM short on lavapipe). The activations are read
// back from the GPU once; masks, scores, weights and maps are recomputed here.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { tensor, type Tensor } from '../../engine/index.js';
import { refTensor } from '../../engine/reference/index.js';
import { loadOnnx, type OnnxGraphModel } from '../../importers/onnx/index.js';
import { classTarget, explain } from '../../explainers/index.js';
import { scoreCamMasks } from '../../explainers/score-cam.js';
import { readModel } from '../fixtures/onnx/models.js';
import {
  EXPLAIN_DIR,
  miniInput,
  ocrInput,
  referenceRun,
  relError,
  resizeAlignCorners,
  softmax,
  symmetricEigen,
  weightedSum,
} from '../helpers/explain-free-reference.js';

const RESNET_LAYER = '/layer3/relu2/Relu_output_0'; // [1, 16, 8, 8]
const RESNET_CLASS = 4;
const OCR_LAYER = 'hardswish_11.tmp_0'; // [1, 104, 3, 96]
const OCR_LOGITS = 'p2o.Add.87'; // pre-softmax [1, 2]

/** Activations of `layer` as read back from the GPU: [C, h, w] values and the shape. */
async function activations(model: OnnxGraphModel, x: Tensor, layer: string): Promise<{ data: Float32Array; c: number; h: number; w: number }> {
  const { outputs, kept } = model.run({ [model.inputs[0].name]: x }, { keep: [layer] });
  const data = await kept[layer].data();
  const [, c, h, w] = kept[layer].shape;
  for (const t of [...Object.values(outputs), kept[layer]]) t.dispose();
  return { data, c, h, w };
}

/** Score-CAM's mask for channel k in float64: align-corners upsampling, (A - min) / (max - min + 1e-8). */
function cpuMask(a: Float32Array, k: number, h: number, w: number, height: number, width: number): Float64Array {
  const up = resizeAlignCorners(a.subarray(k * h * w, (k + 1) * h * w), h, w, height, width);
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of up) {
    lo = Math.min(lo, v);
    hi = Math.max(hi, v);
  }
  return up.map((v) => (v - lo) / (hi - lo + 1e-8));
}

/** Eigen-CAM in float64: projection of the centered [positions x channels] matrix on its top right singular vector. */
function cpuEigenCam(a: Float32Array, c: number, positions: number): { map: Float64Array; gap: number } {
  const centered = new Float64Array(c * positions);
  for (let k = 0; k < c; k++) {
    let m = 0;
    for (let p = 0; p < positions; p++) m += a[k * positions + p];
    m /= positions;
    for (let p = 0; p < positions; p++) centered[k * positions + p] = a[k * positions + p] - m;
  }
  const gram = new Float64Array(c * c);
  for (let i = 0; i < c; i++) {
    for (let j = 0; j < c; j++) {
      let s = 0;
      for (let p = 0; p < positions; p++) s += centered[i * positions + p] * centered[j * positions + p];
      gram[i * c + j] = s;
    }
  }
  const { values, vectors } = symmetricEigen(gram, c);
  const projection = new Float64Array(positions);
  for (let p = 0; p < positions; p++) for (let k = 0; k < c; k++) projection[p] += centered[k * positions + p] * vectors[k * c];
  // Sign: positive correlation with the plain channel sum (the documented convention).
  let agreement = 0;
  for (let p = 0; p < positions; p++) {
    let s = 0;
    for (let k = 0; k < c; k++) s += a[k * positions + p];
    agreement += s * projection[p];
  }
  const sign = agreement < 0 ? -1 : 1;
  return { map: projection.map((v) => Math.max(sign * v, 0)), gap: values[1] / values[0] };
}

/** FEM in float64: sum_k mean_k [A_k > mean_k + K std_k]. */
function cpuFem(a: Float32Array, c: number, positions: number, kSigma: number): Float64Array {
  const out = new Float64Array(positions);
  for (let k = 0; k < c; k++) {
    const ch = a.subarray(k * positions, (k + 1) * positions);
    const mean = ch.reduce((s, v) => s + v, 0) / positions;
    const std = Math.sqrt(ch.reduce((s, v) => s + (v - mean) ** 2, 0) / positions);
    for (let p = 0; p < positions; p++) if (ch[p] > mean + kSigma * std) out[p] += mean;
  }
  return out.map((v) => Math.max(v, 0));
}

describe('gradient-free CAMs on resnet_mini (every channel, float64 CPU reference)', () => {
  let model: OnnxGraphModel;
  let input: Float32Array;
  let x: Tensor;
  let acts: Awaited<ReturnType<typeof activations>>;
  beforeAll(async () => {
    model = await loadOnnx(new Uint8Array(readFileSync(join(EXPLAIN_DIR, 'resnet_mini.onnx'))));
    input = miniInput('chelsea');
    x = tensor(input, [1, 3, 32, 32]);
    acts = await activations(model, x, RESNET_LAYER);
  });
  afterAll(() => {
    x?.dispose();
    model?.dispose();
  });

  test('Score-CAM: weights = softmax of the logits on the masked inputs, scored by a CPU forward per mask', async () => {
    const { data, c, h, w } = acts;
    const scores: number[] = [];
    for (let k = 0; k < c; k++) {
      const mask = cpuMask(data, k, h, w, 32, 32);
      const masked = input.map((v, i) => v * mask[i % (32 * 32)]);
      scores.push(referenceRun(model, masked, ['logits']).values.get('logits')!.data[RESNET_CLASS]);
    }
    const expected = weightedSum(data, softmax(scores), h * w);
    const progress: [number, number][] = [];
    const result = await explain(model, x, 'scorecam', {
      layers: RESNET_LAYER,
      target: classTarget(RESNET_CLASS),
      batchSize: 5,
      onProgress: (done: number, total: number) => progress.push([done, total]),
    });
    expect(result.raw[0].shape).toEqual([1, h, w]);
    expect(relError(result.raw[0].data, expected)).toBeLessThan(2e-4);
    // 16 masks in batches of 5: progress after each batch, on the GPU's completion.
    expect(progress).toEqual([[5, 16], [10, 16], [15, 16], [16, 16]]);
    // The weights are not uniform, so the check above depends on the scores.
    expect(Math.max(...softmax(scores)) / Math.min(...softmax(scores))).toBeGreaterThan(1.5);
  });

  test('Ablation-CAM: w_k = (y - y_k) / y with channel k zeroed, against CPU forwards with the channel zeroed', async () => {
    const { data, c, h, w } = acts;
    const score = (k: number | null) =>
      referenceRun(model, input, ['logits'], {
        replace: {
          [RESNET_LAYER]: (t) => {
            if (k === null) return t;
            const out = refTensor(t.shape, t.data);
            out.data.fill(0, k * h * w, (k + 1) * h * w);
            return out;
          },
        },
      }).values.get('logits')!.data[RESNET_CLASS];
    const y = score(null);
    const weights = Array.from({ length: c }, (_, k) => (y - score(k)) / y);
    const expected = weightedSum(data, weights, h * w);
    const result = await explain(model, x, 'ablationcam', { layers: RESNET_LAYER, target: classTarget(RESNET_CLASS), batchSize: 6 });
    expect(relError(result.raw[0].data, expected)).toBeLessThan(1e-3);
    expect(weights.some((v) => v < 0) && weights.some((v) => v > 0)).toBe(true);
  });

  test('Eigen-CAM: projection on the first principal component (Jacobi eigensolver, sign by the channel sum)', async () => {
    const { data, c, h, w } = acts;
    const { map, gap } = cpuEigenCam(data, c, h * w);
    expect(gap).toBeLessThan(0.9); // a well-separated component: both solvers must find the same one
    const result = await explain(model, x, 'eigencam', { layers: RESNET_LAYER });
    expect(relError(result.raw[0].data, map)).toBeLessThan(1e-3);
  });

  test('FEM: channel means times k-sigma binary masks (k = 2 and k = 1)', async () => {
    const { data, c, h, w } = acts;
    for (const k of [2, 1]) {
      const result = await explain(model, x, 'fem', { layers: RESNET_LAYER, k });
      const expected = cpuFem(data, c, h * w, k);
      expect(expected.some((v) => v > 0)).toBe(true);
      expect(relError(result.raw[0].data, expected)).toBeLessThan(1e-4);
    }
  });
});

describe('gradient-free CAMs on the PP-OCR direction classifier (real model)', () => {
  const bytes = readModel('ch_ppocr_mobile_v2.0_cls_infer.onnx');
  let model: OnnxGraphModel;
  let input: Float32Array;
  let x: Tensor;
  let acts: Awaited<ReturnType<typeof activations>>;
  beforeAll(async () => {
    if (!bytes) return;
    model = await loadOnnx(bytes, { inputShapes: { x: [1, 3, 48, 192] } });
    input = ocrInput();
    x = tensor(input, [1, 3, 48, 192]);
    acts = await activations(model, x, OCR_LAYER);
  });
  afterAll(() => {
    x?.dispose();
    model?.dispose();
  });

  test.runIf(bytes)('Score-CAM masks on the GPU equal the float64 masks (align-corners upsampling, min-max)', async () => {
    const { data, c, h, w } = acts;
    expect([c, h, w]).toEqual([104, 3, 96]);
    const channels = [3, 40, 77];
    const a = tensor(data, [1, c, h, w]);
    const copies = scoreCamMasks(x, a, channels);
    const got = await copies.data();
    a.dispose();
    copies.dispose();
    const expected = new Float64Array(channels.length * input.length);
    channels.forEach((k, j) => {
      const mask = cpuMask(data, k, h, w, 48, 192);
      for (let i = 0; i < input.length; i++) expected[j * input.length + i] = input[i] * mask[i % (48 * 192)];
    });
    expect(relError(got, expected)).toBeLessThan(1e-5);
  });

  test.runIf(bytes)('Score-CAM on a channel subset: batched GPU scores equal one run per masked input', async () => {
    const { data, c, h, w } = acts;
    const channels = [5, 17, 33, 60, 88, 101];
    const target = classTarget(0, { output: OCR_LOGITS });
    const scores: number[] = [];
    for (const k of channels) {
      const mask = cpuMask(data, k, h, w, 48, 192);
      const masked = tensor(
        input.map((v, i) => v * mask[i % (48 * 192)]),
        [1, 3, 48, 192],
      );
      const { outputs, kept } = model.run({ x: masked }, { keep: [OCR_LOGITS] });
      scores.push((await kept[OCR_LOGITS].data())[0]);
      for (const t of [masked, ...Object.values(outputs), kept[OCR_LOGITS]]) t.dispose();
    }
    const weights = new Array<number>(c).fill(0);
    softmax(scores).forEach((v, j) => (weights[channels[j]] = v));
    const expected = weightedSum(data, weights, h * w);
    const result = await explain(model, x, 'scorecam', { layers: OCR_LAYER, target, channels, batchSize: 4 });
    expect(result.raw[0].shape).toEqual([1, 3, 96]);
    expect(relError(result.raw[0].data, expected)).toBeLessThan(1e-3);
    expect(result.map.length).toBe(48 * 192);
  });

  test.runIf(bytes)('Eigen-CAM (104 channels over 288 positions) and FEM against float64', async () => {
    const { data, c, h, w } = acts;
    const { map, gap } = cpuEigenCam(data, c, h * w);
    expect(gap).toBeLessThan(0.9);
    const eigen = await explain(model, x, 'eigencam', { layers: OCR_LAYER });
    expect(relError(eigen.raw[0].data, map)).toBeLessThan(2e-3);
    const femResult = await explain(model, x, 'fem', { layers: OCR_LAYER });
    expect(relError(femResult.raw[0].data, cpuFem(data, c, h * w, 2))).toBeLessThan(1e-4);
  });
});

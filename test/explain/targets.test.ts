// The target kinds of explainers/targets.ts (issue 13): each score and its
// gradient against a plain-TypeScript computation on the host, and the
// counterfactual target's layer gradients against the float64 PyTorch
// reference (the class gradients, negated).

import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { reshape, sum, tape, tensor, type Tensor } from '../../engine/index.js';
import {
  binaryTarget,
  classTarget,
  counterfactualTarget,
  explain,
  maskTarget,
  maxTarget,
  similarityTarget,
  TargetError,
  type Target,
} from '../../explainers/index.js';
import type { OnnxGraphModel } from '../../importers/onnx/index.js';
import { loadFixture, reference, refInput, relError } from '../fixtures/explain/reference.js';

/** Deterministic values in [-1, 1). */
function values(count: number, seed: number): Float32Array {
  let s = seed >>> 0;
  return Float32Array.from({ length: count }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 31 - 1;
  });
}

/** The target's per-item scores on `data` of `shape` and d(sum of scores)/d data, read back. */
async function scoreAndGradient(target: Target, data: Float32Array, shape: number[]): Promise<{ score: Float32Array; grad: Float32Array; shape: number[] }> {
  const x = tensor(data, shape, { requiresGrad: true });
  try {
    const s = target.score({ out: x }, 'out');
    const scoreShape = [...s.shape];
    tape.backward(s.size === 1 ? reshape(s, []) : sum(s));
    const [score, grad] = await Promise.all([s.data(), x.grad!.data()]);
    s.dispose();
    return { score, grad, shape: scoreShape };
  } finally {
    tape.clear();
    x.dispose();
  }
}

const close = (a: ArrayLike<number>, b: ArrayLike<number>, tol = 1e-5) => {
  expect(a.length).toBe(b.length);
  const scale = Math.max(1, ...Array.from(b, Math.abs));
  for (let i = 0; i < a.length; i++) expect(Math.abs(a[i] - b[i]), `element ${i}: ${a[i]} vs ${b[i]}`).toBeLessThanOrEqual(tol * scale);
};

describe('target kinds, score and gradient against the host', () => {
  test('mask: sum of class k over the mask, per item; [N, H, W] maps; mismatches name both shapes', async () => {
    const [n, k, h, w] = [2, 3, 4, 5];
    const x = values(n * k * h * w, 7);
    const mask = Float32Array.from({ length: h * w }, (_, i) => (i % 3 === 0 ? 1 : 0));
    const maskT = tensor(mask, [h, w]);
    for (const m of [mask, maskT]) {
      const r = await scoreAndGradient(maskTarget(2, m, { shape: [h, w] }), x, [n, k, h, w]);
      const expected = Array.from({ length: n }, (_, i) => mask.reduce((acc, mv, p) => acc + mv * x[(i * k + 2) * h * w + p], 0));
      expect(r.shape).toEqual([n]);
      close(r.score, expected);
      // d score / d out[i, c, p] = mask[p] for c = 2, else 0.
      close(r.grad, Float32Array.from({ length: x.length }, (_, j) => (Math.floor(j / (h * w)) % k === 2 ? mask[j % (h * w)] : 0)));
    }
    maskT.dispose();
    // A single-class map [N, H, W] (PP-OCR det's probability map squeezed).
    const single = await scoreAndGradient(maskTarget(0, mask, { shape: [h, w] }), x.subarray(0, n * h * w), [n, h, w]);
    close(single.score, [0, 1].map((i) => mask.reduce((acc, mv, p) => acc + mv * x[i * h * w + p], 0)));
    await expect(scoreAndGradient(maskTarget(0, mask, { shape: [w, h] }), x, [n, k, h, w])).rejects.toThrow(/mask has shape \[5, 4\].*output is \[2, 3, 4, 5\]/);
    await expect(scoreAndGradient(maskTarget(0, new Float32Array(7)), x, [n, k, h, w])).rejects.toThrow(TargetError);
    await expect(scoreAndGradient(maskTarget(3, mask, { shape: [h, w] }), x, [n, k, h, w])).rejects.toThrow(/class 3 is out of range for 3 classes/);
    await expect(scoreAndGradient(maskTarget(0, mask, { shape: [h, w] }), x.subarray(0, 6), [2, 3])).rejects.toThrow(/\[N, K, H, W\].*got \[2, 3\]/);
  });

  test('similarity: cosine of each flattened item with the reference', async () => {
    const [n, d] = [3, 12];
    const x = values(n * d, 11);
    const ref = values(d, 5);
    const r = await scoreAndGradient(similarityTarget(ref), x, [n, 3, 2, 2]);
    const norm = (v: ArrayLike<number>) => Math.sqrt(Array.from(v).reduce((a, b) => a + b * b, 0));
    const nr = norm(ref);
    const expected: number[] = [];
    const grad: number[] = [];
    for (let i = 0; i < n; i++) {
      const o = x.subarray(i * d, (i + 1) * d);
      const no = norm(o);
      const dot = o.reduce((a, v, j) => a + v * ref[j], 0);
      expected.push(dot / (no * nr));
      // d cos / d o = r / (|o||r|) - dot o / (|o|^3 |r|)
      for (let j = 0; j < d; j++) grad.push(ref[j] / (no * nr) - (dot * o[j]) / (no ** 3 * nr));
    }
    expect(r.shape).toEqual([n]);
    close(r.score, expected);
    close(r.grad, grad, 1e-4);
    // The same vector: similarity 1.
    const self = await scoreAndGradient(similarityTarget(ref), ref, [1, d]);
    expect(self.score[0]).toBeCloseTo(1, 5);
    await expect(scoreAndGradient(similarityTarget(values(5, 1)), x, [n, d])).rejects.toThrow(/reference has 5 values.*has 12/);
  });

  test('binary: +logit for class 1, -logit for class 0; K-class outputs refused', async () => {
    const x = values(4, 3);
    const one = await scoreAndGradient(binaryTarget(1), x, [4, 1]);
    close(one.score, x);
    close(one.grad, [1, 1, 1, 1]);
    const zero = await scoreAndGradient(binaryTarget(0), x, [4]);
    close(zero.score, Array.from(x, (v) => -v));
    close(zero.grad, [-1, -1, -1, -1]);
    await expect(scoreAndGradient(binaryTarget(1), x, [2, 2])).rejects.toThrow(/one logit per item.*got \[2, 2\]/);
    expect(() => binaryTarget(2 as 0)).toThrow(/0 or 1/);
  });

  test('counterfactual: the negated score and gradient of the wrapped target; max: per-item largest element', async () => {
    const x = values(2 * 6, 9);
    const base = await scoreAndGradient(classTarget(4), x, [2, 6]);
    const cf = await scoreAndGradient(counterfactualTarget(classTarget(4)), x, [2, 6]);
    close(cf.score, Array.from(base.score, (v) => -v));
    close(cf.grad, Array.from(base.grad, (v) => -v));
    expect(counterfactualTarget(4).label).toMatch(/counterfactual.*class 4/);
    const m = await scoreAndGradient(maxTarget(), x, [2, 2, 3]);
    const rows = [0, 1].map((i) => x.subarray(i * 6, (i + 1) * 6));
    close(m.score, rows.map((r) => Math.max(...r)));
    close(m.grad, rows.flatMap((r) => Array.from(r, (v) => (v === Math.max(...r) ? 1 : 0))));
  });
});

describe('counterfactual Grad-CAM on resnet_mini vs PyTorch (float64)', () => {
  let model: OnnxGraphModel;
  let x: Tensor;
  beforeAll(async () => {
    model = await loadFixture('resnet_mini.onnx');
  });
  afterAll(() => {
    x?.dispose();
    model?.dispose();
  });

  test('the layer gradient is the class gradient negated; the map shows what lowers the class', async () => {
    const ref = reference().models.resnet_mini;
    const layer = ref.layer_names[0];
    x = refInput(ref.input);
    const r = await explain(model, x, 'gradcam', { layers: layer, target: counterfactualTarget(classTarget(ref.category)), inspect: true });
    const negated = ref.layers[layer].gradients.map((g) => -g);
    const err = relError(r.layerData![0].gradients!, negated);
    console.log(`counterfactual gradient at ${layer}: max |ours - (-torch)| / max |torch| = ${err.toExponential(2)}`);
    expect(err).toBeLessThan(1e-3);
    expect(r.score[0]).toBeCloseTo(-ref.score[0], 3);
    expect(r.target).toMatch(/^counterfactual/);
    // CAM (class weights of the classifier) cannot explain a negated score.
    await expect(explain(model, x, 'cam', { target: counterfactualTarget(classTarget(ref.category)) })).rejects.toThrow(/not a class score/);
  });
});

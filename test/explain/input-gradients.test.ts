// The input-gradient methods (saliency, input x gradient, integrated
// gradients) and SmoothGrad over them, on resnet_mini (32x32) against float64
// references: the model's graph run on the importer's reference backend and
// differentiated by its reference tape (helpers/explain-free-reference.ts).
//   saliency          A = |g|,  raw = max_c A          (Simonyan et al. 2014)
//   inputxgradient    A = x g,  raw = sum_c A          (Shrikumar et al. 2016)
//   integratedgrads   A = (x - x') sum_k w_k g(x' + a_k (x - x')), trapezoid on a_k = k / (m - 1)
//   SmoothGrad        mean / mean of squares / variance of A over noisy copies (Smilkov et al. 2017)

import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { sum, tape, tensor, type Tensor } from '../../engine/index.js';
import { classTarget, explain, functionTarget, trapezoidWeights, type Completeness, type ExplainResult } from '../../explainers/index.js';
import { gaussianNoise } from '../../explainers/smooth-grad.js';
import { loadOnnx, type OnnxGraphModel } from '../../importers/onnx/index.js';
import { loadFixture, reference } from '../fixtures/explain/reference.js';
import { batchPinnedCnn } from '../fixtures/onnx/synthetic.js';
import { miniInput, referenceRun, relError } from '../helpers/explain-free-reference.js';
import { expectNoGrowth } from '../helpers/lifetime.js';

const S = 32;
const PLANE = S * S;
const CLASS = reference().models.resnet_mini.category[0];
const target = classTarget(CLASS);

describe('input-gradient methods on resnet_mini', () => {
  let model: OnnxGraphModel;
  let input: Float32Array;
  let x: Tensor;
  let classes: number;
  beforeAll(async () => {
    model = await loadFixture('resnet_mini.onnx');
    input = miniInput('chelsea');
    x = tensor(input, [1, 3, S, S]);
    classes = model.outputs[0].shape[1];
  });
  afterAll(() => {
    x?.dispose();
    model?.dispose();
  });

  /** d logits[CLASS] / d input in float64 at `at`, and the score there. */
  function cpu(at: ArrayLike<number>): { gradient: Float64Array; score: number } {
    const seed = new Float64Array(classes);
    seed[CLASS] = 1;
    const run = referenceRun(model, at, ['logits'], { seed: { name: 'logits', gradient: seed } });
    return { gradient: run.inputGradient!.data, score: run.values.get('logits')!.data[CLASS] };
  }

  /** Reduces [C, H, W] over the channels. */
  const perPixel = (a: ArrayLike<number>, reduce: (values: number[]) => number) => Array.from({ length: PLANE }, (_, p) => reduce([0, 1, 2].map((c) => a[c * PLANE + p])));

  /** IG in float64 on the same trapezoid points. */
  function cpuIntegratedGradients(baseline: ArrayLike<number>, m: number): { attribution: Float64Array; delta: number } {
    const weights = trapezoidWeights(m);
    const total = new Float64Array(input.length);
    const scores: number[] = [];
    for (let k = 0; k < m; k++) {
      const a = k / (m - 1);
      const { gradient, score } = cpu(Array.from(input, (v, i) => baseline[i] + a * (v - baseline[i])));
      for (let i = 0; i < total.length; i++) total[i] += weights[k] * gradient[i];
      scores.push(score);
    }
    return { attribution: total.map((g, i) => (input[i] - baseline[i]) * g), delta: scores[m - 1] - scores[0] };
  }

  test('saliency = |g| (map: max over channels) and inputxgradient = x g (map: channel sum), against the float64 gradient', async () => {
    const { gradient } = cpu(input);
    const sal = await explain(model, x, 'saliency', { target });
    expect(sal.gradient!.shape).toEqual([3, S, S]);
    expect(relError(sal.gradient!.data, gradient.map(Math.abs))).toBeLessThan(1e-3);
    expect(sal.raw[0].shape).toEqual([1, S, S]);
    expect(relError(sal.raw[0].data, perPixel(gradient, (v) => Math.max(...v.map(Math.abs))))).toBeLessThan(1e-3);
    const ixg = await explain(model, x, 'inputxgradient', { target });
    const expected = gradient.map((g, i) => g * input[i]);
    expect(relError(ixg.gradient!.data, expected)).toBeLessThan(1e-3);
    const channelSum = perPixel(expected, (v) => v[0] + v[1] + v[2]);
    expect(relError(ixg.raw[0].data, channelSum)).toBeLessThan(1e-3);
    // The map is the positive part of the signed sum, scaled to [0, 1].
    const hi = Math.max(...channelSum);
    expect(relError(ixg.map, channelSum.map((v) => Math.max(v, 0) / hi))).toBeLessThan(1e-3);
    expect(channelSum.some((v) => v < 0)).toBe(true);
  });

  test('integrated gradients: the completeness gap shrinks with the steps (< 1% at 64), and IG matches the float64 IG on the same points', async () => {
    const progress: [number, number][] = [];
    const run = (steps: number, batchSize: number) => explain(model, x, 'integratedgradients', { target, steps, batchSize, onProgress: (d, t) => progress.push([d, t]) });
    const coarse = await run(8, 8);
    const fine = await run(64, 16);
    const [g8, g64] = [coarse.completeness!, fine.completeness!];
    expect(g8.steps).toBe(8);
    expect(g64.relativeGap[0]).toBeLessThan(0.01);
    expect(g64.gap[0]).toBeLessThan(g8.gap[0]);
    // One batch of 8, then four of 16: progress after each.
    expect(progress).toEqual([[8, 8], [16, 64], [32, 64], [48, 64], [64, 64]]);
    // f(x) - f(x') and f(x') are the path's end points: the score of x, and of the black baseline.
    expect(g64.delta[0] + g64.baselineScore[0]).toBeCloseTo(fine.score[0], 3);
    expect(g64.baselineScore[0]).toBeCloseTo(cpu(new Float64Array(input.length)).score, 3);
    const gap = (r: ExplainResult, c: Completeness) => Math.abs(r.gradient!.data.reduce((a, b) => a + b, 0) - c.delta[0]);
    expect(gap(coarse, g8)).toBeCloseTo(g8.gap[0], 3);

    const m = 12;
    const ref = cpuIntegratedGradients(new Float64Array(input.length), m);
    const ig = await explain(model, x, 'integratedgradients', { target, steps: m, batchSize: 5 });
    expect(relError(ig.gradient!.data, ref.attribution)).toBeLessThan(1e-3);
    expect(relError(ig.raw[0].data, perPixel(ref.attribution, (v) => v[0] + v[1] + v[2]))).toBeLessThan(1e-3);
  });

  test("integrated gradients from a blurred baseline: the blur is a Gaussian with replicated edges, and a tensor baseline gives the same IG", async () => {
    const sigma = 2;
    const blurred = cpuBlur(input, 3, S, S, sigma);
    const blur = await explain(model, x, 'integratedgradients', { target, steps: 6, baseline: 'blur', blurSigma: sigma });
    expect(blur.completeness!.baselineScore[0]).toBeCloseTo(cpu(blurred).score, 3);
    const given = tensor(blurred, [3, S, S]);
    const withTensor = await explain(model, x, 'integratedgradients', { target, steps: 6, baseline: given });
    given.dispose();
    expect(relError(withTensor.gradient!.data, blur.gradient!.data)).toBeLessThan(1e-4);
    const ref = cpuIntegratedGradients(blurred, 6);
    expect(relError(blur.gradient!.data, ref.attribution)).toBeLessThan(1e-3);
  });

  describe('SmoothGrad', () => {
    test('noise 0 gives the base method exactly, at any batch size', async () => {
      for (const method of ['saliency', 'inputxgradient'] as const) {
        const base = await explain(model, x, method, { target });
        const smooth = await explain(model, x, method, { target, smooth: 3, noise: 0, batchSize: 2 });
        expect(Array.from(smooth.gradient!.data), method).toEqual(Array.from(base.gradient!.data));
        expect(Array.from(smooth.map), method).toEqual(Array.from(base.map));
      }
      const ig = await explain(model, x, 'integratedgradients', { target, steps: 4, batchSize: 4 });
      const smoothIg = await explain(model, x, 'integratedgradients', { target, steps: 4, batchSize: 4, smooth: 2, noise: 0 });
      expect(Array.from(smoothIg.gradient!.data)).toEqual(Array.from(ig.gradient!.data));
    });

    test('the mean equals a sequential loop over the same noisy copies', async () => {
      const n = 3;
      const noise = 0.2;
      const sigma = noise * (Math.max(...input) - Math.min(...input));
      const smooth = await explain(model, x, 'inputxgradient', { target, smooth: n, noise, seed: 7, batchSize: 2 });
      const mean = new Float64Array(input.length);
      for (let s = 0; s < n; s++) {
        const e = gaussianNoise(input.length, sigma, 7, 0, s);
        const noisy = tensor(Array.from(input, (v, i) => v + e[i]), [1, 3, S, S]);
        const one = await explain(model, noisy, 'inputxgradient', { target });
        noisy.dispose();
        one.gradient!.data.forEach((v, i) => (mean[i] += v / n));
      }
      expect(relError(smooth.gradient!.data, mean)).toBeLessThan(1e-5);
      // The noise is real: the mean differs from the noiseless attribution.
      const base = await explain(model, x, 'inputxgradient', { target });
      expect(relError(base.gradient!.data, mean)).toBeGreaterThan(0.01);
    });

    test('vargrad of one sample is 0; smoothgrad_sq >= smoothgrad^2 (Jensen); a seed repeats, another differs', async () => {
      const one = await explain(model, x, 'saliency', { target, smooth: 1, noise: 0.2, smoothType: 'vargrad' });
      expect(one.gradient!.data.every((v) => v === 0)).toBe(true);
      const options = { target, smooth: 4, noise: 0.2, seed: 3, batchSize: 3 };
      const mean = await explain(model, x, 'inputxgradient', { ...options, smoothType: 'smoothgrad' });
      const sq = await explain(model, x, 'inputxgradient', { ...options, smoothType: 'smoothgrad_sq' });
      const variance = await explain(model, x, 'inputxgradient', { ...options, smoothType: 'vargrad' });
      mean.gradient!.data.forEach((m, i) => {
        // sq is formed as m^2 + variance in float32: allow the rounding of m^2.
        expect(sq.gradient!.data[i]).toBeGreaterThanOrEqual(m * m * (1 - 1e-6));
        expect(Math.abs(sq.gradient!.data[i] - m * m - variance.gradient!.data[i])).toBeLessThanOrEqual(1e-6 * sq.gradient!.data[i] + 1e-30);
      });
      expect(variance.gradient!.data.some((v) => v > 0)).toBe(true);
      const again = await explain(model, x, 'inputxgradient', { ...options, smoothType: 'smoothgrad' });
      expect(Array.from(again.gradient!.data)).toEqual(Array.from(mean.gradient!.data));
      const rebatched = await explain(model, x, 'inputxgradient', { ...options, batchSize: 1 });
      expect(relError(rebatched.gradient!.data, mean.gradient!.data)).toBeLessThan(1e-5);
      const other = await explain(model, x, 'inputxgradient', { ...options, seed: 4 });
      expect(relError(other.gradient!.data, mean.gradient!.data)).toBeGreaterThan(1e-3);
    });
  });

  test('an abort mid-run rejects with the signal reason, and the engine goes on', async () => {
    const controller = new AbortController();
    const reason = new Error('stop: a newer request');
    let batches = 0;
    const run = explain(model, x, 'integratedgradients', {
      target,
      steps: 64,
      batchSize: 4,
      signal: controller.signal,
      onProgress: () => {
        if (++batches === 2) controller.abort(reason);
      },
    });
    await expect(run).rejects.toBe(reason);
    expect(batches).toBe(2);
    expect(tape.liveNodes).toBe(0);
    const after = await explain(model, x, 'saliency', { target, smooth: 2, signal: new AbortController().signal });
    expect(after.map.every(Number.isFinite)).toBe(true);
  });

  test('every variant returns the GPU buffers it allocates, also when aborted', async () => {
    const aborted = () => {
      const controller = new AbortController();
      return explain(model, x, 'integratedgradients', { target, steps: 12, batchSize: 4, signal: controller.signal, onProgress: () => controller.abort(new Error('stop')) }).catch(() => null);
    };
    const calls: [string, () => Promise<unknown>][] = [
      ['saliency', () => explain(model, x, 'saliency', { target })],
      ['inputxgradient smoothgrad_sq', () => explain(model, x, 'inputxgradient', { target, smooth: 3, batchSize: 2, smoothType: 'smoothgrad_sq' })],
      ['integratedgradients blur + vargrad', () => explain(model, x, 'integratedgradients', { target, steps: 3, baseline: 'blur', smooth: 2, smoothType: 'vargrad', batchSize: 4 })],
      ['integratedgradients completeness', () => explain(model, x, 'integratedgradients', { target, steps: 5, batchSize: 3 })],
      ['aborted', aborted],
    ];
    for (const [name, call] of calls) await expectNoGrowth(name, call);
  });

  test('options are checked', async () => {
    await expect(explain(model, x, 'integratedgradients', { steps: 1 })).rejects.toThrow(/steps must be an integer >= 2/);
    await expect(explain(model, x, 'saliency', { smooth: 0 })).rejects.toThrow(/smooth must be a positive integer/);
    await expect(explain(model, x, 'saliency', { noise: 0.1 })).rejects.toThrow(/noise and smoothType apply with smooth/);
    // @ts-expect-error not a smoothType
    await expect(explain(model, x, 'saliency', { smooth: 2, smoothType: 'mean' })).rejects.toThrow(/smoothType must be one of smoothgrad, smoothgrad_sq, vargrad/);
    const wrong = tensor(new Float32Array(3 * 16 * 16), [1, 3, 16, 16]);
    await expect(explain(model, x, 'integratedgradients', { baseline: wrong })).rejects.toThrow(/baseline of shape \[1, 3, 16, 16\] does not fit the input \[1, 3, 32, 32\]/);
    wrong.dispose();
  });
});

test('a graph that pins batch 1 runs one item at a time, with the same numbers', async () => {
  const model = await loadOnnx(batchPinnedCnn([1, -1]));
  const x = tensor(
    Array.from({ length: 32 }, (_, i) => Math.sin(i)),
    [1, 2, 4, 4],
  );
  try {
    // Every output element: the ReLU keeps some of them alive at any input.
    const t = functionTarget((v) => sum(v.y), 'sum of y');
    const base = await explain(model, x, 'saliency', { target: t });
    const progress: number[] = [];
    const smooth = await explain(model, x, 'saliency', { target: t, smooth: 3, noise: 0, batchSize: 3, onProgress: (done) => progress.push(done) });
    expect(Array.from(smooth.gradient!.data)).toEqual(Array.from(base.gradient!.data));
    // The batch of 3 failed before running: one copy at a time.
    expect(progress).toEqual([1, 2, 3]);
    const ig = await explain(model, x, 'integratedgradients', { target: t, steps: 5 });
    expect(ig.completeness!.delta[0]).toBeGreaterThan(0);
  } finally {
    x.dispose();
    model.dispose();
  }
});

/** Separable Gaussian blur of [C, H, W] with radius ceil(3 sigma), edges replicated (float64). */
function cpuBlur(src: ArrayLike<number>, c: number, h: number, w: number, sigma: number): Float64Array {
  const r = Math.max(1, Math.ceil(3 * sigma));
  const k = Array.from({ length: 2 * r + 1 }, (_, i) => Math.exp(-((i - r) ** 2) / (2 * sigma * sigma)));
  const total = k.reduce((a, b) => a + b, 0);
  const clamp = (v: number, n: number) => Math.min(Math.max(v, 0), n - 1);
  const down = new Float64Array(c * h * w);
  const out = new Float64Array(c * h * w);
  for (let ch = 0; ch < c; ch++) {
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        let s = 0;
        for (let i = -r; i <= r; i++) s += (k[i + r] / total) * src[ch * h * w + clamp(y + i, h) * w + x];
        down[ch * h * w + y * w + x] = s;
      }
    }
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        let s = 0;
        for (let i = -r; i <= r; i++) s += (k[i + r] / total) * down[ch * h * w + y * w + clamp(x + i, w)];
        out[ch * h * w + y * w + x] = s;
      }
    }
  }
  return out;
}

// Activation maximization: the TV regularizer and the jitter roll against CPU
// formulas (values and gradients), and gradient ascent on a real model, whose
// objective must rise over the steps.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { backward, tensor } from '../../engine/index.js';
import { loadOnnx } from '../../importers/onnx/index.js';
import { activationMax, roll, totalVariation } from '../../explainers/activation-max.js';
import { classTarget } from '../../explainers/index.js';
import { EXPLAIN_DIR, uniform } from '../helpers/explain-free-reference.js';

/** TV_beta of [C, H, W] in float64 (cropped to (H-1) x (W-1), mean over C (H-1) (W-1)). */
function cpuTv(x: ArrayLike<number>, c: number, h: number, w: number, beta: number): number {
  let total = 0;
  for (let k = 0; k < c; k++) {
    for (let i = 0; i < h - 1; i++) {
      for (let j = 0; j < w - 1; j++) {
        const v = x[(k * h + i) * w + j];
        const d = (x[(k * h + i) * w + j + 1] - v) ** 2 + (x[(k * h + i + 1) * w + j] - v) ** 2;
        total += beta === 2 ? d : (d + 1e-8) ** (beta / 2);
      }
    }
  }
  return total / (c * (h - 1) * (w - 1));
}

describe('activation maximization', () => {
  test('total variation: value and gradient (beta 2 and 1) match float64 finite differences', async () => {
    const [c, h, w] = [2, 4, 5];
    const values = uniform(c * h * w, -1, 1, 3);
    for (const beta of [2, 1]) {
      const x = tensor(values, [1, c, h, w], { requiresGrad: true });
      const tv = totalVariation(x, beta);
      const got = (await tv.data())[0];
      expect(got).toBeCloseTo(cpuTv(values, c, h, w, beta), 5);
      backward(tv);
      const grad = await x.grad!.data();
      const eps = 1e-6;
      values.forEach((_, i) => {
        const up = [...values];
        const down = [...values];
        up[i] += eps;
        down[i] -= eps;
        const numeric = (cpuTv(up, c, h, w, beta) - cpuTv(down, c, h, w, beta)) / (2 * eps);
        expect(Math.abs(grad[i] - numeric)).toBeLessThan(1e-4 + 1e-3 * Math.abs(numeric));
      });
      x.dispose();
      tv.dispose();
    }
  });

  test('roll shifts with wrap-around along an axis', async () => {
    const x = tensor([0, 1, 2, 3, 4, 5], [1, 1, 2, 3]);
    expect(Array.from(await roll(x, 1, 3).data())).toEqual([2, 0, 1, 5, 3, 4]);
    expect(Array.from(await roll(x, -1, 2).data())).toEqual([3, 4, 5, 0, 1, 2]);
    x.dispose();
  });

  test('gradient ascent raises a channel\'s mean activation and a class logit on vgg_mini', async () => {
    const model = await loadOnnx(new Uint8Array(readFileSync(join(EXPLAIN_DIR, 'vgg_mini.onnx'))));
    try {
      const progress: number[] = [];
      const channel = await activationMax(model, { layer: '/relu3/Relu_output_0', channel: 5 }, { steps: 24, learningRate: 0.05, seed: 7, onProgress: (s) => progress.push(s) });
      expect(channel.shape).toEqual([3, 32, 32]);
      expect(channel.history.length).toBe(25);
      expect(progress.at(-1)).toBe(24);
      checkRising(channel.history);

      // vgg_mini flattens its last feature map, so its logits are position-sensitive: no jitter there.
      const logit = await activationMax(model, { target: classTarget(3) }, { steps: 24, learningRate: 0.05, seed: 7, range: [-2, 2], jitter: 0 });
      checkRising(logit.history);
      expect(Math.max(...logit.image)).toBeLessThanOrEqual(2);
      expect(Math.min(...logit.image)).toBeGreaterThanOrEqual(-2);
    } finally {
      model.dispose();
    }
  });
});

/** Rises overall, and step to step most of the time (jitter makes single steps noisy). */
function checkRising(history: number[]): void {
  const first = history[0];
  const last = history.at(-1)!;
  expect(last - first).toBeGreaterThan(0.5 * Math.max(Math.abs(first), 0.1));
  const ups = history.slice(1).filter((v, i) => v > history[i]).length;
  expect(ups / (history.length - 1)).toBeGreaterThan(0.7);
  // The second half ends higher than the first half (not one lucky step).
  const half = Math.floor(history.length / 2);
  const mean = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;
  expect(mean(history.slice(half))).toBeGreaterThan(mean(history.slice(0, half)));
}

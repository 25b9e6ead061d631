// Faithfulness metrics on constructed cases with known answers: the noisy
// linear imputation (exact on what it must reproduce, and solving its own
// equations), Average Drop / Increase in Confidence and ROAD on a linear model
// whose scores are region means.

import { describe, expect, test } from 'vitest';
import { tensor } from '../../engine/index.js';
import { loadOnnx } from '../../importers/onnx/index.js';
import { classTarget } from '../../explainers/index.js';
import { seededRandom } from '../../engine/random.js';
import { noisyLinearImpute } from '../../explainers/imputation.js';
import { confidenceChange, removalMask, road } from '../../explainers/metrics.js';
import { encodeModel, floats } from '../fixtures/onnx/onnx-writer.js';
import { uniform } from '../helpers/explain-free-reference.js';

const S = 16;
const inR = (p: number) => Math.floor(p / S) >= 4 && Math.floor(p / S) < 8 && p % S >= 4 && p % S < 8;
const inQ = (p: number) => Math.floor(p / S) >= 10 && Math.floor(p / S) < 14 && p % S >= 10 && p % S < 14;

/** logits = [mean over R, mean over R - mean over Q] of the channel-averaged image, for [N, 3, 16, 16]. */
function regionModel(): Uint8Array {
  const w = new Array<number>(2 * 3 * S * S).fill(0);
  for (let c = 0; c < 3; c++) {
    for (let p = 0; p < S * S; p++) {
      const i = c * S * S + p;
      if (inR(p)) w[i] = w[3 * S * S + i] = 1 / 48;
      if (inQ(p)) w[3 * S * S + i] = -1 / 48;
    }
  }
  return encodeModel({
    opset: 13,
    nodes: [
      { opType: 'Flatten', name: 'flat', inputs: ['x'], outputs: ['f'] },
      { opType: 'Gemm', name: 'fc', inputs: ['f', 'w'], outputs: ['logits'], attrs: { transB: { i: 1 } } },
    ],
    initializers: [floats('w', [2, 3 * S * S], w)],
    inputs: [{ name: 'x', dims: [1, 3, S, S] }],
    outputs: [{ name: 'logits', dims: [1, 2] }],
  });
}

/** Residual of the imputation equations at removed pixels: sum_j w_j (x_j - x_i) over in-image neighbours. */
function stencilResidual(img: Float32Array, c: number, h: number, w: number, removed: Uint8Array): number {
  const stencil: [number, number, number][] = [[-1, -1, 1 / 12], [-1, 0, 1 / 6], [-1, 1, 1 / 12], [0, -1, 1 / 6], [0, 1, 1 / 6], [1, -1, 1 / 12], [1, 0, 1 / 6], [1, 1, 1 / 12]];
  let worst = 0;
  for (let k = 0; k < c; k++) {
    for (let p = 0; p < h * w; p++) {
      if (!removed[p]) continue;
      const [y, x] = [Math.floor(p / w), p % w];
      let r = 0;
      for (const [dy, dx, wt] of stencil) {
        if (y + dy < 0 || y + dy >= h || x + dx < 0 || x + dx >= w) continue;
        r += wt * (img[k * h * w + (y + dy) * w + x + dx] - img[k * h * w + p]);
      }
      worst = Math.max(worst, Math.abs(r));
    }
  }
  return worst;
}

describe('noisy linear imputation (ROAD)', () => {
  test('reproduces an image linear along x exactly, and a constant surround in a hole', () => {
    const [c, h, w] = [2, 12, 10];
    const img = new Float32Array(c * h * w);
    for (let k = 0; k < c; k++) for (let p = 0; p < h * w; p++) img[k * h * w + p] = (k + 1) * 0.3 * (p % w) - k;
    // Remove random pixels off the left and right columns (one-sided there, the stencil is not exact).
    const random = seededRandom(5);
    const removed = Uint8Array.from({ length: h * w }, (_, p) => (p % w > 0 && p % w < w - 1 && random() < 0.6 ? 1 : 0));
    const out = noisyLinearImpute(img, [c, h, w], removed, { noise: 0 });
    out.forEach((v, i) => expect(v).toBeCloseTo(img[i], 4));

    const flat = new Float32Array(h * w).fill(0.25);
    const hole = Uint8Array.from({ length: h * w }, (_, p) => (Math.floor(p / w) >= 3 && Math.floor(p / w) < 9 && p % w >= 2 && p % w < 8 ? 1 : 0));
    for (const p of hole.keys()) if (hole[p]) flat[p] = 9; // the removed values must not leak in
    noisyLinearImpute(flat, [1, h, w], hole, { noise: 0 }).forEach((v) => expect(v).toBeCloseTo(0.25, 5));
  });

  test('solves its equations on a random image and mask (borders included); noise has the given spread', () => {
    const [c, h, w] = [3, 20, 24];
    const img = Float32Array.from(uniform(c * h * w, -1, 1, 11));
    const random = seededRandom(9);
    const removed = Uint8Array.from({ length: h * w }, () => (random() < 0.8 ? 1 : 0));
    const out = noisyLinearImpute(img, [c, h, w], removed, { noise: 0 });
    expect(stencilResidual(out, c, h, w, removed)).toBeLessThan(1e-5);
    out.forEach((v, i) => {
      if (!removed[i % (h * w)]) expect(v).toBe(img[i]); // kept pixels are copied
    });
    const noisy = noisyLinearImpute(img, [c, h, w], removed, { noise: 0.05, random: seededRandom(3) });
    const diffs = Array.from(noisy, (v, i) => v - out[i]).filter((_, i) => removed[i % (h * w)]);
    const std = Math.sqrt(diffs.reduce((a, d) => a + d * d, 0) / diffs.length);
    expect(std).toBeGreaterThan(0.045);
    expect(std).toBeLessThan(0.055);
  });

  test('removal masks take exactly round(p% n) pixels from the top or the bottom of the ranking', () => {
    const order = [3, 1, 4, 0, 2]; // most relevant first
    expect(Array.from(removalMask(order, 40, true))).toEqual([0, 1, 0, 1, 0]);
    expect(Array.from(removalMask(order, 40, false))).toEqual([1, 0, 1, 0, 0]);
  });
});

describe('faithfulness metrics on a region-mean model', () => {
  test('Average Drop and Increase in Confidence: a halved image, and a map that removes negative evidence', async () => {
    const model = await loadOnnx(regionModel());
    const plane = S * S;
    const images = new Float32Array(2 * 3 * plane);
    const maps = new Float32Array(2 * plane);
    for (let c = 0; c < 3; c++) {
      for (let p = 0; p < plane; p++) {
        images[c * plane + p] = 0.6;
        images[(3 + c) * plane + p] = inR(p) ? 0.8 : inQ(p) ? 0.3 : 0.1;
      }
    }
    for (let p = 0; p < plane; p++) {
      maps[p] = 0.5; // image 0, class 0: O = Y / 2
      maps[plane + p] = inR(p) ? 1 : 0; // image 1, class 1: O = mean R = 0.8 > Y = 0.5
    }
    const x = tensor(images, [2, 3, S, S]);
    try {
      const r = await confidenceChange(model, x, maps, classTarget([0, 1]));
      expect(r.scores[0]).toBeCloseTo(0.6, 5);
      expect(r.scores[1]).toBeCloseTo(0.5, 5);
      expect(r.maskedScores[0]).toBeCloseTo(0.3, 5);
      expect(r.maskedScores[1]).toBeCloseTo(0.8, 5);
      expect(r.drop[0]).toBeCloseTo(0.3, 5);
      expect(r.drop[1]).toBe(0);
      expect(r.averageDrop).toBeCloseTo(25, 3);
      expect(r.increaseInConfidence).toBe(50);
    } finally {
      x.dispose();
      model.dispose();
    }
  });

  test('ROAD: removing the relevant square first drops the score to the surround, removing the rest first keeps it', async () => {
    const model = await loadOnnx(regionModel());
    const plane = S * S;
    const image = new Float32Array(3 * plane);
    const map = new Float32Array(plane);
    for (let p = 0; p < plane; p++) {
      for (let c = 0; c < 3; c++) image[c * plane + p] = inR(p) ? 1 : 0.2;
      // The square is the most relevant; elsewhere a ramp orders the rest (rightmost more relevant).
      map[p] = inR(p) ? 1 : (0.5 * (p % S)) / S;
    }
    const x = tensor(image, [1, 3, S, S]);
    try {
      const progress: number[] = [];
      const r = await road(model, x, map, classTarget(0), { noise: 0, percentages: [10, 30, 50, 70, 90], batchSize: 4, onProgress: (d) => progress.push(d) });
      expect(progress).toEqual([4, 8, 10]);
      expect(r.score).toBeCloseTo(1, 5);
      // MoRF removes the square (16 of 256 pixels < 10 %): imputed from the 0.2 surround.
      r.morf.forEach((v) => expect(v).toBeCloseTo(0.2, 4));
      // LeRF removes at most 90 % from the bottom: the square stays.
      r.lerf.forEach((v) => expect(v).toBeCloseTo(1, 4));
      expect(r.combined).toBeCloseTo(0.4, 4);
    } finally {
      x.dispose();
      model.dispose();
    }
  });
});

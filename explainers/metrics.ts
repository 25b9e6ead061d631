// Faithfulness metrics: does the model's score follow the map?
//
// Confidence change when the image is multiplied by its map (Chattopadhay,
// Sarkar, Howlader, Balasubramanian, "Grad-CAM++", WACV 2018, §6.1.1), with Y
// the score on the image and O the score on image (.) map:
//   Average Drop %          = 100 / N  sum_i max(0, Y_i - O_i) / Y_i
//   Increase in Confidence  = 100 / N  sum_i [Y_i < O_i]
// (pytorch-grad-cam's DropInConfidence / IncreaseInConfidence report the
// unnormalized max(0, Y - O) and the indicator per image; both are returned.)
// Meaningful for scores that are positive (probabilities: use a softmax target).
//
// ROAD, RemOve And Debias (Rong, Leemann, Borisov, Kasneci, Kasneci, "A
// Consistent and Efficient Evaluation Strategy for Attribution Methods", ICML
// 2022): remove the p% most relevant pixels (MoRF) or the p% least relevant
// (LeRF), fill them by noisy linear imputation (imputation.ts: a CPU conjugate-
// gradient solve of the paper's sparse system) and score the result. A faithful
// map makes the MoRF score fall fast and the LeRF score stay high; the summary
// is (mean LeRF - mean MoRF) / 2 over the percentages, higher is better
// (pytorch-grad-cam's ROADCombined). Pixels are ranked by the map and exactly
// round(p% of H W) of them removed (ties broken by position), where
// pytorch-grad-cam thresholds at a percentile and names MoRF by the share kept;
// over the symmetric default set 10..90 % both give the same averages.
// The imputed copies are scored on the GPU in batches, read back once.

import { exclusive, mul, scopeAsync, seededRandom, tensor, type Tensor } from '../engine/index.js';
import { imageInput, scoreBatch, scoreCopies, type BatchOptions } from './batched.js';
import { ExplainError } from './errors.js';
import { noisyLinearImpute } from './imputation.js';
import type { ExplainableModel } from '../engine/index.js';
import { toTarget, type TargetSpec } from './targets.js';

export interface ConfidenceChange {
  /** Y_i: the score on each image. */
  scores: number[];
  /** O_i: the score on image (.) map. */
  maskedScores: number[];
  /** max(0, Y - O) per image (pytorch-grad-cam's DropInConfidence). */
  drop: number[];
  /** Average Drop in percent: 100 * mean of max(0, Y - O) / Y. */
  averageDrop: number;
  /** Increase in Confidence in percent: 100 * the share of images with O > Y. */
  increaseInConfidence: number;
}

/** Checks and returns N, H, W of an NCHW input and its maps [N, H, W]. */
function mapsFor(input: Tensor, maps: Float32Array): [number, number, number] {
  if (input.shape.length !== 4) throw new ExplainError(`the input must be NCHW, got [${input.shape.join(', ')}]`);
  const [n, , h, w] = input.shape;
  if (maps.length !== n * h * w) throw new ExplainError(`maps have ${maps.length} values; the input [${input.shape.join(', ')}] needs [${n}, ${h}, ${w}] (maps at input resolution, one per image)`);
  return [n, h, w];
}

/**
 * Average Drop and Increase in Confidence of `maps` ([N, H, W], in [0, 1], at
 * the input's resolution) for `target` (per image: a class per image is fine here).
 */
export async function confidenceChange(model: ExplainableModel, input: Tensor, maps: Float32Array, target: TargetSpec): Promise<ConfidenceChange> {
  imageInput(model, 'confidence change');
  const [n, h, w] = mapsFor(input, maps);
  const t = toTarget(target);
  const [scores, maskedScores] = await exclusive(() =>
    scopeAsync(async () => {
      const y = scoreBatch(model, t, input);
      const o = scoreBatch(model, t, mul(input, tensor(maps, [n, 1, h, w])));
      return Promise.all([y.data(), o.data()]);
    }),
  );
  const drop = Array.from(scores, (v, i) => Math.max(0, v - maskedScores[i]));
  const relative = drop.map((d, i) => d / scores[i]);
  return {
    scores: [...scores],
    maskedScores: [...maskedScores],
    drop,
    averageDrop: (100 * relative.reduce((a, b) => a + b, 0)) / n,
    increaseInConfidence: (100 * Array.from(scores).filter((v, i) => maskedScores[i] > v).length) / n,
  };
}

export interface RoadOptions extends BatchOptions {
  /** Percentages of pixels removed (default 10, 20, ..., 90). */
  percentages?: readonly number[];
  /** Imputation noise (default 0.01, as the paper; in input units). */
  noise?: number;
  seed?: number;
}

export interface RoadResult {
  percentages: number[];
  /** The score on the unmodified image. */
  score: number;
  /** Scores after removing the most relevant p% (MoRF) and the least relevant p% (LeRF). */
  morf: number[];
  lerf: number[];
  morfMean: number;
  lerfMean: number;
  /** (lerfMean - morfMean) / 2: higher means a more faithful map. */
  combined: number;
}

/** The pixels removed at `percent`: 1 for the `round(percent% n)` highest (`most`) or lowest values. */
export function removalMask(order: readonly number[], percent: number, most: boolean): Uint8Array {
  const n = order.length;
  const k = Math.round((percent / 100) * n);
  const removed = new Uint8Array(n);
  for (let i = 0; i < k; i++) removed[most ? order[i] : order[n - 1 - i]] = 1;
  return removed;
}

/** ROAD for one image [1, C, H, W] and its map [H, W]; see the file comment. */
export async function road(model: ExplainableModel, input: Tensor, map: Float32Array, target: TargetSpec, options: RoadOptions = {}): Promise<RoadResult> {
  imageInput(model, 'ROAD');
  const [n, h, w] = mapsFor(input, map);
  if (n !== 1) throw new ExplainError(`ROAD takes one image at a time, got a batch of ${n}`);
  const percentages = [...(options.percentages ?? [10, 20, 30, 40, 50, 60, 70, 80, 90])];
  for (const p of percentages) if (!(p >= 0 && p < 100)) throw new ExplainError(`ROAD percentage ${p} must be in [0, 100)`);
  const t = toTarget(target);
  const c = input.shape[1];
  const pixels = await input.data();
  // Most relevant first; ties by position.
  const order = Array.from({ length: h * w }, (_, i) => i).sort((a, b) => map[b] - map[a] || a - b);
  const random = seededRandom(options.seed ?? 1);
  const impute = (percent: number, most: boolean) =>
    noisyLinearImpute(pixels, [c, h, w], removalMask(order, percent, most), { noise: options.noise ?? 0.01, random });
  // Copies 0..P-1: MoRF, P..2P-1: LeRF, in the order of `percentages`.
  const copies = [...percentages.map((p) => impute(p, true)), ...percentages.map((p) => impute(p, false))];
  const [score, all] = await exclusive(() => scopeAsync(async () => {
    const base = scoreBatch(model, t, input);
    const scores = await scoreCopies(model, t, copies.length, (start, end) => {
      const batch = new Float32Array((end - start) * c * h * w);
      for (let i = start; i < end; i++) batch.set(copies[i], (i - start) * c * h * w);
      return tensor(batch, [end - start, c, h, w]);
    }, options);
    return Promise.all([base.data(), scores.data()]);
  }), options.signal);
  const k = percentages.length;
  const morf = Array.from(all.subarray(0, k));
  const lerf = Array.from(all.subarray(k, 2 * k));
  const avg = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;
  return { percentages, score: score[0], morf, lerf, morfMean: avg(morf), lerfMean: avg(lerf), combined: (avg(lerf) - avg(morf)) / 2 };
}

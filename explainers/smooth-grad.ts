// SmoothGrad and its variants, as Captum's NoiseTunnel has them: the
// attribution of an input-gradient method averaged over noisy copies of the
// input. Smilkov, Thorat, Kim, Viégas, Wattenberg, "SmoothGrad: removing
// noise by adding noise", 2017, §3 (eq. 4):
//
//   smoothgrad     M(x) = 1/n sum_s A(x + e_s),     e_s ~ N(0, sigma^2)
//   smoothgrad_sq  1/n sum_s A(x + e_s)^2           (Captum's nt_type 'smoothgrad_sq')
//   vargrad        1/n sum_s A(x + e_s)^2 - M(x)^2  (Adebayo et al., "Local Explanation
//                  Methods for Deep Neural Networks Lack Sensitivity to Parameter Values",
//                  ICLR-W 2018; Captum's 'vargrad': the population variance)
//
// with A the base method's per-element attribution [1, C, H, W] and sigma
// given relative to the input's range, sigma = noise * (max(x) - min(x)), as
// the paper's "noise level" (§3.1: 10-20% works best; the default is 15%).
//
// The samples are folded in one at a time with Welford's update
// (m += (a - m) / k, M2 += (a - m_old)(a - m_new)), on the GPU: identical
// samples (noise 0) give the base attribution bit for bit and a variance of
// exactly 0, and M2 never goes negative. smoothgrad_sq is formed as
// m^2 + M2 / n, the same quantity as the mean of squares, which keeps
// smoothgrad_sq >= smoothgrad^2 in floating point too.
//
// The noise is drawn on the host from the seeded PRNG (Box-Muller), one
// stream per (seed, image, sample), so results do not depend on batchSize.
//
// Any other method (the CAM family, FullGrad, Score-CAM, occlusion...) is
// smoothed by the driver (explain.ts) through smoothMaps: A is then the
// method's final map [1, H, W] (each in [0, 1]; the mean is not rescaled), of
// the same noisy copies x + e_s (same streams, same sigma), run batchSize
// copies per pass of the method, with the target fixed by the clean input's pass.

import { add, concat, div, max, min, mul, scopeAsync, seededRandom, slice, sub, tape, tensor, zeros, type Tensor } from '../engine/index.js';
import type { ProgressCallback } from './batched.js';
import { scalar } from './cam-math.js';
import { MethodNotApplicable, TargetError } from './errors.js';

export const SMOOTH_TYPES = ['smoothgrad', 'smoothgrad_sq', 'vargrad'] as const;
export type SmoothType = (typeof SMOOTH_TYPES)[number];

/** SmoothGrad's options, taken by every input-gradient method. */
export interface SmoothGradOptions {
  /** Noisy samples to average (SmoothGrad's n); unset: no smoothing. */
  smooth?: number;
  /** Noise standard deviation relative to the input's max - min (default 0.15). */
  noise?: number;
  /** What is returned over the samples (default 'smoothgrad': the mean). */
  smoothType?: SmoothType;
  /** Seed of the noise (default 1). */
  seed?: number;
}

export interface SmoothSettings {
  samples: number;
  noise: number;
  type: SmoothType;
  seed: number;
}

/** The validated smoothing settings, or null when `smooth` is unset. */
export function smoothSettings(options: SmoothGradOptions, method: string): SmoothSettings | null {
  const { smooth, noise = 0.15, smoothType = 'smoothgrad', seed = 1 } = options;
  if (smooth === undefined) {
    if (options.noise !== undefined || options.smoothType !== undefined) throw new MethodNotApplicable(method, 'noise and smoothType apply with smooth (the number of noisy samples)');
    return null;
  }
  if (!Number.isInteger(smooth) || smooth < 1) throw new MethodNotApplicable(method, `smooth must be a positive integer (noisy samples), got ${String(smooth)}`);
  if (typeof noise !== 'number' || !Number.isFinite(noise) || noise < 0) throw new MethodNotApplicable(method, `noise must be a number >= 0 (relative to the input's range), got ${String(noise)}`);
  if (!SMOOTH_TYPES.includes(smoothType)) throw new MethodNotApplicable(method, `smoothType must be one of ${SMOOTH_TYPES.join(', ')}, got '${String(smoothType)}'`);
  if (!Number.isInteger(seed)) throw new MethodNotApplicable(method, `seed must be an integer, got ${String(seed)}`);
  return { samples: smooth, noise, type: smoothType, seed };
}

/** A 32-bit hash of (seed, image, sample): the start of that sample's noise stream. */
function streamSeed(seed: number, image: number, sample: number): number {
  let h = Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13) ^ Math.imul(image + 1, 0xc2b2ae35), 0x27d4eb2f);
  h = Math.imul(h ^ (h >>> 15) ^ Math.imul(sample + 1, 0x165667b1), 0x85ebca6b);
  return (h ^ (h >>> 16)) >>> 0;
}

/** `count` N(0, sigma^2) values of sample `sample` of image `image` (Box-Muller). */
export function gaussianNoise(count: number, sigma: number, seed: number, image: number, sample: number): Float32Array {
  const random = seededRandom(streamSeed(seed, image, sample));
  const out = new Float32Array(count);
  for (let i = 0; i < count; i += 2) {
    const r = Math.sqrt(-2 * Math.log(1 - random())) * sigma;
    const theta = 2 * Math.PI * random();
    out[i] = r * Math.cos(theta);
    if (i + 1 < count) out[i + 1] = r * Math.sin(theta);
  }
  return out;
}

/** x [1, C, H, W] plus its sample's noise (x itself when sigma is 0). */
export function noisyCopy(x: Tensor, sigma: number, seed: number, image: number, sample: number): Tensor {
  if (sigma === 0) return x.view(x.shape);
  return add(x, tensor(gaussianNoise(x.size, sigma, seed, image, sample), x.shape));
}

/**
 * Welford's running mean and M2 of [1, C, H, W] attributions. `add` and
 * `result` create tensors in the caller's scope; the caller disposes what it replaces.
 */
export class NoiseTunnel {
  private count = 0;
  mean: Tensor | null = null;
  m2: Tensor | null = null;

  constructor(private readonly type: SmoothType) {}

  /** Folds in one sample; returns the tensors it replaced (to dispose). */
  add(a: Tensor): Tensor[] {
    this.count++;
    const old = [this.mean, this.m2].filter((t): t is Tensor => t !== null);
    if (!this.mean) {
      this.mean = a;
      this.m2 = this.type === 'smoothgrad' ? null : zeros(a.shape);
      return [];
    }
    const delta = sub(a, this.mean);
    const mean = add(this.mean, div(delta, scalar(this.count)));
    if (this.m2) this.m2 = add(this.m2, mul(delta, sub(a, mean)));
    this.mean = mean;
    return old;
  }

  /** The smoothed attribution. */
  result(): Tensor {
    if (!this.mean) throw new Error('NoiseTunnel: no sample');
    if (this.type === 'smoothgrad') return this.mean;
    const variance = div(this.m2!, scalar(this.count));
    return this.type === 'vargrad' ? variance : add(mul(this.mean, this.mean), variance);
  }
}

/** What smoothMaps needs of one pass of a method over a batch of noisy copies [k, C, H, W]. */
export interface SmoothPass {
  /** The final maps [k, H, W]. */
  map: Tensor;
  /** The target's scores: one per copy ([k]) when the target scores each item on its own. */
  score: Tensor;
}

/** A batch of copies whose target score is not one per copy: rerun one copy at a time. */
class NotPerItem extends Error {}

const isBatchError = (e: unknown) => e instanceof Error && e.name === 'OnnxBatchError';

/**
 * SmoothGrad over a method's final maps (see the header): for each image i of
 * `image` [N, C, H, W], `settings.samples` noisy copies noisyCopy(x_i, sigma_i,
 * seed, i, s), sigma_i = noise * (max(x_i) - min(x_i)), run `batchSize` at a
 * time through `run`, their maps folded by the NoiseTunnel. Returns [N, H, W]
 * in the caller's scope. A graph pinned to batch 1 (OnnxBatchError) or a
 * target that does not score each copy on its own (a detection's score) goes
 * on one copy at a time: the same numbers.
 */
export async function smoothMaps(
  image: Tensor,
  settings: SmoothSettings,
  run: (copies: Tensor) => Promise<SmoothPass>,
  options: { batchSize?: number; onProgress?: ProgressCallback; signal?: AbortSignal } = {},
): Promise<Tensor> {
  const n = image.shape[0];
  const samples = settings.samples;
  let size = options.batchSize ?? 16;
  if (!Number.isInteger(size) || size < 1) throw new MethodNotApplicable('SmoothGrad', `batchSize must be a positive integer, got ${String(size)}`);
  const perImage: Tensor[] = [];
  for (let i = 0; i < n; i++) {
    const x = n === 1 ? image : tape.noGrad(() => slice(image, [i], [i + 1], [0]));
    let sigma = 0;
    if (settings.noise > 0) {
      const extremes = tape.noGrad(() => [max(x), min(x)]);
      const [hi, lo] = await Promise.all(extremes.map((t) => t.data()));
      extremes.forEach((t) => t.dispose());
      sigma = settings.noise * (hi[0] - lo[0]);
    }
    const tunnel = new NoiseTunnel(settings.type);
    for (let s = 0; s < samples; ) {
      options.signal?.throwIfAborted();
      const k = Math.min(size, samples - s);
      let maps: Tensor;
      try {
        maps = await scopeAsync(async () => {
          const copies = tape.noGrad(() => {
            const parts = Array.from({ length: k }, (_, j) => noisyCopy(x, sigma, settings.seed, i, s + j));
            return k === 1 ? parts[0] : concat(parts, 0);
          });
          const pass = await run(copies);
          if (k > 1 && (pass.score.size !== k || pass.map.shape[0] !== k)) throw new NotPerItem();
          return pass.map;
        });
      } catch (e) {
        // (A target written for one item may refuse a batch outright: a TargetError, tried again alone.)
        if (k > 1 && (e instanceof NotPerItem || e instanceof TargetError || isBatchError(e))) {
          size = 1;
          continue;
        }
        throw e;
      }
      tape.noGrad(() => {
        for (let j = 0; j < k; j++) {
          const a = k === 1 ? maps : slice(maps, [j], [j + 1], [0]);
          for (const t of tunnel.add(a)) t.dispose();
        }
      });
      if (k > 1) maps.dispose();
      s += k;
      options.onProgress?.(i * samples + s, n * samples);
    }
    perImage.push(tape.noGrad(() => tunnel.result()));
    if (x !== image) x.dispose();
  }
  return perImage.length === 1 ? perImage[0] : tape.noGrad(() => concat(perImage, 0));
}

// Integrated Gradients. Sundararajan, Taly, Yan, "Axiomatic Attribution for
// Deep Networks", ICML 2017, §3 eq. (1) and §5 eq. (3):
//
//   IG_i(x) = (x_i - x'_i) * integral_0^1 d F(x' + a (x - x')) / d x_i  da
//
// approximated with the trapezoidal rule on m points a_k = k / (m - 1),
// k = 0..m-1 (Captum's 'riemann_trapezoid', with n_steps = m): weights
// 1 / (m - 1), halved at both ends. The paper's eq. (3) is the right Riemann
// sum; the trapezoid has the same cost per point, removes its first-order
// error term, and its end points are x' and x themselves, so f(x') and f(x)
// for the completeness check come from the same batches.
//
// Completeness (§3, Proposition 1): sum_i IG_i(x) = F(x) - F(x'). The gap
// |sum(IG) - (F(x) - F(x'))| measures the quadrature error (it shrinks as m
// grows) and is reported as ExplainResult.completeness; the paper advises 20 to
// 300 steps to bring it within 5%.
//
// Baselines x': 'black' (zeros of the model input, Captum's default: black
// for inputs in [0, 1], the mean colour for mean/std-normalized ones), 'blur'
// (the input under a Gaussian blur of `blurSigma` pixels, default a tenth of
// its larger side, edges replicated: Sturmfels, Lundberg, Lee, "Visualizing
// the Impact of Feature Attribution Baselines", Distill 2020), or a tensor
// ([C, H, W], [1, C, H, W], or one per image [N, C, H, W]).
//
// The m points of each image run as batches of `batchSize` (default 16), one
// backward per batch (input-gradients.ts). `gradient` holds IG [N, C, H, W],
// `raw` its channel sum (signed), `map` the positive part scaled to [0, 1].
// SmoothGrad noises x, not the baseline (a blur baseline is that of the clean
// input), as Captum's NoiseTunnel(IntegratedGradients) with given baselines.

import { add, conv2d, mul, pad, reshape, sub, tensor, zeros, type Tensor } from '../engine/index.js';
import { item } from './batched.js';
import { MethodNotApplicable } from './errors.js';
import { inputGradientPass, type Attribution, type InputGradientExtras, type InputGradientOptions } from './input-gradients.js';
import type { CamContext, CamMethod } from './method.js';

/** The completeness check of one integrated-gradients pass, per image. */
export interface Completeness {
  /** |sum(IG) - (f(x) - f(x'))|. */
  gap: number[];
  /** gap / |f(x) - f(x')| (Infinity where f(x) = f(x') and the gap is not 0). */
  relativeGap: number[];
  /** f(x) - f(x') (under SmoothGrad: the mean over the noisy copies). */
  delta: number[];
  /** f(x'): the target's score on the baseline. */
  baselineScore: number[];
  /** sum(IG), in float64 over the float32 attribution. */
  sum: number[];
  /** The integration points per input. */
  steps: number;
}

export interface IntegratedGradientsOptions extends InputGradientOptions {
  /** Integration points m, both ends included (default 50, as Captum's n_steps). */
  steps?: number;
  /** x': 'black' (zeros, the default), 'blur', or a tensor [C, H, W], [1, C, H, W] or [N, C, H, W]. */
  baseline?: 'black' | 'blur' | Tensor;
  /** Gaussian sigma of the 'blur' baseline in pixels (default max(H, W) / 10). */
  blurSigma?: number;
}

const NAME = 'integratedgradients';
const DEFAULT_STEPS = 50;

function stepsOf(options: IntegratedGradientsOptions): number {
  const steps = options.steps ?? DEFAULT_STEPS;
  if (!Number.isInteger(steps) || steps < 2) throw new MethodNotApplicable(NAME, `steps must be an integer >= 2 (the trapezoid's points, both ends included), got ${String(steps)}`);
  return steps;
}

/** Trapezoid weights on m points of [0, 1]. */
export function trapezoidWeights(m: number): number[] {
  return Array.from({ length: m }, (_, k) => (k === 0 || k === m - 1 ? 0.5 : 1) / (m - 1));
}

/** A normalized 1-D Gaussian of radius ceil(3 sigma). */
function gaussian(sigma: number): number[] {
  const r = Math.max(1, Math.ceil(3 * sigma));
  const k = Array.from({ length: 2 * r + 1 }, (_, i) => Math.exp(-((i - r) ** 2) / (2 * sigma * sigma)));
  const total = k.reduce((a, b) => a + b, 0);
  return k.map((v) => v / total);
}

/** x [1, C, H, W] under a separable Gaussian blur (depthwise convolutions, edges replicated). */
export function gaussianBlur(x: Tensor, sigma: number): Tensor {
  const c = x.shape[1];
  const k = gaussian(sigma);
  const r = (k.length - 1) / 2;
  const taps = Array.from({ length: c }, () => k).flat();
  const down = conv2d(pad(x, [0, 0, r, 0, 0, 0, r, 0], 'edge'), tensor(taps, [c, 1, k.length, 1]), null, { groups: c });
  return conv2d(pad(down, [0, 0, 0, r, 0, 0, 0, r], 'edge'), tensor(taps, [c, 1, 1, k.length]), null, { groups: c });
}

/** The baseline of image `index` (x [1, C, H, W]), [1, C, H, W]. */
function baselineOf(x: Tensor, index: number, images: number, options: IntegratedGradientsOptions): Tensor {
  const [, c, h, w] = x.shape;
  const given = options.baseline ?? 'black';
  if (given === 'black') return zeros(x.shape);
  if (given === 'blur') {
    const sigma = options.blurSigma ?? Math.max(h, w) / 10;
    if (typeof sigma !== 'number' || !Number.isFinite(sigma) || sigma <= 0) throw new MethodNotApplicable(NAME, `blurSigma must be a positive number of pixels, got ${String(sigma)}`);
    return gaussianBlur(x, sigma);
  }
  if (typeof given !== 'object' || typeof (given as Tensor).view !== 'function') {
    throw new MethodNotApplicable(NAME, `baseline must be 'black', 'blur' or a tensor, got ${String(given)}`);
  }
  const s = given.shape;
  const fits = (s.length === 3 && s[0] === c && s[1] === h && s[2] === w) || (s.length === 4 && (s[0] === 1 || s[0] === images) && s[1] === c && s[2] === h && s[3] === w);
  if (!fits) {
    throw new MethodNotApplicable(NAME, `baseline of shape [${s.join(', ')}] does not fit the input [${images}, ${c}, ${h}, ${w}]: give [${c}, ${h}, ${w}], [1, ${c}, ${h}, ${w}] or [${images}, ${c}, ${h}, ${w}]`);
  }
  return s.length === 3 ? reshape(given, [1, c, h, w]) : item(given, index);
}

function attribution(x: Tensor, index: number, ctx: CamContext<IntegratedGradientsOptions>): Attribution {
  const m = stepsOf(ctx.options);
  const base = baselineOf(x, index, ctx.inputs[ctx.inputName].shape[0], ctx.options);
  return {
    // x' + a_k (x - x') for k in [from, to)
    at: (xs, from, to) => {
      const alphas = Array.from({ length: to - from }, (_, i) => (from + i) / (m - 1));
      return add(base, mul(tensor(alphas, [to - from, 1, 1, 1]), sub(xs, base)));
    },
    weights: trapezoidWeights(m),
    attribute: (xs, g) => mul(sub(xs, base), g),
  };
}

/** Completeness per image from the pass's path scores and read-back attribution. */
function completeness(extras: InputGradientExtras, steps: number): Completeness {
  const paths = extras.paths!;
  const data = extras.attribution!;
  const per = data.length / paths.length;
  const sums = paths.map((_, i) => {
    let s = 0;
    for (let j = i * per; j < (i + 1) * per; j++) s += data[j];
    return s;
  });
  const gap = sums.map((s, i) => Math.abs(s - paths[i].delta));
  return {
    gap,
    relativeGap: gap.map((g, i) => (g === 0 ? 0 : g / Math.abs(paths[i].delta))),
    delta: paths.map((p) => p.delta),
    baselineScore: paths.map((p) => p.first),
    sum: sums,
    steps,
  };
}

export const integratedGradients: CamMethod<IntegratedGradientsOptions> = {
  name: NAME,
  title: 'Integrated Gradients',
  paper: "Sundararajan et al., Axiomatic Attribution for Deep Networks, ICML 2017, eq. 1 and 3 ((x - x') * mean path gradient; trapezoid rule)",
  usesGradients: true,
  inputSpace: true,
  ownSmoothGrad: true,
  async pass(ctx) {
    let extras: InputGradientExtras | undefined;
    const out = await inputGradientPass({ name: NAME, reduce: 'sum', points: stepsOf, prepare: attribution, completeness: true }, ctx, (e) => (extras = e));
    // Not for smoothgrad_sq and vargrad, which are not sums of attributions.
    if (extras?.paths && extras.attribution) out.completeness = completeness(extras, stepsOf(ctx.options));
    return out;
  },
};

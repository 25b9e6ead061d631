// Occlusion sensitivity. Zeiler, Fergus, "Visualizing and Understanding
// Convolutional Networks", ECCV 2014, §4.2 and Fig. 7: a grey square slides
// over the image and the target score is recorded at each position; where the
// score drops, the covered pixels were evidence.
//
// Per position p (window W_p): drop_p = y(x) - y(x with W_p set to `fill`).
// Per pixel, as Captum's Occlusion: the mean drop over the windows covering
// it. The windows step by `stride` and the last row / column of windows is
// moved flush with the border so every pixel is covered. The map is
// ReLU(drop) (positive evidence, as the CAM maps), scaled to [0, 1]; `raw`
// keeps the signed per-pixel drop.
//
// Options: patch (default 1/8 of the shorter side), stride (default patch / 2),
// fill (default 0: the grey of a mean-normalized input), batchSize, onProgress.
// The occluded copies are built on the GPU (a padded window mask per copy) and
// scored in batches; the scores are read back once to spread them over pixels.

import { add, concat, mul, ones, pad, relu, sub, tape, tensor, type Tensor } from '../engine/index.js';
import { scalar, scaleMap, upsample } from './cam-math.js';
import type { CamContext, CamMethod, PassOutput } from './method.js';
import { forwardPass } from './pass.js';
import { batchedOptions, checkSharedTarget, imageInput, item, scoreCopies, type BatchOptions } from './batched.js';
import { MethodNotApplicable } from './errors.js';

export interface OcclusionOptions extends BatchOptions {
  /** Side of the square, or [height, width] (default 1/8 of the shorter side). */
  patch?: number | readonly [number, number];
  /** Step between windows, or [down, across] (default patch / 2). */
  stride?: number | readonly [number, number];
  /** The value occluded pixels take (default 0). */
  fill?: number;
}

const pair = (v: number | readonly [number, number]): [number, number] => (typeof v === 'number' ? [v, v] : [v[0], v[1]]);

/** Window starts along one axis: every `stride`, the last one flush with the end. */
export function windowStarts(length: number, size: number, stride: number): number[] {
  const starts: number[] = [];
  for (let s = 0; s + size < length; s += stride) starts.push(s);
  starts.push(length - size);
  return starts;
}

/** Resolved patch, stride and fill for an H x W image. */
export function occlusionGeometry(options: OcclusionOptions, height: number, width: number) {
  const patch = pair(options.patch ?? Math.max(1, Math.round(Math.min(height, width) / 8)));
  const stride = pair(options.stride ?? [Math.max(1, Math.floor(patch[0] / 2)), Math.max(1, Math.floor(patch[1] / 2))]);
  const fill = options.fill ?? 0;
  for (const [what, v, limit] of [['patch', patch[0], height], ['patch', patch[1], width], ['stride', stride[0], Infinity], ['stride', stride[1], Infinity]] as const) {
    if (!Number.isInteger(v) || v < 1 || v > limit) throw new MethodNotApplicable('occlusion', `${what} ${v} must be an integer in 1..${limit} (image ${height}x${width})`);
  }
  if (typeof fill !== 'number' || !Number.isFinite(fill)) throw new MethodNotApplicable('occlusion', `fill must be a number, got ${String(fill)}`);
  const positions = windowStarts(height, patch[0], stride[0]).flatMap((y) => windowStarts(width, patch[1], stride[1]).map((x) => [y, x] as const));
  return { patch, stride, fill, positions };
}

/** Copies of x [1, C, H, W] with window `patch` at each of `positions` set to `fill`: [k, C, H, W]. */
export function occludedCopies(x: Tensor, positions: readonly (readonly [number, number])[], patch: readonly [number, number], fill: number): Tensor {
  const [, , height, width] = x.shape;
  const square = ones([1, 1, patch[0], patch[1]]);
  const masks = positions.map(([y, x0]) => pad(square, [0, 0, y, x0, 0, 0, height - y - patch[0], width - x0 - patch[1]]));
  const m = masks.length === 1 ? masks[0] : concat(masks, 0); // [k, 1, H, W]
  // x (1 - m) + fill m  =  x + m (fill - x)
  return add(x, mul(m, sub(scalar(fill), x)));
}

/** Mean drop per pixel over the windows covering it. */
export function spreadDrops(drops: ArrayLike<number>, positions: readonly (readonly [number, number])[], patch: readonly [number, number], height: number, width: number): Float32Array {
  const total = new Float64Array(height * width);
  const count = new Float64Array(height * width);
  positions.forEach(([y0, x0], p) => {
    for (let y = y0; y < y0 + patch[0]; y++) {
      for (let x = x0; x < x0 + patch[1]; x++) {
        total[y * width + x] += drops[p];
        count[y * width + x]++;
      }
    }
  });
  return Float32Array.from(total, (t, i) => t / count[i]);
}

async function occlusionPass(ctx: CamContext<OcclusionOptions>): Promise<PassOutput> {
  if (ctx.eigenSmooth) throw new MethodNotApplicable('occlusion', 'eigenSmooth does not apply');
  imageInput(ctx.model, 'occlusion');
  const options = batchedOptions(ctx.options, 'occlusion');
  const image = ctx.inputs[ctx.inputName];
  const [n, , height, width] = image.shape;
  const { patch, fill, positions } = occlusionGeometry(ctx.options, height, width);
  // The unoccluded score (this also resolves the default target).
  const base = await forwardPass(ctx, [], { gradients: false });
  checkSharedTarget(ctx.target!, n, 'occlusion');
  const baseScores = await base.score.data();
  const maps: Float32Array[] = [];
  for (let i = 0; i < n; i++) {
    const x = item(image, i);
    const scores = await scoreCopies(ctx.model, ctx.target!, positions.length, (start, end) => occludedCopies(x, positions.slice(start, end), patch, fill), {
      batchSize: options.batchSize,
      signal: options.signal,
      onProgress: options.onProgress && ((done, total) => options.onProgress!(i * total + done, n * total)),
    });
    const occluded = await scores.data();
    const y = baseScores.length === n ? baseScores[i] : baseScores[0];
    maps.push(spreadDrops(occluded.map((s) => y - s), positions, patch, height, width));
  }
  return tape.noGrad(() => {
    const all = new Float32Array(n * height * width);
    maps.forEach((m, i) => all.set(m, i * height * width));
    const drop = tensor(all, [n, height, width]);
    return { map: scaleMap(upsample(relu(drop), ctx.size)), raw: [{ layer: ctx.inputName, map: drop }], score: base.score, states: [] };
  });
}

export const occlusion: CamMethod<OcclusionOptions> = {
  name: 'occlusion',
  title: 'Occlusion',
  paper: 'Zeiler & Fergus, Visualizing and Understanding Convolutional Networks, ECCV 2014, §4.2 (score drop under a sliding grey square)',
  usesGradients: false,
  inputSpace: true,
  pass: occlusionPass,
};

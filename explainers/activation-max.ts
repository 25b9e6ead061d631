// Activation maximization: the input that most excites a unit, found by
// gradient ascent on the input (Erhan, Bengio, Courville, Vincent, "Visualizing
// Higher-Layer Features of a Deep Network", 2009, §3.1), regularized as
// Mahendran & Vedaldi, "Understanding Deep Image Representations by Inverting
// Them", CVPR 2015, eq. 1-2: an alpha-norm (here L2) decay and the total
// variation
//
//   TV_beta(x) = mean_{c,i,j} ((x[c,i,j+1] - x[c,i,j])^2 + (x[c,i+1,j] - x[c,i,j])^2)^(beta/2)
//
// (means instead of sums, so the weights do not depend on the resolution),
// with random jitter (the image is rolled by up to `jitter` pixels before each
// step, as Mordvintsev et al.'s DeepDream / Lucid do, which removes
// high-frequency patterns that only work at one alignment).
//
// Each step minimizes  L(x) = -objective(roll(x)) + tv * TV_beta(x) + l2 * mean(x^2)
// with one backward pass through the model and the regularizers (all engine
// ops on the tape), then x <- x - lr * g / mean|g| (a normalized step, so `lr`
// is in input units per step whatever the gradient's scale).
// The objective is the mean activation of one channel of a layer, or a target
// score (a class logit, say).

import { add, backward, clip, concat, div, exclusive, keep, runtime, mean, mul, pow, reshape, scope, seededRandom, slice, sub, tape, tensor, type Tensor } from '../engine/index.js';
import { abs, scalar } from './cam-math.js';
import { imageInput } from './batched.js';
import { ExplainError, LayerNotFound, NotASpatialLayer, closeMatches } from './errors.js';
import { gaussian } from './imputation.js';
import type { ExplainableModel } from '../engine/index.js';
import { toTarget, scalarScore, type TargetSpec } from './targets.js';

export type Objective = { layer: string; channel: number } | { target: TargetSpec; output?: string };

export interface ActivationMaxOptions {
  steps?: number;
  /** Checked before each step: stops the ascent with the signal's reason. */
  signal?: AbortSignal;
  /** Step size in input units (default 0.05). */
  learningRate?: number;
  /** Total-variation weight (default 0.5) and exponent beta (default 2). */
  tv?: number;
  tvBeta?: number;
  /** L2 decay weight (default 0.01). */
  l2?: number;
  /** Largest roll in pixels (default 2; 0 for none). */
  jitter?: number;
  /** Start image [1, C, H, W] values (default: N(0, 0.1^2) noise). */
  init?: Float32Array;
  /** Clip the image to [min, max] after each step (e.g. the normalized range of valid pixels). */
  range?: readonly [number, number];
  seed?: number;
  onProgress?: (step: number, steps: number) => void;
}

export interface ActivationMaxResult {
  /** The final image, [C, H, W] in the model's input space. */
  image: Float32Array;
  shape: [number, number, number];
  /** The objective (without regularizers) before each step, and after the last: steps + 1 values. */
  history: number[];
}

/** Rolls x along `axis` by `shift` (elements leaving one end enter at the other); differentiable. */
export function roll(x: Tensor, shift: number, axis: number): Tensor {
  const len = x.shape[axis];
  const s = ((shift % len) + len) % len;
  if (s === 0) return x;
  return concat([slice(x, [len - s], [len], [axis]), slice(x, [0], [len - s], [axis])], axis);
}

/** TV_beta of [N, C, H, W] (see the file comment), a scalar on the tape. */
export function totalVariation(x: Tensor, beta = 2): Tensor {
  const [, , h, w] = x.shape;
  const core = slice(x, [0, 0], [h - 1, w - 1], [2, 3]);
  const dx = sub(slice(x, [0, 1], [h - 1, w], [2, 3]), core);
  const dy = sub(slice(x, [1, 0], [h, w - 1], [2, 3]), core);
  const squared = add(mul(dx, dx), mul(dy, dy));
  // beta = 2 is the plain sum of squares; other exponents get a small offset (pow needs a positive base).
  return mean(beta === 2 ? squared : pow(add(squared, scalar(1e-8)), scalar(beta / 2)));
}

/** Gradient ascent on the input for `objective`; see the file comment. Queued behind other engine calls (engine/serial.ts). */
export function activationMax(model: ExplainableModel, objective: Objective, options: ActivationMaxOptions = {}): Promise<ActivationMaxResult> {
  return exclusive(() => ascend(model, objective, options), options.signal);
}

async function ascend(model: ExplainableModel, objective: Objective, options: ActivationMaxOptions): Promise<ActivationMaxResult> {
  const input = imageInput(model, 'activation maximization');
  const [, c, h, w] = input.shape;
  const steps = options.steps ?? 100;
  const lr = options.learningRate ?? 0.05;
  const tvWeight = options.tv ?? 0.5;
  const tvBeta = options.tvBeta ?? 2;
  const l2 = options.l2 ?? 0.01;
  const jitter = options.jitter ?? 2;
  const random = seededRandom(options.seed ?? 1);
  const layer = 'layer' in objective ? objective.layer : undefined;
  if (layer !== undefined) {
    const info = model.layers().find((l) => l.name === layer);
    if (!info) throw new LayerNotFound(layer, closeMatches(layer, model.layers().map((l) => l.name)));
    if (info.shape.length !== 4) throw new NotASpatialLayer(layer, info.shape);
    const ch = (objective as { channel: number }).channel;
    if (!Number.isInteger(ch) || ch < 0 || ch >= info.shape[1]) throw new ExplainError(`channel ${ch} is out of range for layer '${layer}' (${info.shape[1]} channels)`);
  }
  const target = 'target' in objective ? toTarget(objective.target) : undefined;
  const outputName = ('output' in objective && objective.output) || model.outputs[0].name;

  const start = options.init ?? Float32Array.from({ length: c * h * w }, () => 0.1 * gaussian(random));
  if (start.length !== c * h * w) throw new ExplainError(`init has ${start.length} values; the input is [1, ${c}, ${h}, ${w}]`);
  let x = tensor(start, [1, c, h, w]);
  const liveBefore = tape.liveNodes;
  const values: Tensor[] = [];
  try {
    for (let step = 0; step <= steps; step++) {
      options.signal?.throwIfAborted();
      x.requiresGrad = true;
      const dy = jitter ? Math.floor(random() * (2 * jitter + 1)) - jitter : 0;
      const dx = jitter ? Math.floor(random() * (2 * jitter + 1)) - jitter : 0;
      const last = step === steps;
      const next = scope(() => {
        const shifted = roll(roll(x, dy, 2), dx, 3);
        const { outputs, kept } = model.run({ [input.name]: shifted }, { keep: [...(layer ? [layer] : []), ...(target?.tensors ?? [])] });
        const score = layer
          ? mean(slice(kept[layer], [(objective as { channel: number }).channel], [(objective as { channel: number }).channel + 1], [1]))
          : scalarScore(target!, { ...outputs, ...kept }, outputName);
        values.push(keep(tape.noGrad(() => reshape(score, [1]))));
        if (last) {
          if (liveBefore === 0) tape.clear();
          return null;
        }
        const loss = add(sub(mul(scalar(tvWeight), totalVariation(x, tvBeta)), score), mul(scalar(l2), mean(mul(x, x))));
        backward(loss);
        // The branches the loss does not reach (other outputs) still hold saved tensors.
        if (liveBefore === 0) tape.clear();
        return tape.noGrad(() => {
          const g = x.grad!;
          const stepSize = div(scalar(lr), clip(mean(abs(g)), 1e-12, 3e38));
          const moved = sub(x, mul(g, stepSize));
          return options.range ? clip(moved, options.range[0], options.range[1]) : moved;
        });
      });
      if (next) {
        x.dispose();
        x = next;
      }
      // Wait for the step on the GPU: the progress is real, and a worker's cancel message gets a turn.
      await runtime().sync();
      options.onProgress?.(Math.min(step + 1, steps), steps);
    }
    const history = await Promise.all(values.map((v) => v.data().then((d) => d[0])));
    return { image: await x.data(), shape: [c, h, w], history };
  } finally {
    // After an error mid-step the tape still holds this pass's nodes: drop them (only if it was empty before).
    if (liveBefore === 0) tape.clear();
    x.dispose();
    for (const v of values) v.dispose();
  }
}

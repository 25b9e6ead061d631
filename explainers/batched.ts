// Scoring many perturbed copies of one input, the inner loop of the
// gradient-free methods (Score-CAM, Ablation-CAM, occlusion) and of the
// faithfulness metrics: each batch of copies is built on the GPU with engine
// ops, run through the model as one batch, and reduced to one target score per
// copy, which stays on the GPU. The scores of all batches are concatenated
// there; callers read back once (or not at all).

import { concat, gather, reshape, runtime, scope, slice, sum, Tensor, zeros } from '../engine/index.js';
import { ExplainError, MethodNotApplicable, TargetError } from './errors.js';
import type { CamContext, LayerState } from './method.js';
import type { ExplainableModel, RunOptions } from '../engine/index.js';
import type { Target, TargetValues } from './targets.js';

/** Called after each batch has finished on the GPU (the CLI draws a progress bar with it). */
export type ProgressCallback = (done: number, total: number) => void;

export interface BatchOptions {
  /** Copies per forward pass (default 16, as pytorch-grad-cam's Score-CAM). */
  batchSize?: number;
  onProgress?: ProgressCallback;
  /** Checked before each batch: stops the run with the signal's reason. */
  signal?: AbortSignal;
}

/** The model's single image input; the batched methods perturb it. */
export function imageInput(model: ExplainableModel, method: string): { name: string; shape: readonly number[] } {
  if (model.inputs.length !== 1) {
    throw new MethodNotApplicable(method, `the model has ${model.inputs.length} inputs (${model.inputs.map((i) => i.name).join(', ')}); only single-input models are supported`);
  }
  const input = model.inputs[0];
  if (input.shape.length !== 4) throw new MethodNotApplicable(method, `input '${input.name}' has shape [${input.shape.join(', ')}]; an NCHW image input is expected`);
  return input;
}

/** Item i of a batch, as a batch of one. */
export function item(t: Tensor, i: number): Tensor {
  return t.shape[0] === 1 ? t : slice(t, [i], [i + 1], [0]);
}

/**
 * One score per batch item, [batch]. Targets built from a class index give one
 * per item already; a function target must keep the batch as its leading axis
 * (its other axes are summed), since a sum over the batch cannot be split.
 */
export function itemScores(target: Target, values: TargetValues, defaultOutput: string, batch: number): Tensor {
  const s = target.score(values, defaultOutput);
  if (s.size === batch) return reshape(s, [batch]);
  if (s.shape[0] === batch) return sum(reshape(s, [batch, s.size / batch]), [1]);
  throw new TargetError(
    `${target.label}: scored a batch of ${batch} inputs as shape [${s.shape.join(', ')}]; batched methods need the batch as the score's leading axis ` +
      '(or use batchSize 1 with this target)',
  );
}

/** A batch for the model's image input, optionally with inner tensors swapped (RunOptions.replace). */
export interface BatchFeed {
  input: Tensor;
  replace?: RunOptions['replace'];
}

/** Runs the model on a batch and returns its per-item target scores [batch]; everything else is freed. */
export function scoreBatch(model: ExplainableModel, target: Target, feed: Tensor | BatchFeed): Tensor {
  const { input, replace } = feed instanceof Tensor ? { input: feed, replace: undefined } : feed;
  return scope(() => {
    const { outputs, kept } = model.run({ [model.inputs[0].name]: input }, { keep: target.tensors ?? [], replace });
    return itemScores(target, { ...outputs, ...kept }, model.outputs[0].name, input.shape[0]);
  });
}

/**
 * Scores `count` copies, built `batchSize` at a time by `build(start, end)`
 * (a [end - start, C, H, W] tensor, or a BatchFeed; freed after use). Returns the scores
 * [count] on the GPU. Waits for the GPU after each batch: the progress is real,
 * and at most one batch's buffers are in flight.
 */
export async function scoreCopies(model: ExplainableModel, target: Target, count: number, build: (start: number, end: number) => Tensor | BatchFeed, options: BatchOptions = {}): Promise<Tensor> {
  const batchSize = options.batchSize ?? 16;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new ExplainError(`batchSize must be a positive integer, got ${batchSize}`);
  const parts: Tensor[] = [];
  try {
    for (let start = 0; start < count; start += batchSize) {
      options.signal?.throwIfAborted();
      const end = Math.min(start + batchSize, count);
      parts.push(scope(() => scoreBatch(model, target, build(start, end))));
      await runtime().sync();
      options.onProgress?.(end, count);
    }
    if (parts.length === 1) return parts.pop()!;
    return concat(parts, 0);
  } finally {
    for (const p of parts) p.dispose();
  }
}

// ---- options shared by the batched CAM methods ------------------------------------------

/** The options of Score-CAM and Ablation-CAM. */
export interface BatchedCamOptions extends BatchOptions {
  /**
   * Only these channels of the target layer get masks / ablations (the others
   * weigh 0): a cheaper approximation, and how tests keep runs short.
   */
  channels?: readonly number[];
}

/** The batch options of a method's options, validated (callers from JavaScript or the CLI pass anything). */
export function batchedOptions(options: BatchedCamOptions, method: string): BatchedCamOptions {
  const { batchSize, onProgress, channels, signal } = options;
  if (batchSize !== undefined && (!Number.isInteger(batchSize) || batchSize < 1)) {
    throw new MethodNotApplicable(method, `batchSize must be a positive integer, got ${String(batchSize)}`);
  }
  if (onProgress !== undefined && typeof onProgress !== 'function') throw new MethodNotApplicable(method, 'onProgress must be a function (done, total)');
  if (channels !== undefined && !Array.isArray(channels)) throw new MethodNotApplicable(method, 'channels must be an array of channel indices');
  return { batchSize, onProgress, channels, signal };
}

/** The channel indices to use out of `count` (all by default); validated, duplicates refused. */
export function channelList(channels: readonly number[] | undefined, count: number, method: string): number[] {
  if (!channels) return Array.from({ length: count }, (_, i) => i);
  if (!channels.length) throw new MethodNotApplicable(method, 'channels is empty');
  for (const c of channels) {
    if (!Number.isInteger(c) || c < 0 || c >= count) throw new MethodNotApplicable(method, `channel ${c} is out of range for a layer of ${count} channels`);
  }
  if (new Set(channels).size !== channels.length) throw new MethodNotApplicable(method, 'channels lists a channel twice');
  return [...channels];
}

/**
 * Spreads per-channel values [k] (for the channels of `list`) over all `count`
 * channels, 0 elsewhere: one gather from [values, 0], no readback.
 */
export function scatterChannels(values: Tensor, list: readonly number[], count: number): Tensor {
  if (list.length === count && list.every((c, i) => c === i)) return values;
  const slot = new Array<number>(count).fill(list.length);
  list.forEach((c, i) => (slot[c] = i));
  return gather(concat([reshape(values, [list.length]), zeros([1])], 0), slot);
}

/**
 * The batched methods score copies of one image at a time with the target.
 * Several images work when the target does not name one class per image (a
 * class target with one class, or a function target); per-image classes
 * would need a target per item: explain those images one at a time.
 */
export function checkSharedTarget(target: Target, images: number, method: string): void {
  if (images > 1 && target.category && target.category.length > 1) {
    throw new MethodNotApplicable(method, `the target names one class per image (${target.category.join(', ')}); explain these ${images} images one at a time, or give one class for all`);
  }
}

/** What a channel sweep hands its per-image step. */
export interface ChannelSweep {
  /** The channels weighed (all of the layer's unless options.channels picked some). */
  channels: number[];
  options: BatchedCamOptions;
  /** Progress of this image's batches, scaled to the whole sweep. */
  onProgress?: ProgressCallback;
  /** Checked before each batch: stops the run with the signal's reason. */
  signal?: AbortSignal;
}

/**
 * The loop Score-CAM and Ablation-CAM share: validate options and target, then
 * for each image of the batch let `weigh` give one weight per swept channel
 * ([k], on the GPU), spread to all C channels (0 for the others): [N, C].
 */
export async function sweepChannels(
  layer: LayerState,
  ctx: CamContext<BatchedCamOptions>,
  method: string,
  weigh: (image: Tensor, index: number, sweep: ChannelSweep) => Promise<Tensor>,
): Promise<Tensor> {
  imageInput(ctx.model, method);
  const options = batchedOptions(ctx.options, method);
  const [n, c] = layer.activations.shape;
  checkSharedTarget(ctx.target!, n, method);
  const channels = channelList(options.channels, c, method);
  const image = ctx.inputs[ctx.inputName];
  const rows: Tensor[] = [];
  for (let i = 0; i < n; i++) {
    const onProgress = options.onProgress && ((done: number, total: number) => options.onProgress!(i * total + done, n * total));
    const weights = await weigh(item(image, i), i, { channels, options, onProgress });
    rows.push(reshape(scatterChannels(weights, channels, c), [1, c]));
  }
  return rows.length === 1 ? rows[0] : concat(rows, 0);
}

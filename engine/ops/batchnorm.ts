// Batch normalization (shaders/batchnorm.wgsl), on [N, C, spatial...]:
//  - batchNorm: ONNX BatchNormalization in inference mode, inputs
//    [x, scale, bias, mean, var] with given (running) statistics.
//  - batchNormTrain: training mode, inputs [x, scale, bias]; normalizes with
//    the batch statistics over N and the spatial axes and outputs
//    [y, batchMean, batchVar] (biased variance) so callers can update running
//    statistics. Its backward goes through the batch statistics.

import batchnormWgsl from '../../shaders/batchnorm.wgsl';
import { ShapeError } from '../errors.js';
import workgroupReduceWgsl from '../../shaders/workgroup-reduce.wgsl';
import { defineKernel, specialize, type Kernel } from '../kernels/kernel.js';
import { formatShape, numel } from '../shape.js';
import { Tensor } from '../tensor.js';
import { binaryOps, fill, unaryOps } from './elementwise.js';
import { reshape } from './movement.js';
import { defineOp, grid1d, launch } from './op.js';
import { sum } from './reduce.js';
import type { SplitAxis } from './split.js';

// The shared workgroup reductions fill the source's {{WORKGROUP_REDUCE}} slot.
const wgsl = specialize('batchnorm', batchnormWgsl, { WORKGROUP_REDUCE: workgroupReduceWgsl });
const kernel = (entryPoint: string): Kernel => defineKernel({ name: entryPoint, wgsl, entryPoint });
const partialStatsKernel = kernel('batchnorm_partial_stats');
const combineStatsKernel = kernel('batchnorm_combine_stats');
const applyKernel = kernel('batchnorm_apply');
const partialGradKernel = kernel('batchnorm_partial_grad');
const combineGradKernel = kernel('batchnorm_combine_grad');
const combineGradStatsKernel = kernel('batchnorm_combine_grad_stats');
const gradInputKernel = kernel('batchnorm_grad_input');
const trainGradInputKernel = kernel('batchnorm_train_grad_input');

export interface BatchNormAttrs {
  /** Added to the variance before the square root; default 1e-5 (ONNX). */
  epsilon?: number;
}

function expectInputs(op: string, inputs: readonly Tensor[], names: readonly string[]): void {
  if (inputs.length !== names.length) {
    throw new ShapeError(op, `expects ${names.length} inputs [${names.join(', ')}], got ${inputs.length}`, inputs.map((t) => t.shape));
  }
}

/** Checks x is [N, C, ...] and each per-channel input (named in `names`) is [C]. */
function checkShapes(op: string, x: Tensor, params: readonly Tensor[], names: readonly string[], epsilon: number): void {
  const shapes = [x.shape, ...params.map((t) => t.shape)];
  if (x.shape.length < 2) throw new ShapeError(op, `expects x of shape [N, C, ...] (rank >= 2), got rank ${x.shape.length}`, shapes);
  const channels = x.shape[1];
  params.forEach((t, k) => {
    if (t.shape.length !== 1 || t.shape[0] !== channels) {
      throw new ShapeError(op, `${names[k]} must have shape [${channels}] (one value per channel of x), got ${formatShape(t.shape)}`, shapes);
    }
  });
  if (!(epsilon >= 0)) throw new ShapeError(op, `epsilon must be >= 0, got ${epsilon}`, shapes);
}

// Channel reductions: about 16 elements per thread of a 256-thread workgroup per part,
// and at most 4096 parts per channel (the combine kernels loop over them).
const CHUNK_TARGET = 16 * 256;
const MAX_PARTS = 4096;

function uniformsOf(x: Tensor, epsilon: number) {
  const spatial = numel(x.shape.slice(2));
  const perChannel = x.shape[0] * spatial;
  const wanted = Math.min(MAX_PARTS, Math.max(1, Math.ceil(perChannel / CHUNK_TARGET)));
  const chunk = Math.max(1, Math.ceil(perChannel / wanted));
  const parts = Math.max(1, Math.ceil(perChannel / chunk)); // so that no part is empty
  return { n: x.size, channels: x.shape[1], spatial, batch: x.shape[0], epsilon, parts, chunk };
}

type Uniforms = ReturnType<typeof uniformsOf>;

/** Batch mean and biased variance per channel: partial statistics per chunk, then combined. */
function batchStats(u: Uniforms, x: Tensor): [Tensor, Tensor] {
  // Scratch sums stay f32 in every precision (a chunk's sum of squares would overflow f16).
  const partMean = Tensor.empty([u.channels * u.parts], 'f32');
  const partM2 = Tensor.empty([u.channels * u.parts], 'f32');
  launch(partialStatsKernel, { x, part_mean: partMean, part_m2: partM2 }, { workgroups: grid1d(u.channels * u.parts, 1), uniforms: u });
  const mean = Tensor.empty([u.channels]);
  const variance = Tensor.empty([u.channels]);
  const tensors = { part_mean: partMean, part_m2: partM2, batch_mean: mean, batch_var: variance };
  launch(combineStatsKernel, tensors, { workgroups: grid1d(u.channels), uniforms: u });
  partMean.dispose();
  partM2.dispose();
  return [mean, variance];
}

/**
 * Per-channel sums of the backward (partial sums per chunk, then combined):
 * [gscale = sum dy * xhat, gbias = sum dy], plus [gmean, gvar] of the inference form when `stats`.
 */
function channelGrads(u: Uniforms, x: Tensor, scale: Tensor, mean: Tensor, variance: Tensor, gy: Tensor, stats: boolean): Tensor[] {
  const partGy = Tensor.empty([u.channels * u.parts], 'f32');
  const partGyc = Tensor.empty([u.channels * u.parts], 'f32');
  launch(partialGradKernel, { x, mean, gy, part_gy: partGy, part_gyc: partGyc }, { workgroups: grid1d(u.channels * u.parts, 1), uniforms: u });
  const workgroups = grid1d(u.channels);
  const parts = { variance, part_gy: partGy, part_gyc: partGyc };
  const gscale = Tensor.empty([u.channels]);
  const gbias = Tensor.empty([u.channels]);
  let out = [gscale, gbias];
  if (!stats) {
    launch(combineGradKernel, { ...parts, gscale, gbias }, { workgroups, uniforms: u });
  } else {
    const gmean = Tensor.empty([u.channels]);
    const gvar = Tensor.empty([u.channels]);
    launch(combineGradStatsKernel, { ...parts, scale, gscale, gbias, gmean, gvar }, { workgroups, uniforms: u });
    out = [gscale, gbias, gmean, gvar];
  }
  partGy.dispose();
  partGyc.dispose();
  return out;
}

export const batchNorm = defineOp<BatchNormAttrs>({
  name: 'batchNorm',
  forward(inputs, { epsilon = 1e-5 }) {
    expectInputs('batchNorm', inputs, ['x', 'scale', 'bias', 'mean', 'var']);
    const [x, scale, bias, mean, variance] = inputs;
    checkShapes('batchNorm', x, [scale, bias, mean, variance], ['scale', 'bias', 'mean', 'var'], epsilon);
    const u = uniformsOf(x, epsilon);
    const y = Tensor.empty(x.shape);
    launch(applyKernel, { x, scale, bias, mean, variance, y }, { workgroups: grid1d(x.size), uniforms: u });
    return [y];
  },
  save: ([x, scale, , mean, variance]) => [x, scale, mean, variance],
  // In parts along any axis of x; the per-channel inputs follow a cut of the channels.
  split: ([x]) => x.map((_, a): SplitAxis<BatchNormAttrs> => ({ name: `axis ${a}`, outputs: [a], inputs: [a, ...new Array<number | null>(4).fill(a === 1 ? 0 : null)] })),
  // dx = dy * scale * inv_std;  dscale = sum dy * xhat;  dbias = sum dy;
  // dmean = -scale * inv_std * sum dy;  dvar = -scale * inv_std^2 / 2 * sum dy * xhat
  backward({ saved: [x, scale, mean, variance], attrs: { epsilon = 1e-5 }, needsInputGrad }, [gy]) {
    const u = uniformsOf(x, epsilon);
    let gx: Tensor | null = null;
    if (needsInputGrad[0]) {
      gx = Tensor.empty(x.shape);
      launch(gradInputKernel, { gy, scale, variance, gx }, { workgroups: grid1d(x.size), uniforms: u });
    }
    if (!needsInputGrad.slice(1).some(Boolean)) return [gx, null, null, null, null];
    const stats = needsInputGrad[3] || needsInputGrad[4];
    const [gscale, gbias, gmean = null, gvar = null] = channelGrads(u, x, scale, mean, variance, gy, stats);
    return [gx, gscale, gbias, gmean, gvar];
  },
  // The same with ops, k = scale / sqrt(var + eps) per channel:  dx = dy * k;  dscale = sum dy * (x - mean) / sqrt(var + eps);
  // dbias = sum dy;  dmean = -k * sum dy;  dvar = -k / (2 (var + eps)) * sum dy * (x - mean)
  backwardOps({ saved: [x, scale, mean, variance], attrs: { epsilon = 1e-5 }, needsInputGrad: need }, [gy]): (Tensor | null)[] {
    const b2 = (op: 'add' | 'sub' | 'mul' | 'div', a: Tensor, b: Tensor) => binaryOps[op]([a, b], {})[0];
    const axes = [0, ...[...x.shape.keys()].slice(2)];
    const perChannel = (t: Tensor) => reshape([t], { shape: [x.shape[1], ...x.shape.slice(2).map(() => 1)] })[0];
    const channelSum = (t: Tensor) => sum([t], { axes })[0];
    const varEps = b2('add', variance, fill([], epsilon));
    const k = b2('div', scale, unaryOps.sqrt([varEps], {})[0]);
    const centered = need[1] || need[4] ? b2('sub', x, perChannel(mean)) : null;
    const sumDyCentered = centered && channelSum(b2('mul', gy, centered));
    return [
      need[0] ? b2('mul', gy, perChannel(k)) : null,
      need[1] ? b2('div', sumDyCentered!, unaryOps.sqrt([varEps], {})[0]) : null,
      need[2] ? channelSum(gy) : null,
      need[3] ? unaryOps.neg([b2('mul', k, channelSum(gy))], {})[0] : null,
      need[4] ? b2('mul', sumDyCentered!, b2('div', k, b2('mul', varEps, fill([], -2)))) : null,
    ];
  },
});

export const batchNormTrain = defineOp<BatchNormAttrs>({
  name: 'batchNormTrain',
  forward(inputs, { epsilon = 1e-5 }) {
    expectInputs('batchNormTrain', inputs, ['x', 'scale', 'bias']);
    const [x, scale, bias] = inputs;
    checkShapes('batchNormTrain', x, [scale, bias], ['scale', 'bias'], epsilon);
    const u = uniformsOf(x, epsilon);
    const [mean, variance] = batchStats(u, x);
    const y = Tensor.empty(x.shape);
    launch(applyKernel, { x, scale, bias, mean, variance, y }, { workgroups: grid1d(x.size), uniforms: u });
    return [y, mean, variance];
  },
  save: ([x, scale], [, mean, variance]) => [x, scale, mean, variance],
  // In parts over channels only: the statistics span images and pixels.
  split: () => [{ name: 'channels', outputs: [1, 0, 0], inputs: [1, 0, 0] }],
  // With M = N * S, xhat = (x - mean) * inv_std:  dscale = sum dy * xhat;  dbias = sum dy;
  // dx = scale * inv_std * (dy - (dbias + xhat * dscale) / M) + (dmean_out + 2 (x - mean) dvar_out) / M
  backward({ saved: [x, scale, mean, variance], attrs: { epsilon = 1e-5 } }, [gy, gyMean, gyVar]) {
    const u = uniformsOf(x, epsilon);
    const [gscale, gbias] = channelGrads(u, x, scale, mean, variance, gy, false);
    const gx = Tensor.empty(x.shape);
    launch(trainGradInputKernel, { x, scale, mean, variance, gy, gscale, gbias, gy_mean: gyMean, gy_var: gyVar, gx }, {
      workgroups: grid1d(x.size),
      uniforms: u,
    });
    return [gx, gscale, gbias];
  },
});

// Conv and ConvTranspose over NCHW inputs (2-D only). Prepare resolves
// auto_pad and output_shape into explicit [top, left, bottom, right] pads, so
// the engine ops (conv2d, convTranspose2d) only ever see explicit geometry.

import type { Tensor } from '../../../engine/tensor.js';
import type { InferContext, NodeContext, OpHandler, RunContext } from './handler.js';
import { engineOp } from './util.js';

/** Attributes of the engine's conv2d and convTranspose2d (pads are [top, left, bottom, right]). */
export interface Conv2dAttrs {
  strides: number[];
  pads: number[];
  dilations: number[];
  group: number;
}
export interface ConvTranspose2dAttrs extends Conv2dAttrs {
  outputPadding: number[];
}

/** A per-spatial-axis integer list attribute of length 2 with a default. */
export function pairAttr(ctx: NodeContext, name: string, fallback: number, min: number): number[] {
  const v = ctx.attrs.ints(name, [fallback, fallback]);
  if (v.length !== 2 || v.some((d) => !Number.isSafeInteger(d) || d < min)) {
    throw ctx.error(`${name} [${v.join(', ')}] must be two integers >= ${min} (only 2-D ops are supported)`);
  }
  return v;
}

/**
 * Explicit pads for a window op (Conv, MaxPool, AveragePool) from pads or
 * auto_pad. SAME_* pads so that out = ceil(in / stride), the odd unit at the
 * end (UPPER) or the beginning (LOWER).
 */
export function resolvePads(ctx: NodeContext, inSize: readonly number[], kernel: readonly number[], strides: readonly number[], dilations: readonly number[]): number[] {
  const autoPad = ctx.attrs.string('auto_pad', 'NOTSET');
  switch (autoPad) {
    case 'NOTSET': {
      const pads = ctx.attrs.ints('pads', [0, 0, 0, 0]);
      if (pads.length !== 4 || pads.some((p) => !Number.isSafeInteger(p) || p < 0)) {
        throw ctx.error(`pads [${pads.join(', ')}] must be four integers >= 0 [top, left, bottom, right]`);
      }
      return pads;
    }
    case 'VALID':
      return [0, 0, 0, 0];
    case 'SAME_UPPER':
    case 'SAME_LOWER': {
      const begin: number[] = [];
      const end: number[] = [];
      for (let i = 0; i < 2; i++) {
        const out = Math.ceil(inSize[i] / strides[i]);
        const total = Math.max(0, (out - 1) * strides[i] + (kernel[i] - 1) * dilations[i] + 1 - inSize[i]);
        const small = Math.floor(total / 2);
        begin.push(autoPad === 'SAME_UPPER' ? small : total - small);
        end.push(total - begin[i]);
      }
      return [...begin, ...end];
    }
    default:
      throw ctx.error(`auto_pad '${autoPad}' is not one of NOTSET, SAME_UPPER, SAME_LOWER, VALID`);
  }
}

/** Checks x is NCHW and w is [*, *, kH, kW] matching kernel_shape; returns the kernel size. */
function checkOperands(ctx: InferContext, what: string): { x: readonly number[]; w: readonly number[]; kernel: number[] } {
  const x = ctx.input(0).shape;
  const w = ctx.input(1).shape;
  if (x.length !== 4 || w.length !== 4) {
    throw ctx.error(`only 2-D ${what} is supported: x must be NCHW and the weights 4-D, got [${x.join(', ')}] and [${w.join(', ')}]`);
  }
  const kernel = [w[2], w[3]];
  if (ctx.attrs.has('kernel_shape')) {
    const k = ctx.attrs.ints('kernel_shape');
    if (k.length !== 2 || k[0] !== kernel[0] || k[1] !== kernel[1]) throw ctx.error(`kernel_shape [${k.join(', ')}] does not match the weights [${w.join(', ')}]`);
  }
  return { x, w, kernel };
}

function checkBias(ctx: InferContext, channels: number): void {
  const b = ctx.inputs[2];
  if (b && (b.shape.length !== 1 || b.shape[0] !== channels)) throw ctx.error(`bias must have shape [${channels}], got [${b.shape.join(', ')}]`);
}

function groupAttr(ctx: NodeContext): number {
  const group = ctx.attrs.int('group', 1);
  if (!Number.isSafeInteger(group) || group < 1) throw ctx.error(`group ${group} must be a positive integer`);
  return group;
}

// ---- Conv ------------------------------------------------------------------------------

function convPlan(ctx: InferContext): { attrs: Conv2dAttrs; shape: number[] } {
  const { x, w, kernel } = checkOperands(ctx, 'convolution');
  const group = groupAttr(ctx);
  const [n, c, h, wd] = x;
  const m = w[0];
  if (c !== w[1] * group) throw ctx.error(`input has ${c} channels but the weights [${w.join(', ')}] with group ${group} expect ${w[1] * group}`);
  if (m % group !== 0) throw ctx.error(`${m} output channels are not divisible by group ${group}`);
  checkBias(ctx, m);
  const strides = pairAttr(ctx, 'strides', 1, 1);
  const dilations = pairAttr(ctx, 'dilations', 1, 1);
  const pads = resolvePads(ctx, [h, wd], kernel, strides, dilations);
  const out = [0, 1].map((i) => {
    const size = [h, wd][i] + pads[i] + pads[i + 2] - (kernel[i] - 1) * dilations[i] - 1;
    if (size < 0) throw ctx.error(`the kernel (${kernel[i]}, dilation ${dilations[i]}) is larger than the padded input along ${'HW'[i]}`);
    return Math.floor(size / strides[i]) + 1;
  });
  return { attrs: { strides, pads, dilations, group }, shape: [n, m, out[0], out[1]] };
}

const operands = (ctx: RunContext): Tensor[] => (ctx.inputs[2] ? [0, 1, 2] : [0, 1]).map((i) => ctx.tensor(i));

export const Conv: OpHandler = {
  inferShape: (ctx) => [{ shape: convPlan(ctx).shape, dtype: ctx.input(0).dtype }],
  run: (ctx) => engineOp<Conv2dAttrs>(ctx, 'conv2d')(operands(ctx), convPlan(ctx).attrs),
};

// ---- ConvTranspose ---------------------------------------------------------------------

/**
 * out = stride * (in - 1) + output_padding + (k - 1) * dilation + 1 - pad_begin - pad_end.
 * With output_shape (or SAME auto_pad, where out = in * stride) the pads are
 * derived: total = the formula without pads - out, split as the ONNX spec says.
 */
function convTransposePlan(ctx: InferContext): { attrs: ConvTranspose2dAttrs; shape: number[] } {
  const { x, w, kernel } = checkOperands(ctx, 'transposed convolution');
  const group = groupAttr(ctx);
  const [n, c, h, wd] = x;
  if (c !== w[0]) throw ctx.error(`input has ${c} channels but the weights [${w.join(', ')}] expect ${w[0]}`);
  const m = w[1] * group;
  checkBias(ctx, m);
  const strides = pairAttr(ctx, 'strides', 1, 1);
  const dilations = pairAttr(ctx, 'dilations', 1, 1);
  const outputPadding = pairAttr(ctx, 'output_padding', 0, 0);
  const inSize = [h, wd];
  const full = [0, 1].map((i) => strides[i] * (inSize[i] - 1) + outputPadding[i] + (kernel[i] - 1) * dilations[i] + 1);
  const autoPad = ctx.attrs.string('auto_pad', 'NOTSET');
  let pads: number[];
  if (ctx.attrs.has('output_shape') || autoPad === 'SAME_UPPER' || autoPad === 'SAME_LOWER') {
    const target = ctx.attrs.has('output_shape') ? ctx.attrs.ints('output_shape').slice(-2) : inSize.map((d, i) => d * strides[i]);
    if (target.length !== 2) throw ctx.error('output_shape must give at least the two spatial sizes');
    const begin: number[] = [];
    const end: number[] = [];
    for (let i = 0; i < 2; i++) {
      const total = full[i] - target[i];
      if (total < 0) throw ctx.error(`output size ${target[i]} along ${'HW'[i]} needs negative padding`);
      const half = Math.floor(total / 2);
      begin.push(autoPad === 'SAME_UPPER' ? half : total - half);
      end.push(total - begin[i]);
    }
    pads = [...begin, ...end];
  } else if (autoPad === 'VALID') pads = [0, 0, 0, 0];
  else if (autoPad === 'NOTSET') {
    pads = ctx.attrs.ints('pads', [0, 0, 0, 0]);
    if (pads.length !== 4 || pads.some((p) => !Number.isSafeInteger(p) || p < 0)) throw ctx.error(`pads [${pads.join(', ')}] must be four integers >= 0`);
  } else throw ctx.error(`auto_pad '${autoPad}' is not one of NOTSET, SAME_UPPER, SAME_LOWER, VALID`);
  const out = [0, 1].map((i) => full[i] - pads[i] - pads[i + 2]);
  if (out.some((d) => d < 1)) throw ctx.error(`pads [${pads.join(', ')}] leave an empty output`);
  return { attrs: { strides, pads, dilations, group, outputPadding }, shape: [n, m, out[0], out[1]] };
}

export const ConvTranspose: OpHandler = {
  inferShape: (ctx) => [{ shape: convTransposePlan(ctx).shape, dtype: ctx.input(0).dtype }],
  run: (ctx) => engineOp<ConvTranspose2dAttrs>(ctx, 'convTranspose2d')(operands(ctx), convTransposePlan(ctx).attrs),
};

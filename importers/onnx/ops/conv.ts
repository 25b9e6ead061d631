// Conv and ConvTranspose over NCHW inputs (2-D only), on the engine's conv2d
// and convTranspose2d. Prepare resolves auto_pad and output_shape into
// explicit [top, left, bottom, right] pads; output sizes then come from the
// engine's own geometry functions, so prepare and run cannot disagree.

import type { BackendTensor } from '../backend.js';
import type { InferContext, NodeContext, OpHandler, RunContext } from './handler.js';
import { convGeometry, convTransposeGeometry, type Conv2dAttrs, type ConvTranspose2dAttrs } from '../../../engine/host.js';

const pair = (v: number[]): [number, number] => [v[0], v[1]];

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

function groupAttr(ctx: NodeContext): number {
  const group = ctx.attrs.int('group', 1);
  if (!Number.isSafeInteger(group) || group < 1) throw ctx.error(`group ${group} must be a positive integer`);
  return group;
}

// ---- Conv ------------------------------------------------------------------------------

function checkRank(ctx: InferContext, what: string): void {
  const x = ctx.input(0).shape;
  const w = ctx.input(1).shape;
  if (x.length !== 4 || w.length !== 4) {
    throw ctx.error(`only 2-D ${what} is supported: x must be NCHW and the weights 4-D, got [${x.join(', ')}] and [${w.join(', ')}]`);
  }
  if (ctx.attrs.has('kernel_shape')) {
    const k = ctx.attrs.ints('kernel_shape');
    if (k.length !== 2 || k[0] !== w[2] || k[1] !== w[3]) throw ctx.error(`kernel_shape [${k.join(', ')}] does not match the weights [${w.join(', ')}]`);
  }
}

/** The engine conv2d attributes of a Conv node (the executor's Conv fusions start from them). */
export function convAttrs(ctx: InferContext): Conv2dAttrs {
  checkRank(ctx, 'convolution');
  const x = ctx.input(0).shape;
  const w = ctx.input(1).shape;
  const strides = pairAttr(ctx, 'strides', 1, 1);
  const dilations = pairAttr(ctx, 'dilations', 1, 1);
  const pads = resolvePads(ctx, x.slice(2), w.slice(2), strides, dilations);
  return { strides: pair(strides), dilations: pair(dilations), pads: [pads[0], pads[1], pads[2], pads[3]], groups: groupAttr(ctx) };
}

const operands = <T extends BackendTensor>(ctx: RunContext<T>): T[] => (ctx.inputs[2] ? [0, 1, 2] : [0, 1]).map((i) => ctx.tensor(i));
const biasShape = (ctx: InferContext) => ctx.inputs[2]?.shape;

export const Conv: OpHandler = {
  inferShape(ctx) {
    const g = convGeometry('Conv', ctx.input(0).shape, ctx.input(1).shape, convAttrs(ctx), biasShape(ctx));
    return [{ shape: [g.batch, g.outC, g.outH, g.outW], dtype: ctx.input(0).dtype }];
  },
  run: (ctx) => ctx.ops.conv2d(operands(ctx), convAttrs(ctx)),
};

// ---- ConvTranspose ---------------------------------------------------------------------

/**
 * out = stride * (in - 1) + output_padding + (k - 1) * dilation + 1 - pad_begin - pad_end.
 * With output_shape (or SAME auto_pad, where out = in * stride) the pads are
 * derived: total = the formula without pads - out, split as the ONNX spec says.
 */
function convTransposeAttrs(ctx: InferContext): ConvTranspose2dAttrs {
  checkRank(ctx, 'transposed convolution');
  const x = ctx.input(0).shape;
  const w = ctx.input(1).shape;
  const strides = pairAttr(ctx, 'strides', 1, 1);
  const dilations = pairAttr(ctx, 'dilations', 1, 1);
  const outputPadding = pairAttr(ctx, 'output_padding', 0, 0);
  const inSize = x.slice(2);
  const autoPad = ctx.attrs.string('auto_pad', 'NOTSET');
  let pads: number[];
  if (ctx.attrs.has('output_shape') || autoPad === 'SAME_UPPER' || autoPad === 'SAME_LOWER') {
    const target = ctx.attrs.has('output_shape') ? ctx.attrs.ints('output_shape').slice(-2) : inSize.map((d, i) => d * strides[i]);
    if (target.length !== 2) throw ctx.error('output_shape must give at least the two spatial sizes');
    const begin: number[] = [];
    const end: number[] = [];
    for (let i = 0; i < 2; i++) {
      const full = strides[i] * (inSize[i] - 1) + outputPadding[i] + (w[2 + i] - 1) * dilations[i] + 1;
      const total = full - target[i];
      if (total < 0) throw ctx.error(`output size ${target[i]} along ${'HW'[i]} needs negative padding`);
      const half = Math.floor(total / 2);
      begin.push(autoPad === 'SAME_UPPER' ? half : total - half);
      end.push(total - begin[i]);
    }
    pads = [...begin, ...end];
  } else if (autoPad === 'VALID') pads = [0, 0, 0, 0];
  else if (autoPad === 'NOTSET') pads = resolvePads(ctx, inSize, w.slice(2), strides, dilations);
  else throw ctx.error(`auto_pad '${autoPad}' is not one of NOTSET, SAME_UPPER, SAME_LOWER, VALID`);
  return {
    strides: pair(strides),
    dilations: pair(dilations),
    pads: [pads[0], pads[1], pads[2], pads[3]],
    groups: groupAttr(ctx),
    outputPadding: pair(outputPadding),
  };
}

export const ConvTranspose: OpHandler = {
  inferShape(ctx) {
    const x = ctx.input(0).shape;
    // The geometry of the conv this transposes: its input is our output.
    const g = convTransposeGeometry(x, ctx.input(1).shape, convTransposeAttrs(ctx), biasShape(ctx));
    return [{ shape: [g.batch, g.inC, g.inH, g.inW], dtype: ctx.input(0).dtype }];
  },
  run: (ctx) => ctx.ops.convTranspose2d(operands(ctx), convTransposeAttrs(ctx)),
};

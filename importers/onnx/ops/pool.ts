// Pooling: MaxPool, AveragePool (2-D windows, auto_pad resolved to explicit
// pads, output size from the engine's poolGeometry so prepare and run agree),
// GlobalAveragePool and GlobalMaxPool.

import type { InferContext, OpHandler } from './handler.js';
import { pairAttr, resolvePads } from './conv.js';
import { poolGeometry, type AveragePoolAttrs } from '../../../engine/host.js';

function poolAttrs(ctx: InferContext): AveragePoolAttrs {
  const x = ctx.input(0).shape;
  if (x.length !== 4) throw ctx.error(`only 2-D pooling over NCHW inputs is supported, got [${x.join(', ')}]`);
  const kernelShape = ctx.attrs.ints('kernel_shape');
  if (kernelShape.length !== 2) throw ctx.error(`kernel_shape [${kernelShape.join(', ')}] must have two entries`);
  const strides = pairAttr(ctx, 'strides', 1, 1);
  const dilations = pairAttr(ctx, 'dilations', 1, 1);
  const pads = resolvePads(ctx, x.slice(2), kernelShape, strides, dilations);
  const attrs: AveragePoolAttrs = { kernelShape, strides, pads, dilations, ceilMode: ctx.attrs.int('ceil_mode', 0) === 1 };
  if (ctx.node.opType === 'AveragePool') attrs.countIncludePad = ctx.attrs.int('count_include_pad', 0) === 1;
  return attrs;
}

function outShape(ctx: InferContext): number[] {
  const x = ctx.input(0).shape;
  const g = poolGeometry(ctx.node.opType, x, poolAttrs(ctx));
  return [x[0], x[1], g.outH, g.outW];
}

export const MaxPool: OpHandler = {
  inferShape(ctx) {
    if (ctx.node.outputs[1]) throw ctx.error('the Indices output is not supported');
    if (ctx.attrs.int('storage_order', 0) !== 0) throw ctx.error('storage_order 1 (column-major indices) is not supported');
    return [{ shape: outShape(ctx), dtype: ctx.input(0).dtype }];
  },
  run(ctx) {
    const [y, indices] = ctx.ops.maxPool([ctx.tensor(0)], poolAttrs(ctx));
    ctx.backend.release(indices); // the tape keeps its own view for backward
    return [y];
  },
};

export const AveragePool: OpHandler = {
  inferShape: (ctx) => [{ shape: outShape(ctx), dtype: ctx.input(0).dtype }],
  run: (ctx) => ctx.ops.averagePool([ctx.tensor(0)], poolAttrs(ctx)),
};

/** [N, C, 1, ...]: the spatial axes reduced to 1. */
function globalShape(ctx: InferContext): number[] {
  const x = ctx.input(0).shape;
  if (x.length < 3) throw ctx.error(`expects [N, C, spatial...], got [${x.join(', ')}]`);
  return x.map((d, i) => (i < 2 ? d : 1));
}

export const GlobalAveragePool: OpHandler = {
  inferShape: (ctx) => [{ shape: globalShape(ctx), dtype: ctx.input(0).dtype }],
  run: (ctx) => ctx.ops.globalAveragePool([ctx.tensor(0)], {}),
};

export const GlobalMaxPool: OpHandler = {
  inferShape: (ctx) => [{ shape: globalShape(ctx), dtype: ctx.input(0).dtype }],
  run: (ctx) => ctx.ops.globalMaxPool([ctx.tensor(0)], {}),
};

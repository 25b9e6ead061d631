// ReduceSum, ReduceMean, ReduceMax, ReduceMin on the engine's reductions. Axes
// are an attribute in older opsets and an optional constant input in newer
// ones (ReduceSum from 13, the others from 18).

import type { InferContext, OpHandler } from './handler.js';
import { axisOf, intsOf } from './util.js';

/** The reduced axes (sorted, normalized); null means "no reduction" (noop_with_empty_axes). */
function reducedAxes(ctx: InferContext, axesInputSince: number): number[] | null {
  const rank = ctx.input(0).shape.length;
  let axes: number[] | undefined;
  if (ctx.opset < axesInputSince) axes = ctx.attrs.has('axes') ? ctx.attrs.ints('axes') : undefined;
  else if (ctx.inputs[1]) axes = intsOf(ctx, ctx.constant(1, 'axes'), 'axes');
  if (!axes?.length) return ctx.attrs.int('noop_with_empty_axes', 0) === 1 ? null : [...Array(rank).keys()];
  const normalized = axes.map((a) => axisOf(ctx, a, rank));
  if (new Set(normalized).size !== normalized.length) throw ctx.error(`repeated axis in [${axes.join(', ')}]`);
  return normalized.sort((a, b) => a - b);
}

function reduceHandler(op: 'sum' | 'mean' | 'max' | 'min', axesInputSince: number): OpHandler {
  const keepDims = (ctx: InferContext) => ctx.attrs.int('keepdims', 1) === 1;
  return {
    inferShape(ctx) {
      const x = ctx.input(0);
      const axes = reducedAxes(ctx, axesInputSince);
      if (!axes) return [{ shape: x.shape, dtype: x.dtype }];
      const shape = keepDims(ctx) ? x.shape.map((d, i) => (axes.includes(i) ? 1 : d)) : x.shape.filter((_, i) => !axes.includes(i));
      return [{ shape, dtype: x.dtype }];
    },
    run(ctx) {
      const x = ctx.tensor(0);
      const axes = reducedAxes(ctx, axesInputSince);
      if (!axes) return ctx.ops.reshape([x], { shape: x.shape });
      return ctx.ops[op]([x], { axes, keepDims: keepDims(ctx) });
    },
  };
}

export const ReduceSum = reduceHandler('sum', 13);
export const ReduceMean = reduceHandler('mean', 18);
export const ReduceMax = reduceHandler('max', 18);
export const ReduceMin = reduceHandler('min', 18);

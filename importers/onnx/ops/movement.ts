// Shape-only and movement ops: Reshape, Flatten, Squeeze, Unsqueeze (free
// views via the engine's reshape), Transpose and Expand (strided copies).
// All fold on the CPU when their data input is a constant.

import { broadcastShapes, broadcastStrides, contiguousStrides, numel, resolveReshape, type Shape } from '../../../engine/host.js';
import type { HostTensor } from '../host-tensor.js';
import type { InferContext, OpHandler } from './handler.js';
import { axisOf, checkShape, intsOf, stridedGather, withValues } from './util.js';

/** The same values under another shape (host tensors are immutable, so the data is shared). */
const reshaped = (t: HostTensor, shape: Shape): HostTensor => ({ dtype: t.dtype, shape: [...shape], data: t.data });

/** A handler whose output is its input's values under the shape `shapeOf` computes. */
function view(shapeOf: (ctx: InferContext) => number[]): OpHandler {
  return {
    inferShape: (ctx) => [{ shape: shapeOf(ctx), dtype: ctx.input(0).dtype }],
    fold: (ctx) => [reshaped(ctx.input(0).value!, shapeOf(ctx))],
    run: (ctx) => ctx.ops.reshape([ctx.tensor(0)], { shape: ctx.outputShapes[0] }),
  };
}

/** Reshape: the target is an attribute before opset 5 and a constant input after; 0 copies a dimension unless allowzero. */
export const Reshape = view((ctx) => {
  const target = ctx.opset < 5 ? ctx.attrs.ints('shape') : intsOf(ctx, ctx.constant(1, 'shape'), 'shape');
  const allowZero = ctx.attrs.int('allowzero', 0) === 1;
  return resolveReshape('Reshape', ctx.input(0).shape, target, allowZero);
});

/** Flatten: [d0 * ... * d(axis-1), d(axis) * ... * d(n-1)], axis in [-rank, rank]. */
export const Flatten = view((ctx) => {
  const shape = ctx.input(0).shape;
  const axis = ctx.attrs.int('axis', 1);
  const a = axis < 0 ? axis + shape.length : axis;
  if (a < 0 || a > shape.length) throw ctx.error(`axis ${axis} is out of range for rank ${shape.length}`);
  return [numel(shape.slice(0, a)), numel(shape.slice(a))];
});

/** Axes of Squeeze/Unsqueeze: an attribute before opset 13, an input from 13 on. */
function axesOf(ctx: InferContext, required: boolean): number[] | undefined {
  if (ctx.opset < 13) return ctx.attrs.has('axes') || required ? ctx.attrs.ints('axes') : undefined;
  if (!ctx.inputs[1]) {
    if (required) throw ctx.error('input 1 (axes) is required');
    return undefined;
  }
  return intsOf(ctx, ctx.constant(1, 'axes'), 'axes');
}

export const Squeeze = view((ctx) => {
  const shape = ctx.input(0).shape;
  const axes = axesOf(ctx, false)?.map((a) => axisOf(ctx, a, shape.length));
  if (!axes) return shape.filter((d) => d !== 1);
  for (const a of axes) if (shape[a] !== 1) throw ctx.error(`cannot squeeze axis ${a} of size ${shape[a]}`);
  return shape.filter((_, i) => !axes.includes(i));
});

export const Unsqueeze = view((ctx) => {
  const shape = ctx.input(0).shape;
  const rank = shape.length + axesOf(ctx, true)!.length;
  const axes = axesOf(ctx, true)!.map((a) => axisOf(ctx, a, rank));
  if (new Set(axes).size !== axes.length) throw ctx.error(`repeated axis in [${axes.join(', ')}]`);
  const out: number[] = [];
  let next = 0;
  for (let i = 0; i < rank; i++) out.push(axes.includes(i) ? 1 : shape[next++]);
  return out;
});

function permOf(ctx: InferContext): number[] {
  const rank = ctx.input(0).shape.length;
  const perm = ctx.attrs.ints('perm', [...Array(rank).keys()].reverse());
  const ok = perm.length === rank && [...perm].sort((a, b) => a - b).every((p, i) => p === i);
  if (!ok) throw ctx.error(`perm [${perm.join(', ')}] is not a permutation of 0..${rank - 1}`);
  return perm;
}

export const Transpose: OpHandler = {
  inferShape(ctx) {
    const x = ctx.input(0);
    return [{ shape: permOf(ctx).map((p) => x.shape[p]), dtype: x.dtype }];
  },
  fold(ctx) {
    const x = ctx.input(0).value!;
    const perm = permOf(ctx);
    const strides = contiguousStrides(x.shape);
    const shape = perm.map((p) => x.shape[p]);
    return [withValues(x, shape, stridedGather(x.data, shape, perm.map((p) => strides[p])))];
  },
  run: (ctx) => ctx.ops.transpose([ctx.tensor(0)], { perm: permOf(ctx) }),
};

/** Expand: bidirectional broadcast of the input with the constant target shape. */
function expandShape(ctx: InferContext): number[] {
  const target = checkShape(ctx, intsOf(ctx, ctx.constant(1, 'shape'), 'shape'), 'shape');
  return broadcastShapes('Expand', ctx.input(0).shape, target);
}

export const Expand: OpHandler = {
  inferShape: (ctx) => [{ shape: expandShape(ctx), dtype: ctx.input(0).dtype }],
  fold(ctx) {
    const x = ctx.input(0).value!;
    const shape = expandShape(ctx);
    return [withValues(x, shape, stridedGather(x.data, shape, broadcastStrides(x.shape, shape)))];
  },
  run: (ctx) => ctx.ops.expand([ctx.tensor(0)], { shape: ctx.outputShapes[0] }),
};

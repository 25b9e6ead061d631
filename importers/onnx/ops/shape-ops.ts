// Ops that cut and join tensors: Concat, Split, Slice, Gather and Pad. Shapes
// come from the engine's own resolvers (so prepare and run cannot disagree);
// the CPU folds cover the shape-subgraph uses (concatenating and slicing
// int64 shape vectors, gathering one dimension).

import { contiguousStrides, numel, resolveGather, resolvePad, resolveSlice, type PadMode, type Shape } from '../../../engine/host.js';
import { scalarOf, toNumbers } from '../host-tensor.js';
import type { InferContext, OpHandler } from './handler.js';
import { axisOf, intsOf, stridedGather, withValues } from './util.js';

// ---- Concat ----------------------------------------------------------------------------

function concatShape(ctx: InferContext): { axis: number; shape: number[] } {
  const shapes = ctx.node.inputs.map((_, i) => ctx.input(i).shape);
  if (!shapes.length) throw ctx.error('needs at least one input');
  const rank = shapes[0].length;
  const axis = axisOf(ctx, ctx.attrs.int('axis'), rank);
  shapes.forEach((s, k) => {
    if (s.length !== rank || s.some((d, i) => i !== axis && d !== shapes[0][i])) {
      throw ctx.error(`input ${k} has shape [${s.join(', ')}], which does not match input 0 [${shapes[0].join(', ')}] outside axis ${axis}`);
    }
  });
  // ONNX requires one element type (T); a fold would otherwise mix int64 (BigInt) and number arrays.
  const dtypes = ctx.node.inputs.map((_, i) => ctx.input(i).dtype);
  const other = dtypes.findIndex((d) => d !== dtypes[0]);
  if (other >= 0) throw ctx.error(`input ${other} is ${dtypes[other]} but input 0 is ${dtypes[0]}: Concat's inputs share one element type`);
  const shape = [...shapes[0]];
  shape[axis] = shapes.reduce((n, s) => n + s[axis], 0);
  return { axis, shape };
}

export const Concat: OpHandler = {
  inferShape(ctx) {
    return [{ shape: concatShape(ctx).shape, dtype: ctx.input(0).dtype }];
  },
  fold(ctx) {
    const { axis, shape } = concatShape(ctx);
    const parts = ctx.node.inputs.map((_, i) => ctx.input(i).value!);
    const inner = numel(shape.slice(axis + 1));
    const outer = numel(shape.slice(0, axis));
    const out: (number | bigint)[] = [];
    // Row-major: for each outer index, each part contributes its [axis * inner] block.
    for (let o = 0; o < outer; o++) {
      for (const p of parts) {
        const block = p.shape[axis] * inner;
        for (let j = 0; j < block; j++) out.push(p.data[o * block + j]);
      }
    }
    return [withValues(parts[0], shape, out)];
  },
  run(ctx) {
    const inputs = ctx.node.inputs.map((_, i) => ctx.tensor(i));
    return ctx.ops.concat(inputs, { axis: ctx.attrs.int('axis') });
  },
};

// ---- Split -----------------------------------------------------------------------------

/** Part sizes: the `split` attribute (< 13) or input (>= 13), else equal parts (num_outputs in opset 18). */
function splitPlan(ctx: InferContext): { axis: number; sizes: number[] } {
  const shape = ctx.input(0).shape;
  const axis = axisOf(ctx, ctx.attrs.int('axis', 0), shape.length);
  const dim = shape[axis];
  const parts = ctx.node.outputs.length;
  if (ctx.attrs.has('num_outputs') && ctx.attrs.int('num_outputs') !== parts) {
    throw ctx.error(`num_outputs ${ctx.attrs.int('num_outputs')} differs from the node's ${parts} outputs`);
  }
  let sizes: number[];
  if (ctx.opset < 13 && ctx.attrs.has('split')) sizes = ctx.attrs.ints('split');
  else if (ctx.opset >= 13 && ctx.inputs[1]) sizes = intsOf(ctx, ctx.constant(1, 'split'), 'split');
  else {
    const chunk = Math.ceil(dim / parts);
    if (ctx.opset < 18 && dim % parts !== 0) throw ctx.error(`axis ${axis} of size ${dim} does not split into ${parts} equal parts`);
    sizes = Array.from({ length: parts }, (_, k) => Math.max(0, Math.min(chunk, dim - k * chunk)));
  }
  if (sizes.length !== parts) throw ctx.error(`${sizes.length} split sizes for ${parts} outputs`);
  if (sizes.some((s) => !Number.isSafeInteger(s) || s < 0) || sizes.reduce((n, s) => n + s, 0) !== dim) {
    throw ctx.error(`split sizes [${sizes.join(', ')}] do not add up to axis ${axis} of size ${dim}`);
  }
  return { axis, sizes };
}

export const Split: OpHandler = {
  inferShape(ctx) {
    const x = ctx.input(0);
    const { axis, sizes } = splitPlan(ctx);
    return sizes.map((s) => ({ shape: x.shape.map((d, i) => (i === axis ? s : d)), dtype: x.dtype }));
  },
  fold(ctx) {
    const x = ctx.input(0).value!;
    const { axis, sizes } = splitPlan(ctx);
    const strides = contiguousStrides(x.shape);
    let offset = 0;
    return sizes.map((s) => {
      const shape = x.shape.map((d, i) => (i === axis ? s : d));
      const part = withValues(x, shape, stridedGather(x.data, shape, strides, offset * strides[axis]));
      offset += s;
      return part;
    });
  },
  run(ctx) {
    return ctx.ops.split([ctx.tensor(0)], splitPlan(ctx));
  },
};

// ---- Slice -----------------------------------------------------------------------------

interface SliceArgs {
  starts: number[];
  ends: number[];
  axes?: number[];
  steps?: number[];
}

/** starts/ends/axes as attributes before opset 10; starts, ends, axes?, steps? as constant inputs from 10 on. */
function sliceArgs(ctx: InferContext): SliceArgs {
  if (ctx.opset < 10) {
    return { starts: ctx.attrs.ints('starts'), ends: ctx.attrs.ints('ends'), axes: ctx.attrs.has('axes') ? ctx.attrs.ints('axes') : undefined };
  }
  const opt = (i: number, what: string) => (ctx.inputs[i] ? toNumbers(ctx.constant(i, what)) : undefined);
  return { starts: toNumbers(ctx.constant(1, 'starts')), ends: toNumbers(ctx.constant(2, 'ends')), axes: opt(3, 'axes'), steps: opt(4, 'steps') };
}

export const Slice: OpHandler = {
  inferShape(ctx) {
    const x = ctx.input(0);
    return [{ shape: resolveSlice(x.shape, sliceArgs(ctx)).counts, dtype: x.dtype }];
  },
  fold(ctx) {
    const x = ctx.input(0).value!;
    const { starts, steps, counts } = resolveSlice(x.shape, sliceArgs(ctx));
    const strides = contiguousStrides(x.shape);
    const offset = counts.some((c) => c === 0) ? 0 : starts.reduce((o, s, d) => o + s * strides[d], 0);
    return [withValues(x, counts, stridedGather(x.data, counts, strides.map((s, d) => s * steps[d]), offset))];
  },
  run(ctx) {
    return ctx.ops.slice([ctx.tensor(0)], sliceArgs(ctx));
  },
};

// ---- Gather ----------------------------------------------------------------------------

function gatherArgs(ctx: InferContext): { indices: number[]; indicesShape: Shape; axis: number } {
  const indices = ctx.constant(1, 'indices');
  return { indices: intsOf(ctx, indices, 'indices'), indicesShape: indices.shape, axis: ctx.attrs.int('axis', 0) };
}

export const Gather: OpHandler = {
  inferShape(ctx) {
    const x = ctx.input(0);
    return [{ shape: resolveGather(x.shape, gatherArgs(ctx)).shape, dtype: x.dtype }];
  },
  fold(ctx) {
    const x = ctx.input(0).value!;
    const { axis, indices, shape } = resolveGather(x.shape, gatherArgs(ctx));
    const inner = numel(x.shape.slice(axis + 1));
    const outer = numel(x.shape.slice(0, axis));
    const dim = x.shape[axis];
    const out: (number | bigint)[] = [];
    for (let o = 0; o < outer; o++) {
      for (const j of indices) for (let k = 0; k < inner; k++) out.push(x.data[(o * dim + j) * inner + k]);
    }
    return [withValues(x, shape, out)];
  },
  run(ctx) {
    return ctx.ops.gather([ctx.tensor(0)], gatherArgs(ctx));
  },
};

// ---- Pad -------------------------------------------------------------------------------

const PAD_MODES: readonly PadMode[] = ['constant', 'reflect', 'edge', 'wrap'];

/** pads/value as attributes before opset 11; pads, constant_value?, axes? (18) as constant inputs from 11 on (plan.ts folds zero pads into Convs with it). */
export function padArgs(ctx: InferContext): { pads: number[]; mode: PadMode; value: number; axes?: number[] } {
  const mode = ctx.attrs.string('mode', 'constant') as PadMode;
  if (!PAD_MODES.includes(mode)) throw ctx.error(`mode '${mode}' is not supported (supported: ${PAD_MODES.join(', ')})`);
  if (ctx.opset < 11) return { pads: ctx.attrs.ints(ctx.opset < 2 ? 'paddings' : 'pads'), mode, value: ctx.attrs.float('value', 0) };
  const pads = intsOf(ctx, ctx.constant(1, 'pads'), 'pads');
  const value = ctx.inputs[2] ? ctx.constant(2, 'constant_value') : undefined;
  const axes = ctx.inputs[3] ? intsOf(ctx, ctx.constant(3, 'axes'), 'axes') : undefined;
  return { pads, mode, value: value && value.data.length ? scalarOf(value) : 0, axes };
}

export const Pad: OpHandler = {
  inferShape(ctx) {
    const x = ctx.input(0);
    return [{ shape: resolvePad(x.shape, padArgs(ctx)).shape, dtype: x.dtype }];
  },
  run(ctx) {
    return ctx.ops.pad([ctx.tensor(0)], padArgs(ctx));
  },
};

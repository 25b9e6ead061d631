// Ops that make constants and shapes: Constant, ConstantOfShape, Shape, Size,
// Range and Cast. In CNN exports they only feed shape subgraphs, so prepare
// folds them; `run` covers what is left (a constant too large to fold, a Cast
// between float types of a computed tensor).

import { numel } from '../../../engine/host.js';
import type { BackendTensor } from '../backend.js';
import { dataTypeName, dtypeOfCode, fromNumbers, isFloatDType, scalarOf, toFloat32, toNumbers, type HostTensor, type OnnxDType } from '../host-tensor.js';
import type { InferContext, NodeContext, OpHandler, RunContext } from './handler.js';
import { checkShape, intsOf } from './util.js';

/** Uploads a host value (what run does for a constant that was too large to fold). */
const upload = <T extends BackendTensor>(ctx: RunContext<T>, t: HostTensor) => [ctx.backend.fromValues(toFloat32(t), t.shape)];

/** The value of a Constant node, from whichever attribute carries it. */
function constantValue(ctx: NodeContext): HostTensor {
  const [attr, ...extra] = [...ctx.node.attributes.values()].filter((a) => a.name.startsWith('value') || a.name === 'sparse_value');
  if (!attr || extra.length) throw ctx.error('needs exactly one of the attributes value, value_float(s), value_int(s)');
  switch (attr.name) {
    case 'value':
      return ctx.attrs.tensor('value');
    case 'value_float':
      return fromNumbers('float32', [], [ctx.attrs.float('value_float')]);
    case 'value_floats': {
      const v = ctx.attrs.floats('value_floats');
      return fromNumbers('float32', [v.length], v);
    }
    case 'value_int':
      return fromNumbers('int64', [], [ctx.attrs.int('value_int')]);
    case 'value_ints': {
      const v = ctx.attrs.ints('value_ints');
      return fromNumbers('int64', [v.length], v);
    }
    default:
      throw ctx.error(`attribute '${attr.name}' is not supported (string and sparse constants cannot feed a CNN)`);
  }
}

export const Constant: OpHandler = {
  alwaysFold: true,
  inferShape(ctx) {
    const v = constantValue(ctx);
    return [{ shape: v.shape, dtype: v.dtype }];
  },
  fold: (ctx) => [constantValue(ctx)],
  run: (ctx) => upload(ctx, constantValue(ctx)),
};

/** The fill value of ConstantOfShape: a one-element tensor attribute, float32 0 by default. */
function fillValue(ctx: NodeContext): HostTensor {
  if (!ctx.attrs.has('value')) return fromNumbers('float32', [1], [0]);
  const v = ctx.attrs.tensor('value');
  if (v.data.length !== 1) throw ctx.error(`attribute 'value' must hold one element, got ${v.data.length}`);
  return v;
}

function targetShape(ctx: InferContext): number[] {
  return checkShape(ctx, intsOf(ctx, ctx.constant(0, 'shape'), 'shape'), 'shape');
}

export const ConstantOfShape: OpHandler = {
  inferShape(ctx) {
    return [{ shape: targetShape(ctx), dtype: fillValue(ctx).dtype }];
  },
  fold(ctx) {
    const v = fillValue(ctx);
    const shape = targetShape(ctx);
    return [fromNumbers(v.dtype, shape, new Array<number>(numel(shape)).fill(scalarOf(v)))];
  },
  run(ctx) {
    return [ctx.backend.fill(ctx.outputShapes[0], scalarOf(fillValue(ctx)))];
  },
};

/** Shape's [start, end) window (opset 15), normalized like Slice. */
function shapeWindow(ctx: InferContext): number[] {
  const shape = ctx.input(0).shape;
  const r = shape.length;
  const clamp = (v: number) => Math.min(Math.max(v < 0 ? v + r : v, 0), r);
  return shape.slice(clamp(ctx.attrs.int('start', 0)), clamp(ctx.attrs.int('end', r)));
}

export const Shape: OpHandler = {
  foldFromShapes: true,
  inferShape: (ctx) => [{ shape: [shapeWindow(ctx).length], dtype: 'int64' }],
  fold(ctx) {
    const dims = shapeWindow(ctx);
    return [fromNumbers('int64', [dims.length], dims)];
  },
  run(ctx) {
    const dims = shapeWindow(ctx);
    return [ctx.backend.fromValues(dims, [dims.length])];
  },
};

export const Size: OpHandler = {
  foldFromShapes: true,
  inferShape: () => [{ shape: [], dtype: 'int64' }],
  fold: (ctx) => [fromNumbers('int64', [], [numel(ctx.input(0).shape)])],
  run: (ctx) => [ctx.backend.fromValues([numel(ctx.input(0).shape)], [])],
};

/** Range(start, limit, delta): scalars that must be constants (they fix the output length). */
function rangeValues(ctx: InferContext): { dtype: OnnxDType; start: number; delta: number; count: number } {
  const [start, limit, delta] = ['start', 'limit', 'delta'].map((what, i) => {
    const t = ctx.constant(i, what);
    if (t.data.length !== 1) throw ctx.error(`${what} must be a scalar, got ${t.data.length} values`);
    return scalarOf(t);
  });
  if (delta === 0 || !Number.isFinite(delta) || !Number.isFinite(start) || !Number.isFinite(limit)) {
    throw ctx.error(`cannot make a range from ${start} to ${limit} by ${delta}`);
  }
  const count = Math.max(Math.ceil((limit - start) / delta), 0);
  if (!Number.isSafeInteger(count)) throw ctx.error(`range from ${start} to ${limit} by ${delta} is too long`);
  return { dtype: ctx.input(0).dtype, start, delta, count };
}

export const Range: OpHandler = {
  inferShape(ctx) {
    const { dtype, count } = rangeValues(ctx);
    return [{ shape: [count], dtype }];
  },
  fold(ctx) {
    const { dtype, start, delta, count } = rangeValues(ctx);
    return [fromNumbers(dtype, [count], Array.from({ length: count }, (_, i) => start + i * delta))];
  },
  run(ctx) {
    const { start, delta, count } = rangeValues(ctx);
    const values = new Float32Array(count);
    for (let i = 0; i < count; i++) values[i] = start + i * delta;
    return [ctx.backend.fromValues(values, [count])];
  },
};

function castTarget(ctx: NodeContext): OnnxDType {
  const to = ctx.attrs.int('to');
  const dtype = dtypeOfCode(to);
  if (!dtype) throw ctx.error(`cast to ${dataTypeName(to)} is not supported`);
  return dtype;
}

export const Cast: OpHandler = {
  inferShape(ctx) {
    const x = ctx.input(0);
    const to = castTarget(ctx);
    // GPU tensors are float32: a computed tensor can only be cast between float types.
    if (!x.value && !isFloatDType(to)) {
      throw ctx.error(`cast of the computed tensor '${ctx.node.inputs[0]}' to ${to} is not supported (GPU tensors are float32)`);
    }
    return [{ shape: x.shape, dtype: to }];
  },
  fold(ctx) {
    const x = ctx.input(0).value!;
    return [fromNumbers(castTarget(ctx), x.shape, toNumbers(x))];
  },
  // Float to float: the values are float32 on the GPU either way.
  run: (ctx) => ctx.ops.reshape([ctx.tensor(0)], { shape: ctx.outputShapes[0] }),
};

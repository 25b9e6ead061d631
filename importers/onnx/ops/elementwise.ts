// Elementwise ONNX ops: activations (one row each: engine op, attributes, and
// for the ops the engine cannot fuse a CPU formula for folding), the
// broadcasting binary ops, Identity and Dropout. The fusable activations fold
// with, and fuse into a Conv because of, their row of the engine's ACTIVATIONS
// table.

import {
  ACTIVATIONS,
  activationParams,
  broadcastShapes,
  isFusable,
  type Activation,
  type BinaryName,
  type FusableKind,
  type Shape,
  type UnaryAttrs,
  type UnaryName,
} from '../../../engine/host.js';

import { fromNumbers, isFloatDType, scalarOf, toNumbers, type HostTensor } from '../host-tensor.js';
import type { InferContext, NodeContext, OpHandler } from './handler.js';
import { broadcastMap } from './util.js';

const FLOAT_MAX = 3.4028234663852886e38;

type AttrsOf = (ctx: NodeContext, bound: (i: number) => HostTensor | undefined) => UnaryAttrs;

/**
 * An activation: the engine op, its attributes from the node's attributes or
 * constant inputs (`bound(i)`), and, for an op the engine cannot fuse, the same
 * formula on the CPU for folding (a fusable one folds with its ACTIVATIONS row).
 */
type UnaryRow =
  | { engine: FusableKind; attrs?: AttrsOf; cpu?: never }
  | { engine: Exclude<UnaryName, FusableKind>; attrs?: AttrsOf; cpu(x: number, a: UnaryAttrs): number };

/** The row's CPU formula: a fusable kind's from the table, with the kernels' parameter defaults. */
function cpuOf(row: UnaryRow): (x: number, a: UnaryAttrs) => number {
  const kind = row.engine;
  if (!isFusable(kind)) return row.cpu!;
  const { cpu } = ACTIVATIONS[kind];
  return (x, a) => {
    const { act_alpha, act_beta } = activationParams({ kind, ...a });
    return cpu(x, act_alpha, act_beta);
  };
}

function unary(row: UnaryRow): OpHandler {
  const attrsOf = (ctx: NodeContext, bound: (i: number) => HostTensor | undefined) => row.attrs?.(ctx, bound) ?? {};
  const cpu = cpuOf(row);
  const kind = row.engine;
  // Activations the engine fuses into conv2d's epilogue (same alpha/beta meaning as the elementwise ops).
  const epilogue = isFusable(kind) && ((ctx: InferContext): Activation => ({ kind, ...attrsOf(ctx, (i) => ctx.inputs[i]?.value) }));
  return {
    ...(epilogue && { epilogue }),
    inferShape(ctx) {
      const x = ctx.input(0);
      // Validates the attributes, and that bound inputs are constants, at prepare time.
      attrsOf(ctx, (i) => (ctx.inputs[i] ? ctx.constant(i, 'bound') : undefined));
      return [{ shape: x.shape, dtype: x.dtype }];
    },
    fold(ctx) {
      const x = ctx.input(0).value!;
      const a = attrsOf(ctx, (i) => ctx.inputs[i]?.value);
      return [fromNumbers(x.dtype, x.shape, toNumbers(x).map((v) => cpu(v, a)))];
    },
    run(ctx) {
      return ctx.ops[row.engine]([ctx.tensor(0)], attrsOf(ctx, (i) => ctx.inputs[i]?.value));
    },
  };
}

export const Relu = unary({ engine: 'relu' });
export const Sigmoid = unary({ engine: 'sigmoid' });
export const Tanh = unary({ engine: 'tanh', cpu: Math.tanh });
export const Exp = unary({ engine: 'exp', cpu: Math.exp });
export const Log = unary({ engine: 'log', cpu: Math.log });
export const Sqrt = unary({ engine: 'sqrt', cpu: Math.sqrt });
export const Neg = unary({ engine: 'neg', cpu: (x) => -x });
export const HardSwish = unary({ engine: 'hardSwish', cpu: (x) => x * Math.min(1, Math.max(0, x / 6 + 0.5)) });

export const LeakyRelu = unary({ engine: 'leakyRelu', attrs: (ctx) => ({ alpha: ctx.attrs.float('alpha', 0.01) }) });

export const HardSigmoid = unary({
  engine: 'hardSigmoid',
  attrs: (ctx) => ({ alpha: ctx.attrs.float('alpha', 0.2), beta: ctx.attrs.float('beta', 0.5) }),
  cpu: (x, { alpha = 0.2, beta = 0.5 }) => Math.min(1, Math.max(0, alpha * x + beta)),
});

/** Clip: bounds are attributes before opset 11 and optional constant inputs from 11 on. */
export const Clip = unary({
  engine: 'clip',
  attrs(ctx, bound) {
    if (ctx.opset < 11) return { alpha: ctx.attrs.float('min', -FLOAT_MAX), beta: ctx.attrs.float('max', FLOAT_MAX) };
    const min = bound(1);
    const max = bound(2);
    return { alpha: min ? scalarOf(min) : -FLOAT_MAX, beta: max ? scalarOf(max) : FLOAT_MAX };
  },
});

/** Identity, and Dropout at inference (which is the identity; its optional mask output is not supported). */
function identity(opType: string): OpHandler {
  return {
    inferShape(ctx) {
      const x = ctx.input(0);
      if (ctx.node.outputs.length > 1 && ctx.node.outputs[1]) throw ctx.error(`${opType}'s mask output is not supported`);
      return [{ shape: x.shape, dtype: x.dtype }];
    },
    fold: (ctx) => [ctx.input(0).value!],
    // A reshape to the same shape: a free view on the GPU that the tape records, so gradients pass.
    run: (ctx) => ctx.ops.reshape([ctx.tensor(0)], { shape: ctx.outputShapes[0] }),
  };
}

export const Identity = identity('Identity');
export const Dropout = identity('Dropout');

// ---- binary ops with NumPy broadcasting ---------------------------------------------

function binary(engine: BinaryName, cpu: (a: number, b: number, integer: boolean) => number): OpHandler {
  const outShape = (ctx: InferContext): Shape => {
    try {
      return broadcastShapes(ctx.node.opType, ctx.input(0).shape, ctx.input(1).shape);
    } catch (e) {
      throw ctx.error((e as Error).message);
    }
  };
  return {
    inferShape(ctx) {
      return [{ shape: outShape(ctx), dtype: ctx.input(0).dtype }];
    },
    fold(ctx) {
      const a = ctx.input(0).value!;
      const b = ctx.input(1).value!;
      const integer = !isFloatDType(a.dtype);
      const shape = outShape(ctx);
      return [fromNumbers(a.dtype, shape, broadcastMap(a, b, shape, (x, y) => cpu(x, y, integer)))];
    },
    run(ctx) {
      return ctx.ops[engine]([ctx.tensor(0), ctx.tensor(1)], {});
    },
  };
}

export const Add = binary('add', (a, b) => a + b);
export const Sub = binary('sub', (a, b) => a - b);
export const Mul = binary('mul', (a, b) => a * b);
// Integer division truncates toward zero, as onnxruntime does.
export const Div = binary('div', (a, b, integer) => (integer ? Math.trunc(a / b) : a / b));

const powBase = binary('pow', (a, b) => a ** b);

/**
 * Pow: a constant exponent of 2, 1 or 0.5 runs as x*x, a copy or sqrt, which
 * also handles negative bases (the engine's pow needs a > 0) and is cheaper.
 */
export const Pow: OpHandler = {
  ...powBase,
  run(ctx) {
    const e = ctx.inputs[1]?.value;
    const values = e && toNumbers(e);
    const k = values && values.length > 0 && values.every((v) => v === values[0]) ? values[0] : undefined;
    const xShape = ctx.input(0).shape;
    const sameShape = ctx.outputShapes[0].length === xShape.length && ctx.outputShapes[0].every((d, i) => d === xShape[i]);
    if (k !== undefined && sameShape) {
      const x = ctx.tensor(0);
      if (k === 2) return ctx.ops.mul([x, x], {});
      if (k === 1) return ctx.ops.reshape([x], { shape: xShape });
      if (k === 0.5) return ctx.ops.sqrt([x], {});
    }
    return powBase.run(ctx);
  },
};

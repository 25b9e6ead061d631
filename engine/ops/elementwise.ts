// Elementwise ops are table rows: a WGSL expression for the forward value and
// one for the derivative. Each row becomes an op with a forward kernel and a
// backward kernel (shaders/elementwise.wgsl). Unary rows see `x`, `y` (the
// output, for derivatives) and the parameters `alpha`, `beta`; binary rows see
// `a`, `b` and `y`. The CPU oracle for each row is in engine/reference.
// The activations the conv/gemm kernels can fuse take their rows from the
// ACTIVATIONS table (engine/activations.ts), so op and epilogue share one
// expression.

import elementwiseWgsl from '../../shaders/elementwise.wgsl';
import { ACTIVATIONS } from '../activations.js';
import { ShapeError } from '../errors.js';
import { defineKernel, specialize, type Kernel } from '../kernels/kernel.js';
import { broadcastShapes, broadcastStrides, numel, type Shape } from '../shape.js';
import { runtime } from '../runtime.js';
import { BYTES, Tensor } from '../tensor.js';
import { F16_MAX, PrecisionOverflow } from '../half.js';
import { tape, type BackwardRule } from '../tape.js';
import { defineOp, grid1d, launch, pack8, type Op } from './op.js';
import { alongAnyAxis, fillInParts } from './split.js';

export interface UnaryRow {
  /** y = f(x) */
  forward: string;
  /** dy/dx in terms of x and y */
  derivative: string;
}

export interface UnaryAttrs {
  alpha?: number;
  beta?: number;
}

export const unaryRows = {
  neg: { forward: '-x', derivative: '-1.0' },
  exp: { forward: 'exp(x)', derivative: 'y' },
  log: { forward: 'log(x)', derivative: '1.0 / x' },
  sqrt: { forward: 'sqrt(x)', derivative: '0.5 / y' },
  tanh: { forward: 'tanh(x)', derivative: '1.0 - y * y' },
  // The fusable activations: their rows live in the ACTIVATIONS table, which
  // also generates the conv/gemm epilogue.
  ...ACTIVATIONS,
  // ONNX HardSigmoid: max(0, min(1, alpha * x + beta)); selects, not clamp, so NaN
  // propagates (see engine/activations.ts)
  hardSigmoid: {
    forward: 'select(select(alpha * x + beta, 0.0, alpha * x + beta < 0.0), 1.0, alpha * x + beta > 1.0)',
    derivative: 'select(select(x, 0.0, alpha * x + beta <= 0.0 || alpha * x + beta >= 1.0), alpha, alpha * x + beta > 0.0 && alpha * x + beta < 1.0)',
  },
  // ONNX HardSwish: x * max(0, min(1, x / 6 + 1/2)); the factor x carries a NaN
  // through the clamp (and -inf * 0 is NaN, as in onnxruntime)
  hardSwish: {
    forward: 'x * clamp(x / 6.0 + 0.5, 0.0, 1.0)',
    derivative: 'select(select(x / 3.0 + 0.5, 1.0, x > 3.0), 0.0, x < -3.0)',
  },
} satisfies Record<string, UnaryRow>;

export type UnaryName = keyof typeof unaryRows;

export interface BinaryRow {
  forward: string;
  /** dy/da and dy/db in terms of a, b, y */
  partialA: string;
  partialB: string;
}

export const binaryRows = {
  add: { forward: 'a + b', partialA: '1.0', partialB: '1.0' },
  sub: { forward: 'a - b', partialA: '1.0', partialB: '-1.0' },
  mul: { forward: 'a * b', partialA: 'b', partialB: 'a' },
  div: { forward: 'a / b', partialA: '1.0 / b', partialB: '-y / b' },
  // a^b for a > 0 (WGSL pow is undefined for negative bases)
  pow: { forward: 'pow(a, b)', partialA: 'b * pow(a, b - 1.0)', partialB: 'y * log(a)' },
} satisfies Record<string, BinaryRow>;

export type BinaryName = keyof typeof binaryRows;

// ---- kernels -----------------------------------------------------------------

type Slot = 'UNARY' | 'DERIVATIVE' | 'BINARY' | 'PARTIAL_A' | 'PARTIAL_B';
const SLOTS: readonly Slot[] = ['UNARY', 'DERIVATIVE', 'BINARY', 'PARTIAL_A', 'PARTIAL_B'];
const kernelCache = new Map<string, Kernel>();

/** Every row's expression for one slot as a switch over p.op (the row's index in its table). */
function switchOverRows(expressions: readonly string[]): string {
  const cases = expressions.map((e, code) => `case ${code}u: { r = ${e}; }`).join('\n    ');
  return `switch p.op {\n    ${cases}\n    default: {}\n  }`;
}

const unaryNames = () => Object.keys(unaryRows) as UnaryName[];
const binaryNames = () => Object.keys(binaryRows) as BinaryName[];
/** All rows' expressions per slot, for the shared kernels. */
const ALL_ROWS: Record<Slot, () => string[]> = {
  UNARY: () => unaryNames().map((n) => unaryRows[n].forward),
  DERIVATIVE: () => unaryNames().map((n) => unaryRows[n].derivative),
  BINARY: () => binaryNames().map((n) => binaryRows[n].forward),
  PARTIAL_A: () => binaryNames().map((n) => binaryRows[n].partialA),
  PARTIAL_B: () => binaryNames().map((n) => binaryRows[n].partialB),
};

/**
 * The kernel of `entryPoint` for one row: its expression in `slot`, or, when
 * the runtime does not specialize (software adapters), the kernel shared by
 * every row of the table, which reads the row from the `op` uniform.
 */
function elementwiseKernel(name: string, entryPoint: string, slot?: { slot: Slot; expression: string }): Kernel {
  const shared = slot !== undefined && !runtime().specializeFlags;
  const key = shared ? `shared:${entryPoint}` : `${name}:${entryPoint}`;
  let k = kernelCache.get(key);
  if (!k) {
    const slots = Object.fromEntries(SLOTS.map((s) => [s, '']));
    if (slot) slots[slot.slot] = shared ? switchOverRows(ALL_ROWS[slot.slot]()) : `r = ${slot.expression};`;
    const kernelName = shared ? `${entryPoint}_shared` : name;
    k = defineKernel({ name: kernelName, wgsl: specialize(kernelName, elementwiseWgsl, slots), entryPoint });
    kernelCache.set(key, k);
  }
  return k;
}

interface ElementwiseUniforms {
  /** What profile() reports: the op's own kernel name, also when the kernel is shared. */
  label: string;
  n: number;
  /** The row's index in its table (read by the shared kernels). */
  op?: number;
  alpha?: number;
  beta?: number;
  outShape?: Shape;
  aStrides?: readonly number[];
  bStrides?: readonly number[];
}

function run(kernel: Kernel, tensors: Record<string, Tensor>, u: ElementwiseUniforms): void {
  launch(kernel, tensors, {
    label: u.label,
    workgroups: grid1d(u.n),
    uniforms: {
      n: u.n,
      rank: u.outShape?.length ?? 0,
      alpha: u.alpha ?? 0,
      beta: u.beta ?? 0,
      op: u.op ?? 0,
      out_shape: pack8(u.outShape ?? []),
      a_strides: pack8(u.aStrides ?? []),
      b_strides: pack8(u.bStrides ?? []),
    },
  });
}

// ---- ops ---------------------------------------------------------------------

function unaryOp(name: UnaryName): Op<UnaryAttrs> {
  const row: UnaryRow = unaryRows[name];
  const op = unaryNames().indexOf(name);
  const forwardKernel = () => elementwiseKernel(name, 'unary', { slot: 'UNARY', expression: row.forward });
  const gradKernel = () => elementwiseKernel(`${name}_grad`, 'unary_grad', { slot: 'DERIVATIVE', expression: row.derivative });
  return defineOp<UnaryAttrs>({
    name,
    forward([x], attrs) {
      if (!x) throw new ShapeError(name, 'expects one input');
      const y = Tensor.empty(x.shape);
      run(forwardKernel(), { a_buf: x, out_buf: y }, { label: name, n: x.size, op, ...attrs });
      return [y];
    },
    save: ([x], [y]) => [x, y],
    split: ([x]) => alongAnyAxis(x, [x]),
    // dx = dy * f'(x)
    backward({ saved: [x, y], attrs }, [gy]) {
      const gx = Tensor.empty(x.shape);
      run(gradKernel(), { a_buf: x, y_buf: y, gy_buf: gy, out_buf: gx }, { label: `${name}_grad`, n: x.size, op, ...attrs });
      return [gx];
    },
    backwardOps: unaryGradOps[name],
  });
}

function binaryOp(name: BinaryName): Op<Record<string, never>> {
  const row: BinaryRow = binaryRows[name];
  const op = binaryNames().indexOf(name);
  const forwardKernel = () => elementwiseKernel(name, 'binary', { slot: 'BINARY', expression: row.forward });
  const gradKernels = () => [
    elementwiseKernel(`${name}_grad_a`, 'binary_grad_a', { slot: 'PARTIAL_A', expression: row.partialA }),
    elementwiseKernel(`${name}_grad_b`, 'binary_grad_b', { slot: 'PARTIAL_B', expression: row.partialB }),
  ];
  return defineOp({
    name,
    forward([a, b]) {
      if (!a || !b) throw new ShapeError(name, 'expects two inputs');
      const outShape = broadcastShapes(name, a.shape, b.shape);
      const y = Tensor.empty(outShape);
      run(forwardKernel(), { a_buf: a, b_buf: b, out_buf: y }, {
        label: name,
        n: y.size,
        op,
        outShape,
        aStrides: broadcastStrides(a.shape, outShape),
        bStrides: broadcastStrides(b.shape, outShape),
      });
      return [y];
    },
    save: ([a, b], [y]) => [a, b, y],
    split: (inputs, _attrs, [y]) => alongAnyAxis(y, inputs),
    // da = dy * dy/da, db = dy * dy/db at the output shape; the tape un-broadcasts
    backward({ saved: [a, b, y], needsInputGrad }, [gy]) {
      const kernels = gradKernels();
      const u = {
        n: y.size,
        op,
        outShape: y.shape,
        aStrides: broadcastStrides(a.shape, y.shape),
        bStrides: broadcastStrides(b.shape, y.shape),
      };
      return [0, 1].map((i) => {
        if (!needsInputGrad[i]) return null;
        const g = Tensor.empty(y.shape);
        run(kernels[i], { a_buf: a, b_buf: b, y_buf: y, gy_buf: gy, out_buf: g }, { ...u, label: `${name}_grad_${'ab'[i]}` });
        return g;
      });
    },
    backwardOps: binaryGradOps[name],
  });
}

// ---- differentiable rules (backward with createGraph) ----------------------------
// The same derivatives written with ops, so that a createGraph backward records
// them (OpDef.backwardOps). They run inside a scope (gradients.ts, runRecorded),
// which frees their intermediates.

const u1 = (name: UnaryName, x: Tensor, attrs: UnaryAttrs = {}) => unaryOps[name]([x], attrs)[0];
const b2 = (name: BinaryName, a: Tensor, b: Tensor) => binaryOps[name]([a, b], {})[0];
/** a * c, a + c for a number c (a [] constant broadcast). */
const scaled = (a: Tensor, c: number) => b2('mul', a, fill([], c));
const shifted = (a: Tensor, c: number) => b2('add', a, fill([], c));
/** 1 - a */
const oneMinus = (a: Tensor) => b2('sub', fill([], 1), a);

/**
 * f' of a piecewise-linear row is piecewise constant (its own derivative is 0
 * almost everywhere): dx = dy * m with the mask m = f'(x) a constant (the
 * kernel rule with dy = 1, unrecorded).
 */
function piecewiseLinear(name: UnaryName): BackwardRule<UnaryAttrs> {
  return (ctx, [gy]) => {
    const ones = fill(gy.shape, 1);
    const [mask] = tape.noGrad(() => unaryOps[name].def.backward(ctx, [ones]));
    return [b2('mul', gy, mask!)];
  };
}

/** dx = dy * f'(x), f' composed of ops (the rows' `derivative` as a graph). */
const unaryGradOps: Partial<Record<UnaryName, BackwardRule<UnaryAttrs>>> = {
  neg: (_ctx, [gy]) => [u1('neg', gy)], // dx = -dy
  exp: ({ saved: [, y] }, [gy]) => [b2('mul', gy, y)], // dx = dy * y
  log: ({ saved: [x] }, [gy]) => [b2('div', gy, x)], // dx = dy / x
  sqrt: ({ saved: [, y] }, [gy]) => [b2('div', gy, scaled(y, 2))], // dx = dy / (2 y)
  tanh: ({ saved: [, y] }, [gy]) => [b2('mul', gy, oneMinus(b2('mul', y, y)))], // dx = dy (1 - y^2)
  sigmoid: ({ saved: [, y] }, [gy]) => [b2('mul', gy, b2('mul', y, oneMinus(y)))], // dx = dy y (1 - y)
  // dx = dy s (1 + x (1 - s)), s = sigmoid(x)
  silu: ({ saved: [x] }, [gy]) => {
    const s = u1('sigmoid', x);
    return [b2('mul', gy, b2('mul', s, shifted(b2('mul', x, oneMinus(s)), 1)))];
  },
  // f' = hi + mid (x / 3 + 1/2) with the masks hi = [x > 3], mid = [-3 <= x <= 3] constants
  // (hi = f'(x) - mid (x / 3 + 1/2) from the kernel rule's f', unrecorded)
  hardSwish: (ctx, [gy]) => {
    const [x] = ctx.saved;
    const affine = () => shifted(scaled(x, 1 / 3), 0.5);
    const [mid, hi] = tape.noGrad(() => {
      const ones = fill(gy.shape, 1);
      const [m] = unaryOps.clip.def.backward({ ...ctx, attrs: { alpha: -3, beta: 3 } }, [ones]);
      const [d] = unaryOps.hardSwish.def.backward(ctx, [ones]);
      return [m!, b2('sub', d!, b2('mul', m!, affine()))];
    });
    return [b2('mul', gy, b2('add', hi, b2('mul', mid, affine())))];
  },
  relu: piecewiseLinear('relu'),
  leakyRelu: piecewiseLinear('leakyRelu'),
  clip: piecewiseLinear('clip'),
  hardSigmoid: piecewiseLinear('hardSigmoid'),
};

/** da, db at the output shape (the tape un-broadcasts), composed of ops. */
const binaryGradOps: Record<BinaryName, BackwardRule<Record<string, never>>> = {
  add: (_ctx, [gy]) => [gy, gy], // da = db = dy
  sub: (_ctx, [gy]) => [gy, u1('neg', gy)], // da = dy, db = -dy
  mul: ({ saved: [a, b], needsInputGrad: n }, [gy]) => [n[0] ? b2('mul', gy, b) : null, n[1] ? b2('mul', gy, a) : null], // da = dy b, db = dy a
  // da = dy / b, db = -dy a / b^2 = -da * y
  div: ({ saved: [, b, y] }, [gy]) => {
    const ga = b2('div', gy, b);
    return [ga, u1('neg', b2('mul', ga, y))];
  },
  // da = dy b a^(b - 1), db = dy y log(a)
  pow: ({ saved: [a, b, y], needsInputGrad: n }, [gy]) => [
    n[0] ? b2('mul', gy, b2('mul', b, b2('pow', a, shifted(b, -1)))) : null,
    n[1] ? b2('mul', gy, b2('mul', y, u1('log', a))) : null,
  ],
};

export const unaryOps = Object.fromEntries(Object.keys(unaryRows).map((n) => [n, unaryOp(n as UnaryName)])) as {
  [K in UnaryName]: Op<UnaryAttrs>;
};
export const binaryOps = Object.fromEntries(Object.keys(binaryRows).map((n) => [n, binaryOp(n as BinaryName)])) as {
  [K in BinaryName]: Op<Record<string, never>>;
};

/** A new tensor with every element set to `value` (not an op: it has no inputs). */
export function fill(shape: Shape, value: number): Tensor {
  const n = numel(shape);
  if (runtime().precision === 'f16' && Math.abs(value) > F16_MAX && Number.isFinite(value)) throw new PrecisionOverflow(`fill ${JSON.stringify(shape)}`, value, 0);
  if (n * BYTES[runtime().precision] > runtime().maxBindingBytes) return fillInParts(shape, value, fill);
  const y = Tensor.empty(shape);
  run(elementwiseKernel('fill', 'fill'), { out_buf: y }, { label: 'fill', n, alpha: value });
  return y;
}

// Float64 oracle for the elementwise table rows: f and its derivative, written
// independently of the WGSL expressions and of the CPU folding formulas of the
// ACTIVATIONS table (engine/activations.ts), which it checks. It is typed over
// every unary op, and the table's kinds are unary ops, so a fusable activation
// added to the table without a row here does not compile.
// NaN contract (the kernels'): a NaN x gives NaN for f and for df, also where
// the derivative is piecewise constant (relu, clip, ...): `nanOr` says so.

import type { BinaryName, UnaryAttrs, UnaryName } from '../ops/elementwise.js';
import { broadcastShapes } from '../shape.js';
import { broadcastOffset, forEachIndex, refTensor, sumToShape, type RefTensor } from './tensor.js';
import type { RefOp } from './types.js';

const sig = (x: number) => 1 / (1 + Math.exp(-x));
/** NaN for a NaN x, else v (the branches below compare x, and a comparison with NaN is false). */
const nanOr = (x: number, v: number) => (Number.isNaN(x) ? NaN : v);

interface UnaryRef {
  f(x: number, alpha: number, beta: number): number;
  df(x: number, alpha: number, beta: number): number;
}

export const unaryReference: { [K in UnaryName]: UnaryRef } = {
  neg: { f: (x) => -x, df: () => -1 },
  exp: { f: Math.exp, df: Math.exp },
  log: { f: Math.log, df: (x) => 1 / x },
  sqrt: { f: Math.sqrt, df: (x) => 0.5 / Math.sqrt(x) },
  tanh: { f: Math.tanh, df: (x) => 1 - Math.tanh(x) ** 2 },
  sigmoid: { f: sig, df: (x) => sig(x) * (1 - sig(x)) },
  silu: { f: (x) => x * sig(x), df: (x) => sig(x) + x * sig(x) * (1 - sig(x)) },
  relu: { f: (x) => nanOr(x, x > 0 ? x : 0), df: (x) => nanOr(x, x > 0 ? 1 : 0) },
  leakyRelu: { f: (x, a) => (x > 0 ? x : a * x), df: (x, a) => nanOr(x, x > 0 ? 1 : a) },
  // Math.min / Math.max propagate NaN
  clip: { f: (x, lo, hi) => Math.min(Math.max(x, lo), hi), df: (x, lo, hi) => nanOr(x, x >= lo && x <= hi ? 1 : 0) },
  hardSigmoid: {
    f: (x, a, b) => Math.max(0, Math.min(1, a * x + b)),
    df: (x, a, b) => nanOr(x, a * x + b > 0 && a * x + b < 1 ? a : 0),
  },
  hardSwish: {
    f: (x) => x * Math.max(0, Math.min(1, x / 6 + 0.5)),
    df: (x) => (x < -3 ? 0 : x > 3 ? 1 : x / 3 + 0.5),
  },
};

interface BinaryRef {
  f(a: number, b: number): number;
  da(a: number, b: number): number;
  db(a: number, b: number): number;
}

export const binaryReference: { [K in BinaryName]: BinaryRef } = {
  add: { f: (a, b) => a + b, da: () => 1, db: () => 1 },
  sub: { f: (a, b) => a - b, da: () => 1, db: () => -1 },
  mul: { f: (a, b) => a * b, da: (_, b) => b, db: (a) => a },
  div: { f: (a, b) => a / b, da: (_, b) => 1 / b, db: (a, b) => -a / (b * b) },
  pow: { f: (a, b) => a ** b, da: (a, b) => b * a ** (b - 1), db: (a, b) => a ** b * Math.log(a) },
};

export function unaryRefOp(r: UnaryRef): RefOp<UnaryAttrs> {
  return {
    forward([x], { alpha = 0, beta = 0 }) {
      return [refTensor(x.shape, x.data.map((v) => r.f(v, alpha, beta)))];
    },
    backward([x], { alpha = 0, beta = 0 }, _y, [gy]) {
      return [refTensor(x.shape, x.data.map((v, i) => gy.data[i] * r.df(v, alpha, beta)))];
    },
  };
}

export function binaryRefOp(r: BinaryRef): RefOp<Record<string, never>> {
  return {
    forward([a, b]) {
      const shape = broadcastShapes('ref', a.shape, b.shape);
      const y = refTensor(shape);
      forEachIndex(shape, (i, c) => {
        y.data[i] = r.f(a.data[broadcastOffset(a.shape, c)], b.data[broadcastOffset(b.shape, c)]);
      });
      return [y];
    },
    backward([a, b], _attrs, [y], [gy]) {
      const ga: RefTensor = refTensor(y.shape);
      const gb: RefTensor = refTensor(y.shape);
      forEachIndex(y.shape, (i, c) => {
        const av = a.data[broadcastOffset(a.shape, c)];
        const bv = b.data[broadcastOffset(b.shape, c)];
        ga.data[i] = gy.data[i] * r.da(av, bv);
        gb.data[i] = gy.data[i] * r.db(av, bv);
      });
      return [sumToShape(ga, a.shape), sumToShape(gb, b.shape)];
    },
  };
}

// The CPU oracle: a float64 implementation of every registered op. Typed
// against the op registry, so an op without a reference does not compile.

import type { AttrsOf, OpName } from '../ops/registry.js';
import { binaryReference, binaryRefOp, unaryReference, unaryRefOp } from './elementwise.js';
import { expandRef, meanRef, reshapeRef, sumRef, transposeRef } from './movement.js';
import type { RefOp } from './types.js';

const unary = Object.fromEntries(Object.entries(unaryReference).map(([k, r]) => [k, unaryRefOp(r)])) as {
  [K in keyof typeof unaryReference]: RefOp<AttrsOf<K>>;
};
const binary = Object.fromEntries(Object.entries(binaryReference).map(([k, r]) => [k, binaryRefOp(r)])) as {
  [K in keyof typeof binaryReference]: RefOp<AttrsOf<K>>;
};

export const reference: { [K in OpName]: RefOp<AttrsOf<K>> } = {
  ...unary,
  ...binary,
  sum: sumRef,
  mean: meanRef,
  reshape: reshapeRef,
  transpose: transposeRef,
  expand: expandRef,
};

export type { RefOp } from './types.js';
export * from './tensor.js';

// The CPU oracle: a float64 implementation of every registered op. Typed
// against the op registry, so an op without a reference does not compile.

import type { AttrsOf, OpName } from '../ops/registry.js';
import { binaryReference, binaryRefOp, unaryReference, unaryRefOp } from './elementwise.js';
import { expandRef, meanRef, reshapeRef, sumRef, transposeRef } from './movement.js';
import type { RefOp } from './types.js';
import { conv2dRef, convTranspose2dRef, gemmRef, matmulRef } from './conv.js';
import { resizeRef } from './resize.js';
import { concatRef, flattenRef, gatherRef, padRef, sliceRef, splitRef } from './shape-ops.js';
import { batchNormRef, batchNormTrainRef } from './batchnorm.js';
import { maxRef, minRef } from './extremum.js';
import { averagePoolRef, globalAveragePoolRef, globalMaxPoolRef, maxPoolRef } from './pool.js';
import { logSoftmaxRef, softmaxRef } from './softmax.js';

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
  conv2d: conv2dRef,
  convTranspose2d: convTranspose2dRef,
  matmul: matmulRef,
  gemm: gemmRef,
  concat: concatRef,
  split: splitRef,
  slice: sliceRef,
  pad: padRef,
  gather: gatherRef,
  flatten: flattenRef,
  resize: resizeRef,
  batchNorm: batchNormRef,
  batchNormTrain: batchNormTrainRef,
  maxPool: maxPoolRef,
  averagePool: averagePoolRef,
  globalAveragePool: globalAveragePoolRef,
  globalMaxPool: globalMaxPoolRef,
  softmax: softmaxRef,
  logSoftmax: logSoftmaxRef,
  max: maxRef,
  min: minRef,
};

export type { RefOp } from './types.js';
export * from './tensor.js';

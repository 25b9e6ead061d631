// Every differentiable op, by name. The CPU oracle (engine/reference) and the
// test cases (test/op-cases.ts) are typed against this table, so an op added
// here without a reference implementation does not compile, and one without a
// test case fails the registry test.

import { binaryOps, unaryOps } from './elementwise.js';
import { expand, reshape, transpose } from './movement.js';
import { mean, sum } from './reduce.js';
import { conv2d, convTranspose2d } from './conv.js';
import { gemm, matmul } from './gemm.js';
import { resize } from './resize.js';
import { concat, flatten, gather, pad, slice, split } from './shape-ops.js';
import { batchNorm, batchNormTrain } from './batchnorm.js';
import { max, min } from './extremum.js';
import { averagePool, globalAveragePool, globalMaxPool, maxPool } from './pool.js';
import { logSoftmax, softmax } from './softmax.js';

export const ops = {
  ...unaryOps,
  ...binaryOps,
  sum,
  mean,
  reshape,
  transpose,
  expand,
  conv2d,
  convTranspose2d,
  matmul,
  gemm,
  concat,
  split,
  slice,
  pad,
  gather,
  flatten,
  resize,
  batchNorm,
  batchNormTrain,
  maxPool,
  averagePool,
  globalAveragePool,
  globalMaxPool,
  softmax,
  logSoftmax,
  max,
  min,
};

export type OpName = keyof typeof ops;
/** The attribute type of op K. */
export type AttrsOf<K extends OpName> = Parameters<(typeof ops)[K]>[1];

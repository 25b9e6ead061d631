// Every differentiable op, by name. The CPU oracle (engine/reference) and the
// test cases (test/op-cases.ts) are typed against this table, so an op added
// here without a reference implementation does not compile, and one without a
// test case fails the registry test.

import { binaryOps, unaryOps } from './elementwise.js';
import { expand, reshape, transpose } from './movement.js';
import { mean, sum } from './reduce.js';

export const ops = {
  ...unaryOps,
  ...binaryOps,
  sum,
  mean,
  reshape,
  transpose,
  expand,
};

export type OpName = keyof typeof ops;
/** The attribute type of op K. */
export type AttrsOf<K extends OpName> = Parameters<(typeof ops)[K]>[1];

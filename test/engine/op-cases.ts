// Test cases for every registered op: input shapes, attributes, value ranges.
// test/ops.test.ts runs each through finite differences on the CPU reference
// and GPU-vs-CPU forward and backward. An op without cases fails that test.

import type { AttrsOf, OpName } from '../../engine/ops/registry.js';
import type { Tolerance } from '../helpers/check.js';

export interface OpCase<K extends OpName> {
  label?: string;
  /** Input shapes. */
  inputs: number[][];
  attrs: AttrsOf<K>;
  /** Range of random input values (default [-2, 2]); per input when an array of ranges. */
  range?: [number, number] | [number, number][];
  /** Values to keep away from (kinks, where finite differences are meaningless). */
  avoid?: number[];
  /** Inputs that get no gradient (indices, shapes). */
  noGrad?: number[];
  /** GPU-vs-CPU tolerance when the default is too tight (long reductions). */
  tolerance?: Tolerance;
}

export type OpCases = { [K in OpName]?: OpCase<K>[] };

const unaryShapes = [[7], [2, 3, 5], [1, 3, 17, 9]];
const unary = <K extends OpName>(attrs: AttrsOf<K>, extra: Partial<OpCase<K>> = {}): OpCase<K>[] =>
  unaryShapes.map((s) => ({ inputs: [s], attrs, ...extra }));

const broadcastPairs = [
  [[2, 3], [2, 3]],
  [[2, 3, 4], [4]],
  [[3, 1, 5], [1, 4, 1]],
  [[1, 3, 1, 1], [2, 3, 5, 7]],
  [[5], []],
];
const binary = <K extends OpName>(extra: Partial<OpCase<K>> = {}): OpCase<K>[] =>
  broadcastPairs.map((inputs) => ({ inputs, attrs: {} as AttrsOf<K>, ...extra }));

export const coreCases: OpCases = {
  neg: unary({}),
  exp: unary({}),
  log: unary({}, { range: [0.1, 3] }),
  sqrt: unary({}, { range: [0.1, 3] }),
  tanh: unary({}),
  sigmoid: unary({}, { range: [-6, 6] }),
  silu: unary({}, { range: [-6, 6] }),
  relu: unary({}, { avoid: [0] }),
  leakyRelu: unary({ alpha: 0.1 }, { avoid: [0] }),
  clip: unary({ alpha: -1, beta: 1.5 }, { avoid: [-1, 1.5] }),
  hardSigmoid: unary({ alpha: 0.2, beta: 0.5 }, { range: [-4, 4], avoid: [-2.5, 2.5] }),
  hardSwish: unary({}, { range: [-5, 5], avoid: [-3, 3] }),
  add: binary(),
  sub: binary(),
  mul: binary(),
  div: binary({ range: [[-2, 2], [0.5, 2]] }),
  pow: binary({ range: [[0.2, 2], [-2, 2]] }),
  sum: [
    { inputs: [[2, 3, 4]], attrs: { axes: [1] } },
    { inputs: [[2, 3, 4]], attrs: { axes: [0, 2], keepDims: true } },
    { inputs: [[3, 130]], attrs: { axes: [1] } },
    { inputs: [[2, 3, 5, 7]], attrs: {} },
    { inputs: [[2, 3, 5, 7]], attrs: { axes: [-1, 1] } },
  ],
  mean: [
    { inputs: [[2, 3, 4]], attrs: { axes: [2] } },
    { inputs: [[4, 3, 9, 9]], attrs: { axes: [0, 2, 3], keepDims: true } },
  ],
  reshape: [
    { inputs: [[2, 3, 4]], attrs: { shape: [6, -1] } },
    { inputs: [[2, 3, 4]], attrs: { shape: [24] } },
  ],
  transpose: [
    { inputs: [[2, 3, 4]], attrs: { perm: [2, 0, 1] } },
    { inputs: [[2, 3, 4, 5]], attrs: { perm: [0, 2, 3, 1] } },
    // YOLOv5's head: size-1 axes dropped and H, W walked as one axis by the copy
    { inputs: [[1, 3, 7, 2, 3]], attrs: { perm: [0, 1, 3, 4, 2] } },
  ],
  expand: [
    { inputs: [[3, 1]], attrs: { shape: [2, 3, 4] } },
    { inputs: [[1, 4, 1, 1]], attrs: { shape: [2, 4, 3, 3] } },
  ],
};

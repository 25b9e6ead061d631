// max / min reduction cases. Random inputs are distinct with probability 1, so
// each output has one arg-extremum and finite differences are meaningful.
import type { OpCases } from '../op-cases.js';

const cases = [
  { inputs: [[2, 3, 4]], attrs: { axes: [1] } },
  { inputs: [[2, 3, 4]], attrs: { axes: [0, 2], keepDims: true } },
  { label: 'long axis (wide kernel)', inputs: [[3, 130]], attrs: { axes: [1] } },
  { label: 'many short rows (narrow kernel)', inputs: [[1100, 3]], attrs: { axes: [-1] } },
  { label: 'all axes', inputs: [[2, 3, 5, 7]], attrs: {} },
  { label: 'spatial axes, keepDims', inputs: [[2, 3, 5, 7]], attrs: { axes: [2, 3], keepDims: true } },
];

export const extremumCases: OpCases = {
  max: cases,
  min: cases,
};

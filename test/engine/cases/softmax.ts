// Softmax cases: every axis position, wide (long rows) and narrow (many short
// rows) kernels, and large inputs that overflow exp without the max shift.
import type { OpCases } from '../op-cases.js';

const cases = [
  { inputs: [[7]], attrs: {} },
  { label: 'axis 1 of 3', inputs: [[2, 3, 5]], attrs: { axis: 1 } },
  { label: 'axis 0', inputs: [[3, 2, 5]], attrs: { axis: 0 } },
  { label: 'axis -1, NCHW', inputs: [[2, 3, 4, 5]], attrs: { axis: -1 } },
  { label: 'long rows (wide kernel, threads loop)', inputs: [[3, 300]], attrs: { axis: 1 } },
  { label: 'many short rows (narrow kernel)', inputs: [[1100, 5]], attrs: { axis: 1 } },
  { label: 'many short strided rows (narrow kernel)', inputs: [[5, 4, 260]], attrs: { axis: 1 } },
  { label: 'large values (needs the max shift)', inputs: [[2, 6]], attrs: { axis: 1 }, range: [90, 120] as [number, number] },
];

export const softmaxCases: OpCases = {
  softmax: cases,
  logSoftmax: cases,
};

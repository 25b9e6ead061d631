// Pooling cases: odd sizes, stride 2, asymmetric pads, ceil mode (including a
// dropped last window), dilation, batch 2, several channels. Random inputs are
// distinct with probability 1, so max windows have a unique argmax and finite
// differences are meaningful.
import type { OpCases } from '../op-cases.js';

const windows = [
  { label: 'k3 s1 overlapping', inputs: [[1, 1, 5, 5]], attrs: { kernelShape: [3, 3] } },
  { label: 'k3 s2 asymmetric pads, batch 2', inputs: [[2, 3, 7, 6]], attrs: { kernelShape: [3, 3], strides: [2, 2], pads: [1, 0, 1, 1] } },
  { label: 'k3 s2 ceil mode', inputs: [[1, 2, 8, 8]], attrs: { kernelShape: [3, 3], strides: [2, 2], ceilMode: true } },
  { label: 'k2 s2 ceil mode drops a window in the padding', inputs: [[1, 1, 5, 5]], attrs: { kernelShape: [2, 2], strides: [2, 2], pads: [1, 1, 1, 1], ceilMode: true } },
  { label: 'k2x3 dilation 2, pads top-left', inputs: [[1, 2, 9, 8]], attrs: { kernelShape: [2, 3], dilations: [2, 2], pads: [1, 1, 0, 0] } },
  { label: 'k3 s2x1 dilation 2x1 ceil pads', inputs: [[2, 2, 9, 7]], attrs: { kernelShape: [3, 3], strides: [2, 1], dilations: [2, 1], pads: [2, 1, 1, 1], ceilMode: true } },
];

export const poolCases: OpCases = {
  // Output 1 (argmax indices) is compared too; it gets no gradient.
  maxPool: windows,
  averagePool: windows.flatMap((c) => [
    { ...c, label: `${c.label}, exclude pad`, attrs: { ...c.attrs, countIncludePad: false } },
    { ...c, label: `${c.label}, include pad`, attrs: { ...c.attrs, countIncludePad: true } },
  ]),
  globalAveragePool: [
    { inputs: [[2, 3, 5, 4]], attrs: {} },
    { inputs: [[1, 4, 7]], attrs: {} },
    { inputs: [[2, 2, 3, 2, 3]], attrs: {} },
    { label: 'plane of 300 (threads loop)', inputs: [[1, 2, 15, 20]], attrs: {} },
  ],
  globalMaxPool: [
    { inputs: [[2, 3, 5, 4]], attrs: {} },
    { inputs: [[1, 4, 9]], attrs: {} },
    { label: 'plane of 300 (threads loop)', inputs: [[1, 2, 15, 20]], attrs: {} },
  ],
};

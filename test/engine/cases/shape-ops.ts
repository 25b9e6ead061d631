// Shape-op cases: concat, split, slice, pad, gather, flatten on tiny shapes,
// covering negative axes and steps, ONNX clamping, every pad mode, negative
// pads (crops), repeated gather indices (gradients that accumulate).
import type { OpCases } from '../op-cases.js';

const BIG = 2 ** 62; // what ONNX exporters write for "to the end"

export const shapeOpCases: OpCases = {
  concat: [
    { label: 'three inputs, axis 1', inputs: [[2, 3, 4], [2, 1, 4], [2, 2, 4]], attrs: { axis: 1 } },
    { label: 'axis -1', inputs: [[3, 2], [3, 5]], attrs: { axis: -1 } },
    { label: 'axis 0, four inputs', inputs: [[1, 3], [2, 3], [1, 3], [3, 3]], attrs: { axis: 0 } },
    { label: 'one input', inputs: [[2, 3]], attrs: { axis: 0 } },
    { label: 'NCHW channels (YOLO route)', inputs: [[1, 4, 3, 3], [1, 2, 3, 3]], attrs: { axis: 1 } },
    // more than 16 runs per input (the axes before the concat axis): the slab kernel, not buffer copies
    { label: 'axis 2 of [2, 9, *, 2] (18 runs)', inputs: [[2, 9, 3, 2], [2, 9, 1, 2]], attrs: { axis: 2 } },
  ],
  split: [
    { label: 'sizes 1,2,3 on axis 1', inputs: [[2, 6, 3]], attrs: { axis: 1, sizes: [1, 2, 3] } },
    { label: 'numOutputs 2 with a shorter last part', inputs: [[5, 4]], attrs: { numOutputs: 2 } },
    { label: 'axis -1, equal sizes', inputs: [[2, 3, 4]], attrs: { axis: -1, sizes: [2, 2] } },
    { label: 'axis 1 of [18, 4] (18 runs: the strided copy, not buffer copies)', inputs: [[18, 4]], attrs: { axis: 1, sizes: [1, 3] } },
  ],
  slice: [
    { label: 'starts/ends on two axes', inputs: [[5, 6]], attrs: { starts: [1, 0], ends: [4, 6] } },
    { label: 'step 2, axes subset, negative start', inputs: [[4, 7, 3]], attrs: { starts: [-6], ends: [BIG], axes: [1], steps: [2] } },
    { label: 'full reverse (step -1)', inputs: [[2, 5]], attrs: { starts: [-1], ends: [-BIG], axes: [-1], steps: [-1] } },
    { label: 'step -2 with clamped start and end', inputs: [[3, 6]], attrs: { starts: [10, 2], ends: [-10, 0], axes: [1, 0], steps: [-2, -1] } },
    { label: 'steps 3 and -2 on NCHW', inputs: [[1, 2, 7, 8]], attrs: { starts: [0, 6], ends: [7, 1], axes: [2, 3], steps: [3, -2] } },
    { label: 'channels 1..3 of NCHW, batch 1 (buffer copies)', inputs: [[1, 5, 3, 2]], attrs: { starts: [1], ends: [4], axes: [1] } },
    { label: 'one axis of [18, 5, 2] (18 runs: the strided copy)', inputs: [[18, 5, 2]], attrs: { starts: [2], ends: [5], axes: [1] } },
  ],
  pad: [
    { label: 'constant 0.5 on H, W', inputs: [[1, 2, 3, 4]], attrs: { pads: [0, 0, 1, 2, 0, 0, 2, 1], value: 0.5 } },
    { label: 'reflect', inputs: [[1, 2, 4, 5]], attrs: { pads: [0, 0, 2, 1, 0, 0, 1, 3], mode: 'reflect' } },
    { label: 'reflect past the axis length (repeated reflection)', inputs: [[2, 3]], attrs: { pads: [0, 5, 0, 4], mode: 'reflect' } },
    { label: 'edge', inputs: [[1, 1, 3, 4]], attrs: { pads: [0, 0, 2, 1, 0, 0, 1, 3], mode: 'edge' } },
    { label: 'wrap', inputs: [[2, 4]], attrs: { pads: [1, 3, 2, 5], mode: 'wrap' } },
    { label: 'negative pads crop (constant)', inputs: [[3, 5]], attrs: { pads: [-1, -1, 2, 2] } },
    { label: 'crop then reflect', inputs: [[2, 6]], attrs: { pads: [-2, 3], mode: 'reflect', axes: [1] } },
    { label: 'edge on axes [-1] only', inputs: [[2, 3, 2]], attrs: { pads: [2, 1], mode: 'edge', axes: [-1] } },
    { label: 'edge shift: pads (1, -1) keep the length', inputs: [[3, 4]], attrs: { pads: [0, 1, 0, -1], mode: 'edge' } },
    { label: 'constant shift: pads (-1, 1)', inputs: [[3, 4]], attrs: { pads: [-1, 0, 1, 0], value: -3 } },
  ],
  gather: [
    { label: 'axis 0, repeated and negative indices', inputs: [[5, 3]], attrs: { indices: [4, 0, -1, 2, 0], axis: 0 } },
    { label: '2-D indices on axis 1', inputs: [[2, 4, 3]], attrs: { indices: [0, 3, 3, 1, -4, 0], indicesShape: [3, 2], axis: 1 } },
    { label: 'scalar index drops the axis', inputs: [[2, 3, 4]], attrs: { indices: [-2], indicesShape: [], axis: -1 } },
  ],
  flatten: [
    { label: 'axis 2', inputs: [[2, 3, 4, 5]], attrs: { axis: 2 } },
    { label: 'default axis 1', inputs: [[2, 3, 4]], attrs: {} },
    { label: 'axis 0', inputs: [[2, 3]], attrs: { axis: 0 } },
    { label: 'axis = rank', inputs: [[2, 3]], attrs: { axis: 2 } },
    { label: 'axis -1', inputs: [[2, 3, 4]], attrs: { axis: -1 } },
  ],
};

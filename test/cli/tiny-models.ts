// Tiny ONNX models for the CLI's model-kind tests: what a model is must come
// from its graph, so each has a shape the kind detection has to read right.

import { encodeModel, floats } from '../fixtures/onnx/onnx-writer.js';
import { seeded } from '../fixtures/onnx/synthetic.js';

const w = (name: string, dims: number[], seed: number) => floats(name, dims, seeded(dims.reduce((a, b) => a * b, 1), seed, -0.5, 0.5));
const pad1 = { pads: { ints: [1, 1, 1, 1] } };

/**
 * x [1, 3, 8, 8] -> Conv (4 ch) c -> GlobalAveragePool g -> Flatten y [1, 4]: a classifier with one conv.
 * `zero` weights make every map all zero (a result the explanation warns about).
 */
export function oneConvClassifier(options: { zero?: boolean } = {}): Uint8Array {
  return encodeModel({
    inputs: [{ name: 'x', dims: [1, 3, 8, 8] }],
    outputs: [{ name: 'y', dims: [1, 4] }],
    initializers: [options.zero ? floats('w', [4, 3, 3, 3], Array<number>(108).fill(0)) : w('w', [4, 3, 3, 3], 21)],
    nodes: [
      { opType: 'Conv', name: 'conv', inputs: ['x', 'w'], outputs: ['c'], attrs: pad1 },
      { opType: 'GlobalAveragePool', name: 'gap', inputs: ['c'], outputs: ['g'] },
      { opType: 'Flatten', name: 'flatten', inputs: ['g'], outputs: ['y'] },
    ],
  });
}

/** x [1, 3, 8, 8] -> Conv (2 ch) -> y [1, 2, 8, 8]: no classifier, no detector. */
export function oneConvMap(): Uint8Array {
  return encodeModel({
    inputs: [{ name: 'x', dims: [1, 3, 8, 8] }],
    outputs: [{ name: 'y', dims: [1, 2, 8, 8] }],
    initializers: [w('w', [2, 3, 3, 3], 22)],
    nodes: [{ opType: 'Conv', name: 'conv', inputs: ['x', 'w'], outputs: ['y'], attrs: pad1 }],
  });
}

/** x [N, 3, H, W] with symbolic dimensions -> Conv -> Relu -> GlobalAveragePool -> Flatten -> Softmax y [N, 3]. */
export function symbolicClassifier(): Uint8Array {
  return encodeModel({
    inputs: [{ name: 'x', dims: ['N', 3, 'H', 'W'] }],
    outputs: [{ name: 'y', dims: ['N', 3] }],
    initializers: [w('w', [3, 3, 3, 3], 23)],
    nodes: [
      { opType: 'Conv', name: 'conv', inputs: ['x', 'w'], outputs: ['c'], attrs: pad1 },
      { opType: 'Relu', name: 'relu', inputs: ['c'], outputs: ['r'] },
      { opType: 'GlobalAveragePool', name: 'gap', inputs: ['r'], outputs: ['g'] },
      { opType: 'Flatten', name: 'flatten', inputs: ['g'], outputs: ['f'] },
      { opType: 'Softmax', name: 'softmax', inputs: ['f'], outputs: ['y'], attrs: { axis: { i: 1 } } },
    ],
  });
}

/** x [1, 8, 8] (no channel axis) -> Reshape [1, 1, 8, 8] -> Conv -> GlobalAveragePool -> Flatten y [1, 2]: a rank-3 input. */
export function rank3Classifier(): Uint8Array {
  return encodeModel({
    inputs: [{ name: 'x', dims: [1, 8, 8] }],
    outputs: [{ name: 'y', dims: [1, 2] }],
    initializers: [w('w', [2, 1, 3, 3], 24), { name: 'shape', dataType: 7, dims: [4], raw: new Uint8Array(BigInt64Array.from([1n, 1n, 8n, 8n]).buffer) }],
    nodes: [
      { opType: 'Reshape', name: 'reshape', inputs: ['x', 'shape'], outputs: ['x4'] },
      { opType: 'Conv', name: 'conv', inputs: ['x4', 'w'], outputs: ['c'], attrs: pad1 },
      { opType: 'GlobalAveragePool', name: 'gap', inputs: ['c'], outputs: ['g'] },
      { opType: 'Flatten', name: 'flatten', inputs: ['g'], outputs: ['y'] },
    ],
  });
}

/** Two classifiers side by side: x -> Conv a -> GAP -> Flatten y1 [1, 2], and x -> Conv b -> GAP -> Flatten y2 [1, 2]. */
export function twoBranches(): Uint8Array {
  return encodeModel({
    inputs: [{ name: 'x', dims: [1, 3, 8, 8] }],
    outputs: [
      { name: 'y1', dims: [1, 2] },
      { name: 'y2', dims: [1, 2] },
    ],
    initializers: [w('wa', [2, 3, 3, 3], 25), w('wb', [2, 3, 3, 3], 26)],
    nodes: [
      { opType: 'Conv', name: 'conv_a', inputs: ['x', 'wa'], outputs: ['a'], attrs: pad1 },
      { opType: 'GlobalAveragePool', name: 'gap_a', inputs: ['a'], outputs: ['ga'] },
      { opType: 'Flatten', name: 'flatten_a', inputs: ['ga'], outputs: ['y1'] },
      { opType: 'Conv', name: 'conv_b', inputs: ['x', 'wb'], outputs: ['b'], attrs: pad1 },
      { opType: 'GlobalAveragePool', name: 'gap_b', inputs: ['b'], outputs: ['gb'] },
      { opType: 'Flatten', name: 'flatten_b', inputs: ['gb'], outputs: ['y2'] },
    ],
  });
}

// prepareGraph: topological order, shape inference and constant folding on the
// real models, then each handler's shape rules and folds on small synthetic
// graphs, and the errors a bad graph or a bad input shape gives.

import { describe, expect, test } from 'vitest';
import { OnnxGraphError, OnnxInputError, UnsupportedOnnxOp } from '../../importers/onnx/errors.js';
import { prepareGraph, type PrepareOptions, type PreparedGraph } from '../../importers/onnx/graph.js';
import { toNumbers, type HostData } from '../../importers/onnx/host-tensor.js';
import { supportedOps } from '../../importers/onnx/ops/index.js';
import { decodeModel } from '../../importers/onnx/proto.js';
import { MODELS, readModel } from '../fixtures/onnx/models.js';
import { encodeModel, floats, int64s, singleOp, type AttrSpec, type ModelSpec, type NodeSpec } from '../fixtures/onnx/onnx-writer.js';
import { seeded } from '../fixtures/onnx/synthetic.js';
import { refTensor, type RefTensor } from '../../engine/reference/index.js';
import { executePlan } from '../../importers/onnx/executor.js';
import { findFusions, planGraph, type Plan } from '../../importers/onnx/plan.js';
import { referenceBackend } from '../../importers/onnx/reference-backend.js';

const list = (d: HostData) => Array.from(d as ArrayLike<number | bigint>);

const prepare = (bytes: Uint8Array, options?: PrepareOptions) => prepareGraph(decodeModel(bytes), options);
const shapeOf = (p: PreparedGraph, name: string) => p.tensors.get(name)?.shape;
const valueOf = (p: PreparedGraph, name: string) => {
  const v = p.tensors.get(name)?.value;
  if (!v) throw new Error(`'${name}' was not folded`);
  return toNumbers(v);
};
/** The output shape of a single-op model. */
const outShape = (bytes: Uint8Array) => shapeOf(prepare(bytes), 'y');

describe('real models', () => {
  for (const m of MODELS) {
    const bytes = readModel(m.file);
    test.skipIf(!bytes)(`${m.file}: outputs have the expected shapes, declared value_info agrees`, () => {
      const p = prepare(bytes!, { inputShapes: m.inputShapes });
      expect(Object.fromEntries(p.outputs.map((o) => [o.name, o.shape]))).toEqual(m.outputs);
      expect(p.pruned).toBe(0);
      // Every node is either folded or scheduled, each after its inputs.
      expect(p.nodes.length + p.folded).toBe(p.model.graph.nodes.length);
      const ready = new Set([...p.inputs.map((i) => i.name), ...p.tensors.keys()].filter((n) => p.tensors.get(n)?.value || p.inputs.some((i) => i.name === n)));
      for (const n of p.nodes) {
        for (const i of n.node.inputs) if (i) expect(ready.has(i), `${n.label} reads ${i} before it exists`).toBe(true);
        n.node.outputs.forEach((o) => ready.add(o));
      }
      for (const v of p.model.graph.valueInfo) {
        if (!v.shape || v.shape.some((d) => typeof d !== 'number')) continue;
        expect(shapeOf(p, v.name), v.name).toEqual(v.shape);
      }
    });
  }

  test.skipIf(!readModel('yolov5n_640.onnx'))('yolov5n: Constant nodes fold, the decode grids stay float constants', () => {
    const p = prepare(readModel('yolov5n_640.onnx')!);
    expect(p.folded).toBe(28);
    expect(p.nodes.some((n) => n.node.opType === 'Constant')).toBe(false);
    const grid = p.constants.get('/model.24/Constant_2_output_0')!;
    expect(grid.shape).toEqual([1, 3, 80, 80, 2]);
    expect(list(grid.data.slice(0, 4))).toEqual([-0.5, -0.5, 0.5, -0.5]);
    expect(shapeOf(p, '/model.24/Reshape_1_output_0')).toEqual([1, 19200, 85]);
    expect(shapeOf(p, '/model.11/Resize_output_0')).toEqual([1, 128, 40, 40]);
  });

  test('PaddleOCR cls: the Shape -> Cast -> Slice -> Concat chain folds into the Reshape target', () => {
    const p = prepare(readModel('ch_ppocr_mobile_v2.0_cls_infer.onnx')!, { inputShapes: { x: [1, 3, 48, 192] } });
    expect(valueOf(p, 'p2o.helper.concat.0')).toEqual([1, 200]);
    expect(p.tensors.get('p2o.helper.concat.0')?.value?.dtype).toBe('int64');
    expect(shapeOf(p, 'reshape2_0.tmp_0')).toEqual([1, 200]);
    const scheduled = new Set(p.nodes.map((n) => n.node.opType));
    for (const op of ['Shape', 'Cast', 'Slice', 'Constant']) expect(scheduled.has(op), op).toBe(false);
    // Only constants that GPU nodes read are handed to the executor, not the folded intermediates.
    expect(p.constants.has('p2o.helper.concat.0')).toBe(true);
    expect(p.constants.has('shape_0.tmp_0')).toBe(false);
  });

  test('PaddleOCR cls with a batch of 4 and another width', () => {
    const p = prepare(readModel('ch_ppocr_mobile_v2.0_cls_infer.onnx')!, { inputShapes: { x: [4, 3, 48, 320] } });
    expect(p.outputs[0].shape).toEqual([4, 2]);
    expect(valueOf(p, 'p2o.helper.concat.0')).toEqual([4, 200]);
  });

  test('blazeface: ConstantOfShape channel pads fold to zeros', () => {
    const p = prepare(readModel('face_detection_front_128x128_barracuda.onnx')!);
    const pad = p.constants.get('StatefulPartitionedCall/functional_1/tf_op_layer_Pad/Pad_pad')!;
    expect(pad.shape).toEqual([1, 4, 64, 64]);
    expect(pad.dtype).toBe('float32');
    expect(pad.data.every((v) => v === 0)).toBe(true);
  });

  test('dynamic inputs need shapes; given shapes must fit the declaration', () => {
    const bytes = readModel('ch_ppocr_mobile_v2.0_cls_infer.onnx')!;
    expect(() => prepare(bytes)).toThrow(OnnxInputError);
    expect(() => prepare(bytes)).toThrow(/'x': dimensions \[p2o.DynamicDimension.0, 3, .*inputShapes: \{ "x": \[1, 3, 1, 1\] \}/);
    expect(() => prepare(bytes, { inputShapes: { x: [1, 4, 48, 192] } })).toThrow(/differs from the declared .* in dimension 1/);
    expect(() => prepare(bytes, { inputShapes: { x: [1, 3, 48] } })).toThrow(/has rank 3/);
    expect(() => prepare(bytes, { inputShapes: { x: [1, 3, 48, 192], image: [1] } })).toThrow(/ONNX input 'image': the model has no such input; its inputs are: 'x'/);
    expect(() => prepare(readModel('tiny_face_detector_416.onnx')!, { inputShapes: { image: [1, 3, 320, 320] } })).toThrow(/in dimension 2/);
  });
});

describe('constant folding of shape subgraphs', () => {
  /** x [2, 3, 8, 8] -> Shape -> Gather(0) -> Unsqueeze -> Concat([-1]) -> Reshape(x): the flatten idiom of PyTorch exports. */
  const flattenIdiom = (opset: number): ModelSpec => ({
    opset,
    initializers: [int64s('zero', [], [0]), int64s('minus1', [1], [-1]), ...(opset >= 13 ? [int64s('axes0', [1], [0])] : [])],
    nodes: [
      { opType: 'Shape', inputs: ['x'], outputs: ['s'] },
      { opType: 'Gather', inputs: ['s', 'zero'], outputs: ['n'], attrs: { axis: { i: 0 } } },
      opset >= 13
        ? { opType: 'Unsqueeze', inputs: ['n', 'axes0'], outputs: ['n1'] }
        : { opType: 'Unsqueeze', inputs: ['n'], outputs: ['n1'], attrs: { axes: { ints: [0] } } },
      { opType: 'Concat', inputs: ['n1', 'minus1'], outputs: ['target'], attrs: { axis: { i: 0 } } },
      { opType: 'Reshape', inputs: ['x', 'target'], outputs: ['y'] },
    ],
    inputs: [{ name: 'x', dims: [2, 3, 8, 8] }],
    outputs: [{ name: 'y', dims: [2, 192] }],
  });

  for (const opset of [11, 13]) {
    test(`Shape/Gather/Unsqueeze/Concat fold into a Reshape target (opset ${opset})`, () => {
      const p = prepare(encodeModel(flattenIdiom(opset)));
      expect(valueOf(p, 's')).toEqual([2, 3, 8, 8]);
      expect(shapeOf(p, 'n')).toEqual([]);
      expect(valueOf(p, 'target')).toEqual([2, -1]);
      expect(p.nodes.map((n) => n.node.opType)).toEqual(['Reshape']);
      expect(p.folded).toBe(4);
      expect(p.outputs[0].shape).toEqual([2, 192]);
    });
  }

  test('a tensor larger than 2^28 elements is refused at preparation (no host allocation from a 100-byte file)', () => {
    const model = encodeModel({
      initializers: [floats('start', [], [0]), floats('limit', [], [1e9]), floats('delta', [], [1])],
      nodes: [{ opType: 'Range', inputs: ['start', 'limit', 'delta'], outputs: ['y'] }],
      outputs: [{ name: 'y' }],
    });
    expect(() => prepare(model, { maxFoldElements: 16 })).toThrow(OnnxGraphError);
    expect(() => prepare(model, { maxFoldElements: 16 })).toThrow(/'y' would hold 1000000000 elements \[1000000000\], more than the 268435456/);
  });

  test('Range, ConstantOfShape, Cast and int64 arithmetic', () => {
    const p = prepare(
      encodeModel({
        initializers: [int64s('start', [], [2]), int64s('limit', [], [11]), int64s('delta', [], [3]), int64s('seven', [], [7]), int64s('two', [], [2])],
        nodes: [
          { opType: 'Range', inputs: ['start', 'limit', 'delta'], outputs: ['r'] },
          { opType: 'Mul', inputs: ['r', 'two'], outputs: ['r2'] },
          { opType: 'Div', inputs: ['seven', 'two'], outputs: ['q'] },
          { opType: 'Sub', inputs: ['two', 'seven'], outputs: ['neg'] },
          { opType: 'Div', inputs: ['neg', 'two'], outputs: ['qneg'] },
          { opType: 'Pow', inputs: ['r', 'two'], outputs: ['sq'] },
          { opType: 'Cast', inputs: ['r'], outputs: ['rf'], attrs: { to: { i: 1 } } },
          { opType: 'Div', inputs: ['rf', 'rf'], outputs: ['ones'] },
          { opType: 'ConstantOfShape', inputs: ['r'], outputs: ['filled'], attrs: { value: { t: { name: 'v', dataType: 7, dims: [1], int64Data: [5] } } } },
          { opType: 'Add', inputs: ['ones', 'rf'], outputs: ['y'] },
        ],
        outputs: [{ name: 'y' }, { name: 'filled' }, { name: 'r2' }, { name: 'q' }, { name: 'qneg' }, { name: 'sq' }],
      }),
    );
    expect(valueOf(p, 'r')).toEqual([2, 5, 8]);
    expect(valueOf(p, 'r2')).toEqual([4, 10, 16]);
    expect(valueOf(p, 'q')).toEqual([3]);
    expect(valueOf(p, 'qneg')).toEqual([-2]); // integer division truncates toward zero
    expect(valueOf(p, 'sq')).toEqual([4, 25, 64]);
    expect(p.tensors.get('rf')?.value?.dtype).toBe('float32');
    expect(valueOf(p, 'y')).toEqual([3, 6, 9]);
    const filled = p.tensors.get('filled')!;
    expect([filled.value?.dtype, filled.shape, filled.value?.data.length]).toEqual(['int64', [2, 5, 8], 80]);
    expect(p.nodes).toHaveLength(0);
    expect([...p.constants.keys()].sort()).toEqual(['filled', 'q', 'qneg', 'r2', 'sq', 'y']);
  });

  test('Constant attributes: value, value_float(s), value_int(s)', () => {
    const p = prepare(
      encodeModel({
        nodes: [
          { opType: 'Constant', outputs: ['a'], attrs: { value: { t: floats('t', [2], [1, 2]) } } },
          { opType: 'Constant', outputs: ['b'], attrs: { value_float: { f: 0.5 } } },
          { opType: 'Constant', outputs: ['c'], attrs: { value_floats: { floats: [1, 2, 3] } } },
          { opType: 'Constant', outputs: ['d'], attrs: { value_int: { i: -4 } } },
          { opType: 'Constant', outputs: ['e'], attrs: { value_ints: { ints: [1, -1] } } },
        ],
        outputs: ['a', 'b', 'c', 'd', 'e'].map((name) => ({ name })),
      }),
    );
    const info = (n: string) => [p.tensors.get(n)!.value!.dtype, p.tensors.get(n)!.shape, valueOf(p, n)];
    expect(info('a')).toEqual(['float32', [2], [1, 2]]);
    expect(info('b')).toEqual(['float32', [], [0.5]]);
    expect(info('c')).toEqual(['float32', [3], [1, 2, 3]]);
    expect(info('d')).toEqual(['int64', [], [-4]]);
    expect(info('e')).toEqual(['int64', [2], [1, -1]]);
  });

  test('Slice (inputs, INT64_MAX ends, negative steps) and opset-9 attribute Slice', () => {
    const data = int64s('v', [6], [10, 11, 12, 13, 14, 15]);
    const slice = (starts: number[], ends: number[], steps?: number[]) =>
      valueOf(
        prepare(singleOp('Slice', [data, int64s('s', [1], starts), int64s('e', [1], ends), int64s('a', [1], [0]), ...(steps ? [int64s('st', [1], steps)] : [])])),
        'y',
      );
    expect(slice([1], [Number.MAX_SAFE_INTEGER])).toEqual([11, 12, 13, 14, 15]);
    expect(slice([-1], [-Number.MAX_SAFE_INTEGER], [-2])).toEqual([15, 13, 11]);
    expect(slice([4], [2])).toEqual([]);
    const old = prepare(singleOp('Slice', [data], { starts: { ints: [0] }, ends: { ints: [2] }, axes: { ints: [0] } }, { opset: 9 }));
    expect(valueOf(old, 'y')).toEqual([10, 11]);
  });

  test('int64 INT64_MAX slice end read from raw data stays exact and clamps', () => {
    const ends = { name: 'e', dataType: 7, dims: [1], int64Data: [9223372036854775807n] };
    const p = prepare(singleOp('Slice', [int64s('v', [3], [1, 2, 3]), int64s('s', [1], [1]), ends]));
    expect(valueOf(p, 'y')).toEqual([2, 3]);
  });

  test('Transpose, Squeeze, Split, Expand and Gather fold on constants', () => {
    const m = floats('m', [2, 3], [1, 2, 3, 4, 5, 6]);
    expect(valueOf(prepare(singleOp('Transpose', [m])), 'y')).toEqual([1, 4, 2, 5, 3, 6]);
    expect(valueOf(prepare(singleOp('Gather', [m, int64s('i', [2], [2, -3])], { axis: { i: 1 } })), 'y')).toEqual([3, 1, 6, 4]);
    expect(valueOf(prepare(singleOp('Expand', [floats('c', [2, 1], [7, 8]), int64s('s', [2], [2, 3])])), 'y')).toEqual([7, 7, 7, 8, 8, 8]);
    const split = prepare(singleOp('Split', [m], { axis: { i: 1 }, split: { ints: [1, 2] } }, { opset: 11, outputs: 2 }));
    expect([valueOf(split, 'y'), valueOf(split, 'y1')]).toEqual([[1, 4], [2, 3, 5, 6]]);
    expect(shapeOf(prepare(singleOp('Squeeze', [floats('c', [1, 3, 1], [1, 2, 3])])), 'y')).toEqual([3]);
  });

  test('results above maxFoldElements run on the GPU instead', () => {
    const bytes = singleOp('ConstantOfShape', [int64s('s', [2], [64, 64])]);
    expect(prepare(bytes).nodes).toHaveLength(0);
    const p = prepare(bytes, { maxFoldElements: 1000 });
    expect(p.nodes.map((n) => n.node.opType)).toEqual(['ConstantOfShape']);
    expect(p.outputs[0].shape).toEqual([64, 64]);
  });
});

describe('shape inference of layers', () => {
  test('Conv: pads, strides, dilations, groups, auto_pad', () => {
    const w = (shape: number[]) => floats('w', shape, new Array(shape.reduce((a, b) => a * b)).fill(0));
    expect(outShape(singleOp('Conv', [[1, 3, 32, 32], w([8, 3, 3, 3])], { pads: { ints: [1, 1, 1, 1] }, strides: { ints: [2, 2] } }))).toEqual([1, 8, 16, 16]);
    expect(outShape(singleOp('Conv', [[1, 4, 10, 10], w([4, 1, 3, 3])], { group: { i: 4 }, dilations: { ints: [2, 2] } }))).toEqual([1, 4, 6, 6]);
    expect(outShape(singleOp('Conv', [[1, 3, 15, 15], w([2, 3, 3, 3])], { auto_pad: { s: 'SAME_UPPER' }, strides: { ints: [2, 2] } }))).toEqual([1, 2, 8, 8]);
    expect(outShape(singleOp('Conv', [[1, 3, 15, 15], w([2, 3, 3, 3])], { auto_pad: { s: 'VALID' } }))).toEqual([1, 2, 13, 13]);
    expect(() => prepare(singleOp('Conv', [[1, 3, 8, 8], w([2, 2, 3, 3])]))).toThrow(/ONNX node 'Conv_0' \(Conv\): Conv: input has 3 channels but the weight expects 2 x 1 groups/);
  });

  test('ConvTranspose: strides, pads, output_padding, output_shape', () => {
    const w = floats('w', [4, 2, 2, 2], new Array(32).fill(0));
    expect(outShape(singleOp('ConvTranspose', [[1, 4, 8, 8], w], { strides: { ints: [2, 2] } }))).toEqual([1, 2, 16, 16]);
    const w3 = floats('w', [4, 2, 3, 3], new Array(72).fill(0));
    expect(outShape(singleOp('ConvTranspose', [[1, 4, 8, 8], w3], { strides: { ints: [2, 2] }, pads: { ints: [1, 1, 1, 1] }, output_padding: { ints: [1, 1] } }))).toEqual([1, 2, 16, 16]);
    expect(outShape(singleOp('ConvTranspose', [[1, 4, 8, 8], w3], { strides: { ints: [2, 2] }, output_shape: { ints: [16, 16] } }))).toEqual([1, 2, 16, 16]);
  });

  test('pools: ceil_mode, SAME padding, global', () => {
    expect(outShape(singleOp('MaxPool', [[1, 2, 13, 13]], { kernel_shape: { ints: [2, 2] }, strides: { ints: [2, 2] }, ceil_mode: { i: 1 } }))).toEqual([1, 2, 7, 7]);
    expect(outShape(singleOp('MaxPool', [[1, 2, 13, 13]], { kernel_shape: { ints: [2, 2] }, strides: { ints: [2, 2] } }))).toEqual([1, 2, 6, 6]);
    expect(outShape(singleOp('MaxPool', [[1, 2, 13, 13]], { kernel_shape: { ints: [2, 2] }, strides: { ints: [1, 1] }, auto_pad: { s: 'SAME_UPPER' } }))).toEqual([1, 2, 13, 13]);
    expect(outShape(singleOp('AveragePool', [[1, 2, 7, 7]], { kernel_shape: { ints: [7, 7] } }))).toEqual([1, 2, 1, 1]);
    expect(outShape(singleOp('GlobalAveragePool', [[2, 5, 9, 4]]))).toEqual([2, 5, 1, 1]);
    expect(() => prepare(singleOp('MaxPool', [[1, 2, 8, 8]], { kernel_shape: { ints: [2, 2] } }, { outputs: 2 }))).toThrow(/Indices output is not supported/);
  });

  test('Gemm, MatMul, Flatten, Softmax, BatchNormalization, reductions', () => {
    expect(outShape(singleOp('Gemm', [[1, 1280], floats('w', [5, 1280], new Array(6400).fill(0))], { transB: { i: 1 } }))).toEqual([1, 5]);
    expect(outShape(singleOp('MatMul', [[7, 1, 4, 3], [5, 3, 2]]))).toEqual([7, 5, 4, 2]);
    expect(outShape(singleOp('MatMul', [[3], [3, 2]]))).toEqual([2]);
    expect(outShape(singleOp('Flatten', [[2, 3, 4, 5]], { axis: { i: 2 } }))).toEqual([6, 20]);
    expect(outShape(singleOp('Flatten', [[2, 3, 4, 5]], { axis: { i: 0 } }))).toEqual([1, 120]);
    expect(outShape(singleOp('Softmax', [[2, 5]], { axis: { i: 1 } }))).toEqual([2, 5]);
    const c = floats('p', [3], [1, 1, 1]);
    expect(outShape(singleOp('BatchNormalization', [[1, 3, 4, 4], c, c, c, c]))).toEqual([1, 3, 4, 4]);
    expect(outShape(singleOp('ReduceMean', [[2, 3, 4]], { axes: { ints: [-1] }, keepdims: { i: 0 } }))).toEqual([2, 3]);
    expect(outShape(singleOp('ReduceSum', [[2, 3, 4], int64s('a', [1], [1])]))).toEqual([2, 1, 4]);
  });

  test('Resize by scales (opset 13 and 10) and by sizes; Upsample', () => {
    const empty = floats('roi', [0], []);
    expect(outShape(singleOp('Resize', [[1, 3, 10, 10], empty, floats('s', [4], [1, 1, 2, 2])], { mode: { s: 'nearest' } }))).toEqual([1, 3, 20, 20]);
    expect(outShape(singleOp('Resize', [[1, 3, 10, 10], floats('s', [4], [1, 1, 2, 2])], {}, { opset: 10 }))).toEqual([1, 3, 20, 20]);
    expect(outShape(singleOp('Resize', [[1, 3, 10, 10], empty, empty, int64s('z', [4], [1, 3, 7, 5])], { mode: { s: 'linear' } }))).toEqual([1, 3, 7, 5]);
    expect(outShape(singleOp('Upsample', [[1, 3, 4, 4]], { scales: { floats: [1, 1, 2, 2] } }, { opset: 7 }))).toEqual([1, 3, 8, 8]);
    expect(() => prepare(singleOp('Resize', [[1, 3, 10, 10], empty, floats('s', [4], [1, 1, 2, 2])], { mode: { s: 'cubic' } }))).toThrow(/mode 'cubic' is not supported/);
  });

  test('Split: attribute (< 13), input (>= 13), equal parts', () => {
    const outs = (p: PreparedGraph) => p.outputs.map((o) => o.shape[1]);
    expect(outs(prepare(singleOp('Split', [[1, 85]], { axis: { i: 1 }, split: { ints: [2, 2, 81] } }, { opset: 12, outputs: 3 })))).toEqual([2, 2, 81]);
    expect(outs(prepare(singleOp('Split', [[1, 85], int64s('s', [3], [4, 1, 80])], { axis: { i: 1 } }, { opset: 13, outputs: 3 })))).toEqual([4, 1, 80]);
    expect(outs(prepare(singleOp('Split', [[1, 6]], { axis: { i: 1 } }, { outputs: 3 })))).toEqual([2, 2, 2]);
    expect(() => prepare(singleOp('Split', [[1, 7]], { axis: { i: 1 } }, { outputs: 3 }))).toThrow(/does not split into 3 equal parts/);
  });

  test('Squeeze/Unsqueeze: axes attribute before opset 13, input after', () => {
    expect(outShape(singleOp('Squeeze', [[1, 3, 1, 2]], { axes: { ints: [0] } }, { opset: 11 }))).toEqual([3, 1, 2]);
    expect(outShape(singleOp('Squeeze', [[1, 3, 1, 2], int64s('a', [1], [-2])]))).toEqual([1, 3, 2]);
    expect(outShape(singleOp('Unsqueeze', [[3, 4], int64s('a', [2], [0, -1])]))).toEqual([1, 3, 4, 1]);
    expect(() => prepare(singleOp('Squeeze', [[1, 3], int64s('a', [1], [1])]))).toThrow(/cannot squeeze axis 1 of size 3/);
  });

  test('Pad: pads input (>= 11) and attribute (< 11); Clip bounds inputs (>= 11) and attributes', () => {
    expect(outShape(singleOp('Pad', [[1, 3, 4, 4], int64s('p', [8], [0, 0, 1, 2, 0, 0, 3, 4])]))).toEqual([1, 3, 8, 10]);
    expect(outShape(singleOp('Pad', [[1, 3, 4, 4]], { pads: { ints: [0, 0, 1, 1, 0, 0, 1, 1] }, mode: { s: 'reflect' } }, { opset: 10 }))).toEqual([1, 3, 6, 6]);
    expect(outShape(singleOp('Clip', [[2, 2], floats('lo', [], [0]), floats('hi', [], [6])]))).toEqual([2, 2]);
    expect(outShape(singleOp('Clip', [[2, 2]], { min: { f: 0 }, max: { f: 6 } }, { opset: 6 }))).toEqual([2, 2]);
  });
});

describe('graph errors', () => {
  const relu = (inputs: string[], outputs: string[], name?: string) => ({ opType: 'Relu', inputs, outputs, name });

  test('a cycle names the nodes on it', () => {
    const bytes = encodeModel({
      nodes: [relu(['x'], ['a'], 'first'), { opType: 'Add', name: 'loop_a', inputs: ['a', 'c'], outputs: ['b'] }, relu(['b'], ['c'], 'loop_b'), relu(['b'], ['y'], 'last')],
      inputs: [{ name: 'x', dims: [1] }],
      outputs: [{ name: 'y' }],
    });
    expect(() => prepare(bytes)).toThrow(OnnxGraphError);
    expect(() => prepare(bytes)).toThrow(/the graph has a cycle: 'loop_a' -> 'loop_b' -> 'loop_a'/);
  });

  test('Concat of int64 and int32 constants (a fuzzed Cast): a graph error naming the input, in either order (before: a TypeError from the fold)', () => {
    const int32 = { name: 'b', dataType: 6, dims: [1], int32Data: [3] };
    for (const inputs of [[int64s('a', [2], [1, 2]), int32], [int32, int64s('a', [2], [1, 2])]]) {
      const bytes = singleOp('Concat', inputs, { axis: { i: 0 } });
      expect(() => prepare(bytes)).toThrow(OnnxGraphError);
      expect(() => prepare(bytes)).toThrow(/input 1 is (int32|int64) but input 0 is (int64|int32): Concat's inputs share one element type/);
    }
  });

  test('a missing input names the node and the tensor', () => {
    const bytes = encodeModel({ nodes: [relu(['ghost'], ['y'], 'act')], outputs: [{ name: 'y' }] });
    expect(() => prepare(bytes)).toThrow(/ONNX node 'act' \(Relu\): input 'ghost' is not produced by any node, initializer or graph input/);
  });

  test('two producers of one tensor; an output nobody produces', () => {
    expect(() => prepare(encodeModel({ nodes: [relu(['x'], ['y'], 'a'), relu(['x'], ['y'], 'b')], inputs: [{ name: 'x', dims: [1] }], outputs: [{ name: 'y' }] }))).toThrow(
      /node 'b' \(Relu\): output 'y' is also produced by node 'a'/,
    );
    expect(() => prepare(encodeModel({ nodes: [], outputs: [{ name: 'nothing' }] }))).toThrow(/output 'nothing' is not produced/);
  });

  test('unsupported ops: the op, the node, the others in the model and the supported list', () => {
    const bytes = encodeModel({
      nodes: [
        { opType: 'NonMaxSuppression', name: 'nms', inputs: ['x'], outputs: ['a'] },
        { opType: 'TopK', name: 'topk', inputs: ['a'], outputs: ['y'] },
      ],
      inputs: [{ name: 'x', dims: [1] }],
      outputs: [{ name: 'y' }],
    });
    const error = (() => {
      try {
        prepare(bytes);
      } catch (e) {
        return e as UnsupportedOnnxOp;
      }
    })()!;
    expect(error).toBeInstanceOf(UnsupportedOnnxOp);
    expect(error.opType).toBe('NonMaxSuppression');
    expect(error.node).toBe('nms');
    expect(error.message).toMatch(/^Unsupported ONNX operation: NonMaxSuppression \(node 'nms'\)\. The model also uses unsupported ops: TopK\. Supported: Add, AveragePool, /);
    expect(error.supported).toEqual(supportedOps());
    expect(error.supported).toContain('Conv');
  });

  test('ops of other domains and prototype keys are unsupported, not crashes', () => {
    const custom = encodeModel({ nodes: [{ opType: 'Relu', domain: 'com.microsoft', inputs: ['x'], outputs: ['y'] }], inputs: [{ name: 'x', dims: [1] }], outputs: [{ name: 'y' }] });
    expect(() => prepare(custom)).toThrow(/Unsupported ONNX operation: com.microsoft::Relu/);
    for (const opType of ['constructor', '__proto__', 'toString']) {
      expect(() => prepare(encodeModel({ nodes: [{ opType, inputs: ['x'], outputs: ['y'] }], inputs: [{ name: 'x', dims: [1] }], outputs: [{ name: 'y' }] }))).toThrow(UnsupportedOnnxOp);
    }
  });

  test('nodes no output needs are pruned, even unsupported ones', () => {
    const p = prepare(
      encodeModel({
        nodes: [relu(['x'], ['y']), { opType: 'TopK', inputs: ['x'], outputs: ['unused'] }],
        inputs: [{ name: 'x', dims: [2] }],
        outputs: [{ name: 'y' }],
      }),
    );
    expect(p.pruned).toBe(1);
    expect(p.nodes.map((n) => n.node.opType)).toEqual(['Relu']);
  });

  test('shape errors name the node; engine ShapeErrors are wrapped', () => {
    const add = encodeModel({ nodes: [{ opType: 'Add', name: 'plus', inputs: ['a', 'b'], outputs: ['y'] }], inputs: [{ name: 'a', dims: [2, 3] }, { name: 'b', dims: [4] }], outputs: [{ name: 'y' }] });
    expect(() => prepare(add)).toThrow(/ONNX node 'plus' \(Add\): Add: cannot broadcast dimension 1 \(3 vs 4\)/);
    const reshape = singleOp('Reshape', [[2, 3], int64s('s', [2], [4, -1])]);
    expect(() => prepare(reshape)).toThrow(OnnxGraphError);
    expect(() => prepare(reshape)).toThrow(/'Reshape_0' \(Reshape\).*cannot infer -1/);
  });

  test('a shape input computed at run time is refused with the tensor named', () => {
    const bytes = encodeModel({
      nodes: [relu(['s'], ['s2']), { opType: 'Reshape', name: 'r', inputs: ['x', 's2'], outputs: ['y'] }],
      inputs: [{ name: 'x', dims: [4] }, { name: 's', elemType: 7, dims: [1] }],
      outputs: [{ name: 'y' }],
    });
    expect(() => prepare(bytes)).toThrow(/node 'r' \(Reshape\): input 1 \(shape, 's2'\) must be a constant/);
  });

  test('declared output shapes are checked; missing attributes are named', () => {
    const wrong = encodeModel({ nodes: [relu(['x'], ['y'])], inputs: [{ name: 'x', dims: [2, 3] }], outputs: [{ name: 'y', dims: [3, 2] }] });
    expect(() => prepare(wrong)).toThrow(/output 'y' is declared \[3, 2\] but its inferred shape is \[2, 3\]/);
    expect(() => prepare(singleOp('Concat', [[1], [2]]))).toThrow(/'Concat_0' \(Concat\): required attribute 'axis' is missing/);
    expect(() => prepare(singleOp('Cast', [[2]], { to: { i: 7 } }))).toThrow(/cast of the computed tensor 'x0' to int64 is not supported/);
  });

  test('models without a default opset import', () => {
    expect(() => prepare(encodeModel({ opset: null, nodes: [], inputs: [{ name: 'x', dims: [1] }], outputs: [{ name: 'x' }] }))).toThrow(/imports no default ONNX operator set/);
    expect(prepare(encodeModel({ opset: null, irVersion: 2, nodes: [], inputs: [{ name: 'x', dims: [1] }], outputs: [{ name: 'x' }] })).opset).toBe(1);
  });
});

describe('Pad folded into the Conv that reads it (plan.ts)', () => {
  interface PadCase {
    /** ONNX pads: begins then ends, per padded axis. */
    pads: number[];
    opset?: number;
    value?: number;
    mode?: string;
    /** opset 18's axes input. */
    axes?: number[];
    /** Who else reads the Pad's output: a second Conv, a Relu, or the graph (an output). */
    also?: 'conv' | 'relu' | 'output';
  }

  /** x [1, 2, 5, 5] -> Pad -> p -> Conv (3x3, pads [1, 0, 0, 1]) -> y, and maybe another reader of p. */
  function padConv(c: PadCase): Uint8Array {
    const opset = c.opset ?? 13;
    const full = c.axes ? [0, 0, c.pads[0], c.pads[1], 0, 0, c.pads[2], c.pads[3]] : c.pads;
    const inC = 2 + Math.max(0, full[1]) + Math.max(0, full[5]);
    const mode: Record<string, AttrSpec> = c.mode ? { mode: { s: c.mode } } : {};
    const pad: NodeSpec =
      opset < 11
        ? { opType: 'Pad', name: 'pad', inputs: ['x'], outputs: ['p'], attrs: { pads: { ints: c.pads }, ...(c.value !== undefined ? { value: { f: c.value } } : {}), ...mode } }
        : { opType: 'Pad', name: 'pad', inputs: ['x', 'pads', c.value !== undefined ? 'value' : '', ...(c.axes ? ['axes'] : [])], outputs: ['p'], attrs: mode };
    const conv = (out: string, w: string): NodeSpec => ({ opType: 'Conv', name: `conv_${out}`, inputs: ['p', w, 'b'], outputs: [out], attrs: { pads: { ints: [1, 0, 0, 1] } } });
    const nodes = [pad, conv('y', 'w')];
    if (c.also === 'conv') nodes.push(conv('y2', 'w2'));
    if (c.also === 'relu') nodes.push({ opType: 'Relu', inputs: ['p'], outputs: ['r'] });
    return encodeModel({
      opset,
      nodes,
      inputs: [{ name: 'x', dims: [1, 2, 5, 5] }],
      outputs: [{ name: 'y' }, ...(c.also === 'conv' ? [{ name: 'y2' }] : c.also === 'relu' ? [{ name: 'r' }] : c.also === 'output' ? [{ name: 'p' }] : [])],
      initializers: [
        floats('w', [3, inC, 3, 3], seeded(27 * inC, 31)),
        floats('w2', [3, inC, 3, 3], seeded(27 * inC, 32)),
        floats('b', [3], [0.1, -0.2, 0.3]),
        ...(opset >= 11 ? [int64s('pads', [c.pads.length], c.pads)] : []),
        ...(opset >= 11 && c.value !== undefined ? [floats('value', [], [c.value])] : []),
        ...(c.axes ? [int64s('axes', [c.axes.length], c.axes)] : []),
      ],
    });
  }

  const plans = (bytes: Uint8Array, visible: string[] = []) => {
    const g = prepare(bytes);
    const plan = (pads: boolean) => planGraph(g, findFusions(g, { batchNorm: true, activations: true, pads }, new Set(visible)));
    return { folded: plan(true), plain: plan(false) };
  };
  const kinds = (plan: Plan) => plan.steps.map((s) => (s.kind === 'conv' ? `${s.nodes.map((n) => n.node.opType).join('+')} pads ${s.attrs.pads!.join(',')}` : s.node.node.opType));
  /** Every output of a plan, in float64 on the CPU reference. */
  const outputs = (plan: Plan) => {
    const x = refTensor([1, 2, 5, 5], seeded(50, 33));
    const constant = (v: Parameters<typeof toNumbers>[0]) => refTensor(v.shape, toNumbers(v));
    const got = executePlan<RefTensor>(plan, referenceBackend(), new Map([['x', x]]), plan.graph.outputs.map((o) => o.name), { constant });
    return Object.fromEntries([...got].map(([name, t]) => [name, Array.from(t.data)]));
  };

  const folds: [string, PadCase, string][] = [
    ['pads as an input (opset 13), H and W only', { pads: [0, 0, 1, 2, 0, 0, 3, 4] }, '2,2,3,5'],
    ['an explicit constant_value 0', { pads: [0, 0, 1, 1, 0, 0, 1, 1], value: 0 }, '2,1,1,2'],
    ['pads as an attribute (opset 10), value 0', { pads: [0, 0, 0, 0, 0, 0, 1, 1], opset: 10, value: 0 }, '1,0,1,2'],
    ["opset 18's axes [2, 3]", { pads: [1, 0, 0, 1], opset: 18, axes: [2, 3] }, '2,0,0,2'],
  ];
  for (const [what, c, pads] of folds) {
    test(`folds: ${what}`, () => {
      const { folded, plain } = plans(padConv(c));
      expect(kinds(folded)).toEqual([`Conv+Pad pads ${pads}`]);
      expect(folded.steps[0].reads).toEqual(['x']);
      expect(kinds(plain)).toEqual(['Pad', 'Conv']);
      expect(outputs(folded)).toEqual(outputs(plain)); // float64: the same sums, exactly
    });
  }

  test('folds into both Convs when every reader is a Conv; the Pad does not run', () => {
    const { folded, plain } = plans(padConv({ pads: [0, 0, 0, 0, 0, 0, 1, 1], also: 'conv' }));
    expect(kinds(folded)).toEqual(['Conv+Pad pads 1,0,1,2', 'Conv+Pad pads 1,0,1,2']);
    expect(outputs(folded)).toEqual(outputs(plain));
  });

  const stays: [string, PadCase][] = [
    ['a non-zero value', { pads: [0, 0, 1, 1, 0, 0, 1, 1], value: 0.5 }],
    ['a non-zero value attribute (opset 10)', { pads: [0, 0, 1, 1, 0, 0, 1, 1], opset: 10, value: -1 }],
    ['reflect mode', { pads: [0, 0, 1, 1, 0, 0, 1, 1], mode: 'reflect' }],
    ['edge mode', { pads: [0, 0, 1, 1, 0, 0, 1, 1], mode: 'edge' }],
    ['a negative pad (a crop)', { pads: [0, 0, -1, 0, 0, 0, 1, 1] }],
    ['a pad on the channel axis', { pads: [0, 1, 1, 1, 0, 0, 1, 1] }],
    ['a pad on the batch axis', { pads: [1, 0, 0, 0, 0, 0, 0, 0] }],
    ['a second reader that is not a Conv', { pads: [0, 0, 1, 1, 0, 0, 1, 1], also: 'relu' }],
    ['a Pad output that is a graph output', { pads: [0, 0, 1, 1, 0, 0, 1, 1], also: 'output' }],
  ];
  for (const [what, c] of stays) {
    test(`stays: ${what}`, () => {
      const { folded } = plans(padConv(c));
      expect(kinds(folded)).toContain('Pad');
      expect(kinds(folded).some((k) => k.includes('Conv+Pad'))).toBe(false);
    });
  }

  test('stays when its output is asked for by name (a kept layer or a gradient start)', () => {
    const bytes = padConv({ pads: [0, 0, 1, 1, 0, 0, 1, 1] });
    expect(kinds(plans(bytes, ['p']).folded)).toEqual(['Pad', 'Conv']);
    expect(kinds(plans(bytes, ['x']).folded)).toEqual(['Conv+Pad pads 2,1,1,2']);
  });
});

// Handlers' run on the GPU. Ops with a CPU fold are checked against it (the
// same one-op model prepared with its input as a constant folds on the CPU);
// the others against small formulas written out here. What is tested is the
// mapping from ONNX semantics to engine ops (attributes, opset variants), not
// the engine kernels, which test/ops.test.ts covers.

import { describe, expect, test } from 'vitest';
import { scopeAsync, Tensor } from '../../engine/index.js';
import { gpuBackend } from '../../importers/onnx/backend.js';
import { runNode } from '../../importers/onnx/executor.js';
import { prepareGraph, type PreparedGraph } from '../../importers/onnx/graph.js';
import { supportedOps } from '../../importers/onnx/ops/index.js';
import { toNumbers } from '../../importers/onnx/host-tensor.js';
import { decodeModel } from '../../importers/onnx/proto.js';
import { execute } from '../fixtures/onnx/execute.js';
import { encodeModel, floats, int64s, type AttrSpec, type TensorSpec } from '../fixtures/onnx/onnx-writer.js';

/** Deterministic values in [lo, hi). */
function values(n: number, lo = -2, hi = 2, seed = 1): number[] {
  let s = seed;
  return Array.from({ length: n }, () => {
    s = (s * 1103515245 + 12345) % 2 ** 31;
    return lo + ((s / 2 ** 31) * (hi - lo));
  });
}

interface OpCase {
  op: string;
  x: number[];
  /** Constant inputs after x. */
  consts?: TensorSpec[];
  attrs?: Record<string, AttrSpec>;
  opset?: number;
  outputs?: number;
  range?: [number, number];
}

/** ONNX op types some test in this file ran: the last test checks every handler is among them. */
const exercised = new Set<string>();

function oneOp(c: OpCase, xAsConstant: boolean, xValues: number[]): PreparedGraph {
  exercised.add(c.op);
  const outputs = Array.from({ length: c.outputs ?? 1 }, (_, k) => `y${k}`);
  const x = floats('x', c.x, xValues);
  return prepareGraph(
    decodeModel(
      encodeModel({
        opset: c.opset ?? 13,
        initializers: [...(xAsConstant ? [x] : []), ...(c.consts ?? [])],
        inputs: xAsConstant ? [] : [{ name: 'x', dims: c.x }],
        nodes: [{ opType: c.op, name: c.op, inputs: ['x', ...(c.consts ?? []).map((t) => t.name!)], outputs, attrs: c.attrs }],
        outputs: outputs.map((name) => ({ name })),
      }),
    ),
  );
}

function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol = 1e-5): void {
  expect(actual.length).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) {
    const e = expected[i];
    if (Math.abs(actual[i] - e) > tol * Math.max(1, Math.abs(e))) {
      expect.fail(`element ${i}: ${actual[i]} vs expected ${e} (tolerance ${tol})`);
    }
  }
}

const foldCases: OpCase[] = [
  { op: 'Relu', x: [2, 3, 4] },
  { op: 'LeakyRelu', x: [2, 5], attrs: { alpha: { f: 0.1 } } },
  { op: 'Sigmoid', x: [7] },
  { op: 'Tanh', x: [7] },
  { op: 'Exp', x: [7] },
  { op: 'Log', x: [7], range: [0.1, 3] },
  { op: 'Sqrt', x: [7], range: [0, 3] },
  { op: 'Neg', x: [7] },
  { op: 'HardSigmoid', x: [9], attrs: { alpha: { f: 0.3 }, beta: { f: 0.4 } } },
  { op: 'HardSwish', x: [3, 3], range: [-5, 5] },
  { op: 'Clip', x: [9], consts: [floats('lo', [], [-0.5]), floats('hi', [], [1])] },
  { op: 'Clip', x: [9], consts: [floats('lo', [], [0])] },
  { op: 'Clip', x: [9], attrs: { min: { f: 0 }, max: { f: 0.5 } }, opset: 6 },
  { op: 'Identity', x: [4] },
  { op: 'Add', x: [2, 3], consts: [floats('b', [3], [1, 2, 3])] },
  { op: 'Sub', x: [2, 3], consts: [floats('b', [2, 1], [1, 2])] },
  { op: 'Mul', x: [2, 1, 3], consts: [floats('b', [4, 1], [1, 2, 3, 4])] },
  { op: 'Div', x: [2, 3], consts: [floats('b', [], [4])] },
  { op: 'Pow', x: [2, 3], consts: [floats('e', [], [2])] },
  { op: 'Pow', x: [2, 3], consts: [floats('e', [], [3])], range: [0.1, 2] },
  { op: 'Pow', x: [5], consts: [floats('e', [], [0.5])], range: [0.1, 2] },
  { op: 'Transpose', x: [2, 3, 4], attrs: { perm: { ints: [1, 2, 0] } } },
  { op: 'Reshape', x: [2, 3, 4], consts: [int64s('s', [3], [4, 0, -1])] },
  { op: 'Flatten', x: [2, 3, 4], attrs: { axis: { i: 2 } } },
  { op: 'Squeeze', x: [1, 3, 1], consts: [int64s('a', [1], [0])] },
  { op: 'Unsqueeze', x: [3], consts: [int64s('a', [2], [0, 2])] },
  { op: 'Expand', x: [3, 1], consts: [int64s('s', [3], [2, 3, 4])] },
  { op: 'Concat', x: [2, 3], consts: [floats('b', [2, 2], [9, 8, 7, 6])], attrs: { axis: { i: -1 } } },
  { op: 'Split', x: [2, 6], attrs: { axis: { i: 1 } }, consts: [int64s('s', [3], [1, 2, 3])], outputs: 3 },
  { op: 'Split', x: [1, 85], attrs: { axis: { i: 1 }, split: { ints: [2, 2, 81] } }, opset: 12, outputs: 3 },
  { op: 'Slice', x: [4, 6], consts: [int64s('s', [2], [-1, 1]), int64s('e', [2], [-5, 100]), int64s('a', [2], [0, 1]), int64s('st', [2], [-2, 2])] },
  { op: 'Gather', x: [3, 4], consts: [int64s('i', [2, 2], [2, 0, 1, -1])], attrs: { axis: { i: 1 } } },
  { op: 'Gather', x: [3, 4], consts: [int64s('i', [], [1])] },
  { op: 'Cast', x: [4], attrs: { to: { i: 1 } } },
  { op: 'Dropout', x: [2, 3] },
];

describe('GPU run agrees with the CPU fold', () => {
  for (const c of foldCases) {
    const label = `${c.op}${c.opset ? ` (opset ${c.opset})` : ''} ${JSON.stringify(c.attrs ?? {})} ${(c.consts ?? []).map((t) => t.name).join(',')}`;
    test(label, async () => {
      const xValues = values(c.x.reduce((a, b) => a * b, 1), ...(c.range ?? [-2, 2]));
      const folded = oneOp(c, true, xValues);
      expect(folded.nodes, 'the constant version folds').toHaveLength(0);
      const gpu = oneOp(c, false, xValues);
      expect(gpu.nodes.map((n) => n.node.opType)).toEqual([c.op]);
      const out = await execute(gpu, { x: xValues });
      for (const o of gpu.outputs) {
        const expected = toNumbers(folded.tensors.get(o.name)!.value!);
        expect(o.shape).toEqual(folded.tensors.get(o.name)!.shape);
        expectClose(out[o.name], expected);
      }
    });
  }
});

/** A one-op graph with a runtime input x and the given constant inputs. */
async function runOp(c: OpCase, xValues: number[]): Promise<{ y: Float32Array; shape: readonly number[] }> {
  const p = oneOp(c, false, xValues);
  const out = await execute(p, { x: xValues });
  return { y: out.y0, shape: p.outputs[0].shape };
}

describe('GPU run of layers against written-out formulas', () => {
  test('Softmax: opset 13 normalizes one axis, opset 11 the flattened trailing axes', async () => {
    const x = values(12);
    const e = x.map(Math.exp);
    const v13 = await runOp({ op: 'Softmax', x: [2, 3, 2], attrs: { axis: { i: 1 } } }, x);
    // axis 1 of [2, 3, 2]: element (n, c, w) over c
    const expected13 = x.map((_, i) => {
      const n = Math.floor(i / 6);
      const w = i % 2;
      const sum = [0, 1, 2].reduce((s, c) => s + e[n * 6 + c * 2 + w], 0);
      return e[i] / sum;
    });
    expectClose(v13.y, expected13);
    const v11 = await runOp({ op: 'Softmax', x: [2, 3, 2], attrs: { axis: { i: 1 } }, opset: 11 }, x);
    const expected11 = x.map((_, i) => e[i] / e.slice(Math.floor(i / 6) * 6, Math.floor(i / 6) * 6 + 6).reduce((a, b) => a + b));
    expectClose(v11.y, expected11);
  });

  test('BatchNormalization: scale * (x - mean) / sqrt(var + eps) + bias', async () => {
    const x = values(2 * 3 * 4);
    const [s, b, m, v] = [[1, 2, -1], [0.5, 0, 1], [0.1, -0.2, 0.3], [1, 0.25, 4]];
    const consts = [floats('s', [3], s), floats('b', [3], b), floats('m', [3], m), floats('v', [3], v)];
    const { y } = await runOp({ op: 'BatchNormalization', x: [2, 3, 2, 2], consts, attrs: { epsilon: { f: 1e-3 } } }, x);
    expectClose(y, x.map((xi, i) => {
      const c = Math.floor(i / 4) % 3;
      return (s[c] * (xi - m[c])) / Math.sqrt(v[c] + 1e-3) + b[c];
    }));
  });

  test('MaxPool 2x2/2, AveragePool 3x3 with pads (count_include_pad 0 and 1), GlobalAveragePool', async () => {
    const x = Array.from({ length: 16 }, (_, i) => i);
    expectClose((await runOp({ op: 'MaxPool', x: [1, 1, 4, 4], attrs: { kernel_shape: { ints: [2, 2] }, strides: { ints: [2, 2] } } }, x)).y, [5, 7, 13, 15]);
    const avg = (include: number) => runOp({ op: 'AveragePool', x: [1, 1, 4, 4], attrs: { kernel_shape: { ints: [3, 3] }, pads: { ints: [1, 1, 1, 1] }, count_include_pad: { i: include } } }, x);
    // Corner (0, 0): window rows 0-1, cols 0-1 -> 0 + 1 + 4 + 5 = 10 over 4 taps (or 9 with padding).
    expect((await avg(0)).y[0]).toBeCloseTo(10 / 4, 5);
    expect((await avg(1)).y[0]).toBeCloseTo(10 / 9, 5);
    expect((await avg(0)).y[5]).toBeCloseTo((0 + 1 + 2 + 4 + 5 + 6 + 8 + 9 + 10) / 9, 5);
    const g = await runOp({ op: 'GlobalAveragePool', x: [1, 2, 2, 2] }, [1, 2, 3, 4, 10, 20, 30, 40]);
    expect([g.shape, Array.from(g.y)]).toEqual([[1, 2, 1, 1], [2.5, 25]]);
  });

  test('MaxPool with SAME_UPPER auto_pad keeps the size (tiny face detector style)', async () => {
    const x = Array.from({ length: 9 }, (_, i) => i);
    const r = await runOp({ op: 'MaxPool', x: [1, 1, 3, 3], attrs: { kernel_shape: { ints: [2, 2] }, strides: { ints: [1, 1] }, auto_pad: { s: 'SAME_UPPER' } } }, x);
    expect(r.shape).toEqual([1, 1, 3, 3]);
    expectClose(r.y, [4, 5, 5, 7, 8, 8, 7, 8, 8]);
  });

  test('Pad: constant value, reflect; opset 11 inputs', async () => {
    const x = [1, 2, 3];
    const constant = await runOp({ op: 'Pad', x: [1, 3], consts: [int64s('p', [4], [0, 1, 0, 2]), floats('v', [], [9])] }, x);
    expectClose(constant.y, [9, 1, 2, 3, 9, 9]);
    const reflect = await runOp({ op: 'Pad', x: [1, 3], consts: [int64s('p', [4], [0, 2, 0, 1])], attrs: { mode: { s: 'reflect' } } }, x);
    expectClose(reflect.y, [3, 2, 1, 2, 3, 2]);
  });

  test('Resize: nearest/asymmetric/floor 2x (YOLOv5) and opset-10 Resize', async () => {
    const x = [1, 2, 3, 4];
    const c = { op: 'Resize', x: [1, 1, 2, 2], attrs: { mode: { s: 'nearest' }, coordinate_transformation_mode: { s: 'asymmetric' }, nearest_mode: { s: 'floor' } } };
    const up = await runOp({ ...c, consts: [floats('roi', [0], []), floats('s', [4], [1, 1, 2, 2])] }, x);
    expect(up.shape).toEqual([1, 1, 4, 4]);
    expectClose(up.y, [1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4]);
    const v10 = await runOp({ op: 'Resize', x: [1, 1, 2, 2], consts: [floats('s', [4], [1, 1, 2, 2])], opset: 10 }, x);
    expectClose(v10.y, up.y);
  });

  test('GlobalMaxPool, LogSoftmax and opset-9 Upsample', async () => {
    const x = [1, 5, 2, 4, 10, 20, 40, 30];
    const g = await runOp({ op: 'GlobalMaxPool', x: [1, 2, 2, 2] }, x);
    expect([g.shape, Array.from(g.y)]).toEqual([[1, 2, 1, 1], [5, 40]]);
    const l = await runOp({ op: 'LogSoftmax', x: [2, 4], attrs: { axis: { i: 1 } } }, x);
    const logSumExp = (row: number[]) => Math.log(row.reduce((a, v) => a + Math.exp(v), 0));
    expectClose(l.y, [...x.slice(0, 4).map((v) => v - logSumExp(x.slice(0, 4))), ...x.slice(4).map((v) => v - logSumExp(x.slice(4)))], 1e-5);
    const u = await runOp({ op: 'Upsample', x: [1, 1, 2, 2], consts: [floats('s', [4], [1, 1, 2, 2])], opset: 9 }, [1, 2, 3, 4]);
    expect(u.shape).toEqual([1, 1, 4, 4]);
    expectClose(u.y, [1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4]);
  });

  test('ReduceMean (axes attribute), ReduceSum (axes input), ReduceMax and ReduceMin', async () => {
    const x = [1, 2, 3, 4, 5, 6];
    const max = await runOp({ op: 'ReduceMax', x: [2, 3], attrs: { axes: { ints: [1] } } }, [1, 9, 3, 4, -5, 6]);
    expect([max.shape, Array.from(max.y)]).toEqual([[2, 1], [9, 6]]);
    const min = await runOp({ op: 'ReduceMin', x: [2, 3], attrs: { axes: { ints: [0] }, keepdims: { i: 0 } } }, [1, 9, 3, 4, -5, 6]);
    expect([min.shape, Array.from(min.y)]).toEqual([[3], [1, -5, 3]]);
    expectClose((await runOp({ op: 'ReduceMean', x: [2, 3], attrs: { axes: { ints: [1] }, keepdims: { i: 0 } } }, x)).y, [2, 5]);
    expectClose((await runOp({ op: 'ReduceSum', x: [2, 3], consts: [int64s('a', [1], [0])] }, x)).y, [5, 7, 9]);
  });

  test('Gemm with transB and bias; MatMul with a broadcast batch', async () => {
    const a = [1, 2, 3, 4, 5, 6]; // [2, 3]
    const w = [1, 0, -1, 2, 1, 0]; // [2, 3], used transposed
    const g = await runOp({ op: 'Gemm', x: [2, 3], consts: [floats('w', [2, 3], w), floats('c', [2], [10, 20])], attrs: { transB: { i: 1 }, alpha: { f: 2 } } }, a);
    // rows of A . rows of W: [1-3, 2+2] = [-2, 4]; [4-6, 8+5] = [-2, 13]; times 2, plus c
    expectClose(g.y, [6, 28, 6, 46]);
    const m = await runOp({ op: 'MatMul', x: [2, 1, 3], consts: [floats('b', [3, 2], [1, 0, 0, 1, 1, 1])] }, a);
    expect(m.shape).toEqual([2, 1, 2]);
    expectClose(m.y, [4, 5, 10, 11]);
  });

  test('Conv (pads, stride, groups) and ConvTranspose (stride 2) against direct sums', async () => {
    const x = values(2 * 5 * 5, -1, 1, 3); // [1, 2, 5, 5]
    const w = values(4 * 1 * 3 * 3, -1, 1, 5); // [4, 1, 3, 3], 2 groups
    const bias = [0.5, -0.5, 1, 0];
    const conv = await runOp(
      { op: 'Conv', x: [1, 2, 5, 5], consts: [floats('w', [4, 1, 3, 3], w), floats('b', [4], bias)], attrs: { pads: { ints: [1, 1, 1, 1] }, strides: { ints: [2, 2] }, group: { i: 2 } } },
      x,
    );
    expect(conv.shape).toEqual([1, 4, 3, 3]);
    const expected: number[] = [];
    for (let o = 0; o < 4; o++) {
      const c = Math.floor(o / 2); // group of output channel o reads input channel c
      for (let oy = 0; oy < 3; oy++) {
        for (let ox = 0; ox < 3; ox++) {
          let s = bias[o];
          for (let ky = 0; ky < 3; ky++) {
            for (let kx = 0; kx < 3; kx++) {
              const iy = oy * 2 - 1 + ky;
              const ix = ox * 2 - 1 + kx;
              if (iy >= 0 && iy < 5 && ix >= 0 && ix < 5) s += x[c * 25 + iy * 5 + ix] * w[o * 9 + ky * 3 + kx];
            }
          }
          expected.push(s);
        }
      }
    }
    expectClose(conv.y, expected, 1e-4);

    const xt = values(2 * 2 * 2, -1, 1, 7); // [1, 2, 2, 2]
    const wt = values(2 * 1 * 2 * 2, -1, 1, 9); // [2, 1, 2, 2] -> one output channel
    const ct = await runOp({ op: 'ConvTranspose', x: [1, 2, 2, 2], consts: [floats('w', [2, 1, 2, 2], wt)], attrs: { strides: { ints: [2, 2] } } }, xt);
    expect(ct.shape).toEqual([1, 1, 4, 4]);
    // Stride 2 with a 2x2 kernel: every output pixel gets exactly one tap per input channel.
    const expectedT = Array.from({ length: 16 }, (_, i) => {
      const [y, xx] = [Math.floor(i / 4), i % 4];
      let s = 0;
      for (let c = 0; c < 2; c++) s += xt[c * 4 + (y >> 1) * 2 + (xx >> 1)] * wt[c * 4 + (y % 2) * 2 + (xx % 2)];
      return s;
    });
    expectClose(ct.y, expectedT, 1e-4);
  });

  test('outputs are named after their ONNX tensors; a shape mismatch would be reported', async () => {
    const p = oneOp({ op: 'Relu', x: [2] }, false, [1, -1]);
    await scopeAsync(async () => {
      const x = Tensor.fromData([1, -1], [2]);
      const [y] = runNode(p, p.nodes[0], () => x, gpuBackend);
      expect(y.name).toBe('y0');
      expect(() => runNode(p, p.nodes[0], () => Tensor.fromData([1, 2, 3], [3]), gpuBackend)).toThrow(/run produced \[3\] for output 'y0'; prepare inferred \[2\]/);
    });
  });
});

describe('constant and shape ops fold at preparation', () => {
  /** A graph x -> op (with these extra inputs) -> y, prepared with x of shape [2, 3, 4]. */
  const fold = (op: string, inputs: string[], attrs: Record<string, AttrSpec> = {}, initializers: TensorSpec[] = []) => {
    exercised.add(op);
    const p = prepareGraph(
      decodeModel(
        encodeModel({
          opset: 13,
          initializers,
          inputs: [{ name: 'x', dims: [2, 3, 4] }],
          nodes: [{ opType: op, name: op, inputs, outputs: ['y'], attrs }],
          outputs: [{ name: 'y' }],
        }),
      ),
    );
    expect(p.nodes, `${op} folds`).toHaveLength(0);
    const v = p.tensors.get('y')!.value!;
    return { shape: v.shape, values: toNumbers(v) };
  };

  test('Shape, Size, Constant, ConstantOfShape and Range', () => {
    expect(fold('Shape', ['x'])).toEqual({ shape: [3], values: [2, 3, 4] });
    expect(fold('Size', ['x'])).toEqual({ shape: [], values: [24] });
    expect(fold('Constant', [], { value: { t: floats('c', [2], [1.5, -2]) } })).toEqual({ shape: [2], values: [1.5, -2] });
    expect(fold('ConstantOfShape', ['s'], { value: { t: floats('v', [1], [7]) } }, [int64s('s', [2], [2, 2])])).toEqual({ shape: [2, 2], values: [7, 7, 7, 7] });
    expect(fold('Range', ['a', 'b', 'd'], {}, [int64s('a', [], [1]), int64s('b', [], [8]), int64s('d', [], [3])])).toEqual({ shape: [3], values: [1, 4, 7] });
  });
});

// Runs last: a handler in importers/onnx/ops/index.ts that no test above ran fails the suite.
describe('completeness', () => {
  test('every ONNX handler has a case in this file', () => {
    const missing = supportedOps().filter((op) => !exercised.has(op));
    expect(missing, `handlers without a case in test/onnx/run.test.ts: ${missing.join(', ')}`).toEqual([]);
  });
});

// gradlens engine: the public API.

import { binaryOps, fill, unaryOps, type UnaryAttrs } from './ops/elementwise.js';
import { expand as expandOp, reshape as reshapeOp, transpose as transposeOp } from './ops/movement.js';
import { mean as meanOp, sum as sumOp } from './ops/reduce.js';
import { conv2d as conv2dOp, convTranspose2d as convTranspose2dOp } from './ops/conv.js';
import { gemm as gemmOp, matmul as matmulOp, type GemmAttrs } from './ops/gemm.js';
import { resize as resizeOp } from './ops/resize.js';
import { concat as concatOp, flatten as flattenOp, gather as gatherOp, pad as padOp, slice as sliceOp, split as splitOp } from './ops/shape-ops.js';
import { batchNorm as batchNormOp, batchNormTrain as batchNormTrainOp } from './ops/batchnorm.js';
import { max as maxOp, min as minOp } from './ops/extremum.js';
import { averagePool as averagePoolOp, globalAveragePool as globalAveragePoolOp, globalMaxPool as globalMaxPoolOp, maxPool as maxPoolOp } from './ops/pool.js';
import { logSoftmax as logSoftmaxOp, softmax as softmaxOp } from './ops/softmax.js';
import type { Shape } from './shape.js';
import { tape } from './tape.js';
import { Tensor } from './tensor.js';
import { runtime as currentRuntime, type Precision } from './runtime.js';
import type { Conv2dAttrs, ConvTranspose2dAttrs } from './geometry/conv.js';
import { type ResizeAttrs } from './geometry/resize.js';
import { type PadMode, type SliceAttrs, type SplitAttrs } from './geometry/shape-ops.js';
import { type AveragePoolAttrs, type PoolAttrs } from './geometry/pool.js';

export * from './host.js';
export { init, runtime, shutdown, Runtime, type KernelTiming, type Precision } from './runtime.js';
export { F16_MAX, PrecisionOverflow, toHalf, fromHalf } from './half.js';
export { Tensor, scope, scopeAsync, keep, BYTES, type DType } from './tensor.js';
export { exclusive } from './serial.js';
export { tape, type BackwardRule, type BackwardContext } from './tape.js';
export { ops, type OpName } from './ops/registry.js';
export { defineOp, launch, type Op, type OpDef } from './ops/op.js';
export { defineKernel, specialize, type Kernel } from './kernels/kernel.js';
export { describeAdapter, getDevice } from './device/device.js';
export { fill };
export { cast } from './ops/cast.js';

// ---- convenience functions (one per op) --------------------------------------------

/** Uploads `data`; `dtype` 'f16' stores it in f16 (shader-f16 adapters), default the running op's precision (f32 outside ops). */
export function tensor(data: ArrayLike<number>, shape: Shape, options: { requiresGrad?: boolean; name?: string; dtype?: Precision } = {}): Tensor {
  const rt = currentRuntime();
  const t = rt.withPrecision(options.dtype ?? rt.precision, () => Tensor.fromData(data, shape, options.name));
  t.requiresGrad = options.requiresGrad ?? false;
  if (options.name) t.name = options.name;
  return t;
}
export const zeros = (shape: Shape) => fill(shape, 0);
export const ones = (shape: Shape) => fill(shape, 1);

type U = (x: Tensor, attrs?: UnaryAttrs) => Tensor;
const unary = (name: keyof typeof unaryOps): U => (x, attrs = {}) => unaryOps[name]([x], attrs)[0];
export const neg = unary('neg');
export const exp = unary('exp');
export const log = unary('log');
export const sqrt = unary('sqrt');
export const tanh = unary('tanh');
export const sigmoid = unary('sigmoid');
export const silu = unary('silu');
export const relu = unary('relu');
export const hardSwish = unary('hardSwish');
export const leakyRelu = (x: Tensor, alpha = 0.01) => unaryOps.leakyRelu([x], { alpha })[0];
export const clip = (x: Tensor, min: number, max: number) => unaryOps.clip([x], { alpha: min, beta: max })[0];
export const hardSigmoid = (x: Tensor, alpha = 0.2, beta = 0.5) => unaryOps.hardSigmoid([x], { alpha, beta })[0];

const binary = (name: keyof typeof binaryOps) => (a: Tensor, b: Tensor) => binaryOps[name]([a, b], {})[0];
export const add = binary('add');
export const sub = binary('sub');
export const mul = binary('mul');
export const div = binary('div');
export const pow = binary('pow');

export const sum = (x: Tensor, axes?: number[], keepDims = false) => sumOp([x], { axes, keepDims })[0];
export const mean = (x: Tensor, axes?: number[], keepDims = false) => meanOp([x], { axes, keepDims })[0];
export const reshape = (x: Tensor, shape: Shape) => reshapeOp([x], { shape })[0];
export const transpose = (x: Tensor, perm: number[]) => transposeOp([x], { perm })[0];
export const expand = (x: Tensor, shape: Shape) => expandOp([x], { shape })[0];
export const concat = (xs: readonly Tensor[], axis: number) => concatOp(xs, { axis })[0];
/** Splits along `axis` into parts of the given sizes, or into `parts` near-equal parts (ONNX Split). */
export const split = (x: Tensor, axis: number, sizes: readonly number[] | number): Tensor[] =>
  splitOp([x], (typeof sizes === 'number' ? { axis, numOutputs: sizes } : { axis, sizes }) satisfies SplitAttrs);
/** ONNX Slice: starts, ends (exclusive, clamped), optional axes and steps (negative steps walk backwards). */
export const slice = (x: Tensor, starts: readonly number[], ends: readonly number[], axes?: readonly number[], steps?: readonly number[]) =>
  sliceOp([x], { starts, ends, axes, steps } satisfies SliceAttrs)[0];
/** ONNX Pad: pads = [begin_0, ..., begin_n, end_0, ..., end_n] (negative values crop). */
export const pad = (x: Tensor, pads: readonly number[], mode: PadMode = 'constant', value = 0, axes?: readonly number[]) =>
  padOp([x], { pads, mode, value, axes })[0];
/** ONNX Gather with constant indices (row-major over `indicesShape`, default 1-D). */
export const gather = (x: Tensor, indices: readonly number[], axis = 0, indicesShape?: Shape) => gatherOp([x], { indices, axis, indicesShape })[0];
export const flatten = (x: Tensor, axis = 1) => flattenOp([x], { axis })[0];
/** ONNX Resize over H and W of an NCHW tensor (nearest or linear). */
export const resize = (x: Tensor, attrs: ResizeAttrs) => resizeOp([x], attrs)[0];
export const max = (x: Tensor, axes?: number[], keepDims = false) => maxOp([x], { axes, keepDims })[0];
export const min = (x: Tensor, axes?: number[], keepDims = false) => minOp([x], { axes, keepDims })[0];

/** Inference-mode batch normalization with given (running) statistics. */
export const batchNorm = (x: Tensor, scale: Tensor, bias: Tensor, mean: Tensor, variance: Tensor, epsilon = 1e-5) =>
  batchNormOp([x, scale, bias, mean, variance], { epsilon })[0];
/** Training-mode batch normalization: normalizes with, and returns, the batch mean and (biased) variance. */
export function batchNormTrain(x: Tensor, scale: Tensor, bias: Tensor, epsilon = 1e-5): { y: Tensor; mean: Tensor; variance: Tensor } {
  const [y, m, variance] = batchNormTrainOp([x, scale, bias], { epsilon });
  return { y, mean: m, variance };
}
/** Max pooling; `ops.maxPool` also returns the argmax indices. */
export function maxPool(x: Tensor, attrs: PoolAttrs): Tensor {
  const [y, indices] = maxPoolOp([x], attrs);
  indices.dispose(); // the tape keeps its own view for backward
  return y;
}
export const averagePool = (x: Tensor, attrs: AveragePoolAttrs) => averagePoolOp([x], attrs)[0];
export const globalAveragePool = (x: Tensor) => globalAveragePoolOp([x], {})[0];
export const globalMaxPool = (x: Tensor) => globalMaxPoolOp([x], {})[0];
export const softmax = (x: Tensor, axis = -1) => softmaxOp([x], { axis })[0];
export const logSoftmax = (x: Tensor, axis = -1) => logSoftmaxOp([x], { axis })[0];
export type { PoolAttrs, AveragePoolAttrs };

/** ONNX Conv on NCHW x and OIHW w; attrs: strides, pads [top, left, bottom, right], dilations, groups, activation (fused). */
export const conv2d = (x: Tensor, w: Tensor, b?: Tensor | null, attrs: Conv2dAttrs = {}) => conv2dOp(b ? [x, w, b] : [x, w], attrs)[0];
/** ONNX ConvTranspose: w is [C_in, C_out / groups, KH, KW]; attrs as conv2d plus outputPadding. */
export const convTranspose2d = (x: Tensor, w: Tensor, b?: Tensor | null, attrs: ConvTranspose2dAttrs = {}) =>
  convTranspose2dOp(b ? [x, w, b] : [x, w], attrs)[0];
/** NumPy matmul: 1-D operands promoted, batch dimensions broadcast. */
export const matmul = (a: Tensor, b: Tensor) => matmulOp([a, b], {})[0];
/** ONNX Gemm: alpha * op(A) op(B) + beta * C, C broadcast to [M, N]. */
export const gemm = (a: Tensor, b: Tensor, c?: Tensor | null, attrs: GemmAttrs = {}) => gemmOp(c ? [a, b, c] : [a, b], attrs)[0];
export type { Conv2dAttrs, ConvTranspose2dAttrs, GemmAttrs };

// Kernel entry points on raw tensors (no tape), for benchmarks.
export { conv2dForward, conv2dGradInput, conv2dGradWeight, conv2dNaive } from './ops/conv-kernels.js';
export { bestMatmul, gemmKernelRun, type GemmSpec } from './ops/gemm.js';

/** Backpropagates from `loss` (see Tape.backward). */
export const backward = (loss: Tensor, options?: Parameters<typeof tape.backward>[1]) => tape.backward(loss, options);
/** Gradients of `outputs` with respect to `inputs`, returned without touching .grad (see Tape.grad; createGraph for higher orders). */
export const grad = (outputs: readonly Tensor[], inputs: readonly Tensor[], options?: Parameters<typeof tape.grad>[2]) => tape.grad(outputs, inputs, options);

// gradlens engine: the public API.

import { binaryOps, fill, unaryOps, type UnaryAttrs } from './ops/elementwise.js';
import { expand as expandOp, reshape as reshapeOp, transpose as transposeOp } from './ops/movement.js';
import { mean as meanOp, sum as sumOp, sumTo } from './ops/reduce.js';
import type { Shape } from './shape.js';
import { tape } from './tape.js';
import { Tensor } from './tensor.js';

// The tape's own bookkeeping (seeding, un-broadcasting, accumulation) uses these kernels.
tape.kernels = {
  add: (a, b) => binaryOps.add([a, b], {})[0],
  sumTo,
  fill,
};

export * from './errors.js';
export { init, runtime, shutdown, Runtime, type KernelTiming } from './runtime.js';
export { Tensor, scope, scopeAsync, keep } from './tensor.js';
export { tape, type BackwardRule, type BackwardContext } from './tape.js';
export { ops, type OpName } from './ops/registry.js';
export { defineOp, launch, type Op, type OpDef } from './ops/op.js';
export { defineKernel, specialize, type Kernel } from './kernels/kernel.js';
export { describeAdapter, getDevice } from './device/device.js';
export * from './shape.js';
export { fill };

// ---- convenience functions (one per op) --------------------------------------------

export function tensor(data: ArrayLike<number>, shape: Shape, options: { requiresGrad?: boolean; name?: string } = {}): Tensor {
  const t = Tensor.fromData(data, shape);
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

/** Backpropagates from `loss` (see Tape.backward). */
export const backward = (loss: Tensor, options?: Parameters<typeof tape.backward>[1]) => tape.backward(loss, options);

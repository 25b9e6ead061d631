// softmax and logSoftmax along one axis (shaders/softmax.wgsl), numerically
// stable by subtracting the row max. ONNX opset-13 semantics: only `axis` is
// normalized (opsets < 13 normalize everything from `axis` on as one axis:
// reshape to 2D around the op for those).

import softmaxWgsl from '../../shaders/softmax.wgsl';
import workgroupReduceWgsl from '../../shaders/workgroup-reduce.wgsl';
import { defineKernel, specialize, type Kernel } from '../kernels/kernel.js';
import { ShapeError } from '../errors.js';
import { numel, type Shape } from '../shape.js';
import { Tensor } from '../tensor.js';
import { binaryOps, unaryOps } from './elementwise.js';
import { defineOp, grid1d, launch } from './op.js';
import { sum } from './reduce.js';
import { alongAnyAxis } from './split.js';

const WG = 256;
// The shared workgroup reductions fill the source's {{WORKGROUP_REDUCE}} slot.
const wgsl = specialize('softmax', softmaxWgsl, { WORKGROUP_REDUCE: workgroupReduceWgsl });
const kernel = (entryPoint: string): Kernel => defineKernel({ name: entryPoint, wgsl, entryPoint });
const forwardKernels = { wide: kernel('softmax_wide'), narrow: kernel('softmax_narrow') };
const gradKernels = { wide: kernel('softmax_grad_wide'), narrow: kernel('softmax_grad_narrow') };

export interface SoftmaxAttrs {
  /** The normalized axis (negative counts from the end); default -1. */
  axis?: number;
}

/** Launches a row kernel over `shape` viewed as [outer, len, inner], picking wide or narrow like reduce.ts. */
function launchRows(op: string, kernels: { wide: Kernel; narrow: Kernel }, shape: Shape, axis: number | undefined, log: boolean, tensors: Record<string, Tensor>): void {
  const rank = shape.length;
  const given = axis ?? -1;
  if (!Number.isInteger(given) || given < -rank || given >= rank) {
    throw new ShapeError(op, `axis ${given} is out of range for rank ${rank}`, [shape]);
  }
  const a = given < 0 ? given + rank : given;
  const len = shape[a];
  const inner = numel(shape.slice(a + 1));
  const rows = numel(shape.slice(0, a)) * inner;
  const uniforms = { rows, len, inner };
  const constants = { LOG: log ? 1 : 0 };
  // A workgroup per row for long rows or few rows; a thread per row otherwise.
  if (len >= 64 || rows < 1024) launch(kernels.wide, tensors, { workgroups: grid1d(rows, 1), uniforms, constants });
  else launch(kernels.narrow, tensors, { workgroups: grid1d(rows, WG), uniforms, constants });
}

function softmaxOp(name: 'softmax' | 'logSoftmax') {
  const log = name === 'logSoftmax';
  return defineOp<SoftmaxAttrs>({
    name,
    forward([x], { axis }) {
      const y = Tensor.empty(x.shape);
      launchRows(name, forwardKernels, x.shape, axis, log, { x, y });
      return [y];
    },
    save: (_inputs, [y]) => [y],
    // In parts along every axis but the normalized one.
    split: ([x], { axis = -1 }) => alongAnyAxis(x, [x], 1, [axis < 0 ? axis + x.length : axis]),
    // softmax: dx = y * (dy - sum(dy * y)); log-softmax: dx = dy - exp(y) * sum(dy), sums along the axis
    backward({ saved: [y], attrs: { axis } }, [gy]) {
      const gx = Tensor.empty(y.shape);
      launchRows(name, gradKernels, y.shape, axis, log, { y, gy, gx });
      return [gx];
    },
    // the same with ops: softmax dx = y * (dy - sum(dy * y)); log-softmax dx = dy - exp(y) * sum(dy)
    backwardOps({ saved: [y], attrs: { axis = -1 } }, [gy]) {
      const b2 = (op: 'mul' | 'sub', a: Tensor, b: Tensor) => binaryOps[op]([a, b], {})[0];
      const rowSum = (t: Tensor) => sum([t], { axes: [axis], keepDims: true })[0];
      if (log) return [b2('sub', gy, b2('mul', unaryOps.exp([y], {})[0], rowSum(gy)))];
      return [b2('mul', y, b2('sub', gy, rowSum(b2('mul', gy, y))))];
    },
  });
}

export const softmax = softmaxOp('softmax');
export const logSoftmax = softmaxOp('logSoftmax');

// The max and min reductions over axes. Forward is reduce.wgsl (OP = 1 / 2)
// through reduceKeepDims; backward (shaders/extremum.wgsl) routes each output's
// gradient to the inputs equal to it, split evenly among ties. NaN propagates:
// an output over a NaN is NaN, and its gradient goes to the NaN inputs.

import extremumWgsl from '../../shaders/extremum.wgsl';
import nanWgsl from '../../shaders/nan.wgsl';
import { ShapeError } from '../errors.js';
import { defineKernel, specialize } from '../kernels/kernel.js';
import { broadcastStrides, type Shape } from '../shape.js';
import { Tensor } from '../tensor.js';
import type { BackwardContext } from '../tape.js';
import { tape } from '../tape.js';
import { binaryOps, fill } from './elementwise.js';
import { reshape } from './movement.js';
import { defineOp, grid1d, launch, pack8 } from './op.js';
import { keptAxes, reduceKeepDims, type ReduceAttrs } from './reduce.js';

const wgsl = specialize('extremum', extremumWgsl, { NAN: nanWgsl });
const maskKernel = defineKernel({ name: 'extremum_mask', wgsl, entryPoint: 'extremum_mask' });
const gradKernel = defineKernel({ name: 'extremum_grad', wgsl, entryPoint: 'extremum_grad' });

/** Sorted, normalized axes; ShapeError naming the op and x's shape when one is out of range or repeated. */
function reducedAxes(op: string, axes: readonly number[] | undefined, shape: Shape): number[] {
  const rank = shape.length;
  for (const a of axes ?? []) {
    if (!Number.isInteger(a) || a < -rank || a >= rank) throw new ShapeError(op, `axis ${a} is out of range for rank ${rank}`, [shape]);
  }
  const list = (axes ?? [...Array(rank).keys()]).map((a) => (a < 0 ? a + rank : a));
  if (new Set(list).size !== list.length) throw new ShapeError(op, `repeated axis in [${axes?.join(', ')}]`, [shape]);
  return list.sort((a, b) => a - b);
}

const keptShape = (shape: Shape, axes: readonly number[]) => shape.map((d, i) => (axes.includes(i) ? 1 : d));

/**
 * Gradient of a max/min over sorted `axes`: dy[o] / count[o] at the inputs
 * equal to y[o] (count = how many are), 0 elsewhere. `y` and `gy` may have
 * the reduced axes kept or dropped: only their element order matters.
 */
export function extremumGrad(x: Tensor, y: Tensor, gy: Tensor, axes: readonly number[]): Tensor {
  const kept = keptShape(x.shape, axes);
  const yKept = y.view(kept);
  const gyKept = gy.view(kept);
  const uniforms = { n: x.size, rank: x.shape.length, shape: pack8(x.shape), y_strides: pack8(broadcastStrides(kept, x.shape)) };
  const workgroups = grid1d(x.size);
  const mask = Tensor.empty(x.shape);
  launch(maskKernel, { x, y: yKept, mask }, { workgroups, uniforms });
  const count = reduceKeepDims('sum', mask, axes);
  const gx = Tensor.empty(x.shape);
  launch(gradKernel, { x, y: yKept, gy: gyKept, count, gx }, { workgroups, uniforms });
  for (const t of [yKept, gyKept, mask, count]) t.dispose();
  return gx;
}

/**
 * extremumGrad with ops: dx = dy * m, where the routing m (1 / count at the
 * extrema, 0 elsewhere; piecewise constant) is the kernel rule with dy = 1,
 * unrecorded. `kept` is dy's shape with the reduced axes kept as 1s.
 */
export function extremumGradOps(ctx: BackwardContext, gy: Tensor, kept: Shape): Tensor[] {
  const [x, y] = ctx.saved;
  const routing = tape.noGrad(() => {
    const ones = fill(gy.shape, 1);
    const m = extremumGrad(x, y, ones, kept.flatMap((d, i) => (d === 1 && x.shape[i] !== 1 ? [i] : [])));
    ones.dispose();
    return m;
  });
  const [g] = reshape([gy], { shape: kept });
  return binaryOps.mul([g, routing], {});
}

function extremumOp(kind: 'max' | 'min') {
  return defineOp<ReduceAttrs>({
    name: kind,
    forward([x], { axes, keepDims = false }) {
      const list = reducedAxes(kind, axes, x.shape);
      const y = reduceKeepDims(kind, x, list);
      const out = y.view(keepDims ? y.shape : x.shape.filter((_, i) => !list.includes(i)));
      y.dispose();
      return [out];
    },
    save: ([x], [y]) => [x, y],
    split: ([x], { axes, keepDims = false }) => keptAxes(x, reducedAxes(kind, axes, x), keepDims),
    // dx = dy / count at the positions equal to the extremum (split among ties), 0 elsewhere
    backward({ saved: [x, y], attrs: { axes } }, [gy]) {
      return [extremumGrad(x, y, gy, reducedAxes(kind, axes, x.shape))];
    },
    // with ops: dx = reshape(dy, kept) * m, the routing m a constant
    backwardOps: (ctx, [gy]) => extremumGradOps(ctx, gy, keptShape(ctx.saved[0].shape, reducedAxes(kind, ctx.attrs.axes, ctx.saved[0].shape))),
  });
}

export const max = extremumOp('max');
export const min = extremumOp('min');

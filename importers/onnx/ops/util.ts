// Helpers shared by the handlers: axis and shape checks, and the CPU
// loops constant folding needs (broadcasting, strided gathers).

import { broadcastStrides, contiguousStrides, numel, type Shape } from '../../../engine/host.js';
import { toNumbers, type HostTensor } from '../host-tensor.js';
import type { NodeContext } from './handler.js';

/** Normalizes a possibly negative axis, or throws an error naming the node. */
export function axisOf(ctx: NodeContext, axis: number, rank: number, what = 'axis'): number {
  const a = axis < 0 ? axis + rank : axis;
  if (!Number.isInteger(a) || a < 0 || a >= rank) throw ctx.error(`${what} ${axis} is out of range for rank ${rank}`);
  return a;
}

/** Integer values of a constant (axes, shapes, pads), checked to be safe integers. */
export function intsOf(ctx: NodeContext, t: HostTensor, what: string): number[] {
  const v = toNumbers(t);
  if (v.some((x) => !Number.isFinite(x) || Math.trunc(x) !== x)) throw ctx.error(`${what} must hold integers, got [${v.join(', ')}]`);
  return v;
}

/** Checks that every dimension is a non-negative integer (corrupt constants can produce anything). */
export function checkShape(ctx: NodeContext, shape: readonly number[], what: string): number[] {
  if (shape.some((d) => !Number.isSafeInteger(d) || d < 0)) throw ctx.error(`${what} [${shape.join(', ')}] is not a valid shape`);
  return [...shape];
}

/** f(a[i], b[j]) over the broadcast of a and b into `out` (row-major). */
export function broadcastMap(a: HostTensor, b: HostTensor, out: Shape, f: (x: number, y: number) => number): number[] {
  const n = numel(out);
  const av = toNumbers(a);
  const bv = toNumbers(b);
  const as = broadcastStrides(a.shape, out);
  const bs = broadcastStrides(b.shape, out);
  const res = new Array<number>(n);
  const idx = new Array<number>(out.length).fill(0);
  let ai = 0;
  let bi = 0;
  for (let i = 0; i < n; i++) {
    res[i] = f(av[ai], bv[bi]);
    // Odometer increment over the output coordinates, moving both source offsets.
    for (let d = out.length - 1; d >= 0; d--) {
      idx[d]++;
      ai += as[d];
      bi += bs[d];
      if (idx[d] < out[d]) break;
      ai -= as[d] * out[d];
      bi -= bs[d] * out[d];
      idx[d] = 0;
    }
  }
  return res;
}

/** values[offset + coords . strides] over `out` (row-major): the CPU strided copy. */
export function stridedGather(values: ArrayLike<number | bigint>, out: Shape, strides: readonly number[], offset = 0): (number | bigint)[] {
  const n = numel(out);
  const res = new Array<number | bigint>(n);
  const idx = new Array<number>(out.length).fill(0);
  let src = offset;
  for (let i = 0; i < n; i++) {
    res[i] = values[src];
    for (let d = out.length - 1; d >= 0; d--) {
      idx[d]++;
      src += strides[d];
      if (idx[d] < out[d]) break;
      src -= strides[d] * out[d];
      idx[d] = 0;
    }
  }
  return res;
}

/** A host tensor with the same dtype and new data (typed the same way). */
export function withValues(t: HostTensor, shape: Shape, values: ArrayLike<number | bigint>): HostTensor {
  const Ctor = t.data.constructor as unknown as { from(v: ArrayLike<number | bigint>): HostTensor['data'] };
  return { dtype: t.dtype, shape: [...shape], data: Ctor.from(values) };
}

export { contiguousStrides, numel };

// Shape arithmetic shared by ops, the tape and the CPU reference.

import { ShapeError } from './errors.js';

export type Shape = readonly number[];

export function numel(shape: Shape): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** Row-major (C-contiguous) strides. */
export function contiguousStrides(shape: Shape): number[] {
  const strides = new Array<number>(shape.length);
  let s = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    strides[i] = s;
    s *= shape[i];
  }
  return strides;
}

export function sameShape(a: Shape, b: Shape): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/** NumPy broadcasting of two shapes; ShapeError naming `op` when incompatible. */
export function broadcastShapes(op: string, a: Shape, b: Shape): number[] {
  const rank = Math.max(a.length, b.length);
  const out = new Array<number>(rank);
  for (let i = 0; i < rank; i++) {
    const da = a[a.length - rank + i] ?? 1;
    const db = b[b.length - rank + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) {
      throw new ShapeError(op, `cannot broadcast dimension ${i} (${da} vs ${db})`, [a, b]);
    }
    out[i] = da === 1 ? db : da;
  }
  return out;
}

/**
 * Strides for reading a tensor of shape `from` as if it had the (broadcast)
 * shape `to`: broadcast dimensions get stride 0.
 */
export function broadcastStrides(from: Shape, to: Shape): number[] {
  const src = contiguousStrides(from);
  const offset = to.length - from.length;
  return to.map((d, i) => {
    const j = i - offset;
    if (j < 0) return 0;
    return from[j] === 1 && d !== 1 ? 0 : src[j];
  });
}

/** Normalizes a possibly negative axis; ShapeError naming `op` when out of range. */
export function normalizeAxis(op: string, axis: number, rank: number): number {
  const a = axis < 0 ? axis + rank : axis;
  if (!Number.isInteger(a) || a < 0 || a >= rank) {
    throw new ShapeError(op, `axis ${axis} is out of range for rank ${rank}`);
  }
  return a;
}

/** Axes along which `from` was broadcast to reach `to` (for un-broadcasting gradients). */
export function broadcastAxes(from: Shape, to: Shape): number[] {
  const axes: number[] = [];
  const offset = to.length - from.length;
  for (let i = 0; i < to.length; i++) {
    const j = i - offset;
    if (j < 0 || (from[j] === 1 && to[i] !== 1)) axes.push(i);
  }
  return axes;
}

export function formatShape(shape: Shape): string {
  return `[${shape.join(', ')}]`;
}

// The CPU oracle's tensor: a shape and float64 values, row-major. Deliberately
// plain (loops, no GPU, no shared code with the kernels) so it can judge them.

import { contiguousStrides, numel, type Shape } from '../shape.js';

export interface RefTensor {
  shape: number[];
  data: Float64Array;
}

export function refTensor(shape: Shape, data?: ArrayLike<number>): RefTensor {
  const n = numel(shape);
  const out = { shape: [...shape], data: new Float64Array(n) };
  if (data) {
    if (data.length !== n) throw new Error(`refTensor: ${data.length} values for shape [${shape}]`);
    out.data.set(data);
  }
  return out;
}

/** Calls fn(outIndex, coords) for every element of `shape`, in row-major order. */
export function forEachIndex(shape: Shape, fn: (i: number, coords: number[]) => void): void {
  const n = numel(shape);
  const coords = new Array<number>(shape.length).fill(0);
  for (let i = 0; i < n; i++) {
    fn(i, coords);
    for (let d = shape.length - 1; d >= 0; d--) {
      if (++coords[d] < shape[d]) break;
      coords[d] = 0;
    }
  }
}

/** Flat offset of `coords` in `shape`, with size-1 dimensions broadcast (coords may have higher rank). */
export function broadcastOffset(shape: Shape, coords: readonly number[]): number {
  const strides = contiguousStrides(shape);
  const shift = coords.length - shape.length;
  let off = 0;
  for (let d = 0; d < shape.length; d++) off += (shape[d] === 1 ? 0 : coords[d + shift]) * strides[d];
  return off;
}

/** Sums `t` down to `shape` over broadcast axes (reference un-broadcast). */
export function sumToShape(t: RefTensor, shape: Shape): RefTensor {
  const out = refTensor(shape);
  forEachIndex(t.shape, (i, c) => {
    out.data[broadcastOffset(shape, c)] += t.data[i];
  });
  return out;
}

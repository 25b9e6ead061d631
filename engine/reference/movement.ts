// Float64 oracle for reshape, transpose, expand and reductions.

import type { ExpandAttrs, TransposeAttrs } from '../ops/movement.js';

import type { ReduceAttrs } from '../ops/reduce.js';
import { broadcastShapes, contiguousStrides, normalizeAxis } from '../shape.js';
import { broadcastOffset, forEachIndex, refTensor, sumToShape } from './tensor.js';
import type { RefOp } from './types.js';
import { ReshapeAttrs, resolveReshape } from '../geometry/shape-ops.js';

export const reshapeRef: RefOp<ReshapeAttrs> = {
  forward: ([x], { shape }) => [refTensor(resolveReshape('reshape', x.shape, shape), x.data)],
  backward: ([x], _a, _y, [gy]) => [refTensor(x.shape, gy.data)],
};

export const transposeRef: RefOp<TransposeAttrs> = {
  forward([x], { perm }) {
    const outShape = perm.map((p) => x.shape[p]);
    const strides = contiguousStrides(x.shape);
    const y = refTensor(outShape);
    forEachIndex(outShape, (i, c) => {
      let off = 0;
      c.forEach((v, d) => (off += v * strides[perm[d]]));
      y.data[i] = x.data[off];
    });
    return [y];
  },
  backward([x], { perm }, _y, [gy]) {
    const gx = refTensor(x.shape);
    const strides = contiguousStrides(x.shape);
    forEachIndex(gy.shape, (i, c) => {
      let off = 0;
      c.forEach((v, d) => (off += v * strides[perm[d]]));
      gx.data[off] = gy.data[i];
    });
    return [gx];
  },
};

export const expandRef: RefOp<ExpandAttrs> = {
  forward([x], { shape }) {
    const out = broadcastShapes('expand', x.shape, shape);
    const y = refTensor(out);
    forEachIndex(out, (i, c) => (y.data[i] = x.data[broadcastOffset(x.shape, c)]));
    return [y];
  },
  backward: ([x], _a, _y, [gy]) => [sumToShape(gy, x.shape)],
};

function axesOf(axes: readonly number[] | undefined, rank: number): number[] {
  return (axes ?? [...Array(rank).keys()]).map((a) => normalizeAxis('ref', a, rank));
}

function reduceRef(isMean: boolean): RefOp<ReduceAttrs> {
  return {
    forward([x], { axes, keepDims = false }) {
      const list = axesOf(axes, x.shape.length);
      const kept = x.shape.map((d, i) => (list.includes(i) ? 1 : d));
      const count = list.reduce((n, a) => n * x.shape[a], 1);
      const y = sumToShape(x, kept);
      if (isMean) y.data.forEach((v, i) => (y.data[i] = v / count));
      const shape = keepDims ? kept : x.shape.filter((_, i) => !list.includes(i));
      return [refTensor(shape, y.data)];
    },
    backward([x], { axes }, _y, [gy]) {
      const list = axesOf(axes, x.shape.length);
      const kept = x.shape.map((d, i) => (list.includes(i) ? 1 : d));
      const count = isMean ? list.reduce((n, a) => n * x.shape[a], 1) : 1;
      const gx = refTensor(x.shape);
      forEachIndex(x.shape, (i, c) => (gx.data[i] = gy.data[broadcastOffset(kept, c)] / count));
      return [gx];
    },
  };
}

export const sumRef = reduceRef(false);
export const meanRef = reduceRef(true);

// Float64 oracle for the max and min reductions. Tie rule (the kernels'): the
// gradient of an output is split evenly among the inputs equal to it. NaN
// propagates: a NaN input makes its output NaN, and the NaN inputs share its gradient.

import type { ReduceAttrs } from '../ops/reduce.js';
import { normalizeAxis } from '../shape.js';
import { broadcastOffset, forEachIndex, refTensor } from './tensor.js';
import type { RefOp } from './types.js';

function reducedAxes(shape: number[], axes: readonly number[] | undefined): number[] {
  return (axes ?? shape.map((_, i) => i)).map((a) => normalizeAxis('ref', a, shape.length));
}

/** Input v is the extremum e (NaN matching NaN). */
const same = (v: number, e: number) => v === e || (Number.isNaN(v) && Number.isNaN(e));

function extremumRef(better: (a: number, b: number) => boolean): RefOp<ReduceAttrs> {
  return {
    forward([x], { axes, keepDims = false }) {
      const list = reducedAxes(x.shape, axes);
      const kept = x.shape.map((d, i) => (list.includes(i) ? 1 : d));
      const y = refTensor(kept);
      const seen = new Uint8Array(y.data.length);
      forEachIndex(x.shape, (i, c) => {
        const o = broadcastOffset(kept, c);
        if (!seen[o] || better(x.data[i], y.data[o])) y.data[o] = x.data[i];
        seen[o] = 1;
      });
      return [refTensor(keepDims ? kept : x.shape.filter((_, i) => !list.includes(i)), y.data)];
    },
    backward([x], { axes }, [y], [gy]) {
      const list = reducedAxes(x.shape, axes);
      const kept = x.shape.map((d, i) => (list.includes(i) ? 1 : d));
      const ties = refTensor(kept);
      forEachIndex(x.shape, (i, c) => {
        const o = broadcastOffset(kept, c);
        if (same(x.data[i], y.data[o])) ties.data[o]++;
      });
      const gx = refTensor(x.shape);
      forEachIndex(x.shape, (i, c) => {
        const o = broadcastOffset(kept, c);
        if (same(x.data[i], y.data[o])) gx.data[i] = gy.data[o] / ties.data[o];
      });
      return [gx];
    },
  };
}

export const maxRef = extremumRef((a, b) => a > b || Number.isNaN(a));
export const minRef = extremumRef((a, b) => a < b || Number.isNaN(a));

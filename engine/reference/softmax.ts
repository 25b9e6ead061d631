// Float64 oracle for softmax and logSoftmax along one axis.

import type { SoftmaxAttrs } from '../ops/softmax.js';
import { normalizeAxis } from '../shape.js';
import { refTensor, type RefTensor } from './tensor.js';
import type { RefOp } from './types.js';

/** Calls fn with the flat offsets of every row along `axis`. */
function forEachRow(shape: number[], axis: number | undefined, fn: (offsets: number[]) => void): void {
  const a = normalizeAxis('ref', axis ?? -1, shape.length);
  const outer = shape.slice(0, a).reduce((p, d) => p * d, 1);
  const len = shape[a];
  const inner = shape.slice(a + 1).reduce((p, d) => p * d, 1);
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < inner; i++) fn(Array.from({ length: len }, (_, j) => (o * len + j) * inner + i));
  }
}

function softmaxRows(x: RefTensor, axis: number | undefined, log: boolean): RefTensor {
  const y = refTensor(x.shape);
  forEachRow(x.shape, axis, (row) => {
    const m = Math.max(...row.map((k) => x.data[k]));
    let s = 0;
    for (const k of row) s += Math.exp(x.data[k] - m);
    for (const k of row) y.data[k] = log ? x.data[k] - m - Math.log(s) : Math.exp(x.data[k] - m) / s;
  });
  return y;
}

export const softmaxRef: RefOp<SoftmaxAttrs> = {
  forward: ([x], { axis }) => [softmaxRows(x, axis, false)],
  // dx_j = y_j * (dy_j - sum_k dy_k y_k)
  backward([x], { axis }, [y], [gy]) {
    const gx = refTensor(x.shape);
    forEachRow(x.shape, axis, (row) => {
      let s = 0;
      for (const k of row) s += gy.data[k] * y.data[k];
      for (const k of row) gx.data[k] = y.data[k] * (gy.data[k] - s);
    });
    return [gx];
  },
};

export const logSoftmaxRef: RefOp<SoftmaxAttrs> = {
  forward: ([x], { axis }) => [softmaxRows(x, axis, true)],
  // dx_j = dy_j - softmax_j * sum_k dy_k
  backward([x], { axis }, [y], [gy]) {
    const gx = refTensor(x.shape);
    forEachRow(x.shape, axis, (row) => {
      let s = 0;
      for (const k of row) s += gy.data[k];
      for (const k of row) gx.data[k] = gy.data[k] - Math.exp(y.data[k]) * s;
    });
    return [gx];
  },
};

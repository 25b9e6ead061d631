// Float64 oracle for maxPool, averagePool, globalAveragePool, globalMaxPool.
// Output sizes and shape checks come from poolGeometry (as reshape's oracle
// uses resolveReshape); the window arithmetic below is written out on its own.

import { refTensor, type RefTensor } from './tensor.js';
import type { RefOp } from './types.js';
import { AveragePoolAttrs, PoolAttrs, poolGeometry } from '../geometry/pool.js';

/** Calls fn per output window; taps are its [ih, iw] inside the input, in row-major window order. */
function forEachWindow(op: string, x: RefTensor, attrs: PoolAttrs, fn: (plane: number, outIndex: number, taps: [number, number][], oh: number, ow: number) => void) {
  const g = poolGeometry(op, x.shape, attrs);
  const [kh, kw] = g.kernel;
  const [sh, sw] = g.strides;
  const [dh, dw] = g.dilations;
  const [top, left] = g.pads;
  let o = 0;
  for (let plane = 0; plane < g.planes; plane++) {
    for (let oh = 0; oh < g.outH; oh++) {
      for (let ow = 0; ow < g.outW; ow++) {
        const taps: [number, number][] = [];
        for (let i = 0; i < kh; i++) {
          for (let j = 0; j < kw; j++) {
            const ih = oh * sh - top + i * dh;
            const iw = ow * sw - left + j * dw;
            if (ih >= 0 && ih < g.inH && iw >= 0 && iw < g.inW) taps.push([ih, iw]);
          }
        }
        fn(plane, o++, taps, oh, ow);
      }
    }
  }
  return g;
}

/** First maximal tap in row-major window order, but the last NaN tap when there is one (the kernels' rules). */
function argmaxOf(x: RefTensor, base: number, inW: number, taps: [number, number][]): number {
  let best = -1;
  for (const [ih, iw] of taps) {
    const at = ih * inW + iw;
    const v = x.data[base + at];
    if (best < 0 || v > x.data[base + best] || Number.isNaN(v)) best = at;
  }
  return best;
}

export const maxPoolRef: RefOp<PoolAttrs> = {
  forward([x], attrs) {
    const g = poolGeometry('maxPool', x.shape, attrs);
    const shape = [x.shape[0], x.shape[1], g.outH, g.outW];
    const y = refTensor(shape);
    const indices = refTensor(shape);
    const planeSize = g.inH * g.inW;
    forEachWindow('maxPool', x, attrs, (plane, o, taps) => {
      const at = argmaxOf(x, plane * planeSize, g.inW, taps);
      y.data[o] = x.data[plane * planeSize + at];
      indices.data[o] = at;
    });
    return [y, indices];
  },
  backward([x], attrs, _y, [gy]) {
    const gx = refTensor(x.shape);
    const planeSize = x.shape[2] * x.shape[3];
    forEachWindow('maxPool', x, attrs, (plane, o, taps) => {
      const base = plane * planeSize;
      gx.data[base + argmaxOf(x, base, x.shape[3], taps)] += gy.data[o];
    });
    return [gx];
  },
};

/** Divisor of window (oh, ow): taps inside the padded input (countIncludePad) or inside the input. */
function divisor(x: RefTensor, attrs: AveragePoolAttrs, oh: number, ow: number, inside: number): number {
  if (!attrs.countIncludePad) return inside;
  const g = poolGeometry('averagePool', x.shape, attrs);
  const [top, left, bottom, right] = g.pads;
  let count = 0;
  for (let i = 0; i < g.kernel[0]; i++) {
    for (let j = 0; j < g.kernel[1]; j++) {
      const ih = oh * g.strides[0] - top + i * g.dilations[0];
      const iw = ow * g.strides[1] - left + j * g.dilations[1];
      if (ih >= -top && ih < g.inH + bottom && iw >= -left && iw < g.inW + right) count++;
    }
  }
  return count;
}

export const averagePoolRef: RefOp<AveragePoolAttrs> = {
  forward([x], attrs) {
    const g = poolGeometry('averagePool', x.shape, attrs);
    const y = refTensor([x.shape[0], x.shape[1], g.outH, g.outW]);
    const planeSize = g.inH * g.inW;
    forEachWindow('averagePool', x, attrs, (plane, o, taps, oh, ow) => {
      let s = 0;
      for (const [ih, iw] of taps) s += x.data[plane * planeSize + ih * g.inW + iw];
      y.data[o] = s / divisor(x, attrs, oh, ow, taps.length);
    });
    return [y];
  },
  backward([x], attrs, _y, [gy]) {
    const gx = refTensor(x.shape);
    const [inH, inW] = [x.shape[2], x.shape[3]];
    forEachWindow('averagePool', x, attrs, (plane, o, taps, oh, ow) => {
      const share = gy.data[o] / divisor(x, attrs, oh, ow, taps.length);
      for (const [ih, iw] of taps) gx.data[plane * inH * inW + ih * inW + iw] += share;
    });
    return [gx];
  },
};

function planes(x: RefTensor): { count: number; size: number } {
  const size = x.shape.slice(2).reduce((a, b) => a * b, 1);
  return { count: x.shape[0] * x.shape[1], size };
}

const pooledShape = (x: RefTensor) => [x.shape[0], x.shape[1], ...x.shape.slice(2).map(() => 1)];

export const globalAveragePoolRef: RefOp<Record<string, never>> = {
  forward([x]) {
    const { count, size } = planes(x);
    const y = refTensor(pooledShape(x));
    for (let p = 0; p < count; p++) {
      let s = 0;
      for (let i = 0; i < size; i++) s += x.data[p * size + i];
      y.data[p] = s / size;
    }
    return [y];
  },
  backward([x], _a, _y, [gy]) {
    const { size } = planes(x);
    return [refTensor(x.shape, x.data.map((_, i) => gy.data[Math.floor(i / size)] / size))];
  },
};

export const globalMaxPoolRef: RefOp<Record<string, never>> = {
  forward([x]) {
    const { count, size } = planes(x);
    const y = refTensor(pooledShape(x));
    for (let p = 0; p < count; p++) {
      let m = -Infinity;
      for (let i = 0; i < size; i++) m = Math.max(m, x.data[p * size + i]); // NaN-propagating
      y.data[p] = m;
    }
    return [y];
  },
  // Ties split the gradient evenly (the max reduction's rule; a NaN maximum is shared by the NaN inputs).
  backward([x], _a, [y], [gy]) {
    const { count, size } = planes(x);
    const gx = refTensor(x.shape);
    const same = (a: number, b: number) => a === b || (Number.isNaN(a) && Number.isNaN(b));
    for (let p = 0; p < count; p++) {
      let ties = 0;
      for (let i = 0; i < size; i++) if (same(x.data[p * size + i], y.data[p])) ties++;
      for (let i = 0; i < size; i++) if (same(x.data[p * size + i], y.data[p])) gx.data[p * size + i] = gy.data[p] / ties;
    }
    return [gx];
  },
};

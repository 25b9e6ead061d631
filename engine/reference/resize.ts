// Float64 oracle for resize, written from the ONNX Resize specification:
// per output coordinate, the original coordinate by the transform's formula,
// then the neighbours with edge clamping. Backward scatters each output
// gradient back to the taps it read (plain sequential loops).

import { forEachIndex, refTensor } from './tensor.js';
import type { RefOp } from './types.js';
import { ResizeAttrs } from '../geometry/resize.js';

interface Tap {
  index: number;
  weight: number;
}

/** Output length and, per output coordinate, the input taps along one axis. */
function axisTaps(inLen: number, given: number, attrs: ResizeAttrs): Tap[][] {
  const bySizes = attrs.sizes !== undefined;
  const outLen = bySizes ? given : Math.floor(inLen * given);
  // v / scale, with scale = outLen / inLen exactly when sizes are given
  const unscale = (v: number) => (bySizes ? (v * inLen) / outLen : v / given);
  const original = (x: number): number => {
    switch (attrs.coordinateTransformationMode ?? 'half_pixel') {
      case 'half_pixel':
        return unscale(x + 0.5) - 0.5;
      case 'pytorch_half_pixel':
        return outLen > 1 ? unscale(x + 0.5) - 0.5 : 0;
      case 'tf_half_pixel_for_nn':
        return unscale(x + 0.5);
      case 'align_corners':
        return outLen > 1 ? (x * (inLen - 1)) / (outLen - 1) : 0;
      case 'asymmetric':
        return unscale(x);
    }
  };
  const clampIndex = (i: number) => Math.min(Math.max(i, 0), inLen - 1);
  const taps: Tap[][] = [];
  for (let x = 0; x < outLen; x++) {
    const xo = original(x);
    if ((attrs.mode ?? 'nearest') === 'linear') {
      const lo = Math.floor(xo);
      taps.push([
        { index: clampIndex(lo), weight: 1 - (xo - lo) },
        { index: clampIndex(lo + 1), weight: xo - lo },
      ]);
      continue;
    }
    let k: number;
    const frac = xo - Math.floor(xo);
    if (Number.isInteger(xo)) k = xo;
    else {
      switch (attrs.nearestMode ?? 'round_prefer_floor') {
        case 'round_prefer_floor':
          k = frac <= 0.5 ? Math.floor(xo) : Math.ceil(xo);
          break;
        case 'round_prefer_ceil':
          k = frac < 0.5 ? Math.floor(xo) : Math.ceil(xo);
          break;
        case 'floor':
          k = Math.floor(xo);
          break;
        case 'ceil':
          k = Math.ceil(xo);
          break;
      }
    }
    taps.push([{ index: clampIndex(k), weight: 1 }]);
  }
  return taps;
}

function plan(shape: number[], attrs: ResizeAttrs): { th: Tap[][]; tw: Tap[][] } {
  const given = (attrs.scales ?? attrs.sizes)!;
  const [gh, gw] = given.slice(given.length - 2);
  return { th: axisTaps(shape[2], gh, attrs), tw: axisTaps(shape[3], gw, attrs) };
}

export const resizeRef: RefOp<ResizeAttrs> = {
  forward([x], attrs) {
    const [n, c, h, w] = x.shape;
    const { th, tw } = plan(x.shape, attrs);
    const y = refTensor([n, c, th.length, tw.length]);
    forEachIndex(y.shape, (i, [b, ch, oy, ox]) => {
      let v = 0;
      for (const ty of th[oy]) {
        for (const tx of tw[ox]) v += ty.weight * tx.weight * x.data[((b * c + ch) * h + ty.index) * w + tx.index];
      }
      y.data[i] = v;
    });
    return [y];
  },
  backward([x], attrs, _y, [gy]) {
    const [, c, h, w] = x.shape;
    const { th, tw } = plan(x.shape, attrs);
    const gx = refTensor(x.shape);
    forEachIndex(gy.shape, (i, [b, ch, oy, ox]) => {
      for (const ty of th[oy]) {
        for (const tx of tw[ox]) gx.data[((b * c + ch) * h + ty.index) * w + tx.index] += ty.weight * tx.weight * gy.data[i];
      }
    });
    return [gx];
  },
};

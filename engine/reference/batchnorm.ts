// Float64 oracle for batchNorm (given statistics) and batchNormTrain (batch
// statistics, biased variance, backward through them).

import type { BatchNormAttrs } from '../ops/batchnorm.js';
import { refTensor, type RefTensor } from './tensor.js';
import type { RefOp } from './types.js';

/** Calls fn(c, offsets) with the flat offsets of every element of channel c of an [N, C, ...] tensor. */
function forEachChannel(x: RefTensor, fn: (c: number, offsets: number[]) => void): void {
  const [n, channels] = x.shape;
  const spatial = x.shape.slice(2).reduce((a, b) => a * b, 1);
  for (let c = 0; c < channels; c++) {
    const offsets: number[] = [];
    for (let b = 0; b < n; b++) for (let s = 0; s < spatial; s++) offsets.push((b * channels + c) * spatial + s);
    fn(c, offsets);
  }
}

export const batchNormRef: RefOp<BatchNormAttrs> = {
  forward([x, scale, bias, mean, variance], { epsilon = 1e-5 }) {
    const y = refTensor(x.shape);
    forEachChannel(x, (c, offsets) => {
      const inv = 1 / Math.sqrt(variance.data[c] + epsilon);
      for (const k of offsets) y.data[k] = (x.data[k] - mean.data[c]) * inv * scale.data[c] + bias.data[c];
    });
    return [y];
  },
  backward([x, scale, , mean, variance], { epsilon = 1e-5 }, _y, [gy]) {
    const channels = x.shape[1];
    const [gx, gscale, gbias, gmean, gvar] = [refTensor(x.shape), ...[0, 1, 2, 3].map(() => refTensor([channels]))];
    forEachChannel(x, (c, offsets) => {
      const v = variance.data[c] + epsilon;
      const inv = 1 / Math.sqrt(v);
      for (const k of offsets) {
        const d = x.data[k] - mean.data[c];
        gx.data[k] = gy.data[k] * scale.data[c] * inv;
        gscale.data[c] += gy.data[k] * d * inv;
        gbias.data[c] += gy.data[k];
        gmean.data[c] -= gy.data[k] * scale.data[c] * inv;
        // d/dv of (v)^(-1/2) is -(1/2) v^(-3/2)
        gvar.data[c] += gy.data[k] * scale.data[c] * d * -0.5 * Math.pow(v, -1.5);
      }
    });
    return [gx, gscale, gbias, gmean, gvar];
  },
};

export const batchNormTrainRef: RefOp<BatchNormAttrs> = {
  forward([x, scale, bias], { epsilon = 1e-5 }) {
    const channels = x.shape[1];
    const [y, mean, variance] = [refTensor(x.shape), refTensor([channels]), refTensor([channels])];
    forEachChannel(x, (c, offsets) => {
      let m = 0;
      for (const k of offsets) m += x.data[k];
      m /= offsets.length;
      let v = 0;
      for (const k of offsets) v += (x.data[k] - m) ** 2;
      v /= offsets.length;
      mean.data[c] = m;
      variance.data[c] = v;
      for (const k of offsets) y.data[k] = ((x.data[k] - m) / Math.sqrt(v + epsilon)) * scale.data[c] + bias.data[c];
    });
    return [y, mean, variance];
  },
  // The chain rule written out per channel: y depends on x directly and
  // through m and v; the mean and variance outputs add their own seeds.
  backward([x, scale], { epsilon = 1e-5 }, [, mean, variance], [gy, gMean, gVar]) {
    const channels = x.shape[1];
    const [gx, gscale, gbias] = [refTensor(x.shape), refTensor([channels]), refTensor([channels])];
    forEachChannel(x, (c, offsets) => {
      const count = offsets.length;
      const m = mean.data[c];
      const s = Math.sqrt(variance.data[c] + epsilon);
      // dL/dxhat, then dL/dv and dL/dm of the normalization alone
      let dv = 0;
      let dm = 0;
      for (const k of offsets) {
        const gxhat = gy.data[k] * scale.data[c];
        gscale.data[c] += (gy.data[k] * (x.data[k] - m)) / s;
        gbias.data[c] += gy.data[k];
        dv += gxhat * (x.data[k] - m) * (-0.5 / (s * s * s));
        dm += -gxhat / s;
      }
      // The variance output's own seed; the mean output's seed joins dm.
      dv += gVar.data[c];
      dm += gMean.data[c];
      // v = mean((x - m)^2): dv/dx_k = 2 (x_k - m) / count (its m-dependence sums to zero)
      for (const k of offsets) {
        gx.data[k] = (gy.data[k] * scale.data[c]) / s + (dv * 2 * (x.data[k] - m)) / count + dm / count;
      }
    });
    return [gx, gscale, gbias];
  },
};

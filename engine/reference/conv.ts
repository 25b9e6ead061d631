// Float64 oracle for conv2d, convTranspose2d, matmul and gemm: direct loops
// over the definitions, sharing nothing with the kernels or their geometry.

import type { GemmAttrs, MatmulAttrs } from '../ops/gemm.js';
import { unaryReference } from './elementwise.js';
import { broadcastOffset, forEachIndex, refTensor, sumToShape, type RefTensor } from './tensor.js';
import type { RefOp } from './types.js';
import { Conv2dAttrs, ConvTranspose2dAttrs } from '../geometry/conv.js';

interface Spatial {
  sh: number;
  sw: number;
  dh: number;
  dw: number;
  pt: number;
  pl: number;
  pb: number;
  pr: number;
  groups: number;
}

function spatial(a: Conv2dAttrs | ConvTranspose2dAttrs): Spatial {
  const [sh, sw] = a.strides ?? [1, 1];
  const [dh, dw] = a.dilations ?? [1, 1];
  const [pt, pl, pb, pr] = a.pads ?? [0, 0, 0, 0];
  return { sh, sw, dh, dw, pt, pl, pb, pr, groups: a.groups ?? 1 };
}

/**
 * Visits every (x element, w element, y element) triple of a convolution with
 * x [N, C, H, W], w [O, C / groups, KH, KW], y [N, O, OH, OW]: fn(xi, wi, yi).
 * conv2d and its transpose are the same triples read in different directions.
 */
function forEachTap(x: number[], w: number[], y: number[], s: Spatial, fn: (xi: number, wi: number, yi: number) => void): void {
  const [N, C, H, W] = x;
  const [O, I, KH, KW] = w;
  const [, , OH, OW] = y;
  const perGroup = O / s.groups;
  for (let n = 0; n < N; n++)
    for (let o = 0; o < O; o++) {
      const g = Math.floor(o / perGroup);
      for (let oh = 0; oh < OH; oh++)
        for (let ow = 0; ow < OW; ow++) {
          const yi = ((n * O + o) * OH + oh) * OW + ow;
          for (let i = 0; i < I; i++)
            for (let kh = 0; kh < KH; kh++) {
              const ih = oh * s.sh - s.pt + kh * s.dh;
              if (ih < 0 || ih >= H) continue;
              for (let kw = 0; kw < KW; kw++) {
                const iw = ow * s.sw - s.pl + kw * s.dw;
                if (iw < 0 || iw >= W) continue;
                const xi = ((n * C + g * I + i) * H + ih) * W + iw;
                const wi = ((o * I + i) * KH + kh) * KW + kw;
                fn(xi, wi, yi);
              }
            }
        }
    }
}

function convOutputShape(x: number[], w: number[], s: Spatial): number[] {
  const oh = Math.floor((x[2] + s.pt + s.pb - s.dh * (w[2] - 1) - 1) / s.sh) + 1;
  const ow = Math.floor((x[3] + s.pl + s.pr - s.dw * (w[3] - 1) - 1) / s.sw) + 1;
  return [x[0], w[0], oh, ow];
}

function addBias(y: RefTensor, b: RefTensor): void {
  const [N, O, H, W] = y.shape;
  for (let n = 0; n < N; n++) for (let o = 0; o < O; o++) for (let i = 0; i < H * W; i++) y.data[(n * O + o) * H * W + i] += b.data[o];
}

function biasGrad(gy: RefTensor): RefTensor {
  const [N, O, H, W] = gy.shape;
  const gb = refTensor([O]);
  for (let n = 0; n < N; n++) for (let o = 0; o < O; o++) for (let i = 0; i < H * W; i++) gb.data[o] += gy.data[(n * O + o) * H * W + i];
  return gb;
}

function activationRef(attrs: Conv2dAttrs) {
  const act = attrs.activation;
  if (!act || act.kind === 'none') return null;
  const defaults = act.kind === 'leakyRelu' ? 0.01 : -3.4e38;
  return { fn: unaryReference[act.kind], alpha: act.alpha ?? defaults, beta: act.beta ?? 3.4e38 };
}

function convZ([x, w, b]: RefTensor[], s: Spatial): RefTensor {
  const z = refTensor(convOutputShape(x.shape, w.shape, s));
  forEachTap(x.shape, w.shape, z.shape, s, (xi, wi, yi) => (z.data[yi] += x.data[xi] * w.data[wi]));
  if (b) addBias(z, b);
  return z;
}

export const conv2dRef: RefOp<Conv2dAttrs> = {
  forward(inputs, attrs) {
    const z = convZ(inputs, spatial(attrs));
    const act = activationRef(attrs);
    if (act) z.data.forEach((v, i) => (z.data[i] = act.fn.f(v, act.alpha, act.beta)));
    return [z];
  },
  backward(inputs, attrs, _y, [gy]) {
    const [x, w, b] = inputs;
    const s = spatial(attrs);
    const act = activationRef(attrs);
    let gz = gy;
    if (act) {
      const z = convZ(inputs, s);
      gz = refTensor(gy.shape, gy.data.map((g, i) => g * act.fn.df(z.data[i], act.alpha, act.beta)));
    }
    const gx = refTensor(x.shape);
    const gw = refTensor(w.shape);
    forEachTap(x.shape, w.shape, gz.shape, s, (xi, wi, yi) => {
      gx.data[xi] += gz.data[yi] * w.data[wi];
      gw.data[wi] += gz.data[yi] * x.data[xi];
    });
    return b ? [gx, gw, biasGrad(gz)] : [gx, gw];
  },
};

function transposeOutputShape(x: number[], w: number[], a: ConvTranspose2dAttrs, s: Spatial): number[] {
  const [oph, opw] = a.outputPadding ?? [0, 0];
  const oh = (x[2] - 1) * s.sh - s.pt - s.pb + s.dh * (w[2] - 1) + 1 + oph;
  const ow = (x[3] - 1) * s.sw - s.pl - s.pr + s.dw * (w[3] - 1) + 1 + opw;
  return [x[0], w[1] * s.groups, oh, ow];
}

// ConvTranspose's x plays the conv's y and its output the conv's x (same weight).
export const convTranspose2dRef: RefOp<ConvTranspose2dAttrs> = {
  forward([x, w, b], attrs) {
    const s = spatial(attrs);
    const y = refTensor(transposeOutputShape(x.shape, w.shape, attrs, s));
    forEachTap(y.shape, w.shape, x.shape, s, (yi, wi, xi) => (y.data[yi] += x.data[xi] * w.data[wi]));
    if (b) addBias(y, b);
    return [y];
  },
  backward([x, w, b], attrs, [y], [gy]) {
    const s = spatial(attrs);
    const gx = refTensor(x.shape);
    const gw = refTensor(w.shape);
    forEachTap(y.shape, w.shape, x.shape, s, (yi, wi, xi) => {
      gx.data[xi] += gy.data[yi] * w.data[wi];
      gw.data[wi] += gy.data[yi] * x.data[xi];
    });
    return b ? [gx, gw, biasGrad(gy)] : [gx, gw];
  },
};

// ---- matmul, gemm ---------------------------------------------------------------

/** a [..., M, K] x b [..., K, N] with NumPy broadcasting and 1-D promotion. */
function matmulForward(a: RefTensor, b: RefTensor): { y: RefTensor; pa: number[]; pb: number[]; full: number[] } {
  const pa = a.shape.length === 1 ? [1, a.shape[0]] : a.shape;
  const pb = b.shape.length === 1 ? [b.shape[0], 1] : b.shape;
  const [M, K] = pa.slice(-2);
  const N = pb[pb.length - 1];
  const rank = Math.max(pa.length, pb.length);
  const batch: number[] = [];
  for (let i = 0; i < rank - 2; i++) {
    const da = pa[pa.length - rank + i] ?? 1;
    const db = pb[pb.length - rank + i] ?? 1;
    batch.push(Math.max(da, db));
  }
  const full = [...batch, M, N];
  const y = refTensor(full);
  forEachIndex(full, (i, c) => {
    const m = c[rank - 2];
    const n = c[rank - 1];
    let acc = 0;
    for (let k = 0; k < K; k++) {
      const ca = [...c.slice(0, rank - 2), m, k];
      const cb = [...c.slice(0, rank - 2), k, n];
      acc += a.data[broadcastOffset(pa, ca)] * b.data[broadcastOffset(pb, cb)];
    }
    y.data[i] = acc;
  });
  return { y, pa, pb, full };
}

export const matmulRef: RefOp<MatmulAttrs> = {
  forward([a, b]) {
    const { y } = matmulForward(a, b);
    const shape = [...y.shape.slice(0, -2), ...(a.shape.length === 1 ? [] : [y.shape[y.shape.length - 2]]), ...(b.shape.length === 1 ? [] : [y.shape[y.shape.length - 1]])];
    return [refTensor(shape, y.data)];
  },
  backward([a, b], _attrs, _y, [gy]) {
    const { pa, pb, full } = matmulForward(a, b);
    const rank = full.length;
    const K = pa[pa.length - 1];
    // Gradients at the broadcast shapes [..., M, K] and [..., K, N], then summed down.
    const ga = refTensor([...full.slice(0, -2), full[rank - 2], K]);
    const gb = refTensor([...full.slice(0, -2), K, full[rank - 1]]);
    forEachIndex(full, (i, c) => {
      const m = c[rank - 2];
      const n = c[rank - 1];
      for (let k = 0; k < K; k++) {
        const ca = [...c.slice(0, rank - 2), m, k];
        const cb = [...c.slice(0, rank - 2), k, n];
        ga.data[broadcastOffset(ga.shape, ca)] += gy.data[i] * b.data[broadcastOffset(pb, cb)];
        gb.data[broadcastOffset(gb.shape, cb)] += gy.data[i] * a.data[broadcastOffset(pa, ca)];
      }
    });
    const da = sumToShape(ga, pa);
    const db = sumToShape(gb, pb);
    return [refTensor(a.shape, da.data), refTensor(b.shape, db.data)];
  },
};

function at(t: RefTensor, r: number, c: number, transposed: boolean): number {
  const cols = t.shape[1];
  return transposed ? t.data[c * cols + r] : t.data[r * cols + c];
}

export const gemmRef: RefOp<GemmAttrs> = {
  forward([a, b, c], { transA = false, transB = false, alpha = 1, beta = 1 }) {
    const M = transA ? a.shape[1] : a.shape[0];
    const K = transA ? a.shape[0] : a.shape[1];
    const N = transB ? b.shape[0] : b.shape[1];
    const y = refTensor([M, N]);
    for (let m = 0; m < M; m++)
      for (let n = 0; n < N; n++) {
        let acc = 0;
        for (let k = 0; k < K; k++) acc += at(a, m, k, transA) * at(b, k, n, transB);
        y.data[m * N + n] = alpha * acc + (c ? beta * c.data[broadcastOffset(c.shape, [m, n])] : 0);
      }
    return [y];
  },
  backward([a, b, c], { transA = false, transB = false, alpha = 1, beta = 1 }, _y, [gy]) {
    const [M, N] = gy.shape;
    const K = transA ? a.shape[0] : a.shape[1];
    const ga = refTensor(a.shape);
    const gb = refTensor(b.shape);
    for (let m = 0; m < M; m++)
      for (let n = 0; n < N; n++)
        for (let k = 0; k < K; k++) {
          const g = alpha * gy.data[m * N + n];
          ga.data[transA ? k * M + m : m * K + k] += g * at(b, k, n, transB);
          gb.data[transB ? n * K + k : k * N + n] += g * at(a, m, k, transA);
        }
    if (!c) return [ga, gb];
    const gc = sumToShape(refTensor(gy.shape, gy.data.map((v) => beta * v)), c.shape);
    return [ga, gb, gc];
  },
};

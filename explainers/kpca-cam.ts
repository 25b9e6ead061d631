// KPCA-CAM. Karmani, Sivakaran, Prasad, Ali, Yang, Tang, "KPCA-CAM: Visual
// Explainability of Deep Computer Vision Models using Kernel PCA", arXiv
// 2410.00267, 2024. Eigen-CAM (L = A V_1) with the linear PCA replaced by
// kernel PCA: the rows of
// A (positions x channels, centered per channel) are compared by a kernel
// k(a_i, a_j), the kernel matrix is double-centered,
//   K~ = K - 1_n K - K 1_n + 1_n K 1_n        (1_n: the n x n matrix of 1/n),
// and the map is the projection of every position on the first kernel
// principal component, L = sqrt(lambda_1) u_1 (u_1, lambda_1: the top
// eigenvector and eigenvalue of K~; scikit-learn's KernelPCA.fit_transform,
// what pytorch-grad-cam's KPCA_CAM calls with n_components=1).
//
// Kernels, as scikit-learn's pairwise kernels (gamma defaults to 1/C, C the
// channels; coef0 1; degree 3):
//   sigmoid (default)  tanh(gamma <x, y> + coef0)
//   rbf                exp(-gamma |x - y|^2)
//   poly               (gamma <x, y> + coef0)^degree
//   linear             <x, y>               (then KPCA-CAM is Eigen-CAM)
//   cosine             <x, y> / (|x| |y|)
//
// On the GPU: the Gram matrix X X^T is one engine matmul per image ([hw, hw]);
// the kernel is elementwise; u_1 is found as in project2d (cam-math.ts), by
// repeated squaring of the normalized matrix. The sigmoid kernel is not
// positive semi-definite, so K~ can have negative eigenvalues larger in
// magnitude than lambda_1; squaring would find those. We square K~ + s I with
// s = |K~|_F (>= every |eigenvalue|), whose eigenvalues are all >= 0 and in
// the same order, so the top one is lambda_1 + s (error ~ ((lambda_2 + s) /
// (lambda_1 + s))^4096 after 12 squarings; the ratio is 0.77-0.85 on the test
// models). Cost: 12 [hw, hw] matmuls per image, fine for the usual 7x7 to
// 28x28 layers (more than 64x64 positions are refused).
//
// Sign: an eigenvector is defined up to sign (scikit-learn fixes it with
// svd_flip, an arbitrary convention). As Eigen-CAM here (project2d), the
// projection is made to correlate positively with the plain channel sum of
// the activations, so the ReLU'd map shows where the layer fires.

import { add, clip, div, exp, matmul, mean, mul, reshape, sqrt, sub, sum, tanh, tensor, transpose, type Tensor } from '../engine/index.js';
import { alignWithActivations, scalar, topEigenvector } from './cam-math.js';
import { MethodNotApplicable } from './errors.js';
import type { CamMethod } from './method.js';

export const KPCA_KERNELS = ['sigmoid', 'rbf', 'poly', 'linear', 'cosine'] as const;
export type KpcaKernel = (typeof KPCA_KERNELS)[number];

export interface KpcaCamOptions {
  /** The kernel (default 'sigmoid', as pytorch-grad-cam's KPCA_CAM). */
  kernel?: KpcaKernel;
  /** The kernel's gamma (sigmoid, rbf, poly); default 1 / channels, as scikit-learn. */
  gamma?: number;
  /** The kernel's coef0 (sigmoid, poly); default 1, as scikit-learn. */
  coef0?: number;
  /** The polynomial kernel's degree, a positive integer; default 3, as scikit-learn. */
  degree?: number;
}

/** Squarings of the shifted kernel matrix: its 2^SQUARINGS-th power isolates the top eigenvector. */
const SQUARINGS = 12;
/** Positions above which the [P, P] kernel matrix (and its squarings) is refused: 64 x 64 = 64 MiB a matrix. */
const MAX_POSITIONS = 4096;
const TINY = 1e-30;
const HUGE = 3e38;

/** Validated kernel options with scikit-learn's defaults filled in. */
export function kpcaOptions(options: KpcaCamOptions, channels: number): Required<KpcaCamOptions> {
  const kernel = options.kernel ?? 'sigmoid';
  if (!KPCA_KERNELS.includes(kernel)) throw new MethodNotApplicable('kpcacam', `kernel must be one of ${KPCA_KERNELS.join(', ')}, got '${String(kernel)}'`);
  const gamma = options.gamma ?? 1 / channels;
  if (typeof gamma !== 'number' || !Number.isFinite(gamma) || gamma <= 0) throw new MethodNotApplicable('kpcacam', `gamma must be a positive number, got ${String(options.gamma)}`);
  const coef0 = options.coef0 ?? 1;
  if (typeof coef0 !== 'number' || !Number.isFinite(coef0)) throw new MethodNotApplicable('kpcacam', `coef0 must be a finite number, got ${String(options.coef0)}`);
  const degree = options.degree ?? 3;
  if (!Number.isInteger(degree) || degree < 1 || degree > 16) throw new MethodNotApplicable('kpcacam', `degree must be an integer from 1 to 16, got ${String(options.degree)}`);
  return { kernel, gamma, coef0, degree };
}

/** The kernel matrix [N, P, P] of the rows of x [N, P, C]. */
export function kernelMatrix(x: Tensor, o: Required<KpcaCamOptions>): Tensor {
  const xt = transpose(x, [0, 2, 1]);
  const dot = matmul(x, xt); // [N, P, P]
  switch (o.kernel) {
    case 'linear':
      return dot;
    case 'sigmoid':
      return tanh(add(mul(dot, scalar(o.gamma)), scalar(o.coef0)));
    case 'poly': {
      const base = add(mul(dot, scalar(o.gamma)), scalar(o.coef0));
      let k = base;
      for (let i = 1; i < o.degree; i++) k = mul(k, base);
      return k;
    }
    case 'rbf': {
      const sq = sum(mul(x, x), [2], true); // [N, P, 1]
      const dist = clip(sub(add(sq, transpose(sq, [0, 2, 1])), mul(dot, scalar(2))), 0, HUGE);
      return exp(mul(dist, scalar(-o.gamma)));
    }
    case 'cosine': {
      const norm = clip(sqrt(sum(mul(x, x), [2], true)), TINY, HUGE); // [N, P, 1]
      return div(div(dot, norm), transpose(norm, [0, 2, 1]));
    }
  }
}

/** K - row means - column means + the overall mean: the kernel matrix of the rows centered in feature space. */
export function doubleCenter(k: Tensor): Tensor {
  return add(sub(sub(k, mean(k, [2], true)), mean(k, [1], true)), mean(k, [1, 2], true));
}

/**
 * KPCA-CAM's projection of [N, C, h, w] activations: [N, h, w], the first
 * kernel principal component of the positions, sign fixed to agree with the
 * channel sum.
 */
export function kernelProjection(a: Tensor, options: KpcaCamOptions = {}): Tensor {
  const [n, c, h, w] = a.shape;
  const p = h * w;
  if (p > MAX_POSITIONS) {
    throw new MethodNotApplicable('kpcacam', `layer of ${h}x${w} = ${p} positions: the kernel matrix would be ${p}x${p} (more than ${MAX_POSITIONS} positions); pick a deeper layer`);
  }
  const o = kpcaOptions(options, c);
  const rows = transpose(reshape(a, [n, c, p]), [0, 2, 1]); // [N, P, C]
  const centered = sub(rows, mean(rows, [1], true));
  const kc = doubleCenter(kernelMatrix(centered, o)); // [N, P, P]
  const identity = tensor(
    Array.from({ length: p * p }, (_, i) => (i % (p + 1) === 0 ? 1 : 0)),
    [1, p, p],
  );
  const shift = sqrt(sum(mul(kc, kc), [1, 2], true)); // [N, 1, 1]
  const u = topEigenvector(add(kc, mul(identity, shift)), SQUARINGS); // [N, P, 1]
  // lambda_1 = u^T K~ u, >= 0 for the top eigenvalue of a double-centered matrix with any positive one.
  const lambda = clip(sum(mul(u, matmul(kc, u)), [1, 2], true), 0, HUGE);
  return alignWithActivations(reshape(mul(u, sqrt(lambda)), [n, p]), a);
}

export const kpcaCam: CamMethod<KpcaCamOptions> = {
  name: 'kpcacam',
  title: 'KPCA-CAM',
  paper: 'Karmani et al., KPCA-CAM, arXiv 2410.00267 (2024): projection on the first kernel principal component, sqrt(lambda_1) u_1 of the double-centered kernel matrix',
  usesGradients: false,
  inputSpace: false,
  camImage: (layer, ctx) => kernelProjection(layer.activations, ctx.options),
};

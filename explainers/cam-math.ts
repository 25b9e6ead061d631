// From a method's weights to the final map, on the GPU: per layer
//
//   cam = ReLU( sum_k w_k A_k )          (w from `weights`, or the per-position
//                                         weighted activations of the method)
//
// (or the projection on the first principal component instead of the channel
// sum under eigenSmooth), upsampled bilinearly to the input size, min-max
// scaled to [0, 1], and averaged over the target layers.
//
// Where we differ from pytorch-grad-cam, on purpose:
//  - maps are upsampled, then scaled (it scales, then resizes): the result
//    spans exactly [0, 1];
//  - scaling is (x - min) / (max - min), all-zero for a flat map: one whose
//    range is within FLAT_RELATIVE of its magnitude (it divides by 1e-7 + max,
//    which flattens maps whose values are small, and stretches rounding
//    noise on a constant map, e.g. a 1x1 layer upsampled, into stripes);
//  - the SVD sign in eigenSmooth / Eigen-Grad-CAM is fixed (see project2d).
// explainers/reference/generate.py computes its PyTorch reference the same way.

import { add, clip, concat, div, gather, matmul, max, mean, min, mul, neg, relu, reshape, resize, sqrt, sub, sum, tensor, transpose, type Tensor } from '../engine/index.js';
import { ExplainError } from './errors.js';
import type { CamContext, CamMethod, LayerState } from './method.js';

const TINY = 1e-30;
const HUGE = 3e38;
/**
 * A map whose max - min is at most this fraction of max(|max|, |min|) is flat:
 * ~80 float32 ulps, above the rounding of an upsampled constant, far below any
 * structure worth showing.
 */
export const FLAT_RELATIVE = 1e-5;

/** Whether values spanning [lo, hi] are flat (FLAT_RELATIVE); the host twin of scaleMap's test. */
export function isFlat(lo: number, hi: number): boolean {
  return !(hi - lo > FLAT_RELATIVE * Math.max(Math.abs(hi), Math.abs(lo)));
}

/** A [1] tensor holding `v`, broadcast by the binary ops. */
export function scalar(v: number): Tensor {
  return tensor([v], [1]);
}

/** |x| = ReLU(x) + ReLU(-x). */
export function abs(x: Tensor): Tensor {
  return add(relu(x), relu(neg(x)));
}

/** Sums [N, C, h, w] over the channels: [N, h, w]. */
export function channelSum(x: Tensor): Tensor {
  return sum(x, [1]);
}

/** Per-image min-max scaling of [N, H, W] to [0, 1]; a flat image (FLAT_RELATIVE) becomes all zero. */
export function scaleMap(x: Tensor): Tensor {
  const lo = min(x, [1, 2], true);
  const hi = max(x, [1, 2], true);
  const range = sub(hi, lo);
  const magnitude = max(concat([hi, neg(lo)], 1), [1], true);
  // 1 where range > FLAT_RELATIVE * magnitude, else 0: a step built from clip (no comparison op).
  const varies = clip(mul(sub(range, mul(magnitude, scalar(FLAT_RELATIVE))), scalar(HUGE)), 0, 1);
  return mul(div(sub(x, lo), clip(range, TINY, HUGE)), varies);
}

/** Bilinear upsampling of [N, h, w] to [N, H, W] (half-pixel centers, like cv2.resize and torch's align_corners=False). */
export function upsample(x: Tensor, size: readonly [number, number]): Tensor {
  const [n, h, w] = x.shape;
  if (h === size[0] && w === size[1]) return x;
  const y = resize(reshape(x, [n, 1, h, w]), { mode: 'linear', coordinateTransformationMode: 'half_pixel', sizes: [size[0], size[1]] });
  return reshape(y, [n, size[0], size[1]]);
}

/** Mirrors along `axis` (one gather with reversed indices). */
export function flip(x: Tensor, axis: number): Tensor {
  const len = x.shape[axis];
  return gather(
    x,
    Array.from({ length: len }, (_, i) => len - 1 - i),
    axis,
  );
}

/** Several layers: the mean of their scaled maps, scaled again (pytorch-grad-cam's aggregate_multi_layers). */
export function combineLayers(scaled: readonly Tensor[]): Tensor {
  if (scaled.length === 1) return scaled[0];
  let total = scaled[0];
  for (const s of scaled.slice(1)) total = add(total, s);
  return scaleMap(total);
}

// ---- the first principal component ---------------------------------------------------------

/** Repeated squarings of the Gram matrix: its 2^SQUARINGS-th power isolates the top eigenvector. */
const SQUARINGS = 10;

/** x / ||x||_F over the given axes, zero stays zero. */
function normalize(x: Tensor, axes: number[]): Tensor {
  return div(x, clip(sqrt(sum(mul(x, x), axes, true)), TINY, HUGE));
}

/**
 * The projection of [N, C, h, w] on its first principal component, [N, h, w]
 * (pytorch-grad-cam's get_2d_projection): rows are the h*w positions, columns
 * the channels, centered per channel; the projection is X v1 with v1 the top
 * right singular vector of X.
 *
 * On the GPU without an SVD: v1 is the top eigenvector of the Gram matrix
 * X^T X (or u1 of X X^T when h*w < C, then v1 = X^T u1 / |X^T u1|), found by
 * repeated squaring, M <- M M / |M M|, so M tends to v1 v1^T (error ~
 * (s2/s1)^(2^11)); applying M to a fixed generic vector gives v1.
 *
 * The SVD's sign is arbitrary (LAPACK's choice in pytorch-grad-cam); ours is
 * fixed so the projection correlates positively with the plain channel sum,
 * which keeps the ReLU'd map pointing at the evidence, not at its complement.
 */
export function project2d(x: Tensor): Tensor {
  const [n, c, h, w] = x.shape;
  const hw = h * w;
  const rows = transpose(reshape(x, [n, c, hw]), [0, 2, 1]); // [N, hw, C]
  const centered = sub(rows, mean(rows, [1], true));
  const centeredT = transpose(centered, [0, 2, 1]); // [N, C, hw]
  const channelSide = c <= hw;
  let v = topEigenvector(channelSide ? matmul(centeredT, centered) : matmul(centered, centeredT)); // [N, size, 1]
  if (!channelSide) v = matmul(centeredT, v);
  v = normalize(v, [1, 2]); // [N, C, 1]
  return alignWithActivations(reshape(matmul(centered, v), [n, hw]), x);
}

/**
 * The top eigenvector of each symmetric positive semi-definite [N, S, S]
 * matrix, [N, S, 1] of unit norm, up to sign: repeated squaring of the
 * normalized matrix (M <- M M / |M M|_F, `squarings` times), then M applied to
 * a fixed generic vector.
 */
export function topEigenvector(matrix: Tensor, squarings = SQUARINGS): Tensor {
  const size = matrix.shape[1];
  let m = normalize(matrix, [1, 2]);
  for (let i = 0; i < squarings; i++) m = normalize(matmul(m, m), [1, 2]);
  return normalize(matmul(m, tensor(genericVector(size), [size, 1])), [1, 2]);
}

/**
 * A projection [N, h * w] with its sign chosen to correlate positively with
 * the activations' channel sum (where the layer fires), as [N, h, w]; no
 * readback: sign = clip(<projection, channel sum> * 1e30, -1, 1).
 */
export function alignWithActivations(projection: Tensor, x: Tensor): Tensor {
  const [n, , h, w] = x.shape;
  const agreement = sum(mul(projection, reshape(sum(x, [1]), [n, h * w])), [1], true);
  const sign = clip(mul(agreement, scalar(1e30)), -1, 1);
  return reshape(mul(projection, sign), [n, h, w]);
}

/** Deterministic, generic (no zero entries, no symmetry) start vector. */
function genericVector(size: number): number[] {
  let s = 12345;
  return Array.from({ length: size }, () => {
    s = (s * 1103515245 + 12345) % 2147483648;
    return 0.5 + s / 2147483648;
  });
}

// ---- a method's map at one layer ------------------------------------------------------------

/**
 * The map of `method` at one target layer, [N, h, w] before ReLU: its
 * camImage, or its weighted activations (channel weights times A) summed over
 * the channels, or projected on their first principal component under eigenSmooth.
 */
export async function mapAtLayer<Options extends object>(method: CamMethod<Options>, state: LayerState, ctx: CamContext<Options>): Promise<Tensor> {
  if (method.camImage) return method.camImage(state, ctx);
  let weighted: Tensor;
  if (method.weightedActivations) weighted = await method.weightedActivations(state, ctx);
  else if (method.weights) {
    const w = await method.weights(state, ctx);
    const [n, c] = state.activations.shape;
    weighted = mul(reshape(w, [n, c, 1, 1]), state.activations);
  } else throw new ExplainError(`method '${method.name}' defines none of weights, weightedActivations, camImage, pass`);
  return ctx.eigenSmooth ? project2d(weighted) : channelSum(weighted);
}

// Resize of an NCHW tensor over H and W with ONNX Resize semantics: modes
// nearest and linear (bilinear), the coordinate transformation modes that CNN
// exports use, the four nearest rounding modes, and output given by scales or
// sizes. Kernels in shaders/resize.wgsl; the backward is a race-free gather.

import resizeWgsl from '../../shaders/resize.wgsl';
import { ShapeError } from '../errors.js';
import { defineKernel } from '../kernels/kernel.js';
import { type Shape } from '../shape.js';
import { Tensor } from '../tensor.js';
import { defineOp, grid1d, launch } from './op.js';

const resizeKernel = defineKernel({ name: 'resize', wgsl: resizeWgsl, entryPoint: 'resize' });
const resizeGradKernel = defineKernel({ name: 'resize_grad', wgsl: resizeWgsl, entryPoint: 'resize_grad' });

export type ResizeMode = 'nearest' | 'linear';
export type CoordinateTransformationMode = 'half_pixel' | 'pytorch_half_pixel' | 'align_corners' | 'asymmetric' | 'tf_half_pixel_for_nn';
export type NearestMode = 'round_prefer_floor' | 'round_prefer_ceil' | 'floor' | 'ceil';

const MODE: Record<ResizeMode, number> = { nearest: 0, linear: 1 };
const NEAREST: Record<NearestMode, number> = { round_prefer_floor: 0, round_prefer_ceil: 1, floor: 2, ceil: 3 };
const TRANSFORMS: readonly CoordinateTransformationMode[] = ['half_pixel', 'pytorch_half_pixel', 'align_corners', 'asymmetric', 'tf_half_pixel_for_nn'];

export interface ResizeAttrs {
  /** Default 'nearest' (as ONNX). PyTorch's nn.Upsample(mode='nearest') is nearest + asymmetric + floor. */
  mode?: ResizeMode;
  /** Default 'half_pixel'. */
  coordinateTransformationMode?: CoordinateTransformationMode;
  /** Default 'round_prefer_floor'. */
  nearestMode?: NearestMode;
  /** Scale factors for (H, W), or for all of N, C, H, W with N and C at 1. Output = floor(input * scale). */
  scales?: readonly number[];
  /** Output (H, W), or all of N, C, H, W with N and C unchanged. Give exactly one of scales and sizes. */
  sizes?: readonly number[];
}

/** Per spatial axis: input and output length and the scale as a ratio num / den. */
interface AxisPlan {
  inLen: number;
  outLen: number;
  num: number;
  den: number;
}

export function resolveResize(shape: Shape, attrs: ResizeAttrs): { shape: number[]; axes: [AxisPlan, AxisPlan] } {
  const { mode = 'nearest', coordinateTransformationMode: ctm = 'half_pixel', nearestMode = 'round_prefer_floor', scales, sizes } = attrs;
  const fail: (detail: string) => never = (detail) => {
    throw new ShapeError('resize', detail, [shape]);
  };
  if (shape.length !== 4) fail(`expects an NCHW input of rank 4, got rank ${shape.length}`);
  if (!(mode in MODE)) fail(`unknown mode '${mode}' (supported: ${Object.keys(MODE).join(', ')})`);
  if (!TRANSFORMS.includes(ctm)) fail(`unknown coordinateTransformationMode '${ctm}' (supported: ${TRANSFORMS.join(', ')})`);
  if (!(nearestMode in NEAREST)) fail(`unknown nearestMode '${nearestMode}' (supported: ${Object.keys(NEAREST).join(', ')})`);
  if ((scales === undefined) === (sizes === undefined)) fail('give exactly one of scales and sizes');
  const given = (scales ?? sizes)!;
  const what = scales ? 'scales' : 'sizes';
  if (given.length !== 2 && given.length !== 4) fail(`${what} [${given.join(', ')}] must have 2 (H, W) or 4 (N, C, H, W) entries`);
  if (given.length === 4) {
    const keep = scales ? [1, 1] : [shape[0], shape[1]];
    if (given[0] !== keep[0] || given[1] !== keep[1]) fail(`${what} [${given.join(', ')}] resize N or C; only H and W can be resized`);
  }
  if (shape[2] === 0 || shape[3] === 0) fail('cannot resize an empty image');
  const [gh, gw] = given.slice(-2);
  const axes = ([[shape[2], gh], [shape[3], gw]] as const).map(([inLen, g]): AxisPlan => {
    if (scales) {
      if (!(Number.isFinite(g) && g > 0)) fail(`scales [${given.join(', ')}] must be positive and finite`);
      const outLen = Math.floor(inLen * g);
      if (outLen < 1) fail(`scales [${given.join(', ')}] give an empty output`);
      return { inLen, outLen, num: g, den: 1 };
    }
    if (!Number.isInteger(g) || g < 1) fail(`sizes [${given.join(', ')}] must be positive integers`);
    return { inLen, outLen: g, num: g, den: inLen };
  }) as [AxisPlan, AxisPlan];
  return { shape: [shape[0], shape[1], axes[0].outLen, axes[1].outLen], axes };
}

/**
 * (a, b, d) with x_original = (x_resized * a + b) / d for scale s = num / den:
 * every ONNX transform written as one affine map with an integer numerator
 * when the scale is a ratio of sizes.
 */
function coordinateMap(ctm: CoordinateTransformationMode, { inLen, outLen, num, den }: AxisPlan): [number, number, number, number] {
  switch (ctm) {
    case 'asymmetric': // x / s
      return [den, 0, num, 0];
    case 'half_pixel': // (x + 0.5) / s - 0.5
      return [2 * den, den - num, 2 * num, 0];
    case 'pytorch_half_pixel': // as half_pixel, but 0 for a length-1 output
      return outLen > 1 ? [2 * den, den - num, 2 * num, 0] : [0, 0, 1, 0];
    case 'tf_half_pixel_for_nn': // (x + 0.5) / s
      return [2 * den, den, 2 * num, 0];
    case 'align_corners': // x * (in - 1) / (out - 1), 0 for a length-1 output
      return outLen > 1 ? [inLen - 1, 0, outLen - 1, 0] : [0, 0, 1, 0];
  }
}

function run(kernel: typeof resizeKernel, tensors: Record<string, Tensor>, n: number, inShape: Shape, attrs: ResizeAttrs, axes: [AxisPlan, AxisPlan]): void {
  const ctm = attrs.coordinateTransformationMode ?? 'half_pixel';
  launch(kernel, tensors, {
    workgroups: grid1d(n),
    uniforms: {
      n,
      in_h: inShape[2],
      in_w: inShape[3],
      out_h: axes[0].outLen,
      out_w: axes[1].outLen,
      map_h: coordinateMap(ctm, axes[0]),
      map_w: coordinateMap(ctm, axes[1]),
    },
    constants: { MODE: MODE[attrs.mode ?? 'nearest'], NEAREST: NEAREST[attrs.nearestMode ?? 'round_prefer_floor'] },
  });
}

export const resize = defineOp<ResizeAttrs>({
  name: 'resize',
  forward([x], attrs) {
    const { shape, axes } = resolveResize(x.shape, attrs);
    const y = Tensor.empty(shape);
    run(resizeKernel, { x, y }, y.size, x.shape, attrs, axes);
    return [y];
  },
  // dx[iy, ix] = sum over outputs (oy, ox) of w_y(oy -> iy) * w_x(ox -> ix) * dy[oy, ox] (the transposed interpolation)
  backward({ attrs, inputShapes: [shape] }, [gy]) {
    const { axes } = resolveResize(shape, attrs);
    const gx = Tensor.empty(shape);
    run(resizeGradKernel, { gy, gx }, gx.size, shape, attrs, axes);
    return [gx];
  },
});

// Resize geometry: ONNX Resize's attributes and the output size and per-axis
// scale they give. Pure.

import { ShapeError } from '../errors.js';
import type { Shape } from '../shape.js';

export type ResizeMode = 'nearest' | 'linear';

export type CoordinateTransformationMode = 'half_pixel' | 'pytorch_half_pixel' | 'align_corners' | 'asymmetric' | 'tf_half_pixel_for_nn';

export type NearestMode = 'round_prefer_floor' | 'round_prefer_ceil' | 'floor' | 'ceil';

export const MODE: Record<ResizeMode, number> = { nearest: 0, linear: 1 };

export const NEAREST: Record<NearestMode, number> = { round_prefer_floor: 0, round_prefer_ceil: 1, floor: 2, ceil: 3 };

export const TRANSFORMS: readonly CoordinateTransformationMode[] = ['half_pixel', 'pytorch_half_pixel', 'align_corners', 'asymmetric', 'tf_half_pixel_for_nn'];

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
export interface AxisPlan {
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

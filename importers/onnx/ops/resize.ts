// Resize (opset 10+) and its predecessor Upsample (opset 7-9) over NCHW, on the
// engine's resize: nearest or linear, output from scales or sizes. Output
// shapes come from the engine's resolveResize, so prepare and run agree.

import { toNumbers, type HostTensor } from '../host-tensor.js';
import type { InferContext, OpHandler } from './handler.js';
import { resolveResize, type CoordinateTransformationMode, type NearestMode, type ResizeAttrs, type ResizeMode } from '../../../engine/host.js';

const MODES: readonly string[] = ['nearest', 'linear'];
const TRANSFORMS: readonly string[] = ['half_pixel', 'pytorch_half_pixel', 'align_corners', 'asymmetric', 'tf_half_pixel_for_nn'];
const NEAREST: readonly string[] = ['round_prefer_floor', 'round_prefer_ceil', 'floor', 'ceil'];

/** A constant input that may also be omitted ('' name) or given as an empty tensor. */
function optional(ctx: InferContext, i: number, what: string): HostTensor | undefined {
  if (!ctx.inputs[i]) return undefined;
  const t = ctx.constant(i, what);
  return t.data.length ? t : undefined;
}

function modeOf(ctx: InferContext): ResizeMode {
  const mode = ctx.attrs.string('mode', 'nearest');
  if (!MODES.includes(mode)) throw ctx.error(`mode '${mode}' is not supported (supported: ${MODES.join(', ')})`);
  return mode as ResizeMode;
}

/**
 * Before opset 11 there was no nearest_mode: onnxruntime truncates when
 * upsampling and rounds up when downsampling, with asymmetric coordinates.
 */
function legacyNearest(ctx: InferContext, scales: readonly number[]): NearestMode {
  const spatial = scales.slice(-2);
  if (spatial.every((s) => s >= 1)) return 'floor';
  if (spatial.every((s) => s < 1)) return 'ceil';
  throw ctx.error(`scales [${scales.join(', ')}] both up- and downsample, which this opset's nearest mode cannot express`);
}

function resizeAttrs(ctx: InferContext): ResizeAttrs {
  const mode = modeOf(ctx);
  if (ctx.opset < 11) {
    const scales = toNumbers(ctx.constant(1, 'scales'));
    return { mode, coordinateTransformationMode: 'asymmetric', nearestMode: legacyNearest(ctx, scales), scales };
  }
  const ctm = ctx.attrs.string('coordinate_transformation_mode', 'half_pixel');
  if (!TRANSFORMS.includes(ctm)) throw ctx.error(`coordinate_transformation_mode '${ctm}' is not supported (supported: ${TRANSFORMS.join(', ')})`);
  const nearestMode = ctx.attrs.string('nearest_mode', 'round_prefer_floor');
  if (!NEAREST.includes(nearestMode)) throw ctx.error(`nearest_mode '${nearestMode}' is not supported (supported: ${NEAREST.join(', ')})`);
  if (ctx.attrs.int('antialias', 0) !== 0) throw ctx.error('antialias = 1 is not supported');
  if (ctx.attrs.string('keep_aspect_ratio_policy', 'stretch') !== 'stretch') throw ctx.error('keep_aspect_ratio_policy other than stretch is not supported');
  if (ctx.attrs.has('axes')) {
    const rank = ctx.input(0).shape.length;
    const axes = ctx.attrs.ints('axes').map((a) => (a < 0 ? a + rank : a));
    if (axes.length !== 2 || axes[0] !== 2 || axes[1] !== 3) throw ctx.error(`axes [${axes.join(', ')}] must be the spatial axes [2, 3]`);
  }
  const scales = optional(ctx, 2, 'scales');
  const sizes = optional(ctx, 3, 'sizes');
  return {
    mode,
    coordinateTransformationMode: ctm as CoordinateTransformationMode,
    nearestMode: nearestMode as NearestMode,
    scales: scales && toNumbers(scales),
    sizes: sizes && toNumbers(sizes),
  };
}

function upsampleAttrs(ctx: InferContext): ResizeAttrs {
  const mode = modeOf(ctx);
  const scales = ctx.opset < 9 ? ctx.attrs.floats('scales') : toNumbers(ctx.constant(1, 'scales'));
  return { mode, coordinateTransformationMode: 'asymmetric', nearestMode: legacyNearest(ctx, scales), scales };
}

function resizeHandler(attrsOf: (ctx: InferContext) => ResizeAttrs): OpHandler {
  return {
    inferShape: (ctx) => [{ shape: resolveResize(ctx.input(0).shape, attrsOf(ctx)).shape, dtype: ctx.input(0).dtype }],
    run: (ctx) => ctx.ops.resize([ctx.tensor(0)], attrsOf(ctx)),
  };
}

export const Resize = resizeHandler(resizeAttrs);
export const Upsample = resizeHandler(upsampleAttrs);

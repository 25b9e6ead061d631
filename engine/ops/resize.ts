// Resize of an NCHW tensor over H and W with ONNX Resize semantics: modes
// nearest and linear (bilinear), the coordinate transformation modes that CNN
// exports use, the four nearest rounding modes, and output given by scales or
// sizes. Kernels in shaders/resize.wgsl; the backward is a race-free gather.

import resizeWgsl from '../../shaders/resize.wgsl';
import { defineKernel } from '../kernels/kernel.js';
import { type Shape } from '../shape.js';
import { Tensor } from '../tensor.js';
import { defineOp, grid1d, launch, type Op } from './op.js';
import { alongAnyAxis } from './split.js';
import { MODE, NEAREST, resolveResize, type AxisPlan, type CoordinateTransformationMode, type ResizeAttrs } from '../geometry/resize.js';

const resizeKernel = defineKernel({ name: 'resize', wgsl: resizeWgsl, entryPoint: 'resize' });
const resizeGradKernel = defineKernel({ name: 'resize_grad', wgsl: resizeWgsl, entryPoint: 'resize_grad' });

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

export const resize: Op<ResizeAttrs> = defineOp<ResizeAttrs>({
  name: 'resize',
  forward([x], attrs) {
    const { shape, axes } = resolveResize(x.shape, attrs);
    const y = Tensor.empty(shape);
    run(resizeKernel, { x, y }, y.size, x.shape, attrs, axes);
    return [y];
  },
  // In parts over images and channels; sizes given for all four axes follow the part.
  split: ([x], attrs, [y]) =>
    alongAnyAxis<ResizeAttrs>(y, [x], 1, [2, 3]).map((axis) => ({
      ...axis,
      attrs: attrs.sizes?.length === 4 ? (_start: number, n: number) => ({ ...attrs, sizes: attrs.sizes!.map((d, i) => (i === axis.outputs[0] ? n : d)) }) : undefined,
    })),
  // dx[iy, ix] = sum over outputs (oy, ox) of w_y(oy -> iy) * w_x(ox -> ix) * dy[oy, ox] (the transposed interpolation)
  backward({ attrs, inputShapes: [shape] }, [gy]) {
    const { axes } = resolveResize(shape, attrs);
    const gx = Tensor.empty(shape);
    run(resizeGradKernel, { gy, gx }, gx.size, shape, attrs, axes);
    return [gx];
  },
  backwardOps: ({ attrs, inputShapes: [shape] }, [gy]) => resizeGrad([gy], { ...attrs, inputShape: shape }),
});

/**
 * resize's backward as an op, [dy] -> dx of the resized input's shape: the
 * transposed interpolation. Linear; its own transpose is resize.
 */
export const resizeGrad: Op<ResizeAttrs & { inputShape: Shape }> = defineOp<ResizeAttrs & { inputShape: Shape }>({
  name: 'resizeGrad',
  forward([gy], attrs) {
    const { axes } = resolveResize(attrs.inputShape, attrs);
    const gx = Tensor.empty(attrs.inputShape);
    run(resizeGradKernel, { gy, gx }, gx.size, attrs.inputShape, attrs, axes);
    return [gx];
  },
  // d dy = resize(g): the transpose of the transposed interpolation
  backward: ({ attrs }, [g]) => resize([g], attrs),
  backwardOps: ({ attrs }, [g]) => resize([g], attrs),
});

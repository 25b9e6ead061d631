// Pooling: maxPool and averagePool over NCHW windows (shaders/pool.wgsl), and
// the global pools, which are reductions over the spatial axes (reduce.wgsl).
//
// Window geometry follows ONNX MaxPool/AveragePool: kernelShape, strides,
// pads [top, left, bottom, right], dilations, ceilMode. With ceilMode, a last
// window that would start inside the bottom/right padding is dropped (as in
// PyTorch and onnxruntime), and every window must reach into the input.

import poolWgsl from '../../shaders/pool.wgsl';
import nanWgsl from '../../shaders/nan.wgsl';
import { ShapeError } from '../errors.js';
import { defineKernel, specialize, type Kernel } from '../kernels/kernel.js';
import { formatShape, numel, type Shape } from '../shape.js';
import { Tensor } from '../tensor.js';
import { binaryOps, fill } from './elementwise.js';
import { extremumGrad, extremumGradOps } from './extremum.js';
import { expand } from './movement.js';
import { defineOp, grid1d, launch, type Op } from './op.js';
import { reduceKeepDims } from './reduce.js';
import { alongAnyAxis, type SplitAxis } from './split.js';
import { poolGeometry, type AveragePoolAttrs, type PoolAttrs, type PoolGeometry } from '../geometry/pool.js';

const wgsl = specialize('pool', poolWgsl, { NAN: nanWgsl });
const kernel = (entryPoint: string): Kernel => defineKernel({ name: entryPoint, wgsl, entryPoint });
const maxPoolKernel = kernel('max_pool');
const maxPoolGradKernel = kernel('max_pool_grad');
const maxPoolGatherKernel = kernel('max_pool_gather');
const averagePoolKernel = kernel('average_pool');
const averagePoolGradKernel = kernel('average_pool_grad');
const globalAveragePoolGradKernel = kernel('global_average_pool_grad');

function poolUniforms(g: PoolGeometry, n: number, countIncludePad = false) {
  return {
    n,
    in_h: g.inH,
    in_w: g.inW,
    out_h: g.outH,
    out_w: g.outW,
    kernel_h: g.kernel[0],
    kernel_w: g.kernel[1],
    stride_h: g.strides[0],
    stride_w: g.strides[1],
    dilation_h: g.dilations[0],
    dilation_w: g.dilations[1],
    pad_top: g.pads[0],
    pad_left: g.pads[1],
    pad_bottom: g.pads[2],
    pad_right: g.pads[3],
    count_include_pad: countIncludePad ? 1 : 0,
  };
}

const outShape = (x: Shape, g: PoolGeometry) => [x[0], x[1], g.outH, g.outW];

/** Pools run in parts over images and channels (every output has x's N and C). */
function planes<A>([x]: readonly Shape[], _attrs: A, outs: readonly Shape[]): SplitAxis<A>[] {
  return alongAnyAxis(outs[0], [x], outs.length, [...x.keys()].slice(2));
}

/**
 * Outputs [y, indices]: indices (u32) hold each window's argmax as an offset inside
 * its (n, c) plane, h * W + w (ONNX's Indices output flattens over N and C too:
 * add (n * C + c) * H * W). Ties go to the first maximum in row-major window order;
 * a NaN tap wins (the last NaN), so NaN propagates and gets the window's gradient.
 */
export const maxPool = defineOp<PoolAttrs>({
  name: 'maxPool',
  forward([x], attrs) {
    const g = poolGeometry('maxPool', x.shape, attrs);
    const y = Tensor.empty(outShape(x.shape, g));
    const indices = Tensor.empty(y.shape, 'u32'); // exact offsets in any precision
    launch(maxPoolKernel, { x, y, indices }, { workgroups: grid1d(y.size), uniforms: poolUniforms(g, y.size) });
    return [y, indices];
  },
  save: (_inputs, [, indices]) => [indices],
  split: planes,
  // dx[i] = sum of dy over the windows whose argmax is i (indices are piecewise constant: no gradient)
  backward({ saved: [indices], attrs, inputShapes: [shape] }, [gy]) {
    const g = poolGeometry('maxPool', shape, attrs);
    const gx = Tensor.empty(shape);
    launch(maxPoolGradKernel, { argmax: indices, gy, gx }, { workgroups: grid1d(gx.size), uniforms: poolUniforms(g, gx.size) });
    return [gx];
  },
  // the same as an op (recorded): dx = maxPoolGrad(dy, argmax), the argmax a constant (a plain view is detached)
  backwardOps({ saved: [indices], attrs, inputShapes: [shape] }, [gy]) {
    const argmax = indices.view(indices.shape);
    const gx = maxPoolGrad([gy, argmax], { ...attrs, inputShape: shape });
    argmax.dispose();
    return gx;
  },
});

/** Pool attributes plus the pooled input's shape (what an op from the output's size back to the input's needs). */
export type PoolGradAttrs<A> = A & { inputShape: Shape };

/**
 * Max pooling's backward as an op, inputs [dy, argmax]: dx[i] = sum of dy over
 * the windows whose argmax is i. Linear in dy; its transpose is
 * maxPoolGather. Makes maxPool twice differentiable.
 */
export const maxPoolGrad: Op<PoolGradAttrs<PoolAttrs>> = defineOp<PoolGradAttrs<PoolAttrs>>({
  name: 'maxPoolGrad',
  forward([gy, argmax], attrs) {
    const g = poolGeometry('maxPoolGrad', attrs.inputShape, attrs);
    const gx = Tensor.empty(attrs.inputShape);
    launch(maxPoolGradKernel, { argmax, gy, gx }, { workgroups: grid1d(gx.size), uniforms: poolUniforms(g, gx.size) });
    return [gx];
  },
  save: ([, argmax]) => [argmax],
  indexInputs: [1],
  // d dy = gather of the incoming gradient at each window's argmax; the argmax gets none
  backward: ({ saved: [argmax], attrs }, [g]) => [maxPoolGather([g, argmax], attrs)[0], null],
  backwardOps: ({ saved: [argmax], attrs }, [g]) => [maxPoolGather([g, argmax.view(argmax.shape)], attrs)[0], null],
});

/** y[o] = x[argmax[o]] in o's plane, inputs [x, argmax]: the transpose of maxPoolGrad. */
export const maxPoolGather: Op<PoolGradAttrs<PoolAttrs>> = defineOp<PoolGradAttrs<PoolAttrs>>({
  name: 'maxPoolGather',
  forward([x, argmax], attrs) {
    const g = poolGeometry('maxPoolGather', attrs.inputShape, attrs);
    const y = Tensor.empty(argmax.shape);
    launch(maxPoolGatherKernel, { x, argmax, y }, { workgroups: grid1d(y.size), uniforms: poolUniforms(g, y.size) });
    return [y];
  },
  save: ([, argmax]) => [argmax],
  indexInputs: [1],
  // dx = maxPoolGrad(dy, argmax): the gathered gradients go back to the argmax positions
  backward: ({ saved: [argmax], attrs }, [gy]) => [maxPoolGrad([gy, argmax], attrs)[0], null],
  backwardOps: ({ saved: [argmax], attrs }, [gy]) => [maxPoolGrad([gy, argmax.view(argmax.shape)], attrs)[0], null],
});

export const averagePool: Op<AveragePoolAttrs> = defineOp<AveragePoolAttrs>({
  name: 'averagePool',
  forward([x], attrs) {
    const g = poolGeometry('averagePool', x.shape, attrs);
    const y = Tensor.empty(outShape(x.shape, g));
    launch(averagePoolKernel, { x, y }, { workgroups: grid1d(y.size), uniforms: poolUniforms(g, y.size, attrs.countIncludePad) });
    return [y];
  },
  split: planes,
  // dx[i] = sum over the windows w containing i of dy[w] / divisor(w)
  backward({ attrs, inputShapes: [shape] }, [gy]) {
    const g = poolGeometry('averagePool', shape, attrs);
    const gx = Tensor.empty(shape);
    launch(averagePoolGradKernel, { gy, gx }, { workgroups: grid1d(gx.size), uniforms: poolUniforms(g, gx.size, attrs.countIncludePad) });
    return [gx];
  },
  backwardOps: ({ attrs, inputShapes: [shape] }, [gy]) => averagePoolGrad([gy], { ...attrs, inputShape: shape }),
});

/** Average pooling's backward as an op (linear in dy; its transpose is averagePool itself). */
export const averagePoolGrad: Op<PoolGradAttrs<AveragePoolAttrs>> = defineOp<PoolGradAttrs<AveragePoolAttrs>>({
  name: 'averagePoolGrad',
  forward([gy], attrs) {
    const g = poolGeometry('averagePoolGrad', attrs.inputShape, attrs);
    const gx = Tensor.empty(attrs.inputShape);
    launch(averagePoolGradKernel, { gy, gx }, { workgroups: grid1d(gx.size), uniforms: poolUniforms(g, gx.size, attrs.countIncludePad) });
    return [gx];
  },
  // d dy = averagePool(g): the transpose of the transpose
  backward: ({ attrs }, [g]) => averagePool([g], attrs),
  backwardOps: ({ attrs }, [g]) => averagePool([g], attrs),
});

/** Axes 2.. of an [N, C, spatial...] input; ShapeError below rank 3. */
function spatialAxes(op: string, shape: Shape): number[] {
  if (shape.length < 3) throw new ShapeError(op, `expects [N, C, spatial...] (rank >= 3), got rank ${shape.length}`, [shape]);
  if (numel(shape.slice(2)) === 0) throw new ShapeError(op, `empty spatial extent ${formatShape(shape.slice(2))}`, [shape]);
  return [...Array(shape.length - 2).keys()].map((a) => a + 2);
}

/** Mean over the spatial axes, keeping them as 1s ([N, C, 1, 1] for NCHW). */
export const globalAveragePool = defineOp<Record<string, never>>({
  name: 'globalAveragePool',
  forward([x]) {
    const axes = spatialAxes('globalAveragePool', x.shape);
    return [reduceKeepDims('sum', x, axes, 1 / numel(x.shape.slice(2)))];
  },
  split: planes,
  // dx = dy / (H * W), broadcast over each plane
  backward({ inputShapes: [shape] }, [gy]) {
    const gx = Tensor.empty(shape);
    const uniforms = poolUniforms(planeGeometry(shape), gx.size);
    launch(globalAveragePoolGradKernel, { gy, gx }, { workgroups: grid1d(gx.size), uniforms });
    return [gx];
  },
  // the same with ops: dx = expand(dy, x.shape) * (1 / (H * W))
  backwardOps({ inputShapes: [shape] }, [gy]) {
    const [spread] = expand([gy], { shape });
    return binaryOps.mul([spread, fill([], 1 / numel(shape.slice(2)))], {});
  },
});

/** A geometry that only carries the plane size (in_h = all spatial elements, in_w = 1). */
function planeGeometry(shape: Shape): PoolGeometry {
  const spatial = numel(shape.slice(2));
  return { planes: shape[0] * shape[1], inH: spatial, inW: 1, outH: 1, outW: 1, kernel: [1, 1], strides: [1, 1], dilations: [1, 1], pads: [0, 0, 0, 0] };
}

/**
 * Max over the spatial axes, keeping them as 1s. A reduction (one workgroup per
 * plane); ties split the gradient evenly, as in the `max` reduction.
 */
export const globalMaxPool = defineOp<Record<string, never>>({
  name: 'globalMaxPool',
  forward([x]) {
    return [reduceKeepDims('max', x, spatialAxes('globalMaxPool', x.shape))];
  },
  save: ([x], [y]) => [x, y],
  split: planes,
  // dx = dy at the positions equal to the plane's maximum (split among ties), 0 elsewhere
  backward({ saved: [x, y] }, [gy]) {
    return [extremumGrad(x, y, gy, spatialAxes('globalMaxPool', x.shape))];
  },
  // with ops: dx = dy * m, the routing m (1 / ties at the maxima) a constant
  backwardOps: (ctx, [gy]) => extremumGradOps(ctx, gy, ctx.saved[0].shape.map((d, i) => (i < 2 ? d : 1))),
});

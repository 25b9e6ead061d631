// Shape and data movement: reshape (a free view), transpose and expand (both a
// strided gather, shaders/movement.wgsl). Backward is the inverse movement.

import movementWgsl from '../../shaders/movement.wgsl';
import { ShapeError } from '../errors.js';
import { defineKernel } from '../kernels/kernel.js';
import { broadcastShapes, broadcastStrides, contiguousStrides, sameShape, type Shape } from '../shape.js';
import { Tensor } from '../tensor.js';
import { defineOp, grid1d, launch, pack8 } from './op.js';
import { alongAnyAxis } from './split.js';
import { resolveReshape, type ReshapeAttrs } from '../geometry/shape-ops.js';

const stridedCopyKernel = defineKernel({ name: 'strided_copy', wgsl: movementWgsl, entryPoint: 'strided_copy' });

/** y[i] = x[offset + coords(i) . srcStrides] over `outShape`. */
export function stridedCopy(x: Tensor, outShape: Shape, srcStrides: readonly number[], offset = 0): Tensor {
  const y = Tensor.empty(outShape);
  launch(stridedCopyKernel, { x, y }, {
    workgroups: grid1d(y.size),
    uniforms: { n: y.size, rank: outShape.length, offset, out_shape: pack8(outShape), src_strides: pack8(srcStrides) },
  });
  return y;
}

export const reshape = defineOp<ReshapeAttrs>({
  name: 'reshape',
  forward([x], { shape }) {
    return [x.view(resolveReshape('reshape', x.shape, shape))];
  },
  // dx = reshape(dy, x.shape)
  backward({ inputShapes: [shape] }, [gy]) {
    return [gy.view(shape)];
  },
});

export interface TransposeAttrs {
  perm: readonly number[];
}

function checkPerm(perm: readonly number[], rank: number, shape: Shape): void {
  const ok = perm.length === rank && [...perm].sort((a, b) => a - b).every((p, i) => p === i);
  if (!ok) throw new ShapeError('transpose', `perm [${perm.join(', ')}] is not a permutation of 0..${rank - 1}`, [shape]);
}

export const transpose = defineOp<TransposeAttrs>({
  name: 'transpose',
  forward([x], { perm }) {
    checkPerm(perm, x.shape.length, x.shape);
    const strides = contiguousStrides(x.shape);
    return [stridedCopy(x, perm.map((p) => x.shape[p]), perm.map((p) => strides[p]))];
  },
  // Output axis j is input axis perm[j].
  split: (_inputs, { perm }) => perm.map((p, j) => ({ name: `axis ${j}`, outputs: [j], inputs: [p] })),
  // dx = transpose(dy, inverse(perm))
  backward({ attrs: { perm } }, [gy]) {
    const inverse = perm.map((_, i) => perm.indexOf(i));
    const strides = contiguousStrides(gy.shape);
    return [stridedCopy(gy, inverse.map((p) => gy.shape[p]), inverse.map((p) => strides[p]))];
  },
});

export interface ExpandAttrs {
  shape: Shape;
}

export const expand = defineOp<ExpandAttrs>({
  name: 'expand',
  forward([x], { shape }) {
    const out = broadcastShapes('expand', x.shape, shape);
    if (sameShape(out, x.shape)) return [x.view(out)];
    return [stridedCopy(x, out, broadcastStrides(x.shape, out))];
  },
  // A part's target shape is the part's own.
  split: (inputs, attrs, [y]) => alongAnyAxis<ExpandAttrs>(y, inputs).map((axis) => ({ ...axis, attrs: (_s, n) => ({ ...attrs, shape: y.map((d, i) => (i === axis.outputs[0] ? n : d)) }) })),
  // dx = sum of dy over the broadcast axes (the tape's un-broadcast does it)
  backward(_ctx, [gy]) {
    return [gy.view(gy.shape)];
  },
});


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
  const walk = y.size ? mergeAxes(outShape, srcStrides) : { shape: outShape, strides: srcStrides };
  launch(stridedCopyKernel, { x, y }, {
    workgroups: grid1d(y.size),
    uniforms: { n: y.size, rank: walk.shape.length, offset, out_shape: pack8(walk.shape), src_strides: pack8(walk.strides) },
  });
  return y;
}

/**
 * The same walk over fewer axes: size-1 axes dropped, and an axis merged into
 * the one before it when the source steps through both as one (outer stride =
 * inner stride * inner size). The kernel divides twice per axis per element,
 * and integer division is what a CPU-backed adapter (lavapipe) spends a copy
 * on: YOLOv5's head Transpose [1, 3, 85, H, W] -> [1, 3, H, W, 85] walks 3 axes, not 5.
 */
function mergeAxes(shape: Shape, strides: readonly number[]): { shape: number[]; strides: number[] } {
  const merged: { shape: number[]; strides: number[] } = { shape: [], strides: [] };
  shape.forEach((size, d) => {
    if (size === 1) return;
    const k = merged.shape.length - 1;
    if (k >= 0 && merged.strides[k] === strides[d] * size) {
      merged.shape[k] *= size;
      merged.strides[k] = strides[d];
    } else {
      merged.shape.push(size);
      merged.strides.push(strides[d]);
    }
  });
  return merged;
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
  backwardOps: ({ inputShapes: [shape] }, [gy]): Tensor[] => reshape([gy], { shape }),
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
  backwardOps: ({ attrs: { perm } }, [gy]): Tensor[] => transpose([gy], { perm: perm.map((_, i) => perm.indexOf(i)) }),
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
  backwardOps: (_ctx, [gy]) => [gy],
});


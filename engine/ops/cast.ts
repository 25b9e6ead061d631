// cast: a float tensor in the other storage precision (f32 <-> f16). The
// f16 mode of a model runs its graph in f16 and hands f32 to everything
// outside (importers/onnx/model.ts): the casts are recorded, so gradients
// cross them. The gradient of a cast is the cast back.

import castWgsl from '../../shaders/cast.wgsl';
import { defineKernel } from '../kernels/kernel.js';
import { runtime, type Precision } from '../runtime.js';
import { Tensor } from '../tensor.js';
import { defineOp, grid1d, launch, type Op } from './op.js';
import { alongAnyAxis } from './split.js';
import { GradlensError } from '../errors.js';

const toF32 = defineKernel({ name: 'cast_to_f32', wgsl: castWgsl, entryPoint: 'to_f32' });
const fromF32 = defineKernel({ name: 'cast_from_f32', wgsl: castWgsl, entryPoint: 'from_f32' });

export interface CastAttrs {
  from: Precision;
  to: Precision;
}

export const castOp: Op<CastAttrs> = defineOp<CastAttrs>({
  name: 'cast',
  forward([x], { to }) {
    if (x.dtype === to) return [x.view(x.shape)];
    const y = Tensor.empty(x.shape, to);
    const uniforms = { n: x.size };
    // The op runs in x's precision: to_f32 reads Elem = x's; from_f32 writes Elem = the target's.
    if (to === 'f32') launch(toF32, { x, y32: y }, { workgroups: grid1d(x.size), uniforms });
    else runtime().withPrecision(to, () => launch(fromF32, { x32: x, y }, { workgroups: grid1d(x.size), uniforms }));
    return [y];
  },
  // Elementwise: runs in parts along any axis past the binding limit.
  split: ([x], _attrs, [y]) => alongAnyAxis(y, [x], 1),
  // `from` is only read here: the gradient goes back to the input's precision.
  backward: ({ attrs }, [gy]) => [castOp([gy], { from: attrs.to, to: attrs.from })[0]],
  backwardOps: ({ attrs }, [gy]) => [castOp([gy], { from: attrs.to, to: attrs.from })[0]],
});

/** `x` stored in `to` (a view when it already is). */
export function cast(x: Tensor, to: Precision): Tensor {
  if (x.dtype === 'u32') throw new GradlensError(`cast: ${x} holds u32 indices, not values`);
  return castOp([x], { from: x.dtype, to })[0];
}

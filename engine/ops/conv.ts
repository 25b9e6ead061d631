// Convolution ops: conv2d (ONNX Conv, inputs [x, w, b?]) and convTranspose2d
// (ONNX ConvTranspose). Kernels and their path choices are in conv-kernels.ts.
//
// conv2d may fuse an activation (attrs.activation) into its epilogue. Without a
// gradient to record, the fused kernel runs. When the tape records, the
// activation runs unfused and the op keeps z = conv(x, w) + b for backward
// (act'(z) needs it), so backward never runs the convolution again.

import { activationParams, isIdentity, type Activation } from '../activations.js';
import { ShapeError } from '../errors.js';
import { convGeometry, convTransposeGeometry, type Conv2dAttrs, type ConvTranspose2dAttrs } from '../geometry/conv.js';
import type { Tensor } from '../tensor.js';
import { conv2dForwardKernel, conv2dGradBias, conv2dGradInputKernel, conv2dGradWeightKernel } from './conv-kernels.js';
import { unaryOps } from './elementwise.js';
import { defineOp } from './op.js';

function convInputs(op: string, inputs: readonly Tensor[]): [Tensor, Tensor, Tensor | null] {
  const [x, w, b] = inputs;
  if (!x || !w || inputs.length > 3) throw new ShapeError(op, `expects inputs [x, w] or [x, w, bias], got ${inputs.length}`);
  return [x, w, b ?? null];
}

/** The activation's elementwise op (its forward and derivative kernels), with the kernels' parameter defaults. */
function activationOp(act: Activation) {
  if (act.kind === 'none') throw new Error('unreachable: identity activation');
  const { act_alpha, act_beta } = activationParams(act);
  return { op: unaryOps[act.kind], attrs: { alpha: act_alpha, beta: act_beta } };
}

export const conv2d = defineOp<Conv2dAttrs>({
  name: 'conv2d',
  forward(inputs, attrs, ctx) {
    const [x, w, b] = convInputs('conv2d', inputs);
    const g = convGeometry('conv2d', x.shape, w.shape, attrs, b?.shape);
    const act = attrs.activation;
    if (isIdentity(act) || !ctx?.recording) return [conv2dForwardKernel(x, w, b, g, act)];
    // Recording: the backward needs z = conv + bias, so run the activation unfused and keep z.
    const z = conv2dForwardKernel(x, w, b, g);
    const { op, attrs: actAttrs } = activationOp(act!);
    const [y] = op.def.forward([z], actAttrs);
    ctx.keepForBackward(z);
    return [y];
  },
  // saved: x, w, (b), and with an activation y = act(z), then z (kept by forward)
  save: (inputs, [y], attrs) => (isIdentity(attrs.activation) ? [...inputs] : [...inputs, y]),
  // dz = dy * act'(z); dx = conv_transpose(dz, w); dw = dz (*) x (correlation over images and
  // pixels); db = sum of dz over images and pixels
  backward({ saved, attrs, needsInputGrad, inputShapes }, [gy]) {
    const [x, w] = saved;
    const hasBias = inputShapes.length > 2;
    const b = hasBias ? saved[2] : null;
    const g = convGeometry('conv2d', x.shape, w.shape, attrs, b?.shape);
    let gz = gy;
    if (!isIdentity(attrs.activation)) {
      const [y, z] = saved.slice(-2);
      const { op, attrs: actAttrs } = activationOp(attrs.activation!);
      const ctx = { saved: [z, y], attrs: actAttrs, inputShapes: [z.shape], outputShapes: [y.shape], needsInputGrad: [true] };
      gz = op.def.backward(ctx, [gy])[0]!;
    }
    const grads = [
      needsInputGrad[0] ? conv2dGradInputKernel(gz, w, g) : null,
      needsInputGrad[1] ? conv2dGradWeightKernel(x, gz, g) : null,
      ...(hasBias ? [needsInputGrad[2] ? conv2dGradBias(gz) : null] : []),
    ];
    if (gz !== gy) gz.dispose();
    return grads;
  },
});

// ---- convTranspose2d ------------------------------------------------------------

export const convTranspose2d = defineOp<ConvTranspose2dAttrs>({
  name: 'convTranspose2d',
  forward(inputs, attrs) {
    const [x, w, b] = convInputs('convTranspose2d', inputs);
    const g = convTransposeGeometry(x.shape, w.shape, attrs, b?.shape);
    return [conv2dGradInputKernel(x, w, g, b)];
  },
  save: (inputs) => inputs.slice(0, 2),
  // y = conv^T(x, w) + b: dx = conv(dy, w); dw = x (*) dy, the conv's weight gradient with
  // the roles of input (dy) and output gradient (x); db = sum of dy over images and pixels
  backward({ saved: [x, w], attrs, needsInputGrad, inputShapes }, [gy]) {
    const g = convTransposeGeometry(x.shape, w.shape, attrs, inputShapes[2]);
    return [
      needsInputGrad[0] ? conv2dForwardKernel(gy, w, null, g) : null,
      needsInputGrad[1] ? conv2dGradWeightKernel(gy, x, g) : null,
      ...(inputShapes.length > 2 ? [needsInputGrad[2] ? conv2dGradBias(gy) : null] : []),
    ];
  },
});

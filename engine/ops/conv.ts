// Convolution ops: conv2d (ONNX Conv, inputs [x, w, b?]) and convTranspose2d
// (ONNX ConvTranspose). Kernels and their path choices are in conv-kernels.ts.
//
// conv2d may fuse an activation (attrs.activation) into its epilogue. Without a
// gradient to record, the fused kernel runs. When the tape records, the op
// stores act(z) computed unfused and its backward recomputes z = conv(x, w) + b
// (like activation checkpointing: one more forward conv instead of keeping z).

import { ShapeError } from '../errors.js';
import { formatShape } from '../shape.js';
import { tape } from '../tape.js';
import type { Tensor } from '../tensor.js';
import {
  checkConvOptions,
  conv2dForwardKernel,
  conv2dGradBias,
  conv2dGradInputKernel,
  conv2dGradWeightKernel,
  convGeometry,
  type ConvGeometry,
  type ConvOptions,
} from './conv-kernels.js';
import { unaryOps } from './elementwise.js';
import { activationParams, isIdentity, type Activation } from './epilogue.js';
import { defineOp } from './op.js';

export interface Conv2dAttrs extends ConvOptions {
  /** Fused after the bias (default none). */
  activation?: Activation;
}

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
  forward(inputs, attrs) {
    const [x, w, b] = convInputs('conv2d', inputs);
    const g = convGeometry('conv2d', x.shape, w.shape, attrs, b?.shape);
    const act = attrs.activation;
    const recording = tape.recording && inputs.some((t) => t.requiresGrad);
    if (isIdentity(act) || !recording) return [conv2dForwardKernel(x, w, b, g, act)];
    const z = conv2dForwardKernel(x, w, b, g);
    const { op, attrs: actAttrs } = activationOp(act!);
    const [y] = op.def.forward([z], actAttrs);
    z.dispose();
    return [y];
  },
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
      const y = saved[saved.length - 1];
      const z = conv2dForwardKernel(x, w, b, g);
      const { op, attrs: actAttrs } = activationOp(attrs.activation!);
      const ctx = { saved: [z, y], attrs: actAttrs, inputShapes: [z.shape], outputShapes: [y.shape], needsInputGrad: [true] };
      gz = op.def.backward(ctx, [gy])[0]!;
      z.dispose();
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

export interface ConvTranspose2dAttrs extends ConvOptions {
  /** Extra rows / columns at the bottom / right of the output (ONNX output_padding). */
  outputPadding?: readonly [number, number];
}

/**
 * ConvTranspose of x [N, C_in, H, W] by w [C_in, C_out / groups, KH, KW] is the
 * input gradient of the conv that maps [N, C_out, OH, OW] to x's shape with the
 * same w: returns that conv's geometry (its input is the transpose's output).
 */
export function convTransposeGeometry(x: readonly number[], w: readonly number[], attrs: ConvTranspose2dAttrs, bias?: readonly number[]): ConvGeometry {
  const op = 'convTranspose2d';
  const shapes = bias ? [x, w, bias] : [x, w];
  if (x.length !== 4) throw new ShapeError(op, `input must be 4-D NCHW, got rank ${x.length}`, shapes);
  if (w.length !== 4) throw new ShapeError(op, `weight must be 4-D [C_in, C_out / groups, KH, KW], got rank ${w.length}`, shapes);
  checkConvOptions(op, attrs);
  const { strides = [1, 1], pads = [0, 0, 0, 0], dilations = [1, 1], groups = 1, outputPadding = [0, 0] } = attrs;
  if (outputPadding.length !== 2 || outputPadding.some((p) => !Number.isInteger(p) || p < 0)) {
    throw new ShapeError(op, `outputPadding must be integers >= 0, got [${outputPadding.join(', ')}]`, shapes);
  }
  if (w[0] !== x[1]) throw new ShapeError(op, `input has ${x[1]} channels but the weight's first dimension is ${w[0]}`, shapes);
  if (x[1] % groups !== 0) {
    throw new ShapeError(op, `groups ${groups} does not divide the ${x[1]} input channels`, shapes);
  }
  const outC = w[1] * groups;
  if (bias && (bias.length !== 1 || bias[0] !== outC)) {
    throw new ShapeError(op, `bias must be [${outC}] (one per output channel), got ${formatShape(bias)}`, shapes);
  }
  const size = (i: number, k: number, s: number, d: number, pb: number, pe: number, extra: number) => (i - 1) * s - pb - pe + d * (k - 1) + 1 + extra;
  const outH = size(x[2], w[2], strides[0], dilations[0], pads[0], pads[2], outputPadding[0]);
  const outW = size(x[3], w[3], strides[1], dilations[1], pads[1], pads[3], outputPadding[1]);
  if (outH < 1 || outW < 1) {
    throw new ShapeError(op, `output size ${outH} x ${outW} is not positive (pads too large for the input and kernel)`, shapes);
  }
  // The equivalent conv maps [N, outC, outH, outW] to x's shape with the same weight.
  return {
    batch: x[0],
    inC: outC,
    inH: outH,
    inW: outW,
    outC: x[1],
    outH: x[2],
    outW: x[3],
    groups,
    groupInC: w[1],
    groupOutC: x[1] / groups,
    kernelH: w[2],
    kernelW: w[3],
    strideH: strides[0],
    strideW: strides[1],
    dilationH: dilations[0],
    dilationW: dilations[1],
    padTop: pads[0],
    padLeft: pads[1],
    padBottom: pads[2],
    padRight: pads[3],
  };
}

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

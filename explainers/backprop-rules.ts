// Modified ReLU backward rules: how Zeiler & Fergus's deconvnet and
// Springenberg et al.'s guided backpropagation differ from the gradient. Both
// are installed by swapping the backward rule of the activation ops on the
// tape (tape.overrideBackward), never by changing the ops, for as long as one
// backward pass runs.
//
// With x the ReLU input and g the gradient arriving from above:
//   gradient         dx = g * [x > 0]
//   deconvnet        dx = relu(g)                 (Zeiler & Fergus 2014, §2.1: the
//                    reconstruction goes through a ReLU, the forward mask is ignored)
//   guided backprop  dx = relu(g) * [x > 0]       (Springenberg et al. 2015, §3.4, eq. in Fig. 1)
//
// ReLU-like activations get the same treatment, written as "the activation's
// own derivative applied to relu(g)" for guided backprop:
//   LeakyRelu(a)     guided: relu(g) * (x > 0 ? 1 : a);  deconvnet: leakyRelu(g, a)
//                    (the deconvnet passes the signal through the layer's own nonlinearity)
//   Clip(0, m)       ReLU6 and other clipped ReLUs (min exactly 0): guided: relu(g) * [0 <= x <= m];
//                    deconvnet: relu(g) (capping the signal at m would make the
//                    result depend on its scale). Clips with another min are not
//                    ReLUs and keep their gradient.
// Other activations (sigmoid, SiLU, hard-swish...) keep their gradient, as in
// pytorch-grad-cam, which only replaces torch.nn.ReLU.
//
// The ONNX executor fuses Conv -> activation into one conv2d with an epilogue;
// such a conv2d node carries the activation in its attrs, so conv2d's rule is
// swapped too: it recomputes the pre-activation z, applies the modified rule
// to it, and runs the unfused conv backward on the result.

import {
  conv2d,
  leakyRelu,
  max,
  ops,
  relu,
  tape,
  type Activation,
  type BackwardContext,
  type BackwardRule,
  type Conv2dAttrs,
  type Tensor,
  type UnaryAttrs,
} from '../engine/index.js';
import { abs, scaleMap, upsample } from './cam-math.js';
import type { CamContext, PassOutput } from './method.js';
import { forwardPass } from './pass.js';
import { MethodNotApplicable } from './errors.js';
import type { RgbaImage } from './image.js';

export type BackpropMode = 'deconvnet' | 'guided';

type ReluLike = 'relu' | 'leakyRelu' | 'clip';

/** Whether an activation gets the modified rule (Clip only with min 0: ReLU6). */
function isReluLike(kind: string, attrs: UnaryAttrs): kind is ReluLike {
  return kind === 'relu' || kind === 'leakyRelu' || (kind === 'clip' && attrs.alpha === 0);
}

/**
 * The modified backward of one ReLU-like activation: `x` its input, `y` its
 * output, `g` the incoming gradient. Returns a new tensor.
 */
function modifiedBackward(mode: BackpropMode, kind: ReluLike, attrs: UnaryAttrs, x: Tensor, y: Tensor, g: Tensor): Tensor {
  const positive = relu(g);
  if (mode === 'deconvnet') {
    if (kind !== 'leakyRelu') return positive;
    positive.dispose();
    return leakyRelu(g, attrs.alpha ?? 0.01);
  }
  // guided: the activation's own derivative (the forward mask), applied to relu(g)
  const ctx: BackwardContext<UnaryAttrs> = { saved: [x, y], attrs, inputShapes: [x.shape], outputShapes: [y.shape], needsInputGrad: [true] };
  const [dx] = ops[kind].def.backward(ctx, [positive]);
  positive.dispose();
  return dx!;
}

/** Rule for a standalone activation op (saved: [x, y], as every unary op saves). */
function activationRule(mode: BackpropMode, kind: ReluLike): BackwardRule<UnaryAttrs> {
  const original = ops[kind].def.backward;
  return (ctx, [g]) => {
    if (!isReluLike(kind, ctx.attrs)) return original(ctx, [g]);
    const [x, y] = ctx.saved;
    return [modifiedBackward(mode, kind, ctx.attrs, x, y, g)];
  };
}

/** Rule for conv2d: unchanged unless it carries a fused ReLU-like activation. */
function convRule(mode: BackpropMode): BackwardRule<Conv2dAttrs> {
  const original = ops.conv2d.def.backward;
  return (ctx, [g]) => {
    const act: Activation | undefined = ctx.attrs.activation;
    const actAttrs: UnaryAttrs = { alpha: act?.alpha ?? (act?.kind === 'leakyRelu' ? 0.01 : undefined), beta: act?.beta };
    if (!act || act.kind === 'none' || !isReluLike(act.kind, actAttrs)) return original(ctx, [g]);
    // saved = [x, w, bias?, y]: recompute z = conv(x, w) + b without the activation.
    const hasBias = ctx.inputShapes.length > 2;
    const [x, w] = ctx.saved;
    const b = hasBias ? ctx.saved[2] : null;
    const y = ctx.saved[ctx.saved.length - 1];
    const plain: Conv2dAttrs = { ...ctx.attrs, activation: undefined };
    const z = conv2d(x, w, b, plain);
    const gz = modifiedBackward(mode, act.kind, actAttrs, z, y, g);
    z.dispose();
    const grads = original({ ...ctx, attrs: plain, saved: ctx.saved.slice(0, hasBias ? 3 : 2) }, [gz]);
    gz.dispose();
    return grads;
  };
}

/**
 * Runs `fn` (which runs a backward pass) with the ReLU rules swapped for
 * `mode`, and restores them afterwards, also on error.
 */
export async function withModifiedRelu<T>(mode: BackpropMode, fn: () => Promise<T> | T): Promise<T> {
  const restore = [
    tape.overrideBackward('relu', activationRule(mode, 'relu') as BackwardRule),
    tape.overrideBackward('leakyRelu', activationRule(mode, 'leakyRelu') as BackwardRule),
    tape.overrideBackward('clip', activationRule(mode, 'clip') as BackwardRule),
    tape.overrideBackward('conv2d', convRule(mode) as BackwardRule),
  ];
  try {
    return await fn();
  } finally {
    for (const undo of restore.reverse()) undo();
  }
}

/**
 * The input gradient under `mode`, as a pass: gradient = the modified
 * d score / d input [N, C, H, W]; map = its saliency max_c |g| (Simonyan et
 * al. 2014, eq. 2: the largest magnitude over the colour channels), [N, H, W],
 * upsampled to the map size and scaled to [0, 1].
 */
export async function modifiedBackpropPass(mode: BackpropMode, ctx: CamContext): Promise<PassOutput> {
  if (ctx.eigenSmooth) throw new MethodNotApplicable(mode === 'guided' ? 'guidedbackprop' : 'deconvnet', 'eigenSmooth does not apply to an input gradient');
  const state = await withModifiedRelu(mode, () => forwardPass(ctx, [], { gradients: true, inputGradient: true }));
  return tape.noGrad(() => {
    const g = state.inputGradient!;
    const saliency = max(abs(g), [1]);
    return {
      map: scaleMap(upsample(saliency, ctx.size)),
      raw: [{ layer: ctx.inputName, map: saliency }],
      gradient: { layer: ctx.inputName, tensor: g },
      score: state.score,
      states: [],
    };
  });
}

/**
 * A [C, H, W] input gradient as an RGB image, as pytorch-grad-cam's
 * deprocess_image: standardize, scale by 0.1, shift to 0.5, clip to [0, 1].
 * Channels are taken as RGB in order (pass `bgr` for BGR models).
 */
export function gradientImage(data: Float32Array, shape: readonly number[], options: { bgr?: boolean } = {}): RgbaImage {
  const [c, height, width] = shape.length === 4 ? shape.slice(1) : shape;
  if (c !== 3 && c !== 1) throw new MethodNotApplicable('gradientImage', `expects a [3, H, W] or [1, H, W] gradient, got [${shape.join(', ')}]`);
  const plane = height * width;
  const n = c * plane;
  let mean = 0;
  for (let i = 0; i < n; i++) mean += data[i];
  mean /= n;
  let variance = 0;
  for (let i = 0; i < n; i++) variance += (data[i] - mean) ** 2;
  const std = Math.sqrt(variance / n);
  const out = new Uint8ClampedArray(plane * 4);
  for (let p = 0; p < plane; p++) {
    for (let k = 0; k < 3; k++) {
      const ch = c === 1 ? 0 : options.bgr ? 2 - k : k;
      const v = ((data[ch * plane + p] - mean) / (std + 1e-5)) * 0.1 + 0.5;
      out[p * 4 + k] = Math.round(Math.min(Math.max(v, 0), 1) * 255);
    }
    out[p * 4 + 3] = 255;
  }
  return { width, height, data: out };
}

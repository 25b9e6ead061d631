// Convolution ops: conv2d (ONNX Conv, inputs [x, w, b?]) and convTranspose2d
// (ONNX ConvTranspose). Kernels and their path choices are in conv-kernels.ts.
//
// conv2d may fuse an activation (attrs.activation) into its epilogue. Without a
// gradient to record, the fused kernel runs. When the tape records, the
// activation runs unfused and the op keeps z = conv(x, w) + b for backward
// (act'(z) needs it), so backward never runs the convolution again.

import { activationParams, isIdentity, type Activation } from '../activations.js';
import { MissingDoubleBackward, ShapeError } from '../errors.js';
import { convGeometry, convTransposeGeometry, type Conv2dAttrs, type ConvGeometry, type ConvOptions, type ConvTranspose2dAttrs } from '../geometry/conv.js';
import type { Tensor } from '../tensor.js';
import { conv2dForwardKernel, conv2dGradBias, conv2dGradInputKernel, conv2dGradWeightKernel } from './conv-kernels.js';
import { unaryOps } from './elementwise.js';
import { defineOp } from './op.js';
import { sum } from './reduce.js';
import type { InputCut, SplitAxis } from './split.js';

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
  split([x, w, b], attrs) {
    const g = convGeometry('conv2d', x, w, attrs, b);
    // A part whose window would lie wholly in the padding cannot be expressed: no row split then.
    const span = (g.kernelH - 1) * g.dilationH + 1;
    const rows = g.padTop < span && g.padBottom < span;
    const window = rows ? (r: number, n: number) => convWindow(g.inH, g.kernelH, g.strideH, g.dilationH, g.padTop, r, n) : null;
    return convSplits(attrs, !!b, { groupOutC: g.groupOutC, groupInC: g.groupInC, weightAxis: 0 }, window);
  },
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
  // The same with ops (recorded): dz = dy * act'(z) with z = conv(x, w) + b recomputed as an op (act' of a
  // piecewise-linear act is a constant mask: the saved z serves); dx = convTranspose2d(dz, w);
  // dw = conv2dGradWeight(x, dz); db = sum of dz over images and pixels
  backwardOps({ saved, attrs, needsInputGrad, inputShapes }, [gy]): (Tensor | null)[] {
    const [x, w] = saved;
    const hasBias = inputShapes.length > 2;
    const plain: Conv2dAttrs = { ...attrs, activation: undefined };
    let gz = gy;
    if (!isIdentity(attrs.activation)) {
      const { op, attrs: actAttrs } = activationOp(attrs.activation!);
      if (!op.def.backwardOps) throw new MissingDoubleBackward(`conv2d (fused ${attrs.activation!.kind})`);
      const piecewise = ['relu', 'leakyRelu', 'clip'].includes(attrs.activation!.kind);
      const [z] = piecewise ? [saved[saved.length - 1]] : conv2d(hasBias ? [x, w, saved[2]] : [x, w], plain);
      const [y] = piecewise ? [saved[saved.length - 2]] : op([z], actAttrs);
      const ctx = { saved: [z, y], attrs: actAttrs, inputShapes: [z.shape], outputShapes: [y.shape], needsInputGrad: [true] };
      gz = op.def.backwardOps(ctx, [gy])[0]!;
    }
    const g = convGeometry('conv2d', x.shape, w.shape, attrs);
    return [
      needsInputGrad[0] ? convTranspose2d([gz, w], { ...convOptions(attrs), outputPadding: transposePadding(g) })[0] : null,
      needsInputGrad[1] ? conv2dGradWeight([x, gz], { ...convOptions(attrs), weightShape: w.shape })[0] : null,
      ...(hasBias ? [needsInputGrad[2] ? sum([gz], { axes: [0, 2, 3] })[0] : null] : []),
    ];
  },
});

/** strides, pads, dilations, groups of a conv's attributes (no activation). */
function convOptions({ strides, pads, dilations, groups }: ConvOptions): ConvOptions {
  return { strides, pads, dilations, groups };
}

/** The output padding with which convTranspose2d of the conv's output gradient has the conv input's size. */
function transposePadding(g: ConvGeometry): [number, number] {
  const extra = (size: number, k: number, s: number, d: number, pb: number, pe: number) => (size + pb + pe - ((k - 1) * d + 1)) % s;
  return [extra(g.inH, g.kernelH, g.strideH, g.dilationH, g.padTop, g.padBottom), extra(g.inW, g.kernelW, g.strideW, g.dilationW, g.padLeft, g.padRight)];
}

export interface Conv2dGradWeightAttrs extends ConvOptions {
  /** [O, C / groups, KH, KW]: the weight whose gradient this is. */
  weightShape: readonly number[];
}

/**
 * conv2d's weight gradient as an op, inputs [x, dz]: dw = x (*) dz (correlation
 * over images and pixels). Defined as an op so that a createGraph backward
 * records it (higher-order gradients through a conv's weights).
 */
export const conv2dGradWeight = defineOp<Conv2dGradWeightAttrs>({
  name: 'conv2dGradWeight',
  forward([x, gz], attrs) {
    const g = convGeometry('conv2dGradWeight', x.shape, attrs.weightShape, attrs);
    const expected = [g.batch, g.outC, g.outH, g.outW];
    if (gz.shape.join() !== expected.join()) throw new ShapeError('conv2dGradWeight', `dz must be [${expected.join(', ')}], the conv's output shape`, [x.shape, gz.shape]);
    return [conv2dGradWeightKernel(x, gz, g)];
  },
  save: (inputs) => [...inputs],
  // dw is bilinear in (x, dz): for its gradient G, dx = conv_transpose(dz, G), d dz = conv(x, G)
  backward({ saved: [x, gz], attrs, needsInputGrad }, [gw]) {
    const g = convGeometry('conv2dGradWeight', x.shape, attrs.weightShape, attrs);
    return [needsInputGrad[0] ? conv2dGradInputKernel(gz, gw, g) : null, needsInputGrad[1] ? conv2dForwardKernel(x, gw, null, g) : null];
  },
  backwardOps({ saved: [x, gz], attrs, needsInputGrad }, [gw]): (Tensor | null)[] {
    const g = convGeometry('conv2dGradWeight', x.shape, attrs.weightShape, attrs);
    const options = convOptions(attrs);
    return [
      needsInputGrad[0] ? convTranspose2d([gz, gw], { ...options, outputPadding: transposePadding(g) })[0] : null,
      needsInputGrad[1] ? conv2d([x, gw], options)[0] : null,
    ];
  },
});

// ---- running in parts (split.ts) ---------------------------------------------------

/** The [start, length] of an input axis read by a part of the output, and that part's pads. */
type Window = { rows: [number, number]; padBegin: number; padEnd: number; outputPadding?: number };

/**
 * Output rows [o, o + n) of a conv read input rows [o s - pb, (o + n - 1) s - pb + (k - 1) d]
 * (clipped to the input): the part convolves them with the pads that clipping removed.
 */
function convWindow(size: number, k: number, s: number, d: number, pb: number, o: number, n: number): Window {
  const first = o * s - pb;
  const span = (n - 1) * s + (k - 1) * d + 1;
  const i0 = Math.max(0, first);
  const i1 = Math.min(size, first + span);
  return { rows: [i0, i1 - i0], padBegin: i0 - first, padEnd: span - (i1 - first) };
}

/**
 * Output rows [r, r + n) of a transposed conv (out = i s - pb + j d) gather input rows
 * [floor((r + pb - (k - 1) d) / s), floor((r + n - 1 + pb) / s)] (clipped); the part's
 * begin pad crops what those rows reach before r, its end pad (or output padding) fits n.
 */
function convTransposeWindow(size: number, k: number, s: number, d: number, pb: number, r: number, n: number): Window {
  const i0 = Math.min(size - 1, Math.max(0, Math.floor((r + pb - (k - 1) * d) / s)));
  const i1 = Math.max(i0 + 1, Math.min(size, Math.floor((r + n - 1 + pb) / s) + 1));
  const padBegin = pb + r - i0 * s;
  const reach = (i1 - i0 - 1) * s + (k - 1) * d + 1 - padBegin;
  return { rows: [i0, i1 - i0], padBegin, padEnd: Math.max(0, reach - n), outputPadding: Math.max(0, n - reach) };
}

/** A conv's output layout for convSplits: channels per group in and out, and the weight axis that indexes output channels. */
interface ConvLayout {
  groupOutC: number;
  groupInC: number;
  weightAxis: 0 | 1;
}

/** Ways to run a conv in parts: over images, output channels (whole groups), then output rows with their input halo. */
function convSplits<A extends Conv2dAttrs | ConvTranspose2dAttrs>(attrs: A, hasBias: boolean, o: ConvLayout, window: ((r: number, n: number) => Window) | null): SplitAxis<A>[] {
  const bias = (cut: number | null) => (hasBias ? [cut] : []);
  const pads = attrs.pads ?? [0, 0, 0, 0];
  const axes: SplitAxis<A>[] = [{ name: 'batch', outputs: [0], inputs: [0, null, ...bias(null)] }];
  if ((attrs.groups ?? 1) === 1) axes.push({ name: 'output channels', outputs: [1], inputs: [null, o.weightAxis, ...bias(0)] });
  else {
    // Whole groups: output channels [c, c + n) read the input channels (and weight rows) of the same groups.
    const inputs: InputCut = { axis: 1, range: (c, n) => [(c / o.groupOutC) * o.groupInC, (n / o.groupOutC) * o.groupInC] };
    // conv2d's weights [O, I, ...] follow the output channels; convTranspose2d's [C_in, O / groups, ...] the input channels.
    const weights: InputCut = o.weightAxis === 0 ? { axis: 0 } : { axis: 0, range: inputs.range };
    axes.push({ name: 'output channels', outputs: [1], unit: o.groupOutC, inputs: [inputs, weights, ...bias(0)], attrs: (_c, n) => ({ ...attrs, groups: n / o.groupOutC }) });
  }
  if (window) {
    axes.push({
      name: 'rows',
      outputs: [2],
      inputs: [{ axis: 2, range: (r, n) => window(r, n).rows }, null, ...bias(null)],
      attrs: (r, n) => {
        const w = window(r, n);
        const part = { ...attrs, pads: [w.padBegin, pads[1], w.padEnd, pads[3]] as const };
        if (w.outputPadding === undefined) return part;
        return { ...part, outputPadding: [w.outputPadding, (attrs as ConvTranspose2dAttrs).outputPadding?.[1] ?? 0] as const };
      },
    });
  }
  return axes;
}

// ---- convTranspose2d ------------------------------------------------------------

export const convTranspose2d = defineOp<ConvTranspose2dAttrs>({
  name: 'convTranspose2d',
  forward(inputs, attrs) {
    const [x, w, b] = convInputs('convTranspose2d', inputs);
    const g = convTransposeGeometry(x.shape, w.shape, attrs, b?.shape);
    return [conv2dGradInputKernel(x, w, g, b)];
  },
  save: (inputs) => inputs.slice(0, 2),
  split([x, w, b], attrs) {
    // g is the conv this transposes: its input is our output.
    const g = convTransposeGeometry(x, w, attrs, b);
    const window = (r: number, n: number) => convTransposeWindow(x[2], g.kernelH, g.strideH, g.dilationH, g.padTop, r, n);
    return convSplits(attrs, !!b, { groupOutC: w[1], groupInC: x[1] / g.groups, weightAxis: 1 }, window);
  },
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
  // the same with ops: dx = conv2d(dy, w); dw = conv2dGradWeight(dy, x) (roles swapped); db = sum of dy
  backwardOps({ saved: [x, w], attrs, needsInputGrad, inputShapes }, [gy]): (Tensor | null)[] {
    const options = convOptions(attrs);
    return [
      needsInputGrad[0] ? conv2d([gy, w], options)[0] : null,
      needsInputGrad[1] ? conv2dGradWeight([gy, x], { ...options, weightShape: w.shape })[0] : null,
      ...(inputShapes.length > 2 ? [needsInputGrad[2] ? sum([gy], { axes: [0, 2, 3] })[0] : null] : []),
    ];
  },
});

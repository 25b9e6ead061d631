// Convolution geometry: attribute checks and output sizes of conv2d and
// convTranspose2d, the numbers every conv kernel is launched with. Pure: graph
// preparation uses it without a GPU.

import type { Activation } from '../activations.js';
import { ShapeError } from '../errors.js';
import { formatShape, type Shape } from '../shape.js';

/** Convolution attributes, ONNX Conv's (pads are [top, left, bottom, right], ONNX order). */
export interface ConvOptions {
  strides?: readonly [number, number];
  pads?: readonly [number, number, number, number];
  dilations?: readonly [number, number];
  groups?: number;
}

/** Every size a conv kernel needs, for x [N, C, H, W] * w [O, I, KH, KW] -> y [N, O, OH, OW]. */
export interface ConvGeometry {
  batch: number;
  inC: number;
  inH: number;
  inW: number;
  outC: number;
  outH: number;
  outW: number;
  groups: number;
  /** I = C / groups: input channels each output channel sees. */
  groupInC: number;
  /** O / groups. */
  groupOutC: number;
  kernelH: number;
  kernelW: number;
  strideH: number;
  strideW: number;
  dilationH: number;
  dilationW: number;
  padTop: number;
  padLeft: number;
  padBottom: number;
  padRight: number;
}

function checkInts(op: string, name: string, values: readonly number[], min: number, count: number): void {
  if (values.length !== count || values.some((v) => !Number.isInteger(v) || v < min)) {
    throw new ShapeError(op, `${name} must be ${count} integer(s) >= ${min}, got [${values.join(', ')}]`);
  }
}

/** Validates strides, pads, dilations and groups (ShapeError naming `op`). */
export function checkConvOptions(op: string, options: ConvOptions): void {
  const { strides = [1, 1], pads = [0, 0, 0, 0], dilations = [1, 1], groups = 1 } = options;
  checkInts(op, 'strides', strides, 1, 2);
  checkInts(op, 'dilations', dilations, 1, 2);
  checkInts(op, 'pads [top, left, bottom, right]', pads, 0, 4);
  checkInts(op, 'groups', [groups], 1, 1);
}

/** Output size of one spatial axis; ShapeError when the (dilated) kernel does not fit the padded input. */
function outputSize(op: string, axis: string, size: number, k: number, stride: number, dil: number, padBegin: number, padEnd: number, shapes: Shape[]): number {
  const span = dil * (k - 1) + 1;
  const padded = size + padBegin + padEnd;
  if (span > padded) {
    throw new ShapeError(op, `kernel ${axis} extent ${span} (kernel ${k}, dilation ${dil}) is larger than the padded input ${axis} ${padded}`, shapes);
  }
  return Math.floor((padded - span) / stride) + 1;
}

/** The stride, dilation and pad fields of a ConvGeometry, from ONNX-ordered attributes. */
function windowFields(strides: readonly number[], dilations: readonly number[], pads: readonly number[]) {
  return {
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

/** Validates a convolution of x by w (and bias length) and returns its geometry. */
export function convGeometry(op: string, x: Shape, w: Shape, options: ConvOptions, bias?: Shape): ConvGeometry {
  const shapes = bias ? [x, w, bias] : [x, w];
  if (x.length !== 4) throw new ShapeError(op, `input must be 4-D NCHW, got rank ${x.length}`, shapes);
  if (w.length !== 4) throw new ShapeError(op, `weight must be 4-D [O, C / groups, KH, KW], got rank ${w.length}`, shapes);
  checkConvOptions(op, options);
  const { strides = [1, 1], pads = [0, 0, 0, 0], dilations = [1, 1], groups = 1 } = options;
  const [batch, inC, inH, inW] = x;
  const [outC, groupInC, kernelH, kernelW] = w;
  if (inC % groups !== 0) throw new ShapeError(op, `groups ${groups} does not divide the ${inC} input channels`, shapes);
  if (outC % groups !== 0) throw new ShapeError(op, `groups ${groups} does not divide the ${outC} output channels`, shapes);
  if (groupInC * groups !== inC) {
    throw new ShapeError(op, `input has ${inC} channels but the weight expects ${groupInC} x ${groups} groups = ${groupInC * groups}`, shapes);
  }
  if (bias && (bias.length !== 1 || bias[0] !== outC)) {
    throw new ShapeError(op, `bias must be [${outC}] (one per output channel), got ${formatShape(bias)}`, shapes);
  }
  const outH = outputSize(op, 'height', inH, kernelH, strides[0], dilations[0], pads[0], pads[2], shapes);
  const outW = outputSize(op, 'width', inW, kernelW, strides[1], dilations[1], pads[1], pads[3], shapes);
  return {
    batch,
    inC,
    inH,
    inW,
    outC,
    outH,
    outW,
    groups,
    groupInC,
    groupOutC: outC / groups,
    kernelH,
    kernelW,
    ...windowFields(strides, dilations, pads),
  };
}

/** FLOPs of a conv forward (2 per multiply-add); grad_input and grad_weight are the same count. */
export function convFlops(g: ConvGeometry): number {
  return 2 * g.batch * g.outC * g.outH * g.outW * g.groupInC * g.kernelH * g.kernelW;
}

export interface Conv2dAttrs extends ConvOptions {
  /** Fused after the bias (default none). */
  activation?: Activation;
}

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
    ...windowFields(strides, dilations, pads),
  };
}

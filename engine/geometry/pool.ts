// Pooling geometry: window, strides, pads and output size of maxPool and
// averagePool. Pure.

import { ShapeError } from '../errors.js';
import type { Shape } from '../shape.js';

export interface PoolAttrs {
  /** [kernelH, kernelW] */
  kernelShape: readonly number[];
  /** [strideH, strideW], default [1, 1] */
  strides?: readonly number[];
  /** [top, left, bottom, right] (ONNX order: begins, then ends), default zeros */
  pads?: readonly number[];
  /** [dilationH, dilationW], default [1, 1] */
  dilations?: readonly number[];
  /** Output size rounds up instead of down. */
  ceilMode?: boolean;
}

export interface AveragePoolAttrs extends PoolAttrs {
  /** Divide by the taps inside the padded input (true) or inside the input only (false, default as in ONNX). */
  countIncludePad?: boolean;
}

/** Everything a pooling kernel needs, validated. */
export interface PoolGeometry {
  planes: number;
  inH: number;
  inW: number;
  outH: number;
  outW: number;
  kernel: [number, number];
  strides: [number, number];
  dilations: [number, number];
  /** [top, left, bottom, right] */
  pads: [number, number, number, number];
}

/** The most taps a pooling window may have (2^24). */
export const MAX_WINDOW = 2 ** 24;

/** Validates a 2D pool over NCHW `shape` and computes its output size. */
export function poolGeometry(op: string, shape: Shape, attrs: PoolAttrs): PoolGeometry {
  if (shape.length !== 4) throw new ShapeError(op, `expects an NCHW input (rank 4), got rank ${shape.length}`, [shape]);
  const kernel = pair(op, 'kernelShape', attrs.kernelShape ?? [], 1, shape);
  // Each output loops over its window on the GPU: a window past 2^24 taps (a 4096 x 4096 pool) would run
  // for minutes or hang the device (found by fuzzing: kernel_shape 2^31 with SAME padding). Global pools are their own ops.
  if (kernel[0] * kernel[1] > MAX_WINDOW) {
    throw new ShapeError(op, `kernel [${kernel.join(', ')}] has ${kernel[0] * kernel[1]} taps per window, over the ${MAX_WINDOW} supported (use a global pool for whole-map windows)`, [shape]);
  }
  const strides = pair(op, 'strides', attrs.strides ?? [1, 1], 1, shape);
  const dilations = pair(op, 'dilations', attrs.dilations ?? [1, 1], 1, shape);
  const pads = attrs.pads ?? [0, 0, 0, 0];
  if (pads.length !== 4 || pads.some((d) => !Number.isInteger(d) || d < 0)) {
    throw new ShapeError(op, `pads must be four integers >= 0 [top, left, bottom, right], got [${pads.join(', ')}]`, [shape]);
  }
  const [n, c, inH, inW] = shape;
  const ceil = attrs.ceilMode ?? false;
  const outH = axisOutput(op, 'H', inH, kernel[0], strides[0], dilations[0], pads[0], pads[2], ceil, shape);
  const outW = axisOutput(op, 'W', inW, kernel[1], strides[1], dilations[1], pads[1], pads[3], ceil, shape);
  return { planes: n * c, inH, inW, outH, outW, kernel, strides, dilations, pads: [pads[0], pads[1], pads[2], pads[3]] };
}

function pair(op: string, name: string, out: readonly number[], min: number, shape: Shape): [number, number] {
  if (out.length !== 2 || out.some((d) => !Number.isInteger(d) || d < min)) {
    throw new ShapeError(op, `${name} must be two integers >= ${min}, got [${out.join(', ')}]`, [shape]);
  }
  return [out[0], out[1]];
}

/** Output size along one axis, checking that the kernel fits and no window lies entirely in padding. */
function axisOutput(op: string, axis: string, size: number, k: number, s: number, d: number, begin: number, end: number, ceil: boolean, shape: Shape): number {
  const extent = (k - 1) * d + 1;
  const span = size + begin + end - extent;
  if (span < 0) {
    throw new ShapeError(op, `kernel extent ${extent} along ${axis} exceeds the padded input (${size} + ${begin} + ${end})`, [shape]);
  }
  let out = (ceil ? Math.ceil(span / s) : Math.floor(span / s)) + 1;
  // ceil_mode: the last window must start inside the input or the begin padding.
  if (ceil && (out - 1) * s >= size + begin) out--;
  for (let o = 0; o < out; o++) {
    const start = o * s - begin;
    let inside = false;
    for (let t = 0; t < k && !inside; t++) inside = start + t * d >= 0 && start + t * d < size;
    if (!inside) {
      throw new ShapeError(op, `window ${o} along ${axis} covers only padding: keep pads below the kernel extent (${extent})`, [shape]);
    }
  }
  return out;
}

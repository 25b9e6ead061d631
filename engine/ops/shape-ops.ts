// Shape ops of CNN graphs, with ONNX semantics: concat, split, slice, pad,
// gather and flatten. Forward and backward are data movements:
//  - concat writes each input into its slab of the output (shaders/concat.wgsl);
//  - split and slice are strided gathers (shaders/movement.wgsl);
//  - pad reads each output element from its source (shaders/pad.wgsl);
//  - gather sums per-position index lists (shaders/gather.wgsl);
//  - flatten is a free view.
// Every backward is formulated as a gather: one thread per input-gradient
// element reads the output-gradient elements that came from it. No two threads
// write the same element, so there are no atomics and results are deterministic.

import concatWgsl from '../../shaders/concat.wgsl';
import gatherWgsl from '../../shaders/gather.wgsl';
import padWgsl from '../../shaders/pad.wgsl';
import { ShapeError } from '../errors.js';
import { defineKernel } from '../kernels/kernel.js';
import { runtime } from '../runtime.js';
import { contiguousStrides, formatShape, numel, type Shape } from '../shape.js';
import { Tensor } from '../tensor.js';
import { stridedCopy } from './movement.js';
import { defineOp, grid1d, launch, pack8 } from './op.js';

const concatKernel = defineKernel({ name: 'concat', wgsl: concatWgsl, entryPoint: 'concat_slab' });
const indexSumKernel = defineKernel({ name: 'index_sum', wgsl: gatherWgsl, entryPoint: 'index_sum' });
const padKernel = defineKernel({ name: 'pad', wgsl: padWgsl, entryPoint: 'pad' });
const sliceGradKernel = defineKernel({ name: 'slice_grad', wgsl: padWgsl, entryPoint: 'slice_grad' });

// ---- helpers -------------------------------------------------------------------

/** Normalizes an axis in [-rank, rank + extra); ShapeError naming the op and the shapes otherwise. */
function axisOf(op: string, axis: number, rank: number, shapes: readonly Shape[], extra = 0): number {
  const a = axis < 0 ? axis + rank : axis;
  if (!Number.isInteger(a) || a < 0 || a >= rank + extra) {
    throw new ShapeError(op, `axis ${axis} is out of range for rank ${rank} (valid: ${-rank}..${rank - 1 + extra})`, shapes);
  }
  return a;
}

/** Elements per step along `axis` (the product of the dimensions after it). */
function innerSize(shape: Shape, axis: number): number {
  return numel(shape.slice(axis + 1));
}

/** x[..., start:start+len, ...] along `axis`. */
function sliceAxis(x: Tensor, axis: number, start: number, len: number): Tensor {
  const shape = x.shape.map((d, i) => (i === axis ? len : d));
  return stridedCopy(x, shape, x.strides, start * x.strides[axis]);
}

/** Concatenates `parts` along `axis` into a new tensor of shape `outShape`. */
function concatInto(parts: readonly Tensor[], axis: number, outShape: Shape): Tensor {
  const y = Tensor.empty(outShape);
  const inner = innerSize(outShape, axis);
  let offset = 0;
  for (const x of parts) {
    launch(concatKernel, { x, y }, {
      workgroups: grid1d(x.size),
      uniforms: { n: x.size, inner, src_axis: x.shape[axis], dst_axis: outShape[axis], dst_offset: offset },
    });
    offset += x.shape[axis];
  }
  return y;
}

/**
 * A table of u32 values for kernels that declare the binding `array<u32>`.
 * Tensors are f32 by type; the kernel reads the bits as stored here.
 */
function u32Table(values: readonly number[]): Tensor {
  const t = Tensor.empty([Math.max(values.length, 1)]);
  if (values.length) runtime().upload(t.buffer, Uint32Array.from(values));
  return t;
}

/**
 * y[o, j, i] = sum over t in lists[j] of x[o, t, i], with x viewed as
 * [outer, srcAxis, inner] and y (of shape `outShape`) as [outer, lists.length, inner].
 */
function indexSum(x: Tensor, srcAxis: number, lists: readonly (readonly number[])[], outShape: Shape, inner: number): Tensor {
  const starts = [0];
  for (const l of lists) starts.push(starts[starts.length - 1] + l.length);
  const startsT = u32Table(starts);
  const tapsT = u32Table(lists.flat());
  const y = Tensor.empty(outShape);
  launch(indexSumKernel, { x, starts: startsT, taps: tapsT, y }, {
    workgroups: grid1d(y.size),
    uniforms: { n: y.size, inner, src_axis: srcAxis, dst_axis: lists.length },
  });
  startsT.dispose();
  tapsT.dispose();
  return y;
}

// ---- concat ----------------------------------------------------------------------

export interface ConcatAttrs {
  axis: number;
}

function concatShape(shapes: readonly Shape[], axis: number): { axis: number; shape: number[] } {
  if (!shapes.length) throw new ShapeError('concat', 'needs at least one input');
  const rank = shapes[0].length;
  shapes.forEach((s, k) => {
    if (s.length !== rank) throw new ShapeError('concat', `input ${k} has rank ${s.length} but input 0 has rank ${rank}`, shapes);
  });
  const a = axisOf('concat', axis, rank, shapes);
  shapes.forEach((s, k) => {
    s.forEach((d, i) => {
      if (i !== a && d !== shapes[0][i]) {
        throw new ShapeError('concat', `input ${k} has size ${d} in dimension ${i} but input 0 has ${shapes[0][i]}; only axis ${a} may differ`, shapes);
      }
    });
  });
  const shape = [...shapes[0]];
  shape[a] = shapes.reduce((n, s) => n + s[a], 0);
  return { axis: a, shape };
}

export const concat = defineOp<ConcatAttrs>({
  name: 'concat',
  forward(xs, { axis }) {
    const { axis: a, shape } = concatShape(xs.map((x) => x.shape), axis);
    return [concatInto(xs, a, shape)];
  },
  // dx_k = dy[..., offset_k : offset_k + n_k, ...] along the axis
  backward({ attrs: { axis }, inputShapes, needsInputGrad }, [gy]) {
    const { axis: a } = concatShape(inputShapes, axis);
    let offset = 0;
    return inputShapes.map((s, k) => {
      const start = offset;
      offset += s[a];
      return needsInputGrad[k] ? sliceAxis(gy, a, start, s[a]) : null;
    });
  },
});

// ---- split -----------------------------------------------------------------------

export interface SplitAttrs {
  /** Default 0. */
  axis?: number;
  /** Length of each part; they must sum to the axis size. */
  sizes?: readonly number[];
  /** Without sizes: this many parts of ceil(size / numOutputs), the last one shorter (ONNX opset 18). */
  numOutputs?: number;
}

function splitSizes(shape: Shape, { axis = 0, sizes, numOutputs }: SplitAttrs): { axis: number; sizes: number[] } {
  const a = axisOf('split', axis, shape.length, [shape]);
  const dim = shape[a];
  if (sizes) {
    if (!sizes.length || sizes.some((s) => !Number.isInteger(s) || s < 0)) {
      throw new ShapeError('split', `sizes [${sizes.join(', ')}] must be a non-empty list of non-negative integers`, [shape]);
    }
    const total = sizes.reduce((n, s) => n + s, 0);
    if (total !== dim) throw new ShapeError('split', `sizes [${sizes.join(', ')}] sum to ${total} but axis ${a} has size ${dim}`, [shape]);
    return { axis: a, sizes: [...sizes] };
  }
  if (numOutputs === undefined) throw new ShapeError('split', 'give either sizes or numOutputs', [shape]);
  if (!Number.isInteger(numOutputs) || numOutputs < 1) throw new ShapeError('split', `numOutputs ${numOutputs} must be a positive integer`, [shape]);
  const chunk = Math.ceil(dim / numOutputs);
  const last = dim - chunk * (numOutputs - 1);
  if (last < 0) {
    throw new ShapeError('split', `axis ${a} of size ${dim} cannot be split into ${numOutputs} parts of ${chunk} with a shorter last part; pass sizes`, [shape]);
  }
  return { axis: a, sizes: [...new Array<number>(numOutputs - 1).fill(chunk), last] };
}

export const split = defineOp<SplitAttrs>({
  name: 'split',
  forward([x], attrs) {
    const { axis, sizes } = splitSizes(x.shape, attrs);
    let offset = 0;
    return sizes.map((len) => {
      const part = sliceAxis(x, axis, offset, len);
      offset += len;
      return part;
    });
  },
  // dx = concat(dy_0, ..., dy_k) along the axis
  backward({ attrs, inputShapes: [shape] }, gys) {
    const { axis } = splitSizes(shape, attrs);
    return [concatInto(gys, axis, shape)];
  },
});

// ---- slice -----------------------------------------------------------------------

export interface SliceAttrs {
  starts: readonly number[];
  /** Exclusive; clamped like ONNX (use a large value or Infinity for "to the end"). */
  ends: readonly number[];
  /** Axes that starts/ends/steps refer to (default 0, 1, ...); negative counts from the end. */
  axes?: readonly number[];
  /** Default 1; negative steps walk backwards. */
  steps?: readonly number[];
}

/** Per-axis first index, step and count of an ONNX slice (all axes of x). */
export function resolveSlice(shape: Shape, { starts, ends, axes, steps }: SliceAttrs): { starts: number[]; steps: number[]; counts: number[] } {
  const n = starts.length;
  const axisList = axes ?? [...Array(n).keys()];
  const stepList = steps ?? new Array<number>(n).fill(1);
  if (ends.length !== n || axisList.length !== n || stepList.length !== n) {
    throw new ShapeError('slice', `starts, ends, axes and steps must have one entry each per sliced axis (got ${n}, ${ends.length}, ${axisList.length}, ${stepList.length})`, [shape]);
  }
  const out = { starts: new Array<number>(shape.length).fill(0), steps: new Array<number>(shape.length).fill(1), counts: [...shape] };
  const seen = new Set<number>();
  axisList.forEach((axis, i) => {
    const a = axisOf('slice', axis, shape.length, [shape]);
    if (seen.has(a)) throw new ShapeError('slice', `axis ${axis} is sliced twice`, [shape]);
    seen.add(a);
    const dim = shape[a];
    const step = stepList[i];
    const isIndex = (v: number) => Number.isInteger(v) || v === Infinity || v === -Infinity;
    if (!Number.isInteger(step) || step === 0) throw new ShapeError('slice', `step ${step} on axis ${a} must be a non-zero integer`, [shape]);
    if (!isIndex(starts[i]) || !isIndex(ends[i])) throw new ShapeError('slice', `start ${starts[i]} and end ${ends[i]} on axis ${a} must be integers`, [shape]);
    let start = starts[i] < 0 ? starts[i] + dim : starts[i];
    let end = ends[i] < 0 ? ends[i] + dim : ends[i];
    // ONNX clamping: [0, dim] for positive steps, [0, dim - 1] and [-1, dim - 1] for negative ones.
    if (step > 0) {
      start = Math.min(Math.max(start, 0), dim);
      end = Math.min(Math.max(end, 0), dim);
    } else {
      start = Math.min(Math.max(start, 0), dim - 1);
      end = Math.min(Math.max(end, -1), dim - 1);
    }
    out.starts[a] = start;
    out.steps[a] = step;
    out.counts[a] = Math.max(0, Math.ceil((end - start) / step));
  });
  return out;
}

export const slice = defineOp<SliceAttrs>({
  name: 'slice',
  forward([x], attrs) {
    const { starts, steps, counts } = resolveSlice(x.shape, attrs);
    const offset = counts.some((c) => c === 0) ? 0 : starts.reduce((o, s, d) => o + s * x.strides[d], 0);
    return [stridedCopy(x, counts, x.strides.map((s, d) => s * steps[d]), offset)];
  },
  // dx[c] = dy[q] where c = start + q * step on every axis, 0 elsewhere
  backward({ attrs, inputShapes: [shape] }, [gy]) {
    const { starts, steps, counts } = resolveSlice(shape, attrs);
    const gx = Tensor.empty(shape);
    launch(sliceGradKernel, { gy, gx }, {
      workgroups: grid1d(gx.size),
      uniforms: {
        n: gx.size,
        rank: shape.length,
        in_shape: pack8(shape),
        starts: pack8(starts),
        steps: pack8(steps, 1),
        counts: pack8(counts),
        gy_strides: pack8(contiguousStrides(counts)),
      },
    });
    return [gx];
  },
});

// ---- pad -------------------------------------------------------------------------

export type PadMode = 'constant' | 'reflect' | 'edge' | 'wrap';
const PAD_MODE: Record<PadMode, number> = { constant: 0, reflect: 1, edge: 2, wrap: 3 };

export interface PadAttrs {
  /** ONNX layout: [begin_0, begin_1, ..., end_0, end_1, ...] over `axes`; negative values crop. */
  pads: readonly number[];
  /** Default 'constant'. */
  mode?: PadMode;
  /** Fill value of constant mode (default 0). */
  value?: number;
  /** Axes the pads refer to (default all). */
  axes?: readonly number[];
}

/**
 * Per-axis plan of a pad: crop the input to [crop, crop + kept) (negative pads),
 * then pad `begin` before and `end` after it.
 */
interface PadPlan {
  crop: number[];
  kept: number[];
  begin: number[];
  end: number[];
  shape: number[];
}

export function resolvePad(shape: Shape, { pads, mode = 'constant', axes }: PadAttrs): PadPlan {
  if (!(mode in PAD_MODE)) throw new ShapeError('pad', `unknown mode '${mode}' (supported: ${Object.keys(PAD_MODE).join(', ')})`, [shape]);
  const rank = shape.length;
  const axisList = (axes ?? [...Array(rank).keys()]).map((a) => axisOf('pad', a, rank, [shape]));
  if (new Set(axisList).size !== axisList.length) throw new ShapeError('pad', `repeated axis in [${axes?.join(', ')}]`, [shape]);
  if (pads.length !== 2 * axisList.length) {
    throw new ShapeError('pad', `pads has ${pads.length} values; expected 2 per padded axis (${2 * axisList.length}), begins then ends`, [shape]);
  }
  const plan: PadPlan = { crop: new Array(rank).fill(0), kept: [...shape], begin: new Array(rank).fill(0), end: new Array(rank).fill(0), shape: [...shape] };
  axisList.forEach((a, i) => {
    const b = pads[i];
    const e = pads[i + axisList.length];
    if (!Number.isInteger(b) || !Number.isInteger(e)) throw new ShapeError('pad', `pads on axis ${a} must be integers (got ${b}, ${e})`, [shape]);
    const kept = shape[a] - Math.max(0, -b) - Math.max(0, -e);
    if (kept < 0) throw new ShapeError('pad', `pads (${b}, ${e}) crop more than the ${shape[a]} elements of axis ${a}`, [shape]);
    if (kept === 0 && mode !== 'constant' && (b > 0 || e > 0)) {
      throw new ShapeError('pad', `mode '${mode}' cannot pad axis ${a}: no elements are left to copy from`, [shape]);
    }
    plan.crop[a] = Math.max(0, -b);
    plan.kept[a] = kept;
    plan.begin[a] = Math.max(0, b);
    plan.end[a] = Math.max(0, e);
    plan.shape[a] = kept + plan.begin[a] + plan.end[a];
  });
  return plan;
}

function runPad(x: Tensor, outShape: Shape, plan: Pick<PadPlan, 'begin' | 'crop' | 'kept'>, mode: PadMode, value: number): Tensor {
  const y = Tensor.empty(outShape);
  launch(padKernel, { x, y }, {
    workgroups: grid1d(y.size),
    uniforms: {
      n: y.size,
      rank: outShape.length,
      value,
      out_shape: pack8(outShape),
      in_strides: pack8(x.strides),
      pad_begin: pack8(plan.begin),
      crop: pack8(plan.crop),
      kept: pack8(plan.kept),
    },
    constants: { MODE: PAD_MODE[mode] },
  });
  return y;
}

/** The cropped-input coordinate that padded coordinate `s` (relative to the kept range) copies. */
function padSource(s: number, kept: number, mode: PadMode): number {
  if (s >= 0 && s < kept) return s;
  if (mode === 'edge') return Math.min(Math.max(s, 0), kept - 1);
  if (mode === 'wrap') return ((s % kept) + kept) % kept;
  if (kept === 1) return 0;
  const period = 2 * (kept - 1);
  const r = ((s % period) + period) % period;
  return r >= kept ? period - r : r;
}

export const pad = defineOp<PadAttrs>({
  name: 'pad',
  forward([x], attrs) {
    const plan = resolvePad(x.shape, attrs);
    return [runPad(x, plan.shape, plan, attrs.mode ?? 'constant', attrs.value ?? 0)];
  },
  // constant: dx = pad(dy) with crop and pad swapped (the kept window of dy, zeros where x was cropped);
  // reflect/edge/wrap: dx[c] = sum of dy over the output coordinates that copied c, one axis at a time
  backward({ attrs, inputShapes: [shape] }, [gy]) {
    const plan = resolvePad(shape, attrs);
    const mode = attrs.mode ?? 'constant';
    if (mode === 'constant') return [runPad(gy, shape, { begin: plan.crop, crop: plan.begin, kept: plan.kept }, 'constant', 0)];
    let g = gy;
    const current = [...plan.shape];
    for (let a = 0; a < shape.length; a++) {
      if (plan.kept[a] === shape[a] && plan.begin[a] === 0 && plan.end[a] === 0) continue; // untouched axis
      const lists: number[][] = Array.from({ length: shape[a] }, () => []);
      for (let o = 0; o < current[a]; o++) lists[plan.crop[a] + padSource(o - plan.begin[a], plan.kept[a], mode)].push(o);
      const srcAxis = current[a];
      current[a] = shape[a];
      const next = indexSum(g, srcAxis, lists, current, innerSize(current, a));
      if (g !== gy) g.dispose();
      g = next;
    }
    return [g === gy ? gy.view(shape) : g];
  },
});

// ---- gather ----------------------------------------------------------------------

export interface GatherAttrs {
  /** Constant indices into the axis, row-major over `indicesShape`; negative counts from the end. */
  indices: readonly number[];
  /** Shape of the indices (default [indices.length]; [] for a single scalar index, which drops the axis). */
  indicesShape?: Shape;
  /** Default 0. */
  axis?: number;
}

export function resolveGather(shape: Shape, { indices, indicesShape, axis = 0 }: GatherAttrs): { axis: number; indices: number[]; shape: number[] } {
  const a = axisOf('gather', axis, shape.length, [shape]);
  const idxShape = indicesShape ?? [indices.length];
  if (numel(idxShape) !== indices.length) {
    throw new ShapeError('gather', `${indices.length} indices do not fill indicesShape ${formatShape(idxShape)}`, [shape]);
  }
  const dim = shape[a];
  const normalized = indices.map((v, k) => {
    if (!Number.isInteger(v) || v < -dim || v >= dim) {
      throw new ShapeError('gather', `index ${v} (position ${k}) is out of range for axis ${a} of size ${dim} (valid: ${-dim}..${dim - 1})`, [shape]);
    }
    return v < 0 ? v + dim : v;
  });
  return { axis: a, indices: normalized, shape: [...shape.slice(0, a), ...idxShape, ...shape.slice(a + 1)] };
}

export const gather = defineOp<GatherAttrs>({
  name: 'gather',
  forward([x], attrs) {
    const { axis, indices, shape } = resolveGather(x.shape, attrs);
    return [indexSum(x, x.shape[axis], indices.map((i) => [i]), shape, innerSize(x.shape, axis))];
  },
  // dx[j] = sum of dy[k] over the positions k with indices[k] == j
  backward({ attrs, inputShapes: [shape] }, [gy]) {
    const { axis, indices } = resolveGather(shape, attrs);
    const lists: number[][] = Array.from({ length: shape[axis] }, () => []);
    indices.forEach((j, k) => lists[j].push(k));
    return [indexSum(gy, indices.length, lists, shape, innerSize(shape, axis))];
  },
});

// ---- flatten ---------------------------------------------------------------------

export interface FlattenAttrs {
  /** Dimensions before `axis` become the first output dimension, the rest the second (default 1; 0..rank). */
  axis?: number;
}

export function flattenShape(shape: Shape, axis = 1): [number, number] {
  const a = axisOf('flatten', axis, shape.length, [shape], 1);
  return [numel(shape.slice(0, a)), numel(shape.slice(a))];
}

export const flatten = defineOp<FlattenAttrs>({
  name: 'flatten',
  forward([x], { axis }) {
    return [x.view(flattenShape(x.shape, axis))];
  },
  // dx = reshape(dy, x.shape)
  backward({ inputShapes: [shape] }, [gy]) {
    return [gy.view(shape)];
  },
});

export const shapeOps = { concat, split, slice, pad, gather, flatten };

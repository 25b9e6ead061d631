// Shape rules of the movement and indexing ops (reshape, concat, split, slice,
// pad, gather, flatten): attributes, checks and output shapes. Pure: graph
// preparation and constant folding use them without a GPU.

import { ShapeError } from '../errors.js';
import { formatShape, numel, type Shape } from '../shape.js';

export interface ReshapeAttrs {
  shape: Shape;
}

/** Resolves one -1 and ONNX's 0 (= copy the input dimension) in a target shape. */
export function resolveReshape(op: string, from: Shape, to: Shape, allowZero = false): number[] {
  const out = to.map((d, i) => (d === 0 && !allowZero ? from[i] : d));
  if (out.some((d) => d === undefined)) throw new ShapeError(op, `0 in target ${formatShape(to)} has no input dimension to copy`, [from]);
  const unknown = out.filter((d) => d === -1).length;
  if (unknown > 1) throw new ShapeError(op, `target ${formatShape(to)} has more than one -1`, [from]);
  const known = out.reduce((n, d) => (d === -1 ? n : n * d), 1);
  if (unknown) {
    const n = numel(from);
    if (known === 0 || n % known !== 0) throw new ShapeError(op, `cannot infer -1 in ${formatShape(to)}`, [from]);
    out[out.indexOf(-1)] = n / known;
  }
  if (out.some((d) => !Number.isInteger(d) || d < 0) || numel(out) !== numel(from)) {
    throw new ShapeError(op, `cannot reshape ${numel(from)} elements to ${formatShape(to)}`, [from]);
  }
  return out;
}

/** Normalizes an axis in [-rank, rank + extra); ShapeError naming the op and the shapes otherwise. */
export function axisOf(op: string, axis: number, rank: number, shapes: readonly Shape[], extra = 0): number {
  const a = axis < 0 ? axis + rank : axis;
  if (!Number.isInteger(a) || a < 0 || a >= rank + extra) {
    throw new ShapeError(op, `axis ${axis} is out of range for rank ${rank} (valid: ${-rank}..${rank - 1 + extra})`, shapes);
  }
  return a;
}

/** Elements per step along `axis` (the product of the dimensions after it). */
export function innerSize(shape: Shape, axis: number): number {
  return numel(shape.slice(axis + 1));
}

export interface ConcatAttrs {
  axis: number;
}

export function concatShape(shapes: readonly Shape[], axis: number): { axis: number; shape: number[] } {
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

export interface SplitAttrs {
  /** Default 0. */
  axis?: number;
  /** Length of each part; they must sum to the axis size. */
  sizes?: readonly number[];
  /** Without sizes: this many parts of ceil(size / numOutputs), the last one shorter (ONNX opset 18). */
  numOutputs?: number;
}

export function splitSizes(shape: Shape, { axis = 0, sizes, numOutputs }: SplitAttrs): { axis: number; sizes: number[] } {
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

export type PadMode = 'constant' | 'reflect' | 'edge' | 'wrap';

export const PAD_MODE: Record<PadMode, number> = { constant: 0, reflect: 1, edge: 2, wrap: 3 };

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
export interface PadPlan {
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

export interface FlattenAttrs {
  /** Dimensions before `axis` become the first output dimension, the rest the second (default 1; 0..rank). */
  axis?: number;
}

export function flattenShape(shape: Shape, axis = 1): [number, number] {
  const a = axisOf('flatten', axis, shape.length, [shape], 1);
  return [numel(shape.slice(0, a)), numel(shape.slice(a))];
}

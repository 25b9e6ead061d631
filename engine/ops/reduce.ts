// Reductions over axes. The reduced axes are split into runs of adjacent axes
// and each run is one [outer, R, inner] pass of shaders/reduce.wgsl.

import reduceWgsl from '../../shaders/reduce.wgsl';
import nanWgsl from '../../shaders/nan.wgsl';
import { ShapeError } from '../errors.js';
import { defineKernel, specialize } from '../kernels/kernel.js';
import { broadcastStrides, normalizeAxis, numel, type Shape } from '../shape.js';
import { Tensor } from '../tensor.js';
import { defineOp, grid1d, launch } from './op.js';
import { binaryOps, fill } from './elementwise.js';
import { expand, reshape, stridedCopy } from './movement.js';
import type { SplitAxis } from './split.js';

const WG = 256;
const wgsl = specialize('reduce', reduceWgsl, { NAN: nanWgsl });
const wideKernel = defineKernel({ name: 'reduce_wide', wgsl, entryPoint: 'reduce_wide' });
const narrowKernel = defineKernel({ name: 'reduce_narrow', wgsl, entryPoint: 'reduce_narrow' });

export type ReduceKind = 'sum' | 'max' | 'min';
const OP_CODE: Record<ReduceKind, number> = { sum: 0, max: 1, min: 2 };

export interface ReduceAttrs {
  /** Axes to reduce (negative counts from the end); all axes when omitted. */
  axes?: readonly number[];
  keepDims?: boolean;
}

export function normalizeAxes(op: string, axes: readonly number[] | undefined, rank: number): number[] {
  const list = (axes ?? [...Array(rank).keys()]).map((a) => normalizeAxis(op, a, rank));
  if (new Set(list).size !== list.length) throw new ShapeError(op, `repeated axis in [${axes?.join(', ')}]`);
  return list.sort((a, b) => a - b);
}

/** Reduces `x` over sorted `axes`, keeping them as size-1 dimensions. `scale` multiplies the result. */
export function reduceKeepDims(kind: ReduceKind, x: Tensor, axes: readonly number[], scale = 1): Tensor {
  let current = x;
  let shape = [...x.shape];
  // Group into runs of adjacent axes, reduce the last run first so indices stay valid.
  const runs: number[][] = [];
  for (const a of axes) {
    const last = runs[runs.length - 1];
    if (last && last[last.length - 1] === a - 1) last.push(a);
    else runs.push([a]);
  }
  if (!runs.length) return x.view(x.shape);
  runs.reverse();
  // In f16, a sum over several runs scales each earlier run by 1 / its size and the last by what is
  // left of `scale`: the stored intermediates stay at the values' magnitude (a sum of many f16 values
  // overflows where their mean does not), and the result is the same.
  const sizes = runs.map((run) => numel(x.shape.slice(run[0], run[run.length - 1] + 1)));
  const spread = kind === 'sum' && runs.length > 1 && x.dtype === 'f16';
  const runScale = (i: number) => (!spread ? (i === runs.length - 1 ? scale : 1) : i === runs.length - 1 ? scale * sizes.slice(0, -1).reduce((a, b) => a * b, 1) : 1 / sizes[i]);
  runs.forEach((run, i) => {
    const first = run[0];
    const end = run[run.length - 1] + 1;
    const outer = numel(shape.slice(0, first));
    const reduce = numel(shape.slice(first, end));
    const inner = numel(shape.slice(end));
    const nextShape = shape.map((d, j) => (j >= first && j < end ? 1 : d));
    if (reduce === 0) throw new ShapeError(kind, 'cannot reduce over an empty axis', [x.shape]);
    const y = Tensor.empty(nextShape);
    const outputs = outer * inner;
    const uniforms = { outer, reduce, inner, scale: runScale(i) };
    const constants = { OP: OP_CODE[kind] };
    if (reduce >= 64 || outputs < 1024) {
      launch(wideKernel, { x: current, y }, { workgroups: grid1d(outputs, 1), uniforms, constants });
    } else {
      launch(narrowKernel, { x: current, y }, { workgroups: grid1d(outputs, WG), uniforms, constants });
    }
    if (current !== x) current.dispose();
    current = y;
    shape = nextShape;
  });
  return current;
}

/** Reductions run in parts along the axes they keep (shifted in the output when the reduced ones are dropped). */
export function keptAxes<A>(shape: Shape, axes: readonly number[], keepDims: boolean): SplitAxis<A>[] {
  return shape.flatMap((_, a): SplitAxis<A>[] =>
    axes.includes(a) ? [] : [{ name: `axis ${a}`, outputs: [keepDims ? a : a - axes.filter((r) => r < a).length], inputs: [a] }],
  );
}

function reducedShape(shape: Shape, axes: readonly number[], keepDims: boolean): number[] {
  return keepDims ? shape.map((d, i) => (axes.includes(i) ? 1 : d)) : shape.filter((_, i) => !axes.includes(i));
}

/** broadcastBack with ops (recorded under createGraph; the caller's scope frees the intermediate). */
function expandBack(gy: Tensor, inputShape: Shape, axes: readonly number[]): Tensor {
  const [kept] = reshape([gy], { shape: inputShape.map((d, i) => (axes.includes(i) ? 1 : d)) });
  return expand([kept], { shape: inputShape })[0];
}

function broadcastBack(gy: Tensor, inputShape: Shape, axes: readonly number[]): Tensor {
  const kept = inputShape.map((d, i) => (axes.includes(i) ? 1 : d));
  const g = gy.view(kept);
  const out = stridedCopy(g, inputShape, broadcastStrides(kept, inputShape));
  g.dispose();
  return out;
}

export const sum = defineOp<ReduceAttrs>({
  name: 'sum',
  forward([x], { axes, keepDims = false }) {
    const list = normalizeAxes('sum', axes, x.shape.length);
    const y = reduceKeepDims('sum', x, list);
    const out = y.view(reducedShape(x.shape, list, keepDims));
    y.dispose();
    return [out];
  },
  split: ([x], { axes, keepDims = false }) => keptAxes(x, normalizeAxes('sum', axes, x.length), keepDims),
  // dx = broadcast(dy) to x's shape
  backward({ attrs: { axes }, inputShapes: [shape] }, [gy]) {
    return [broadcastBack(gy, shape, normalizeAxes('sum', axes, shape.length))];
  },
  // the same with ops: dx = expand(reshape(dy, kept), x.shape)
  backwardOps: ({ attrs: { axes }, inputShapes: [shape] }, [gy]) => [expandBack(gy, shape, normalizeAxes('sum', axes, shape.length))],
});

export const mean = defineOp<ReduceAttrs>({
  name: 'mean',
  forward([x], { axes, keepDims = false }) {
    const list = normalizeAxes('mean', axes, x.shape.length);
    const count = list.reduce((n, a) => n * x.shape[a], 1);
    const y = reduceKeepDims('sum', x, list, 1 / count);
    const out = y.view(reducedShape(x.shape, list, keepDims));
    y.dispose();
    return [out];
  },
  split: ([x], { axes, keepDims = false }) => keptAxes(x, normalizeAxes('mean', axes, x.length), keepDims),
  // dx = broadcast(dy) / count
  backward({ attrs: { axes }, inputShapes: [shape] }, [gy]) {
    const list = normalizeAxes('mean', axes, shape.length);
    const count = list.reduce((n, a) => n * shape[a], 1);
    const g = broadcastBack(gy, shape, list);
    const scaled = scaleTensor(g, 1 / count);
    g.dispose();
    return [scaled];
  },
  // the same with ops: dx = expand(reshape(dy, kept), x.shape) * (1 / count)
  backwardOps({ attrs: { axes }, inputShapes: [shape] }, [gy]) {
    const list = normalizeAxes('mean', axes, shape.length);
    const count = list.reduce((n, a) => n * shape[a], 1);
    return [binaryOps.mul([expandBack(gy, shape, list), fill([], 1 / count)], {})[0]];
  },
});

/** The tape's un-broadcast: sums `g` over `axes` and reshapes to `shape`. */
export function sumTo(g: Tensor, axes: number[], shape: Shape): Tensor {
  const y = reduceKeepDims('sum', g, axes);
  const out = y.view(shape);
  y.dispose();
  return out;
}

/** y = x * s, through the reduce kernel with R = 1 (keeps a scale out of the op table). */
function scaleTensor(x: Tensor, s: number): Tensor {
  const y = Tensor.empty(x.shape);
  launch(narrowKernel, { x, y }, { workgroups: grid1d(x.size, WG), uniforms: { outer: x.size, reduce: 1, inner: 1, scale: s }, constants: { OP: 0 } });
  return y;
}

// Shape ops of CNN graphs, with ONNX semantics: concat, split, slice, pad,
// gather and flatten. Forward and backward are data movements:
//  - concat writes each input into its slab of the output (shaders/concat.wgsl),
//    or, when the slabs are a few contiguous runs (a batch-1 NCHW concat of
//    channels), copies them there buffer to buffer;
//  - split and slice are strided gathers (shaders/movement.wgsl), or buffer
//    copies when a part is a few contiguous runs (a channel split at batch 1);
//  - pad reads each output element from its source (shaders/pad.wgsl);
//  - gather sums per-position index lists (shaders/gather.wgsl);
//  - flatten is a free view.
// Every backward is formulated as a gather: one thread per input-gradient
// element reads the output-gradient elements that came from it. No two threads
// write the same element, so there are no atomics and results are deterministic.

import concatWgsl from '../../shaders/concat.wgsl';
import gatherWgsl from '../../shaders/gather.wgsl';
import padWgsl from '../../shaders/pad.wgsl';
import { defineKernel } from '../kernels/kernel.js';
import { runtime } from '../runtime.js';
import { contiguousStrides, type Shape } from '../shape.js';
import { BYTES, Tensor } from '../tensor.js';
import { MissingDoubleBackward } from '../errors.js';
import { reshape, stridedCopy } from './movement.js';
import { defineOp, grid1d, launch, pack8, type Op } from './op.js';
import { alongAnyAxis, slabsCopyable, type SplitAxis } from './split.js';
import {
  concatShape,
  flattenShape,
  innerSize,
  PAD_MODE,
  resolveGather,
  resolvePad,
  resolveSlice,
  splitSizes,
  type ConcatAttrs,
  type FlattenAttrs,
  type GatherAttrs,
  type PadAttrs,
  type PadMode,
  type PadPlan,
  type SliceAttrs,
  type SplitAttrs,
} from '../geometry/shape-ops.js';

const concatKernel = defineKernel({ name: 'concat', wgsl: concatWgsl, entryPoint: 'concat_slab' });
const indexSumKernel = defineKernel({ name: 'index_sum', wgsl: gatherWgsl, entryPoint: 'index_sum' });
const padKernel = defineKernel({ name: 'pad', wgsl: padWgsl, entryPoint: 'pad' });
const sliceGradKernel = defineKernel({ name: 'slice_grad', wgsl: padWgsl, entryPoint: 'slice_grad' });

// ---- helpers -------------------------------------------------------------------

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
 * Largest number of contiguous runs per input (the product of the axes before
 * the concat axis: 1 for a batch-1 NCHW concat of channels) that concat moves
 * with buffer copies instead of concatKernel. A copy is a memcpy on a
 * CPU-backed adapter and a DMA on a GPU, with no per-element index arithmetic.
 */
const MAX_COPY_RUNS = 16;

const contiguousRuns = (shape: Shape, axis: number) => shape.slice(0, axis).reduce((n, d) => n * d, 1);

/** Whether slabs along `axis` move by buffer copies: few runs, each copy whole 4-byte words. */
const byCopies = (shape: Shape, axis: number) => contiguousRuns(shape, axis) <= MAX_COPY_RUNS && slabsCopyable(shape, axis, BYTES[runtime().precision]);

/** concatInto by buffer copies: input k's run o lands at y[o, offset_k : offset_k + n_k, ...]. */
function concatByCopies(parts: readonly Tensor[], axis: number, outShape: Shape): Tensor {
  const y = Tensor.empty(outShape);
  const inner = innerSize(outShape, axis);
  const runs = contiguousRuns(outShape, axis);
  const e = BYTES[y.dtype];
  let offset = 0;
  for (const x of parts) {
    const run = x.shape[axis] * inner;
    for (let o = 0; o < runs; o++) runtime().copyBuffer(x.buffer, o * run * e, y.buffer, (o * outShape[axis] + offset) * inner * e, run * e);
    offset += x.shape[axis];
  }
  return y;
}

/** x[..., start:start+len, ...] along `axis` by buffer copies, one per contiguous run (the sliceAxis of few runs). */
function sliceByCopies(x: Tensor, axis: number, start: number, len: number): Tensor {
  const y = Tensor.empty(x.shape.map((d, i) => (i === axis ? len : d)));
  const inner = innerSize(x.shape, axis);
  const runs = contiguousRuns(x.shape, axis);
  const e = BYTES[x.dtype];
  for (let o = 0; o < runs; o++) runtime().copyBuffer(x.buffer, (o * x.shape[axis] + start) * inner * e, y.buffer, o * len * inner * e, len * inner * e);
  return y;
}

/** A table of u32 values for kernels that declare the binding `array<u32>`. */
function u32Table(values: readonly number[]): Tensor {
  const t = Tensor.empty([Math.max(values.length, 1)], 'u32');
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

export const concat = defineOp<ConcatAttrs>({
  name: 'concat',
  forward(xs, { axis }) {
    const { axis: a, shape } = concatShape(xs.map((x) => x.shape), axis);
    return [byCopies(shape, a) ? concatByCopies(xs, a, shape) : concatInto(xs, a, shape)];
  },
  split: (inputs, { axis }, [y]) => alongAnyAxis(y, inputs, 1, [concatShape(inputs, axis).axis]),
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
  // the same with ops: dx_k = slice(dy, offset_k, offset_k + n_k) along the axis
  backwardOps({ attrs: { axis }, inputShapes, needsInputGrad }, [gy]) {
    const { axis: a } = concatShape(inputShapes, axis);
    let offset = 0;
    return inputShapes.map((s, k) => {
      const start = offset;
      offset += s[a];
      return needsInputGrad[k] ? slice([gy], { starts: [start], ends: [start + s[a]], axes: [a] })[0] : null;
    });
  },
});

// ---- split -----------------------------------------------------------------------

export const split = defineOp<SplitAttrs>({
  name: 'split',
  forward([x], attrs) {
    const { axis, sizes } = splitSizes(x.shape, attrs);
    let offset = 0;
    const copies = byCopies(x.shape, axis);
    return sizes.map((len) => {
      const part = copies ? sliceByCopies(x, axis, offset, len) : sliceAxis(x, axis, offset, len);
      offset += len;
      return part;
    });
  },
  split: ([x], attrs, outs) => alongAnyAxis(x, [x], outs.length, [splitSizes(x, attrs).axis]),
  // dx = concat(dy_0, ..., dy_k) along the axis
  backward({ attrs, inputShapes: [shape] }, gys) {
    const { axis } = splitSizes(shape, attrs);
    return [concatInto(gys, axis, shape)];
  },
  // dx = concat(dy_0, ..., dy_k), with ops
  backwardOps: ({ attrs, inputShapes: [shape] }, gys) => concat(gys, { axis: splitSizes(shape, attrs).axis }),
});

// ---- slice -----------------------------------------------------------------------

export const slice = defineOp<SliceAttrs>({
  name: 'slice',
  forward([x], attrs) {
    const { starts, steps, counts } = resolveSlice(x.shape, attrs);
    // One axis cut with step 1 (YOLOv8's channel slices): a few contiguous runs, copied.
    const cut = x.shape.flatMap((d, a) => (starts[a] !== 0 || steps[a] !== 1 || counts[a] !== d ? [a] : []));
    const a = cut[0] ?? 0;
    if (x.shape.length && cut.length <= 1 && steps[a] === 1 && byCopies(x.shape, a)) return [sliceByCopies(x, a, starts[a], counts[a])];
    const offset = counts.some((c) => c === 0) ? 0 : starts.reduce((o, s, d) => o + s * x.strides[d], 0);
    return [stridedCopy(x, counts, x.strides.map((s, d) => s * steps[d]), offset)];
  },
  // In parts along the axes it does not slice.
  split([x], attrs, [y]) {
    const { starts, steps, counts } = resolveSlice(x, attrs);
    return alongAnyAxis(y, [x], 1, [...x.keys()].filter((a) => starts[a] !== 0 || steps[a] !== 1 || counts[a] !== x[a]));
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
  // with ops, for unit steps: dx = pad(dy) with zeros, start before and (size - start - count) after on every axis
  backwardOps({ attrs, inputShapes: [shape] }, [gy]) {
    const { starts, steps, counts } = resolveSlice(shape, attrs);
    if (steps.some((s) => s !== 1)) throw new MissingDoubleBackward('slice', 'a strided slice has no differentiable rule (only unit steps)');
    return pad([gy], { pads: [...starts, ...shape.map((d, a) => d - starts[a] - counts[a])], mode: 'constant', value: 0 });
  },
});

// ---- pad -------------------------------------------------------------------------

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
  // In parts along the axes it neither pads nor crops.
  split([x], attrs, [y]) {
    const plan = resolvePad(x, attrs);
    return alongAnyAxis(y, [x], 1, [...x.keys()].filter((a) => plan.begin[a] || plan.end[a] || plan.crop[a] || plan.kept[a] !== x[a]));
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
  // with ops, constant mode: dx = pad(dy) with every pad negated (pads crop, crops pad with zeros)
  backwardOps({ attrs }, [gy]): Tensor[] {
    if ((attrs.mode ?? 'constant') !== 'constant') throw new MissingDoubleBackward('pad', `mode '${attrs.mode}' has no differentiable rule (only constant)`);
    return pad([gy], { ...attrs, pads: attrs.pads.map((p) => -p), value: 0 });
  },
});

// ---- gather ----------------------------------------------------------------------

export const gather: Op<GatherAttrs> = defineOp<GatherAttrs>({
  name: 'gather',
  forward([x], attrs) {
    const { axis, indices, shape } = resolveGather(x.shape, attrs);
    return [indexSum(x, x.shape[axis], indices.map((i) => [i]), shape, innerSize(x.shape, axis))];
  },
  // In parts along the other axes of x (shifted in y by the indices' rank - 1).
  split([x], attrs) {
    const { axis } = resolveGather(x, attrs);
    const shift = (attrs.indicesShape ?? [attrs.indices.length]).length - 1;
    return x.flatMap((_, a): SplitAxis<GatherAttrs>[] => (a === axis ? [] : [{ name: `axis ${a}`, outputs: [a < axis ? a : a + shift], inputs: [a] }]));
  },
  // dx[j] = sum of dy[k] over the positions k with indices[k] == j
  backward({ attrs, inputShapes: [shape] }, [gy]) {
    const { axis, indices } = resolveGather(shape, attrs);
    const lists: number[][] = Array.from({ length: shape[axis] }, () => []);
    indices.forEach((j, k) => lists[j].push(k));
    return [indexSum(gy, indices.length, lists, shape, innerSize(shape, axis))];
  },
  backwardOps: ({ attrs, inputShapes: [shape] }, [gy]) => gatherGrad([gy], { ...attrs, inputShape: shape }),
});

/** gather's backward as an op, [dy] -> dx: sums dy into the gathered positions. Linear; its transpose is gather. */
export const gatherGrad: Op<GatherAttrs & { inputShape: Shape }> = defineOp<GatherAttrs & { inputShape: Shape }>({
  name: 'gatherGrad',
  forward([gy], attrs) {
    const shape = attrs.inputShape;
    const { axis, indices } = resolveGather(shape, attrs);
    const lists: number[][] = Array.from({ length: shape[axis] }, () => []);
    indices.forEach((j, k) => lists[j].push(k));
    return [indexSum(gy, indices.length, lists, shape, innerSize(shape, axis))];
  },
  // d dy = gather(g): the transpose of the scatter
  backward: ({ attrs }, [g]) => gather([g], attrs),
  backwardOps: ({ attrs }, [g]) => gather([g], attrs),
});

// ---- flatten ---------------------------------------------------------------------

export const flatten = defineOp<FlattenAttrs>({
  name: 'flatten',
  forward([x], { axis }) {
    return [x.view(flattenShape(x.shape, axis))];
  },
  // dx = reshape(dy, x.shape)
  backward({ inputShapes: [shape] }, [gy]) {
    return [gy.view(shape)];
  },
  backwardOps: ({ inputShapes: [shape] }, [gy]) => reshape([gy], { shape }),
});

export const shapeOps = { concat, split, slice, pad, gather, flatten };

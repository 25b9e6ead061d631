// Ops on tensors larger than one storage binding. A kernel binds each tensor
// whole, and WebGPU caps a binding at maxStorageBufferBindingSize (128 MiB on
// lavapipe) while a buffer may be far larger (maxBufferSize). When a dispatch
// would bind more, the runtime throws BindingTooLarge before encoding it;
// every op (defineOp wraps its forward and backward here) then runs again in
// parts along an axis its `split` rule declares independent:
//  - each part's inputs are copied out of the whole tensors with
//    copyBufferToBuffer, which has no binding limit (a contiguous run per
//    index of the axes before the cut);
//  - the op runs unchanged on them (every kernel path, fused epilogue and
//    backward rule holds, and a part that is still too big splits again);
//  - its outputs are copied into place in the whole outputs.
// Backward splits the same way: the gradient of a cut input is copied into
// place (added where parts overlap, as a conv's halo rows do), that of an
// input every part reads whole (weights, a broadcast operand) is summed over
// the parts. An op with no usable axis throws TensorTooLarge naming the op,
// the tensor, its size and the limit, with the reason per axis tried.
//
// Memory: the whole tensors plus one part of each at a time. Cost: one extra
// copy of each cut tensor, small beside the kernels.

import { BindingTooLarge, BufferTooLarge, GradlensError, TensorTooLarge } from '../errors.js';
import { sizeClass } from '../device/buffer-pool.js';
import { runtime } from '../runtime.js';
import { broadcastAxes, formatShape, numel, sameShape, type Shape } from '../shape.js';
import type { BackwardContext } from '../tape.js';
import { BYTES, scope, Tensor } from '../tensor.js';
import { binaryOps } from './elementwise.js';
import type { ForwardContext, OpDef } from './op.js';
import { sum, sumTo } from './reduce.js';

/** How an input follows the cut: the same axis range (an axis number), or a window of it. */
export interface InputCut {
  axis: number;
  /** [start, length] of this input's axis that output range [start, start + len) reads (a conv's rows with their halo); default the same range. */
  range?(start: number, len: number): readonly [number, number];
}

/** One way to run an op in parts: an output axis cut into ranges, each computed by the same op on slices of the inputs. */
export interface SplitAxis<A> {
  /** For messages: 'batch', 'output channels', 'rows', 'axis 2'. */
  name: string;
  /** The cut axis of each output (all have the same extent along it). */
  outputs: readonly number[];
  /** Per input: how it follows the cut, or null when every part reads it whole (weights, a broadcast operand). */
  inputs: readonly (InputCut | number | null)[];
  /** Part lengths are multiples of this (whole groups of a grouped conv); default 1. */
  unit?: number;
  /** The attributes of the part [start, start + len) (default unchanged). */
  attrs?(start: number, len: number): A;
}

/**
 * An op's ways to run in parts, most preferred first, from its input and
 * output shapes. Pure (no GPU): parts are planned from shapes alone.
 */
export type SplitRule<A> = (inputShapes: readonly Shape[], attrs: A, outputShapes: readonly Shape[]) => SplitAxis<A>[];

type Forward<A> = OpDef<A>['forward'];

/** Ops run in parts since start, by op and direction (tests use it to prove a path was taken). */
export const splitCounts = new Map<string, number>();
const count = (key: string) => splitCounts.set(key, (splitCounts.get(key) ?? 0) + 1);

/** Nesting of parts within parts; each level at least halves a part, so this is far beyond any real need. */
const MAX_DEPTH = 48;
let depth = 0;
/**
 * Buffer copies and clears move whole 4-byte words: an f16 tensor of odd size is
 * rounded up into its buffer's slack (pooled buffers are multiples of 64 bytes).
 */
const wholeWords = (bytes: number) => Math.ceil(bytes / 4) * 4;

/**
 * Whether slabs of `shape` along `axis` can move by buffer copies, which take
 * whole 4-byte words: every index of the axis must span a whole number of
 * words (in f16, an odd number of elements per index does not).
 */
export function slabsCopyable(shape: Shape, axis: number, elementBytes: number): boolean {
  return (numel(shape.slice(axis + 1)) * elementBytes) % 4 === 0;
}
/** Bytes of a float tensor of `shape` at the runtime's precision. */
const bytesOf = (shape: Shape) => numel(shape) * BYTES[runtime().precision];

/**
 * Every axis of `out` with extent > 1, outermost first (fewest copies), for
 * ops whose outputs are independent along any axis: an input follows an axis
 * where its right-aligned extent equals the output's, and is read whole where
 * it broadcasts. `skip` excludes axes (a reduced or normalized axis).
 */
export function alongAnyAxis<A>(out: Shape, inputs: readonly Shape[], outputs = 1, skip: readonly number[] = []): SplitAxis<A>[] {
  const axes: SplitAxis<A>[] = [];
  out.forEach((extent, a) => {
    if (extent < 2 || skip.includes(a)) return;
    axes.push({
      name: `axis ${a}`,
      outputs: new Array<number>(outputs).fill(a),
      inputs: inputs.map((s) => {
        const j = a - (out.length - s.length);
        return j >= 0 && s[j] === extent ? j : null;
      }),
    });
  });
  return axes;
}

// ---- the op wrappers (defineOp) ----------------------------------------------------

/** def.forward, run in parts (by `self`, the wrapped def, so parts split again) when a binding is too large. */
export function forwardSplitting<A>(def: OpDef<A>, self: OpDef<A>, inputs: readonly Tensor[], attrs: A, ctx?: ForwardContext): Tensor[] {
  let failure: BindingTooLarge;
  try {
    // scope(): a failed attempt frees what it made; intermediates go to ctx only on success.
    const { ys, kept } = scope(() => {
      const kept: Tensor[] = [];
      const ys = def.forward(inputs, attrs, ctx && { recording: ctx.recording, keepForBackward: (t) => kept.push(t) });
      return { ys, kept };
    });
    for (const t of kept) ctx!.keepForBackward(t);
    return ys;
  } catch (e) {
    if (e instanceof BufferTooLarge) throw bufferError(def, inputs, attrs, e);
    if (!(e instanceof BindingTooLarge)) throw e;
    failure = e;
  }
  try {
    return forwardInParts(def, self, inputs, attrs, ctx, failure);
  } catch (e) {
    throw e instanceof BufferTooLarge ? bufferError(def, inputs, attrs, e) : e;
  }
}

/** def.backward, run in parts like forwardSplitting. */
export function backwardSplitting<A>(def: OpDef<A>, self: OpDef<A>, ctx: BackwardContext<A>, grads: readonly Tensor[]): (Tensor | null)[] {
  let failure: BindingTooLarge;
  try {
    const gs = scope(() => def.backward(ctx, grads));
    return gs.map((g, k) => (g && !sameShape(g.shape, ctx.inputShapes[k]) && bytesOf(g.shape) > runtime().maxBindingBytes ? unbroadcastInParts(g, ctx.inputShapes[k]) : g));
  } catch (e) {
    if (e instanceof BufferTooLarge) {
      throw new TensorTooLarge(`${def.name} backward`, 'a buffer it allocates', e.bytes, e.limit, 'buffer', 'no GPU buffer can hold it');
    }
    if (!(e instanceof BindingTooLarge)) throw e;
    failure = e;
  }
  return backwardInParts(def, self, ctx, grads, failure);
}

/** The output shapes of `forward` on these inputs, from a dry run (no GPU work, no limits). */
function outputShapes<A>(forward: Forward<A>, inputs: readonly Tensor[], attrs: A): Shape[] {
  return runtime().dryRun(() => scope(() => forward(inputs, attrs).map((t) => [...t.shape])), { checkLimits: false });
}

function forwardInParts<A>(def: OpDef<A>, self: OpDef<A>, inputs: readonly Tensor[], attrs: A, ctx: ForwardContext | undefined, failure: BindingTooLarge): Tensor[] {
  const inShapes = inputs.map((t) => t.shape);
  const outShapes = outputShapes(def.forward, inputs, attrs);
  const { part, reasons } = planParts(def.split?.(inShapes, attrs, outShapes) ?? [], inShapes, outShapes);
  if (!part) throw bindingError(def, def.name, describeAll(inputs, inShapes, outShapes), failure, reasons);
  const { axis, extent, len } = part;
  count(`${def.name} forward ${axis.name}`);
  const cuts = axis.inputs.map(cutOf);
  const outs: Tensor[] = []; // allocated at the first part, with its dtype (maxPool's indices are u32)
  const kept: Tensor[] = [];
  try {
    for (let start = 0; start < extent; start += len) {
      const n = Math.min(len, extent - start);
      const parts = inputs.map((x, k) => (cuts[k] ? cutSlab(x, cuts[k]!.axis, ...windowOf(cuts[k]!, start, n)) : x));
      const partKept: Tensor[] = [];
      depth++;
      try {
        if (depth > MAX_DEPTH) throw new GradlensError(`${def.name}: its parts do not get smaller (a split rule must give each part its own attributes)`);
        const partCtx = ctx && { recording: ctx.recording, keepForBackward: (t: Tensor) => partKept.push(t) };
        const ys = self.forward(parts, axis.attrs?.(start, n) ?? attrs, partCtx);
        ys.forEach((y, k) => {
          checkPart(def.name, y, outShapes[k], axis.outputs[k], n);
          outs[k] ??= Tensor.empty(outShapes[k], y.dtype);
          placeSlab(y, outs[k], axis.outputs[k], start);
          y.dispose();
        });
        partKept.forEach((t, k) => {
          kept[k] ??= Tensor.empty(t.shape.map((d, i) => (i === axis.outputs[0] ? extent : d)), t.dtype);
          placeSlab(t, kept[k], axis.outputs[0], start);
        });
      } finally {
        depth--;
        parts.forEach((p, k) => p !== inputs[k] && p.dispose());
        partKept.forEach((t) => t.dispose());
      }
    }
  } catch (e) {
    [...outs, ...kept].forEach((t) => t.dispose());
    throw e;
  }
  for (const t of kept) ctx!.keepForBackward(t);
  return outs;
}

/** What a saved tensor is, found by running `save` on markers: input k, output k, or the k-th kept intermediate. */
type SavedRole = { role: 'input' | 'output' | 'kept'; k: number };

function savedRoles<A>(def: OpDef<A>, ctx: BackwardContext<A>): SavedRole[] | string {
  const marker = (role: SavedRole['role']) => (shape: Shape, k: number) => ({ role, k, shape });
  const picked = (def.save?.(ctx.inputShapes.map(marker('input')) as unknown as Tensor[], ctx.outputShapes.map(marker('output')) as unknown as Tensor[], ctx.attrs) ??
    []) as unknown as SavedRole[];
  if (picked.some((m) => !m || (m.role !== 'input' && m.role !== 'output'))) return 'it saves a tensor that is neither an input nor an output';
  return [...picked, ...ctx.saved.slice(picked.length).map((_, k): SavedRole => ({ role: 'kept', k }))];
}

function backwardInParts<A>(def: OpDef<A>, self: OpDef<A>, ctx: BackwardContext<A>, gys: readonly Tensor[], failure: BindingTooLarge): (Tensor | null)[] {
  const op = `${def.name} backward`;
  const { inputShapes, outputShapes, attrs, saved, needsInputGrad } = ctx;
  const tensors = describeAll([], inputShapes, outputShapes);
  const roles = savedRoles(def, ctx);
  if (typeof roles === 'string') throw bindingError(def, op, tensors, failure, [roles]);
  const { part, reasons } = planParts(def.split?.(inputShapes, attrs, outputShapes) ?? [], inputShapes, outputShapes);
  if (!part) throw bindingError(def, op, tensors, failure, reasons);
  const { axis, extent, len } = part;
  count(`${def.name} backward ${axis.name}`);
  const cuts = axis.inputs.map(cutOf);
  const grads: (Tensor | null)[] = inputShapes.map(() => null);
  try {
    for (let start = 0; start < extent; start += len) {
      const n = Math.min(len, extent - start);
      const windows = cuts.map((c) => (c ? windowOf(c, start, n) : null));
      const partIn = inputShapes.map((s, k) => (cuts[k] ? withExtent(s, cuts[k]!.axis, windows[k]![1]) : s));
      const partOut = outputShapes.map((s, k) => withExtent(s, axis.outputs[k], n));
      const partSaved = saved.map((t, i) => {
        const { role, k } = roles[i];
        if (role === 'input') return cuts[k] ? cutSlab(t, cuts[k]!.axis, ...windows[k]!) : t;
        return cutSlab(t, axis.outputs[role === 'output' ? k : 0], start, n);
      });
      const partGys = gys.map((g, k) => cutSlab(g, axis.outputs[k], start, n));
      try {
        const partCtx: BackwardContext<A> = { saved: partSaved, attrs: axis.attrs?.(start, n) ?? attrs, inputShapes: partIn, outputShapes: partOut, needsInputGrad };
        self.backward(partCtx, partGys).forEach((g, k) => {
          if (!g) return;
          // A rule may pass a part's gradient or saved tensor through: own a view, the part's copies are freed below.
          if (partGys.includes(g) || partSaved.includes(g)) g = g.view(g.shape);
          // Rules may return gradients at the output's broadcast shape: reduce them here, per part.
          const gk = unbroadcast(def.name, g, partIn[k]);
          const cut = cuts[k];
          if (!cut) {
            if (!grads[k]) grads[k] = gk;
            else {
              const sum = binaryOps.add.def.forward([grads[k]!, gk], {})[0];
              grads[k]!.dispose();
              gk.dispose();
              grads[k] = sum;
            }
            return;
          }
          if (!grads[k]) {
            grads[k] = Tensor.empty(inputShapes[k]);
            // Overlapping windows add up; rows no part reads get zero.
            if (cut.range) runtime().clearBuffer(grads[k]!.buffer, 0, wholeWords(bytesOf(inputShapes[k])));
          }
          if (cut.range) addSlab(gk, grads[k]!, cut.axis, windows[k]![0]);
          else placeSlab(gk, grads[k]!, cut.axis, windows[k]![0]);
          gk.dispose();
        });
      } finally {
        partSaved.forEach((p, i) => p !== saved[i] && p.dispose());
        partGys.forEach((g) => g.dispose());
      }
    }
  } catch (e) {
    grads.forEach((g) => g?.dispose());
    throw e;
  }
  return grads;
}

// ---- planning ----------------------------------------------------------------------

interface Part<A> {
  axis: SplitAxis<A>;
  extent: number;
  /** Length of every part but maybe the last. */
  len: number;
}

const cutOf = (c: InputCut | number | null): InputCut | null => (c === null ? null : typeof c === 'number' ? { axis: c } : c);
const windowOf = (c: InputCut, start: number, len: number): [number, number] => (c.range ? [...c.range(start, len)] as [number, number] : [start, len]);
const withExtent = (s: Shape, axis: number, len: number) => s.map((d, i) => (i === axis ? len : d));

/**
 * The first axis (in the rule's order) along which every part fits one
 * binding, with the longest parts that do (evened out); otherwise the reason
 * each axis fails.
 */
function planParts<A>(axes: readonly SplitAxis<A>[], inShapes: readonly Shape[], outShapes: readonly Shape[]): { part?: Part<A>; reasons: string[] } {
  // Whole vec4s: the GEMM-family kernels round their bindings up to 16 bytes.
  const target = Math.floor(runtime().maxBindingBytes / 16) * 16;
  const reasons: string[] = [];
  for (const axis of axes) {
    const extent = outShapes[0][axis.outputs[0]];
    const unit = axis.unit ?? 1;
    const cuts = axis.inputs.map(cutOf);
    const whole = cuts.findIndex((c, k) => c === null && bytesOf(inShapes[k]) > target);
    if (whole >= 0) {
      reasons.push(`along ${axis.name} every part would read input ${whole} ${formatShape(inShapes[whole])} whole`);
      continue;
    }
    const bytes = BYTES[runtime().precision];
    if (cuts.some((c, k) => c && !slabsCopyable(inShapes[k], c.axis, bytes)) || outShapes.some((s, k) => !slabsCopyable(s, axis.outputs[k], bytes))) {
      reasons.push(`along ${axis.name} the parts would start at odd f16 offsets (buffer copies move whole 4-byte words)`);
      continue;
    }
    // At least two parts: a part as big as the whole would fail again, forever.
    const units = Math.ceil(extent / unit);
    if (units < 2) {
      reasons.push(`${axis.name} has extent ${extent}`);
      continue;
    }
    const fits = (len: number) => {
      for (let start = 0; start < extent; start += len) {
        const n = Math.min(len, extent - start);
        for (let k = 0; k < cuts.length; k++) {
          const c = cuts[k];
          if (c && (bytesOf(inShapes[k]) / inShapes[k][c.axis]) * windowOf(c, start, n)[1] > target) return false;
        }
        if (outShapes.some((s, k) => (bytesOf(s) / s[axis.outputs[k]]) * n > target)) return false;
      }
      return true;
    };
    if (!fits(unit)) {
      reasons.push(`along ${axis.name} even a part of ${unit} is too big`);
      continue;
    }
    // The longest part that fits (in units), then the same number of parts evened out.
    let lo = 1;
    let hi = units - 1;
    while (lo < hi) {
      const mid = Math.ceil((lo + hi) / 2);
      if (fits(mid * unit)) lo = mid;
      else hi = mid - 1;
    }
    const count = Math.ceil(extent / (lo * unit));
    const even = Math.ceil(extent / count / unit) * unit;
    return { part: { axis, extent, len: fits(even) ? even : lo * unit }, reasons };
  }
  return { reasons };
}

// ---- slabs: ranges of one axis, moved with buffer copies ------------------------------

/** t[..., start:start+len, ...] along `axis` as a new tensor (a view when that is all of t). */
export function cutSlab(t: Tensor, axis: number, start: number, len: number): Tensor {
  const shape = t.shape;
  if (start === 0 && len === shape[axis]) return t.view(shape);
  const part = Tensor.empty(withExtent(shape, axis, len), t.dtype);
  copyRuns(shape, BYTES[t.dtype], axis, start, len, (whole, piece, bytes) => runtime().copyBuffer(t.buffer, whole, part.buffer, piece, bytes));
  return part;
}

/** Writes `part` into `whole` at [start, start + part's extent) along `axis`. */
export function placeSlab(part: Tensor, whole: Tensor, axis: number, start: number): void {
  copyRuns(whole.shape, BYTES[whole.dtype], axis, start, part.shape[axis], (w, piece, bytes) => runtime().copyBuffer(part.buffer, piece, whole.buffer, w, bytes));
}

/** Adds `part` into `whole` at [start, ...) along `axis` (overlapping backward windows). */
function addSlab(part: Tensor, whole: Tensor, axis: number, start: number): void {
  const region = cutSlab(whole, axis, start, part.shape[axis]);
  const sum = binaryOps.add.def.forward([region, part], {})[0];
  placeSlab(sum, whole, axis, start);
  region.dispose();
  sum.dispose();
}

/** The contiguous byte runs of a slab: one per index of the axes before `axis`. */
function copyRuns(shape: Shape, elementBytes: number, axis: number, start: number, len: number, copy: (wholeOffset: number, partOffset: number, bytes: number) => void): void {
  const outer = numel(shape.slice(0, axis));
  const inner = numel(shape.slice(axis + 1)) * elementBytes;
  const run = len * inner;
  if (!run) return;
  if (!slabsCopyable(shape, axis, elementBytes)) {
    throw new GradlensError(`splitting a ${formatShape(shape)} tensor along axis ${axis} in f16 needs copies at odd element offsets, which WebGPU does not allow; run it in f32`);
  }
  for (let o = 0; o < outer; o++) copy((o * shape[axis] + start) * inner, o * run, run);
}

/** A tensor of `shape` filled with `value` without binding it whole: one binding-sized fill, copied over it. */
export function fillInParts(shape: Shape, value: number, fillSmall: (shape: Shape, value: number) => Tensor): Tensor {
  const y = Tensor.empty(shape);
  const bytes = bytesOf(shape);
  if (Object.is(value, 0)) {
    runtime().clearBuffer(y.buffer, 0, wholeWords(bytes));
    return y;
  }
  const block = Math.floor(runtime().maxBindingBytes / 16) * 16;
  const piece = fillSmall([block / BYTES[runtime().precision]], value);
  for (let at = 0; at < bytes; at += block) runtime().copyBuffer(piece.buffer, 0, y.buffer, at, wholeWords(Math.min(block, bytes - at)));
  piece.dispose();
  return y;
}

/**
 * A gradient at the output's broadcast shape past the binding limit (a rule
 * that passes dy through, as expand's): reduced here by the sum op, which runs
 * in parts, instead of by the tape's un-broadcast, which binds it whole.
 */
function unbroadcastInParts(g: Tensor, shape: Shape): Tensor {
  const [summed] = sum.def.forward([g], { axes: broadcastAxes(shape, g.shape), keepDims: true });
  const reduced = summed.view(shape);
  summed.dispose();
  g.dispose();
  return reduced;
}

function unbroadcast(op: string, g: Tensor, shape: Shape): Tensor {
  if (sameShape(g.shape, shape)) return g;
  const reduced = sumTo(g, broadcastAxes(shape, g.shape), shape);
  if (!sameShape(reduced.shape, shape)) throw new GradlensError(`${op}: a part's gradient ${formatShape(g.shape)} does not reduce to its input ${formatShape(shape)}`);
  g.dispose();
  return reduced;
}

/** A split rule that promised a part shape its op does not produce is a bug: say so. */
function checkPart(op: string, y: Tensor, whole: Shape, axis: number, len: number): void {
  if (!sameShape(y.shape, withExtent(whole, axis, len))) {
    throw new GradlensError(`${op}: a part along axis ${axis} gave ${formatShape(y.shape)}, expected ${formatShape(withExtent(whole, axis, len))} (its split rule is wrong)`);
  }
}

// ---- errors ------------------------------------------------------------------------

interface Described {
  label: string;
  shape: Shape;
}

function describeAll(inputs: readonly Tensor[], inShapes: readonly Shape[], outShapes: readonly Shape[]): Described[] {
  const named = (i: number) => (inputs[i]?.name ? ` '${inputs[i].name}'` : '');
  return [
    ...inShapes.map((shape, i) => ({ label: `input ${i}${named(i)} ${formatShape(shape)}`, shape })),
    ...outShapes.map((shape, i) => ({ label: `output ${i} ${formatShape(shape)}`, shape })),
  ];
}

/** TensorTooLarge for an op that cannot run in parts: names its largest tensor over the limit (or the kernel's binding). */
function bindingError<A>(def: OpDef<A>, op: string, tensors: readonly Described[], failure: BindingTooLarge, reasons: readonly string[]): TensorTooLarge {
  const limit = runtime().maxBindingBytes;
  const big = [...tensors].sort((a, b) => numel(b.shape) - numel(a.shape))[0];
  const [label, bytes] = big && bytesOf(big.shape) > limit ? [big.label, bytesOf(big.shape)] : [`what kernel '${failure.kernel}' binds as '${failure.binding}'`, failure.bytes];
  const why = !def.split ? `${def.name} has no split rule, so it cannot run in parts` : `it cannot run in parts: ${reasons.join('; ') || 'no axis to cut'}`;
  return new TensorTooLarge(op, label, bytes, limit, 'binding', why);
}

/** TensorTooLarge naming the output (found by a dry run) that no buffer can hold. */
function bufferError<A>(def: OpDef<A>, inputs: readonly Tensor[], attrs: A, e: BufferTooLarge): TensorTooLarge {
  let label = 'a buffer it allocates';
  let bytes = e.bytes;
  try {
    const shapes = outputShapes(def.forward, inputs, attrs);
    const k = shapes.findIndex((s) => sizeClass(bytesOf(s)) === e.bytes);
    if (k >= 0) [label, bytes] = [`output ${k} ${formatShape(shapes[k])}`, bytesOf(shapes[k])];
  } catch {
    // the message without the shape
  }
  const rounded = bytes < e.bytes ? ` (the buffer pool rounds it up to ${e.bytes} bytes)` : '';
  return new TensorTooLarge(def.name, label, bytes, e.limit, 'buffer', `no GPU buffer can hold it${rounded}, in parts or not`);
}

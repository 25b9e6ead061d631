// One way to add an op: defineOp({ name, forward, backward, save }).
// `forward` runs GPU kernels (no tape); `backward` is required by the type, so
// an op without a gradient does not compile. Calling the op records a tape
// node when an input needs a gradient.

import type { DispatchArgs, Precision } from '../runtime.js';
import { runtime } from '../runtime.js';
import { tape, type BackwardRule } from '../tape.js';
import type { Kernel } from '../kernels/kernel.js';
import { Tensor } from '../tensor.js';
import { PrecisionMismatch, TensorTooLarge } from '../errors.js';
import { backwardSplitting, forwardSplitting, type SplitRule } from './split.js';

/** What a forward sees of the tape. */
export interface ForwardContext {
  /** True when the tape records this call, so backward may run. */
  readonly recording: boolean;
  /** Hands an intermediate (not an output) to the tape for backward; it follows the `save` tensors in ctx.saved. */
  keepForBackward(t: Tensor): void;
}

export interface OpDef<A> {
  name: string;
  /** GPU forward: validates shapes (ShapeError naming the op) and returns the outputs. */
  forward(inputs: readonly Tensor[], attrs: A, ctx?: ForwardContext): Tensor[];
  /** Tensors backward needs; the tape keeps views of them alive until backward. */
  save?(inputs: readonly Tensor[], outputs: readonly Tensor[], attrs: A): Tensor[];
  backward: BackwardRule<A>;
  /**
   * The same rule written with ops, so that it is recorded: what backward
   * with createGraph runs (higher-order gradients). The ops it calls split
   * themselves, so it needs no `split`. Without one, a createGraph backward
   * through the op throws MissingDoubleBackward, unless nothing the rule reads
   * needs a gradient (then the kernel rule's constant result is exact).
   */
  backwardOps?: BackwardRule<A>;
  /**
   * Axes along which the op runs as the same op on slices (split.ts): how it
   * runs on tensors larger than one storage binding. Without one, such
   * tensors end in TensorTooLarge naming the op.
   */
  split?: SplitRule<A>;
  /** Inputs that hold u32 indices (maxPool's argmax); the float inputs must share one precision, which the op runs in. */
  indexInputs?: readonly number[];
}

export interface Op<A> {
  readonly name: string;
  readonly def: OpDef<A>;
  /** Runs the op and records it on the tape. */
  (inputs: readonly Tensor[], attrs: A): Tensor[];
}

export function defineOp<A>(spec: OpDef<A>): Op<A> {
  // forward and backward run in parts when a tensor is too large for one binding
  // (split.ts, reached at call time: ops are defined while modules still load).
  const def: OpDef<A> = { ...spec };
  def.forward = (inputs, attrs, ctx) => forwardSplitting(spec, def, inputs, attrs, ctx);
  def.backward = (ctx, grads) => backwardSplitting(spec, def, ctx, grads);
  const op = ((inputs: readonly Tensor[], attrs: A) => {
    const precision = precisionOf(def.name, inputs, spec.indexInputs);
    const recording = tape.recording && inputs.some((t) => t.requiresGrad);
    const intermediates: Tensor[] = [];
    const outputs = runtime().withPrecision(precision, () => def.forward(inputs, attrs, { recording, keepForBackward: (t) => intermediates.push(t) }));
    if (recording) {
      const saved = [...(def.save?.(inputs, outputs, attrs) ?? []), ...intermediates];
      tape.record(def.name, inputs, outputs, attrs, saved, namingOutputs(def.backward, outputs), spec.backwardOps);
    }
    for (const t of intermediates) t.dispose(); // the tape keeps its own views
    return outputs;
  }) as Op<A>;
  Object.defineProperty(op, 'name', { value: def.name });
  (op as { def: OpDef<A> }).def = def;
  return op;
}

/**
 * The precision an op runs in: its float inputs', which must agree; index
 * inputs must be u32 and others must not. With no float input, the runtime's.
 */
function precisionOf(op: string, inputs: readonly Tensor[], indexInputs: readonly number[] = []): Precision {
  let precision: Precision | undefined;
  let first: Tensor | undefined;
  inputs.forEach((t, k) => {
    const index = indexInputs.includes(k);
    if (index !== (t.dtype === 'u32')) throw new PrecisionMismatch(op, t.toString(), t.dtype, index ? 'u32' : (precision ?? runtime().precision));
    if (index) return;
    if (!precision) [precision, first] = [t.dtype as Precision, t];
    else if (t.dtype !== precision) throw new PrecisionMismatch(op, t.toString(), t.dtype, precision, first!.toString());
  });
  return precision ?? runtime().precision;
}

/** The rule, with a TensorTooLarge naming the outputs (their labels, e.g. ONNX names) whose gradient it computes. */
function namingOutputs<A>(rule: BackwardRule<A>, outputs: readonly Tensor[]): BackwardRule<A> {
  return (ctx, grads) => {
    try {
      return rule(ctx, grads);
    } catch (e) {
      const names = outputs.flatMap((t) => (t.name ? [t.name] : []));
      if (!(e instanceof TensorTooLarge) || e.producing.length || !names.length) throw e;
      throw new TensorTooLarge(e.op, e.tensor, e.bytes, e.limit, e.kind, e.detail, names);
    }
  };
}

/** Binds tensors by WGSL variable name and dispatches. */
export function launch(
  kernel: Kernel,
  tensors: Record<string, Tensor>,
  rest: Omit<DispatchArgs, 'bindings'>,
): void {
  const bindings: DispatchArgs['bindings'] = {};
  for (const [name, t] of Object.entries(tensors)) bindings[name] = t.ref;
  runtime().dispatch(kernel, { ...rest, bindings });
}

/** Workgroup grid covering `n` threads at `wg` per group, split over y past 65535 groups. */
export function grid1d(n: number, wg = 256): [number, number] {
  const groups = Math.ceil(n / wg);
  if (groups <= 65535) return [groups, 1];
  const y = Math.ceil(groups / 65535);
  return [Math.ceil(groups / y), y];
}

/** Packs up to 8 values into the vec4 pairs that shader uniforms use for shapes and strides. */
export function pack8(values: readonly number[], fill = 0): number[] {
  if (values.length > 8) throw new Error(`rank ${values.length} exceeds the kernels' maximum of 8`);
  const out = new Array<number>(8).fill(fill);
  values.forEach((v, i) => (out[i] = v));
  return out;
}

// An ONNX model as an ExplainableModel (explainers/model.ts): a differentiable
// forward pass on the GPU that hands back, and starts gradients at, any named
// tensor.
//
// - Weights are uploaded once, at load, and shared by every run and input shape.
// - The graph is prepared once per set of input shapes (another batch size re-
//   prepares it, with the declared batch relaxed) and planned once per set of
//   fusions; a plan frees each intermediate right after its last reader.
// - Conv fusions (plan.ts) are on by default; a requested tensor switches off
//   the fusions that would hide it, so every layer stays addressable by name.
// - A graph with a tensor past the adapter's binding limit is run once as a
//   dry run (no GPU work) before its first real run: ops plan their parts
//   (engine/ops/split.ts), and one that cannot run fails there, in
//   milliseconds, naming the node, the tensor, its size and the limit
//   (backward too when gradients are requested).

import { BYTES, GradlensError, Tensor, cast, defineOp, formatShape, init, keep, runtime, sameShape, scope, tape, type Precision } from '../../engine/index.js';
import { BufferTooLarge, closeMatches, LayerNotFound, numel, TensorTooLarge } from '../../engine/host.js';
import type { ConstantValue, ExplainableModel, GraphNode, LayerInfo, RunOptions, RunResult } from '../../engine/host.js';
import { gpuBackend } from './backend.js';
import { OnnxBatchError, OnnxGraphError, OnnxInputError } from './errors.js';
import { executePlan } from './executor.js';
import { nodeInferContext, prepareGraph, type PreparedGraph, type PreparedNode } from './graph.js';
import { isFloatDType, toFloat32, type HostTensor } from './host-tensor.js';
import { findFusions, planGraph, type FoldCache, type FusionOptions, type Plan } from './plan.js';
import { decodeModel, type Dim, type OnnxModel } from './proto.js';

export interface LoadOptions {
  /** Static shapes for inputs with symbolic dimensions, by input name (e.g. { x: [1, 3, 48, 192] }). */
  inputShapes?: Record<string, readonly number[]>;
  /** Fold BatchNormalization into the preceding Conv's weights (default true). */
  fuseBatchNorm?: boolean;
  /** Apply Relu/LeakyRelu/Sigmoid/Clip/SiLU after a Conv in the conv kernel's epilogue (default true). */
  fuseActivations?: boolean;
  /** Fold a constant-zero Pad of H and W into the pads of the Conv(s) reading it (default true). */
  foldPads?: boolean;
  /** Largest constant, in elements, that preparation folds on the CPU (see PrepareOptions). */
  maxFoldElements?: number;
  /**
   * The graph's storage: 'f16' runs every node in f16 (f32 arithmetic inside
   * each kernel) on adapters with shader-f16 (PrecisionUnavailable
   * otherwise). Default f32. An f16 model still
   * takes and returns f32: run() casts the inputs, the outputs and every kept
   * tensor (on the tape, so gradients and replacements work as in f32).
   */
  precision?: Precision;
}

/** Decodes and prepares an ONNX file and uploads its weights (initializing the engine if needed). */
export async function loadOnnx(bytes: Uint8Array, options: LoadOptions = {}): Promise<OnnxGraphModel> {
  await init();
  return new OnnxGraphModel(decodeModel(bytes), options);
}

export class OnnxGraphModel implements ExplainableModel {
  readonly inputs: readonly { name: string; shape: readonly number[] }[];
  readonly outputs: readonly { name: string; shape: readonly number[] }[];
  /** The graph prepared at the load shapes (unfused): what layers() and nodes() describe. */
  readonly graph: PreparedGraph;
  private readonly fusion: FusionOptions;
  private readonly graphs = new Map<string, PreparedGraph>();
  /** Per graph: the tensors some fusion hides when nothing is requested, and the plans by requested hidden tensors. */
  private readonly plans = new Map<PreparedGraph, { hidden: Set<string>; byRequest: Map<string, Plan> }>();
  private readonly folds: FoldCache = new Map();
  /** GPU copies of constants, by host value (initializers are shared by every preparation). */
  private readonly uploads = new Map<HostTensor, Tensor>();
  /** Plans already dry-run against the adapter's limits: 'forward', or 'backward' (which covers forward). */
  private readonly checked = new WeakMap<Plan, 'forward' | 'backward'>();
  private disposed = false;
  /** Where the graph runs: f32 or f16 storage (LoadOptions.precision). */
  readonly precision: Precision;

  constructor(
    readonly model: OnnxModel,
    private readonly options: LoadOptions = {},
  ) {
    this.fusion = { batchNorm: options.fuseBatchNorm ?? true, activations: options.fuseActivations ?? true, pads: options.foldPads ?? true };
    this.precision = options.precision ?? 'f32';
    runtime().checkPrecision(this.precision); // PrecisionUnavailable now, not at the first run
    this.graph = prepareGraph(model, { inputShapes: options.inputShapes, maxFoldElements: options.maxFoldElements });
    this.graphs.set(shapeKey(this.graph.inputs.map((i) => i.shape)), this.graph);
    this.inputs = this.graph.inputs.map(({ name, shape }) => ({ name, shape }));
    this.outputs = this.graph.outputs.map(({ name, shape }) => ({ name, shape }));
    // A graph too big for the adapter fails here, before anything is uploaded.
    const plan = this.planFor(this.graph, new Set());
    this.checkLimits(plan, false);
    // Upload the weights now: the constants the default plan reads as tensors.
    try {
      for (const step of plan.steps) {
        if (step.kind === 'conv') [step.weight, step.bias].forEach((v) => v && this.upload(v));
        else tensorConstants(this.graph, step.node).forEach((v) => this.upload(v));
      }
    } catch (e) {
      this.dispose(); // a constant f16 cannot hold (PrecisionOverflow), or the device lost: nothing stays uploaded
      throw e;
    }
  }

  layers(): LayerInfo[] {
    return graphLayers(this.graph);
  }

  nodes(): GraphNode[] {
    return this.graph.nodes.map(({ label, node }) => {
      const attributes: Record<string, number | readonly number[]> = {};
      for (const [name, a] of node.attributes) {
        if (a.type === 'int' || a.type === 'float' || a.type === 'ints' || a.type === 'floats') attributes[name] = a.value;
      }
      return { name: label, op: node.opType, inputs: node.inputs, outputs: node.outputs, attributes };
    });
  }

  constant(name: string): ConstantValue | undefined {
    const v = this.graph.tensors.get(name)?.value;
    return v && { shape: v.shape, data: toFloat32(v) };
  }

  metadata(): Record<string, string> {
    return Object.fromEntries(this.model.metadata);
  }

  run(inputs: Record<string, Tensor>, options: RunOptions = {}): RunResult {
    if (this.disposed) throw new GradlensError('this ONNX model was disposed');
    const graph = this.graphFor(this.checkInputs(inputs));
    const requested = [...(options.keep ?? []), ...(options.requireGrad ?? [])];
    const layers = new Set(graphLayers(graph).map((l) => l.name));
    for (const name of requested) if (!layers.has(name)) throw new LayerNotFound(name, closeMatches(name, [...layers]));

    const replace = options.replace ?? {};
    for (const name of Object.keys(replace)) if (!layers.has(name)) throw new LayerNotFound(name, closeMatches(name, [...layers]));
    const fed = new Set(Object.keys(inputs));

    const grad = new Set(options.requireGrad ?? []);
    // Swapped tensors must exist in the plan too (a fusion must not hide them).
    const plan = this.planFor(graph, new Set([...requested, ...Object.keys(replace)]));
    this.checkLimits(plan, grad.size > 0);
    // In f16, what crosses the graph's boundary is f32: the inputs cast in, the
    // outputs cast out, and each kept or replaced tensor an f32 tap on the path
    // (cast out, then back in for the nodes that read it), so its gradient and
    // its replacement are the graph's.
    const half = this.precision !== 'f32';
    const taps = new Map<string, Tensor>();
    const feeds = new Map(
      Object.entries(inputs).map(([name, t]) => {
        if (!half) return [name, t] as const;
        taps.set(name, (t = atBoundary(name, t))); // the caller's tensor receives its gradient, as in f32
        return [name, cast(t, this.precision)] as const;
      }),
    );
    const produced = (name: string, t: Tensor): Tensor => {
      if (half && fed.has(name)) return t; // cast in above
      if (!half || (!requested.includes(name) && !replace[name])) return atBoundary(name, t);
      const wide = cast(t, 'f32');
      t.dispose(); // the cast keeps nothing of it (its backward is a cast)
      let swapped: Tensor;
      try {
        swapped = runtime().withPrecision('f32', () => atBoundary(name, wide)); // the caller's replacement sees, and makes, f32
      } catch (e) {
        wide.dispose();
        throw e;
      }
      taps.set(name, swapped);
      return cast(swapped, this.precision);
    };
    let values: Map<string, Tensor>;
    try {
      // What nodes make while they run (ConstantOfShape, Range...) is in the graph's precision.
      values = runtime().withPrecision(this.precision, () =>
        executePlan(plan, gpuBackend, feeds, [...graph.outputs.map((o) => o.name), ...requested], {
          constant: (v) => this.upload(v),
          produced,
        }),
      );
    } catch (e) {
      // Our f16 copies and f32 taps; the caller's own tensors are not ours to free.
      const callers = new Set(Object.values(inputs));
      if (half) for (const t of [...feeds.values(), ...taps.values()]) if (!callers.has(t)) t.dispose();
      throw e;
    }
    const widened = (name: string) => taps.get(name) ?? (half ? cast(values.get(name)!, 'f32') : values.get(name)!);
    const result = {
      outputs: Object.fromEntries(graph.outputs.map((o) => [o.name, widened(o.name)])),
      kept: Object.fromEntries(requested.map((name) => [name, widened(name)])),
    };
    if (half) for (const t of [...feeds.values(), ...values.values()]) t.dispose(); // the f16 copies (the tape holds its own views)
    return result;

    /** A produced tensor swapped by `replace`, and made a leaf when its gradient is asked for. */
    function atBoundary(name: string, t: Tensor): Tensor {
      const swap = replace[name];
      if (swap) {
        const r = swap(t);
        if (!sameShape(r.shape, t.shape)) {
          if (r !== t) r.dispose();
          if (!fed.has(name)) t.dispose(); // the producer's output, now no one's
          throw new OnnxGraphError('', '', `replace['${name}'] returned ${formatShape(r.shape)} for a ${formatShape(t.shape)} tensor`);
        }
        if (r !== t && !fed.has(name)) t.dispose(); // the caller's own inputs are not ours to free
        t = r;
      }
      // A leaf stops backward here and receives .grad. A tensor already on the tape
      // is left as it is: keeping its gradient is the caller's decision (retainGrad).
      if (grad.has(name) && !t.node) t.requiresGrad = true;
      return t;
    }
  }

  dispose(): void {
    for (const t of this.uploads.values()) t.dispose();
    this.uploads.clear();
    this.graphs.clear();
    this.plans.clear();
    this.disposed = true;
  }

  /** The plan for a graph when the `requested` tensors must be produced (fusion chains end at them). */
  planFor(graph: PreparedGraph, requested: ReadonlySet<string>): Plan {
    let cached = this.plans.get(graph);
    if (!cached) {
      const fusions = findFusions(graph, this.fusion, new Set(), this.folds);
      cached = { hidden: new Set(fusions.flatMap((f) => f.hidden)), byRequest: new Map([['', planGraph(graph, fusions)]]) };
      this.plans.set(graph, cached);
    }
    // Only requested tensors that a fusion would hide change the plan.
    const visible = new Set([...requested].filter((name) => cached.hidden.has(name)));
    const key = [...visible].sort().join('\0');
    let plan = cached.byRequest.get(key);
    if (!plan) cached.byRequest.set(key, (plan = planGraph(graph, findFusions(graph, this.fusion, visible, this.folds))));
    return plan;
  }

  /**
   * Dry-runs `plan` (runtime().dryRun: no GPU work, no allocation) when one of
   * its tensors is past the adapter's binding or buffer limit, so every op
   * plans its parts or fails here, before any GPU work: an OnnxGraphError
   * naming the node, whose cause is the engine's TensorTooLarge (op, tensor,
   * bytes, limit). With `backward`, also the backward pass from every output.
   */
  private checkLimits(plan: Plan, backward: boolean): void {
    const done = this.checked.get(plan);
    if (done === 'backward' || (done === 'forward' && !backward)) return;
    const rt = runtime();
    const { graph } = plan;
    const limit = Math.min(rt.maxBindingBytes, rt.maxBufferBytes);
    if ([...graph.tensors.values()].some((t) => numel(t.shape) * BYTES[this.precision] > limit)) {
      // In the graph's precision, as run() runs it (an f16 run's feeds are f16 casts).
      rt.dryRun(() =>
        rt.withPrecision(this.precision, () => scope(() => {
          const feeds = new Map(graph.inputs.map((i) => [i.name, feedPlaceholder(i.name, i.shape)] as const));
          for (const t of feeds.values()) t.requiresGrad = backward;
          const constants = new Map<HostTensor, Tensor>();
          const constant = (v: HostTensor) => constants.get(v) ?? constants.set(v, Tensor.empty(v.shape)).get(v)!;
          const outputs = executePlan(plan, gpuBackend, feeds, graph.outputs.map((o) => o.name), { constant });
          if (!backward) return;
          const [loss] = dryLoss([...outputs.values()], {});
          if (!loss.requiresGrad) return;
          try {
            tape.backward(loss);
          } catch (e) {
            if (!(e instanceof TensorTooLarge) || !e.producing.length) throw e;
            const step = plan.steps.find((s) => s.writes.some((w) => e.producing.includes(w)));
            const node = step && (step.kind === 'conv' ? step.nodes[0] : step.node);
            throw new OnnxGraphError(node?.label ?? '', node?.node.opType ?? '', `backward: ${e.message}`, { cause: e });
          }
        })),
      );
    }
    this.checked.set(plan, backward ? 'backward' : 'forward');
  }

  /** The constants on the GPU: how many tensors, and their bytes. */
  gpuConstants(): { count: number; bytes: number } {
    let bytes = 0;
    for (const t of this.uploads.values()) bytes += t.ref.byteLength;
    return { count: this.uploads.size, bytes };
  }

  private upload(v: HostTensor): Tensor {
    let t = this.uploads.get(v);
    if (!t) {
      // keep(): weights belong to the model, not to whatever scope the caller runs in.
      t = keep(runtime().withPrecision(this.precision, () => Tensor.fromData(toFloat32(v), v.shape, `a constant ${formatShape(v.shape)} of the model`)));
      this.uploads.set(v, t);
    }
    return t;
  }

  /** Input names and shapes against the model's; returns the shapes by input. */
  private checkInputs(inputs: Record<string, Tensor>): number[][] {
    const expected = this.inputs.map((i) => `'${i.name}' ${formatShape(i.shape)}`).join(', ');
    for (const name of Object.keys(inputs)) {
      if (!this.inputs.some((i) => i.name === name)) throw new OnnxInputError(name, `the model has no such input; it expects ${expected}`);
    }
    return this.inputs.map(({ name, shape }) => {
      const t = inputs[name];
      if (!(t instanceof Tensor)) throw new OnnxInputError(name, `${t === undefined ? 'is missing' : 'is not a Tensor'}; the model expects ${expected}`);
      const declared = this.model.graph.inputs.find((v) => v.name === name)?.shape;
      const fixed = (k: number) => (declared && isFixed(declared[k]) ? (declared[k] as number) : undefined);
      const bad = t.shape.length !== shape.length ? 0 : t.shape.findIndex((d, k) => k > 0 && fixed(k) !== undefined && d !== fixed(k));
      if (bad >= 0) {
        const why = t.shape.length !== shape.length ? `has rank ${t.shape.length}, not ${shape.length}` : `differs in dimension ${bad}`;
        throw new OnnxInputError(name, `shape ${formatShape(t.shape)} ${why}; the model expects ${expected} (only the batch, dimension 0, may differ)`);
      }
      return [...t.shape];
    });
  }

  /** The graph prepared for these input shapes (cached). */
  private graphFor(shapes: number[][]): PreparedGraph {
    const key = shapeKey(shapes);
    let g = this.graphs.get(key);
    if (g) return g;
    const base = this.graph;
    const batchChanged = base.inputs.findIndex((input, i) => shapes[i][0] !== input.shape[0]);
    const inputShapes = Object.fromEntries(base.inputs.map((input, i) => [input.name, shapes[i]]));
    const options = { inputShapes, maxFoldElements: this.options.maxFoldElements };
    if (batchChanged < 0) g = prepareGraph(this.model, options);
    else {
      const input = base.inputs[batchChanged].name;
      const batch = shapes[batchChanged][0];
      try {
        g = prepareGraph(relaxBatch(this.model), options);
      } catch (e) {
        if (e instanceof OnnxGraphError && e.node) throw new OnnxBatchError(input, batch, e.node, e.opType, e.message);
        throw e;
      }
      checkBatch(base, g, input, batch);
    }
    this.graphs.set(key, g);
    return g;
  }
}

/** Every tensor a run can return or start gradients at, in execution order: inputs, then each node's outputs. */
export function graphLayers(g: PreparedGraph): LayerInfo[] {
  return [
    ...g.inputs.map((i) => ({ name: i.name, op: 'input', shape: i.shape })),
    ...g.nodes.flatMap((p) => p.node.outputs.filter(Boolean).map((name) => ({ name, op: p.node.opType, shape: g.tensors.get(name)!.shape }))),
  ];
}

/**
 * The float constants a node reads as tensors: its constant inputs minus those
 * its shape inference reads as parameters through ctx.constant() (Resize
 * scales, Clip bounds, Reshape targets), which stay on the host.
 */
function tensorConstants(graph: PreparedGraph, p: PreparedNode): HostTensor[] {
  const ctx = nodeInferContext(graph, p);
  const parameters = new Set<number>();
  p.handler.inferShape({ ...ctx, constant: (i, what) => (parameters.add(i), ctx.constant(i, what)) });
  return ctx.inputs.flatMap((t, i) => (t?.value && !parameters.has(i) && isFloatDType(t.value.dtype) ? [t.value] : []));
}

/** A graph input's stand-in in a dry run; an input no GPU buffer can hold is an OnnxInputError. */
function feedPlaceholder(name: string, shape: readonly number[]): Tensor {
  try {
    return Tensor.empty(shape);
  } catch (e) {
    if (!(e instanceof BufferTooLarge)) throw e;
    throw new OnnxInputError(name, `shape ${formatShape(shape)} needs ${numel(shape) * BYTES[runtime().precision]} bytes, over this adapter's ${e.limit}-byte limit per buffer (maxBufferSize)`);
  }
}

/** The dry run's loss: one scalar from every output, each output's gradient a placeholder of its shape. */
const dryLoss = defineOp<Record<string, never>>({
  name: 'dryRunLoss',
  forward: () => [Tensor.empty([])],
  backward: ({ inputShapes }) => inputShapes.map((s) => Tensor.empty(s)),
});

const shapeKey = (shapes: readonly (readonly number[])[]) => shapes.map((s) => s.join('x')).join(',');
const isFixed = (d: Dim | undefined) => typeof d === 'number' && d > 0;

/** The model with the batch dimension (0) of its inputs and outputs declared unknown. */
function relaxBatch(model: OnnxModel): OnnxModel {
  const relax = <V extends { shape?: Dim[] }>(v: V): V => (v.shape?.length ? { ...v, shape: [null, ...v.shape.slice(1)] } : v);
  return { ...model, graph: { ...model.graph, inputs: model.graph.inputs.map(relax), outputs: model.graph.outputs.map(relax) } };
}

/**
 * After re-preparing for another batch: a graph output whose batch did not
 * follow the input's means a node merged or fixed the batch dimension (a
 * constant Reshape target such as [1, -1]). Names the first such node.
 */
function checkBatch(base: PreparedGraph, g: PreparedGraph, input: string, batch: number): void {
  const b0 = base.inputs.find((i) => i.name === input)!.shape[0];
  const follows = (name: string) => base.tensors.get(name)?.shape[0] !== b0 || g.tensors.get(name)?.shape[0] === batch;
  if (g.outputs.every((o) => follows(o.name))) return;
  const culprit = g.nodes.find((p) => !p.node.outputs.filter(Boolean).every(follows))!;
  const out = culprit.node.outputs.find((n) => n && !follows(n))!;
  throw new OnnxBatchError(
    input,
    batch,
    culprit.label,
    culprit.node.opType,
    `its output '${out}' is ${formatShape(g.tensors.get(out)!.shape)} at batch ${batch} and ${formatShape(base.tensors.get(out)!.shape)} at batch ${b0}`,
  );
}

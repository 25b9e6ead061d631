// A decoded ONNX model -> a prepared graph, ready for an executor:
//   1. constants: initializers (typed arrays) and graph inputs with static shapes;
//   2. a topological order of the nodes the outputs need (an iterative DFS from
//      the outputs: nodes off every path to an output are pruned, a cycle or a
//      missing input is an error naming the node);
//   3. for each node in order, its handler infers output shapes and element
//      types, and, when every input is a constant (or only shapes are needed),
//      evaluates the node on the CPU: shape subgraphs (Shape -> Gather ->
//      Concat -> Reshape...) and Constant nodes disappear here;
//   4. what is left runs on the GPU (or the float64 reference), node by node,
//      through runNode() (executor.ts): preparation itself needs no GPU.
// Every tensor keeps its ONNX name so users can pick layers by name.

import { GradlensError, formatShape, numel, type Shape } from '../../engine/host.js';
import { Attributes } from './attributes.js';
import { OnnxError, OnnxGraphError, OnnxInputError, UnsupportedOnnxOp } from './errors.js';
import { dataTypeName, dtypeOfCode, type HostTensor, type OnnxDType } from './host-tensor.js';
import { handlerFor, supportedOps } from './ops/index.js';
import { inferContext, nodeContext, type InferContext, type OpHandler, type OutputInfo, type TensorInfo } from './ops/handler.js';
import type { Dim, OnnxModel, OnnxNode, ValueInfo } from './proto.js';

export interface PrepareOptions {
  /** Shapes for graph inputs with symbolic or unknown dimensions, by input name (e.g. { x: [1, 3, 640, 640] }). */
  inputShapes?: Record<string, readonly number[]>;
  /** Largest result, in elements, that constant folding may produce; larger ones run on the GPU. */
  maxFoldElements?: number;
}

export interface GraphTensor {
  readonly name: string;
  readonly shape: Shape;
  readonly dtype: OnnxDType;
}

export interface PreparedNode {
  readonly node: OnnxNode;
  /** The node's name, or '#index (first output)' for unnamed nodes. */
  readonly label: string;
  readonly handler: OpHandler;
  readonly attrs: Attributes;
  /** Position in the model's node list. */
  readonly index: number;
}

export interface PreparedGraph {
  readonly model: OnnxModel;
  /** Version of the default ONNX operator set. */
  readonly opset: number;
  /** Inputs the caller feeds (initializers listed as inputs are constants, not inputs). */
  readonly inputs: readonly GraphTensor[];
  readonly outputs: readonly GraphTensor[];
  /** Static shape, element type and, for constants, the value of every initializer, input and node output prepared. */
  readonly tensors: ReadonlyMap<string, TensorInfo>;
  /** The constants GPU nodes read or outputs return: what an executor uploads once. */
  readonly constants: ReadonlyMap<string, HostTensor>;
  /** Nodes that run on the GPU, in a valid execution order. */
  readonly nodes: readonly PreparedNode[];
  /** Number of nodes evaluated at prepare time. */
  readonly folded: number;
  /** Number of nodes no output depends on. */
  readonly pruned: number;
}

export const DEFAULT_MAX_FOLD_ELEMENTS = 1 << 22;

/** Prepares a decoded model: see the file comment. Throws OnnxError subclasses naming the culprit. */
export function prepareGraph(model: OnnxModel, options: PrepareOptions = {}): PreparedGraph {
  const g = model.graph;
  const opset = defaultOpset(model);
  const maxFold = options.maxFoldElements ?? DEFAULT_MAX_FOLD_ELEMENTS;
  const labels = g.nodes.map(nodeLabel);

  // ---- constants and inputs ----
  const tensors = new Map<string, TensorInfo>();
  for (const t of g.initializers) {
    if (!t.name) throw new OnnxGraphError('', '', 'an initializer has no name');
    tensors.set(t.name, { shape: t.shape, dtype: t.dtype, value: t });
  }
  const inputs = graphInputs(model, options.inputShapes ?? {});
  for (const input of inputs) tensors.set(input.name, { shape: input.shape, dtype: input.dtype });

  // ---- topological order of what the outputs need ----
  const producer = new Map<string, number>();
  g.nodes.forEach((node, i) => {
    for (const out of node.outputs) {
      if (!out) continue;
      if (tensors.has(out)) throw new OnnxGraphError(labels[i], node.opType, `output '${out}' is also an initializer or graph input`);
      const other = producer.get(out);
      if (other !== undefined) throw new OnnxGraphError(labels[i], node.opType, `output '${out}' is also produced by node '${labels[other]}'`);
      producer.set(out, i);
    }
  });
  if (!g.outputs.length) throw new OnnxGraphError('', '', 'the graph has no outputs');
  const order = topologicalOrder(model, producer, tensors, labels);

  // Every unsupported op at once, so a user sees the whole list.
  const unsupported = order.filter((i) => !handlerFor(g.nodes[i]));
  if (unsupported.length) {
    const first = g.nodes[unsupported[0]];
    const others = [...new Set(unsupported.map((i) => g.nodes[i].opType))].filter((t) => t !== first.opType);
    throw new UnsupportedOnnxOp(first.opType, labels[unsupported[0]], supportedOps(), first.domain, others);
  }

  // ---- shape inference and constant folding ----
  const nodes: PreparedNode[] = [];
  let folded = 0;
  for (const i of order) {
    const node = g.nodes[i];
    const label = labels[i];
    const handler = handlerFor(node)!;
    const attrs = new Attributes(node, label);
    const ctx = inferContext(
      nodeContext(node, label, attrs, opset),
      node.inputs.map((name) => (name ? tensors.get(name) : undefined)),
    );
    const infos = atNode(node, label, () => handler.inferShape(ctx));
    node.outputs.forEach((name, k) => {
      if (name && !infos[k]) throw ctx.error(`output ${k} ('${name}') is not supported`);
      if (infos[k]) checkInferred(ctx.error, infos[k].shape, name);
    });
    const present = ctx.inputs.filter((t): t is TensorInfo => t !== undefined);
    const foldable =
      handler.fold &&
      (handler.foldFromShapes || present.every((t) => t.value)) &&
      (handler.alwaysFold || infos.every((o) => numel(o.shape) <= maxFold));
    if (foldable) {
      const values = atNode(node, label, () => handler.fold!(ctx));
      node.outputs.forEach((name, k) => {
        if (!name) return;
        const v = values[k];
        if (!v || !sameShape(v.shape, infos[k].shape) || v.dtype !== infos[k].dtype || v.data.length !== numel(v.shape)) {
          throw ctx.error(`folding output ${k} gave ${v ? `${v.dtype} ${formatShape(v.shape)}` : 'nothing'}; shape inference said ${infos[k].dtype} ${formatShape(infos[k].shape)}`);
        }
        tensors.set(name, { shape: infos[k].shape, dtype: infos[k].dtype, value: v });
      });
      folded++;
    } else {
      node.outputs.forEach((name, k) => name && tensors.set(name, infos[k]));
      nodes.push({ node, label, handler, attrs, index: i });
    }
  }

  const outputs = g.outputs.map((o): GraphTensor => {
    const info = tensors.get(o.name)!;
    checkDeclared(o.name, o.shape, info.shape);
    return { name: o.name, shape: info.shape, dtype: info.dtype };
  });

  // The constants an executor must upload: those GPU nodes read and those returned as outputs.
  const constants = new Map<string, HostTensor>();
  const use = (name: string) => {
    const v = tensors.get(name)?.value;
    if (v) constants.set(name, v);
  };
  for (const n of nodes) n.node.inputs.forEach((name) => name && use(name));
  for (const o of outputs) use(o.name);

  return { model, opset, inputs, outputs, tensors, constants, nodes, folded, pruned: g.nodes.length - order.length };
}

/** What prepare saw of a node (its inputs' shapes, types and constant values), for code that plans around nodes. */
export function nodeInferContext(graph: PreparedGraph, p: PreparedNode): InferContext {
  const base = nodeContext(p.node, p.label, p.attrs, graph.opset);
  return inferContext(base, p.node.inputs.map((n) => (n ? graph.tensors.get(n) : undefined)));
}

// ---- helpers ---------------------------------------------------------------------------

/** The version of the default ('' or 'ai.onnx') operator set. */
function defaultOpset(model: OnnxModel): number {
  const imp = model.opsetImports.find((o) => o.domain === '' || o.domain === 'ai.onnx');
  if (!imp) {
    // IR version 1-2 files predate opset_import and mean opset 1.
    if (model.irVersion > 0 && model.irVersion < 3) return 1;
    throw new OnnxGraphError('', '', 'the model imports no default ONNX operator set (opset_import has no "" domain)');
  }
  return imp.version;
}

export function nodeLabel(node: OnnxNode, index: number): string {
  return node.name || `#${index}${node.outputs[0] ? ` (${node.outputs[0]})` : ''}`;
}

/** Graph inputs that are not initializers, with static shapes (declared, or from `given`). */
/** The graph inputs a caller feeds: declared inputs that are not initializers (older exports list weights as inputs too). */
export function feedInputs(model: OnnxModel): ValueInfo[] {
  const initializers = new Set(model.graph.initializers.map((t) => t.name));
  return model.graph.inputs.filter((v) => !initializers.has(v.name));
}

function graphInputs(model: OnnxModel, given: Record<string, readonly number[]>): GraphTensor[] {
  const declared = feedInputs(model);
  for (const name of Object.keys(given)) {
    if (!declared.some((v) => v.name === name)) {
      throw new OnnxInputError(name, `the model has no such input; its inputs are: ${declared.map((v) => `'${v.name}'`).join(', ')}`);
    }
  }
  return declared.map((v) => {
    const dtype = v.elemType === undefined ? undefined : dtypeOfCode(v.elemType);
    if (!dtype) {
      throw new OnnxInputError(v.name, `element type ${v.elemType === undefined ? '(none: not a tensor)' : dataTypeName(v.elemType)} is not supported`);
    }
    const override = Object.hasOwn(given, v.name) ? given[v.name] : undefined;
    return { name: v.name, dtype, shape: inputShape(v.name, v.shape, override) };
  });
}

const formatDims = (dims: readonly Dim[]) => `[${dims.map((d) => (d === null ? '?' : d)).join(', ')}]`;

function inputShape(name: string, declared: Dim[] | undefined, given: readonly number[] | undefined): number[] {
  if (given) {
    if (!Array.isArray(given) || given.some((d) => !Number.isSafeInteger(d) || d < 0)) {
      throw new OnnxInputError(name, `shape ${JSON.stringify(given)} must be a list of non-negative integers`);
    }
    if (declared) {
      if (declared.length !== given.length) {
        throw new OnnxInputError(name, `shape ${formatShape(given)} has rank ${given.length}; the model declares ${formatDims(declared)}`);
      }
      declared.forEach((d, i) => {
        if (typeof d === 'number' && d > 0 && d !== given[i]) {
          throw new OnnxInputError(name, `shape ${formatShape(given)} differs from the declared ${formatDims(declared)} in dimension ${i}`);
        }
      });
    }
    return [...given];
  }
  if (!declared) throw new OnnxInputError(name, 'the model does not declare its shape; pass inputShapes: { ' + JSON.stringify(name) + ': [...] }');
  // dim_value 0 is how some exporters write an unknown dimension.
  if (declared.some((d) => typeof d !== 'number' || d <= 0)) {
    throw new OnnxInputError(
      name,
      `dimensions ${formatDims(declared)} are not all fixed; pass a static shape, e.g. inputShapes: { ${JSON.stringify(name)}: ` +
        `[${declared.map((d) => (typeof d === 'number' && d > 0 ? d : 1)).join(', ')}] } with your sizes`,
    );
  }
  return declared as number[];
}

/**
 * Node indices in execution order, restricted to what the graph outputs need
 * (iterative DFS, so deep graphs cannot overflow the stack).
 */
function topologicalOrder(model: OnnxModel, producer: Map<string, number>, known: Map<string, TensorInfo>, labels: string[]): number[] {
  const nodes = model.graph.nodes;
  const state = new Uint8Array(nodes.length); // 0 new, 1 on the stack, 2 done
  const order: number[] = [];
  const requireTensor = (name: string, by?: number) => {
    if (known.has(name) || producer.has(name)) return;
    if (by === undefined) throw new OnnxGraphError('', '', `output '${name}' is not produced by any node, initializer or input`);
    throw new OnnxGraphError(labels[by], nodes[by].opType, `input '${name}' is not produced by any node, initializer or graph input`);
  };
  for (const out of model.graph.outputs) {
    requireTensor(out.name);
    const root = producer.get(out.name);
    if (root === undefined || state[root] === 2) continue;
    const stack: { node: number; next: number }[] = [{ node: root, next: 0 }];
    state[root] = 1;
    while (stack.length) {
      const top = stack[stack.length - 1];
      const ins = nodes[top.node].inputs;
      if (top.next < ins.length) {
        const name = ins[top.next++];
        if (!name) continue;
        requireTensor(name, top.node);
        const p = producer.get(name);
        if (p === undefined || state[p] === 2) continue;
        if (state[p] === 1) {
          const cycle = stack.slice(stack.findIndex((s) => s.node === p)).map((s) => `'${labels[s.node]}'`);
          throw new OnnxGraphError(labels[p], nodes[p].opType, `the graph has a cycle: ${[...cycle, `'${labels[p]}'`].join(' -> ')}`);
        }
        state[p] = 1;
        stack.push({ node: p, next: 0 });
      } else {
        state[top.node] = 2;
        order.push(top.node);
        stack.pop();
      }
    }
  }
  return order;
}

/** Runs a handler step; engine ShapeErrors and other library errors are re-thrown naming the node. */
export function atNode<T>(node: OnnxNode, label: string, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof OnnxError || !(e instanceof GradlensError)) throw e;
    throw new OnnxGraphError(label, node.opType, e.message, { cause: e });
  }
}

/**
 * Largest tensor a graph may declare (2^28 float32 = 1 GiB): an untrusted file
 * must not make us allocate more than a WebGPU buffer can hold anyway.
 */
const MAX_TENSOR_ELEMENTS = 2 ** 28;

function checkInferred(error: (d: string) => OnnxGraphError, shape: Shape, name: string): void {
  if (shape.some((d) => !Number.isSafeInteger(d) || d < 0)) throw error(`inferred an invalid shape ${formatShape(shape)} for '${name}'`);
  const elements = shape.reduce((n, d) => n * d, 1);
  if (elements > MAX_TENSOR_ELEMENTS) {
    throw error(`'${name}' would hold ${elements} elements ${formatShape(shape)}, more than the ${MAX_TENSOR_ELEMENTS} a tensor may have`);
  }
}

/** An output's inferred shape must agree with its declared fixed dimensions. */
function checkDeclared(name: string, declared: Dim[] | undefined, inferred: Shape): void {
  if (!declared) return;
  const ok = declared.length === inferred.length && declared.every((d, i) => typeof d !== 'number' || d <= 0 || d === inferred[i]);
  if (!ok) throw new OnnxGraphError('', '', `output '${name}' is declared ${formatDims(declared)} but its inferred shape is ${formatShape(inferred)}`);
}

function sameShape(a: Shape, b: Shape): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

export type { OutputInfo, TensorInfo };

// Runs a plan on a backend: feeds the graph inputs, runs the steps in order,
// frees each computed tensor right after its last reader, and hands back the
// tensors asked for. The same loop serves the GPU (model.ts) and the float64
// reference (the gradient tests), so both run exactly the same graph.

import { OnnxGraphError, OnnxInputError } from './errors.js';
import { formatShape, sameShape } from '../../engine/host.js';
import { atNode, nodeInferContext, type PreparedGraph, type PreparedNode } from './graph.js';
import { nodeContext, type RunContext } from './ops/handler.js';
import type { Backend, BackendTensor } from './backend.js';
import type { HostTensor } from './host-tensor.js';
import type { ConvStep, Plan } from './plan.js';

export interface ExecuteHooks<T> {
  /** The tensor for a constant (the GPU uploads each once and caches it). */
  constant(value: HostTensor): T;
  /**
   * Sees every tensor as it becomes available, graph inputs first (to mark it
   * for gradients, or to swap it: the reference perturbs one for finite differences).
   */
  produced?(name: string, t: T): T | void;
}

/**
 * Executes `plan` and returns the tensors named in `want` (outputs, kept
 * layers). Everything else the run made is released, also on error. A wanted
 * graph input comes back as the fed tensor itself, a wanted constant as a view
 * (so freeing it leaves the cached constant alone).
 */
export function executePlan<T extends BackendTensor>(
  plan: Plan,
  backend: Backend<T>,
  feeds: ReadonlyMap<string, T>,
  want: Iterable<string>,
  hooks: ExecuteHooks<T>,
): Map<string, T> {
  const { graph } = plan;
  const wanted = new Set(want);
  const env = new Map<string, T>();
  /** Tensors this run made (not the caller's inputs, not the cached constants). */
  const owned = new Set<string>();
  const release = (name: string) => {
    const t = env.get(name);
    env.delete(name);
    owned.delete(name);
    if (t) backend.release(t);
  };
  const lookup = (name: string): T => {
    const t = env.get(name);
    if (t) return t;
    const value = graph.tensors.get(name)?.value;
    if (!value) throw new OnnxGraphError('', '', `no tensor '${name}' at this point of the run (the plan is out of order)`);
    return hooks.constant(value);
  };
  const publish = (name: string, t: T) => env.set(name, hooks.produced?.(name, t) ?? t);

  try {
    for (const input of graph.inputs) {
      const t = feeds.get(input.name);
      if (!t) throw new OnnxInputError(input.name, 'is missing');
      publish(input.name, t);
    }
    plan.steps.forEach((step, i) => {
      const outs = step.kind === 'node' ? runNode(graph, step.node, lookup, backend) : runConv(step, lookup(step.reads[0]), backend, hooks.constant);
      const names = step.kind === 'node' ? step.node.node.outputs : step.writes;
      outs.forEach((t, k) => {
        if (!names[k]) return backend.release(t); // an optional output nobody named
        owned.add(names[k]);
        publish(names[k], t);
      });
      // Free what no later step reads (and outputs nothing reads at all), unless asked for.
      for (const name of [...step.reads, ...step.writes]) {
        const last = plan.lastUse.get(name);
        if (owned.has(name) && !wanted.has(name) && (last === undefined || last === i)) release(name);
      }
    });
  } catch (e) {
    for (const name of [...owned]) release(name);
    throw e;
  }

  const result = new Map<string, T>();
  for (const name of wanted) {
    const t = lookup(name);
    result.set(name, env.has(name) ? t : backend.ops.reshape([t], { shape: t.shape })[0]);
  }
  for (const name of [...owned]) if (!wanted.has(name)) release(name);
  return result;
}

/** A fused Conv chain: one conv2d with the chain's weights and epilogue activation (errors name its Conv node). */
function runConv<T extends BackendTensor>(step: ConvStep, x: T, backend: Backend<T>, constant: (v: HostTensor) => T): T[] {
  const inputs = [x, constant(step.weight), ...(step.bias ? [constant(step.bias)] : [])];
  const conv = step.nodes[0];
  const [y] = atNode(conv.node, conv.label, () => backend.ops.conv2d(inputs, step.attrs));
  backend.label(y, step.writes[0]);
  return [y];
}

/**
 * Runs one prepared node on a backend.
 * `input(name)` returns the tensor for a graph input, an uploaded constant or
 * an earlier node's output. Outputs are named after their ONNX tensors and
 * checked against the inferred shapes.
 */
export function runNode<T extends BackendTensor>(graph: PreparedGraph, p: PreparedNode, input: (name: string) => T, be: Backend<T>): T[] {
  const { node, label } = p;
  const names = node.inputs;
  const base = nodeContext(node, label, p.attrs, graph.opset);
  const ctx: RunContext<T> = {
    ...nodeInferContext(graph, p),
    outputShapes: node.outputs.map((n) => graph.tensors.get(n)?.shape ?? []),
    tensor(i) {
      if (!names[i]) throw base.error(`input ${i} is required`);
      return input(names[i]);
    },
    ops: be.ops,
    backend: be,
  };
  const outs = atNode(node, label, () => p.handler.run(ctx));
  node.outputs.forEach((name, k) => {
    if (!name) return;
    const t = outs[k];
    if (!t || !sameShape(t.shape, ctx.outputShapes[k])) {
      throw base.error(`run produced ${t ? formatShape(t.shape) : 'nothing'} for output '${name}'; prepare inferred ${formatShape(ctx.outputShapes[k])}`);
    }
    be.label(t, name);
  });
  return outs;
}

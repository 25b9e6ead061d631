// Read-only access to a model's graph for the methods that need more than
// activations: CAM finds the classifier's weights, FullGrad the bias of every
// Conv and BatchNormalization. Models provide it through the optional
// `nodes()` / `constant()` of ExplainableModel (loadOnnx's models do).

import { MethodNotApplicable } from './errors.js';
import type { ConstantValue, ExplainableModel, GraphNode } from '../engine/index.js';

export interface ModelGraph {
  readonly nodes: readonly GraphNode[];
  constant(name: string): ConstantValue | undefined;
  /** The node producing tensor `name`. */
  producer(name: string): GraphNode | undefined;
  /** The nodes reading tensor `name`. */
  consumers(name: string): GraphNode[];
}

/** The model's graph, or MethodNotApplicable naming `method` when the model does not expose one. */
export function modelGraph(model: ExplainableModel, method: string): ModelGraph {
  if (!model.nodes || !model.constant) throw new MethodNotApplicable(method, 'needs the model graph (ExplainableModel.nodes() and constant()), which this model does not provide');
  const source = { nodes: model.nodes(), constant: model.constant.bind(model) };
  const producers = new Map<string, GraphNode>();
  const consumers = new Map<string, GraphNode[]>();
  for (const n of source.nodes) {
    for (const o of n.outputs) producers.set(o, n);
    for (const i of n.inputs) if (i) consumers.set(i, [...(consumers.get(i) ?? []), n]);
  }
  return {
    nodes: source.nodes,
    constant: source.constant,
    producer: (name) => producers.get(name),
    consumers: (name) => consumers.get(name) ?? [],
  };
}

// Which layers a CAM explains: the default target layer of a classifier
// (pytorch-grad-cam's usual `model.layer4[-1]`), the check of layers named by
// the caller, and what the graph says a model is: a classifier is an output
// [N, K] (or [N, K, 1, 1]) computed from spatial features.

import type { ExplainableModel } from '../engine/index.js';
import { closeMatches, ExplainError, LayerNotFound, NotASpatialLayer } from './errors.js';

/** A global pooling: what a classifier applies between its last spatial tensor and its head. */
function isGlobalPool(op: string, shape: readonly number[]): boolean {
  if (op === 'GlobalAveragePool' || op === 'GlobalMaxPool') return true;
  const pooled = shape.length === 2 || (shape.length === 4 && shape[2] * shape[3] === 1);
  return pooled && ['ReduceMean', 'ReduceMax', 'AveragePool', 'MaxPool'].includes(op);
}

function isSpatial(shape: readonly number[]): boolean {
  return shape.length === 4 && shape[2] * shape[3] > 1;
}

/**
 * The default target layer of a classifier: the last rank-4 tensor with a
 * spatial extent produced before the last global pooling (pytorch-grad-cam's
 * usual choice, `model.layer4[-1]` for a ResNet; squeeze-excitation pools come
 * earlier in execution order than the head's); without pooling, the last
 * spatial tensor.
 */
export function defaultLayer(model: ExplainableModel): string {
  const layers = model.layers();
  const inputs = new Set(model.inputs.map((i) => i.name));
  let end = layers.length;
  for (let i = layers.length - 1; i >= 0; i--) {
    if (isGlobalPool(layers[i].op, layers[i].shape)) {
      end = i;
      break;
    }
  }
  for (let i = end - 1; i >= 0; i--) {
    const l = layers[i];
    if (!inputs.has(l.name) && isSpatial(l.shape)) return l.name;
  }
  throw new ExplainError('no spatial (rank-4, more than 1x1) layer in the model to explain; pass `layers` explicitly');
}

/** Checks the names against the model: LayerNotFound with close matches, NotASpatialLayer for non-NCHW tensors. */
export function resolveLayers(model: ExplainableModel, layers: string | readonly string[] | undefined): string[] {
  if (layers === undefined) return [defaultLayer(model)];
  const list = typeof layers === 'string' ? [layers] : [...layers];
  if (!list.length) throw new ExplainError('`layers` is empty: name at least one target layer, or omit it for the default');
  const info = new Map(model.layers().map((l) => [l.name, l]));
  for (const name of list) {
    const l = info.get(name);
    if (!l) throw new LayerNotFound(name, closeMatches(name, [...info.keys()]));
    if (l.shape.length !== 4) throw new NotASpatialLayer(name, l.shape);
  }
  return list;
}

/**
 * The spatial tensor (rank 4, more than 1x1, not a graph input) nearest to
 * `output` walking back through the graph, `output` itself included: the
 * features a head reads (a classifier's last map before its pooling or
 * flatten; a fully convolutional model's last map). Undefined when the model
 * exposes no graph or only its inputs are spatial.
 */
export function nearestSpatialLayer(model: ExplainableModel, output: string): string | undefined {
  const nodes = model.nodes?.();
  if (!nodes) return undefined;
  const shapes = new Map(model.layers().map((l) => [l.name, l.shape]));
  const inputs = new Set(model.inputs.map((i) => i.name));
  const producer = new Map<string, (typeof nodes)[number]>();
  for (const n of nodes) for (const o of n.outputs) producer.set(o, n);
  // Breadth first: the nearest map wins over deeper skip connections.
  const seen = new Set<string>();
  const queue = [output];
  while (queue.length) {
    const name = queue.shift()!;
    if (seen.has(name) || inputs.has(name)) continue;
    seen.add(name);
    const shape = shapes.get(name);
    if (shape && isSpatial(shape)) return name;
    for (const i of producer.get(name)?.inputs ?? []) if (i && !model.constant?.(i)) queue.push(i);
  }
  return undefined;
}

/** A classifier as its graph shows it: the class-score output and the spatial features it is computed from. */
export interface ClassifierHead {
  output: string;
  /** The last spatial layer before the head (its global pooling or flatten): the default CAM layer. */
  layer: string;
  classes: number;
}

/**
 * `output` (default: the first) when it holds class scores: shape [N, K] or
 * [N, K, 1, 1], N the input's batch, computed (through pooling, linear
 * layers, Softmax...) from a spatial feature map. Undefined otherwise: a
 * detector's or a dense model's outputs are spatial or rank 3.
 */
export function classifierHead(model: ExplainableModel, output: string | undefined = model.outputs[0]?.name): ClassifierHead | undefined {
  const shape = model.outputs.find((o) => o.name === output)?.shape;
  if (!output || !shape) return undefined;
  const rows = shape.length === 2 || (shape.length === 4 && shape[2] === 1 && shape[3] === 1);
  // The batch must lead: BlazeFace-like [anchors, values] outputs are not class rows.
  if (!rows || shape[1] < 1 || shape[0] !== model.inputs[0]?.shape[0]) return undefined;
  const layer = nearestSpatialLayer(model, output);
  return layer ? { output, layer, classes: shape[1] } : undefined;
}

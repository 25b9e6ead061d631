// Which layers a CAM explains: the default target layer of a classifier
// (pytorch-grad-cam's usual `model.layer4[-1]`), and the check of layers
// named by the caller.

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

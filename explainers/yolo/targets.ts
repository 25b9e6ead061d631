// Reading a detector's outputs inside a target, and the layers its heads read.
// Targets score every batch item (Score-CAM and Ablation-CAM score batches of
// masked copies): each helper here keeps the batch as the leading axis.

import { gather, reshape, type Tensor } from '../../engine/index.js';
import type { ExplainableModel } from '../../engine/index.js';
import { TargetError } from '../errors.js';
import type { TargetValues } from '../targets.js';

/**
 * Elements `indices` (flat, within one batch item) of each item of `t`:
 * [N, k], one gather, no readback.
 */
export function elements(t: Tensor, indices: readonly number[]): Tensor {
  const n = t.shape[0];
  return gather(reshape(t, [n, t.size / n]), indices, 1);
}

/** The tensor `name` among the target's values, or a TargetError naming it. */
export function valueOf(values: TargetValues, name: string, label: string): Tensor {
  const t = values[name];
  if (!t) throw new TargetError(`${label}: no tensor '${name}' among ${Object.keys(values).map((k) => `'${k}'`).join(', ')}`);
  return t;
}

/**
 * The tensors feeding a detector's heads: walking back from every graph output
 * through the decode (reshapes, sigmoids, concatenations), the data input of
 * each first Conv met (or, past linear layers, the last activation output
 * before it), in the order the outputs (and concatenations) list them. Empty
 * when the model exposes no graph (`nodes`).
 */
export function headLayers(model: ExplainableModel, outputs: readonly string[] = model.outputs.map((o) => o.name)): string[] {
  const nodes = model.nodes?.() ?? [];
  const producer = new Map<string, (typeof nodes)[number]>();
  for (const n of nodes) for (const o of n.outputs) producer.set(o, n);
  // CAM maps weigh activations, which should be rectified: a head fed by a
  // linear layer (a Conv or BatchNormalization with no activation after it, as
  // Yolo-Fastest's depthwise 5x5 before each head) holds signed values whose
  // weighted channel sum can cancel at the detection (an empty LayerCAM map).
  // Walk back through such layers to the last activation output.
  const lastActivation = (name: string): string => {
    for (let t = name; ; ) {
      const p = producer.get(t);
      if (!p || (p.op !== 'Conv' && p.op !== 'BatchNormalization') || !producer.has(p.inputs[0])) return t;
      t = p.inputs[0];
    }
  };
  const found: string[] = [];
  const seen = new Set<string>();
  const queue = [...outputs];
  while (queue.length) {
    const name = queue.shift()!;
    if (seen.has(name)) continue;
    seen.add(name);
    const node = producer.get(name);
    if (!node) continue;
    if (node.op === 'Conv') {
      const layer = lastActivation(node.inputs[0]);
      if (!found.includes(layer)) found.push(layer);
      continue;
    }
    for (const input of node.inputs) if (input && !model.constant?.(input)) queue.push(input);
  }
  return found;
}

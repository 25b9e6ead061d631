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
 * The tensors feeding a detector's head: walking back from every graph output
 * through the decode (reshapes, sigmoids, concatenations), the data input of
 * each first Conv met, in the order the outputs (and concatenations) list
 * them. Empty when the model exposes no graph (`nodes`).
 */
export function headLayers(model: ExplainableModel, outputs: readonly string[] = model.outputs.map((o) => o.name)): string[] {
  const nodes = model.nodes?.() ?? [];
  const producer = new Map<string, (typeof nodes)[number]>();
  for (const n of nodes) for (const o of n.outputs) producer.set(o, n);
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
      if (!found.includes(node.inputs[0])) found.push(node.inputs[0]);
      continue;
    }
    for (const input of node.inputs) if (input && !model.constant?.(input)) queue.push(input);
  }
  return found;
}

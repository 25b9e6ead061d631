// Explaining one detection: the score of a detection as a differentiable
// function of the raw outputs, and the default layers of a detector (the
// tensors that feed its head convolutions).

import { gather, mul, reshape, sigmoid, type Tensor } from '../../engine/index.js';
import { TargetError } from '../errors.js';
import type { ExplainableModel } from '../../engine/index.js';
import { functionTarget, type Target } from '../targets.js';
import type { Detection } from './nms.js';

/**
 * Element `index` of each batch item's output as an [N] tensor (one gather,
 * no readback): batched methods (Score-CAM) score every item of a batch.
 */
function element(t: Tensor, index: number): Tensor {
  const n = t.shape[0];
  return reshape(gather(reshape(t, [n, t.size / n]), [index], 1), [n]);
}

/**
 * YOLOv5 (decode in the graph, rows [cx, cy, w, h, obj, p_0..]): the
 * detection's score objectness x class probability, read at its row.
 */
export function yolov5DetectionTarget(d: Detection, output: string, rowWidth: number): Target {
  if (!d.source) throw new TargetError('detection target: the detection has no source row');
  const row = d.source.index;
  return functionTarget(
    (values) => {
      const out = values[output];
      if (!out) throw new TargetError(`detection target: no output '${output}'`);
      return mul(element(out, row * rowWidth + 4), element(out, row * rowWidth + 5 + d.cls));
    },
    `detection class ${d.cls} score ${d.score.toFixed(3)} (row ${row} of '${output}')`,
  );
}

/**
 * Darknet heads [1, A * (5 + C), gh, gw] of raw logits: the detection's score
 * sigmoid(t_obj) x sigmoid(t_cls) at its anchor slot and cell.
 */
export function darknetDetectionTarget(d: Detection, shape: readonly number[], anchors: number): Target {
  if (!d.source) throw new TargetError('detection target: the detection has no source cell');
  const [, channels, gh, gw] = shape;
  const per = channels / anchors;
  const a = Math.floor(d.source.index / (gh * gw));
  const cell = d.source.index % (gh * gw);
  const at = (k: number) => (a * per + k) * gh * gw + cell;
  const output = d.source.output;
  return functionTarget(
    (values) => {
      const out = values[output];
      if (!out) throw new TargetError(`detection target: no output '${output}'`);
      const objectness = sigmoid(element(out, at(4)));
      // Heads without class channels (per = 5) score by objectness alone.
      return per === 5 ? objectness : mul(objectness, sigmoid(element(out, at(5 + d.cls))));
    },
    `detection class ${d.cls} score ${d.score.toFixed(3)} (anchor ${a}, cell ${cell % gw},${Math.floor(cell / gw)} of '${output}')`,
  );
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

/**
 * The head a YOLOv5 decode row comes from: rows are concatenated head by head
 * (strides 8, 16, 32), 3 anchors x grid cells each.
 */
export function yolov5HeadOf(row: number, inputHeight: number, inputWidth: number, strides: readonly number[] = [8, 16, 32], anchors = 3): number {
  let start = 0;
  for (let h = 0; h < strides.length; h++) {
    start += anchors * Math.ceil(inputHeight / strides[h]) * Math.ceil(inputWidth / strides[h]);
    if (row < start) return h;
  }
  return strides.length - 1;
}

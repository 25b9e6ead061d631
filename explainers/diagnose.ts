// What explain() says about a result it cannot vouch for, instead of handing
// over a blank map as if it were an answer:
//  - an all-zero gradient at a target layer (the score's sigmoid saturated,
//    every path cut by inactive ReLUs): the map is blank, not "nothing here";
//  - an all-zero raw map with a live gradient: the weighted channel sum is
//    negative everywhere and the ReLU cleared it;
//  - a flat raw map (a 1x1 layer): it cannot point anywhere.
// Each warning names the layer and what to try. Non-finite scores and maps
// are not warnings but errors (NonFiniteError, checked by explain.ts).

import { max, reshape, type ExplainableModel, type Tensor } from '../engine/index.js';
import { abs, isFlat } from './cam-math.js';
import type { LayerState } from './method.js';
import type { Target } from './targets.js';

/** Per target layer with a gradient: max |gradient| as a [1] tensor (read back with the maps), else null. */
export function gradientPeaks(states: readonly LayerState[]): (Tensor | null)[] {
  return states.map((s) => (s.gradients ? reshape(max(abs(s.gradients), undefined), [1]) : null));
}

export interface DiagnosisInput {
  model: ExplainableModel;
  target: Target;
  defaultOutput: string;
  score: Float32Array;
  /** Per target layer: its raw map (after ReLU, before scaling) and max |gradient| (null for gradient-free methods). */
  layers: readonly { layer: string; raw: Float32Array | undefined; gradientPeak: number | null }[];
}

/** The warnings of one explanation (see the file's header); [] when there is nothing to say. */
export function diagnose({ model, target, defaultOutput, score, layers }: DiagnosisInput): string[] {
  const warnings: string[] = [];
  const deadLayers = layers.filter((l) => l.gradientPeak === 0).map((l) => l.layer);
  if (deadLayers.length) {
    warnings.push(
      `the gradient of ${target.label} is all zero at ${deadLayers.map((l) => `'${l}'`).join(', ')}: the map shows no evidence, not evidence of nothing. ` +
        (saturation(model, target, defaultOutput, score) ??
          'Every path from the score to the layer is saturated or cut by inactive ReLUs: try another layer, or a target read before the final activation.'),
    );
  }
  for (const l of layers) {
    if (!l.raw || l.gradientPeak === 0) continue;
    const [lo, hi] = range(l.raw);
    if (hi === 0 && lo === 0) {
      warnings.push(`the map at '${l.layer}' is all zero: its weighted channel sum is negative everywhere and the ReLU clears it. Try another layer, or LayerCAM (per-position weights).`);
    } else if (isFlat(lo, hi)) {
      warnings.push(`the map at '${l.layer}' is constant (${l.raw.length === 1 ? 'a 1x1 layer' : 'no spatial variation'}): it cannot localize anything; pick a layer with a spatial extent.`);
    }
  }
  return warnings;
}

/** A hint when the score is read from a Sigmoid or Softmax whose value rounds to 0 or 1 (its derivative is then 0 in float32). */
function saturation(model: ExplainableModel, target: Target, defaultOutput: string, score: Float32Array): string | undefined {
  const tensor = target.output ?? defaultOutput;
  const producer = model.nodes?.().find((n) => n.outputs.includes(tensor));
  if (!producer || !['Sigmoid', 'Softmax', 'HardSigmoid'].includes(producer.op)) return undefined;
  const saturated = Array.from(score).every((s) => s <= 1e-6 || s >= 1 - 1e-6);
  if (!saturated) return undefined;
  return (
    `'${tensor}' is the output of ${producer.op} '${producer.name}' and the score (${Array.from(score, (s) => s.toPrecision(7)).join(', ')}) is saturated, so its derivative rounds to 0: ` +
    `explain the ${producer.op}'s input '${producer.inputs[0]}' instead (a target read before the activation).`
  );
}

function range(values: Float32Array): [number, number] {
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of values) {
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  return [lo, hi];
}

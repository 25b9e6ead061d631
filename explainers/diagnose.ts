// What explain() says about a result it cannot vouch for, instead of handing
// over a blank map as if it were an answer:
//  - an all-zero gradient at a target layer (the score's sigmoid saturated,
//    every path cut by inactive ReLUs): the map is blank, not "nothing here";
//  - an all-zero raw map with a live gradient: the weighted channel sum is
//    negative everywhere and the ReLU cleared it;
//  - a flat raw map (a 1x1 layer): it cannot point anywhere;
//  - all-zero activations at a layer: nothing to weigh, by any method.
// Each warning names the layer and what to try. Non-finite scores and maps
// are not warnings but errors (NonFiniteError, checked by explain.ts).

import { max, reshape, type ExplainableModel, type Tensor } from '../engine/index.js';
import { abs, isFlat } from './cam-math.js';
import type { LayerState } from './method.js';
import type { Target } from './targets.js';

/**
 * One thing an explanation cannot vouch for. `message` is a sentence in API
 * words; `code` and the names let a front end (the CLI, the page) word its
 * own advice:
 *   dead-gradient     the gradient at `layers` is all zero (`tensor`: the
 *                     saturated activation's input, a target that would work)
 *   zero-activations  the activations at `layers` are all zero for this input
 *   negative-map      the weighted channel sum is <= 0 everywhere at `layers`
 *   flat-map          the map at `layers` does not vary (a 1x1 layer)
 */
export interface ExplainWarning {
  code: 'dead-gradient' | 'zero-activations' | 'negative-map' | 'flat-map';
  message: string;
  layers: string[];
  tensor?: string;
}

/** Per target layer: max |gradient| (null without one) and max |activation|, as [1] tensors read back with the maps. */
export function layerPeaks(states: readonly LayerState[]): { gradient: Tensor | null; activation: Tensor }[] {
  const peak = (t: Tensor) => reshape(max(abs(t), undefined), [1]);
  return states.map((s) => ({ gradient: s.gradients ? peak(s.gradients) : null, activation: peak(s.activations) }));
}

export interface DiagnosisInput {
  model: ExplainableModel;
  target: Target;
  defaultOutput: string;
  score: Float32Array;
  /** Per target layer: its raw map (after ReLU, before scaling), max |gradient| (null for gradient-free methods), max |activation| (null if unknown). */
  layers: readonly { layer: string; raw: Float32Array | undefined; gradientPeak: number | null; activationPeak: number | null }[];
}

/** The warnings of one explanation (see the file's header); [] when there is nothing to say. */
export function diagnose({ model, target, defaultOutput, score, layers }: DiagnosisInput): ExplainWarning[] {
  const warnings: ExplainWarning[] = [];
  const quoted = (names: readonly string[]) => names.map((l) => `'${l}'`).join(', ');
  const asleep = layers.filter((l) => l.activationPeak === 0).map((l) => l.layer);
  if (asleep.length) {
    warnings.push({
      code: 'zero-activations',
      layers: asleep,
      message: `the activations at ${quoted(asleep)} are all zero for this input: there is nothing to weigh, so no method can draw a map there. Pick another layer.`,
    });
  }
  const dead = layers.filter((l) => l.gradientPeak === 0 && l.activationPeak !== 0).map((l) => l.layer);
  if (dead.length) {
    const saturated = saturation(model, target, defaultOutput, score);
    warnings.push({
      code: 'dead-gradient',
      layers: dead,
      tensor: saturated?.tensor,
      message:
        `the gradient of ${target.label} is all zero at ${quoted(dead)}: the map shows no evidence, not evidence of nothing. ` +
        (saturated?.why ?? 'Every path from the score to the layer is saturated or cut by inactive ReLUs: try another layer, or a target read before the final activation.'),
    });
  }
  for (const l of layers) {
    if (!l.raw || l.gradientPeak === 0 || l.activationPeak === 0) continue;
    const [lo, hi] = range(l.raw);
    if (hi === 0 && lo === 0) {
      warnings.push({
        code: 'negative-map',
        layers: [l.layer],
        message: `the map at '${l.layer}' is all zero: its weighted channel sum is negative everywhere and the ReLU clears it. Try another layer, or LayerCAM (per-position weights).`,
      });
    } else if (isFlat(lo, hi)) {
      warnings.push({
        code: 'flat-map',
        layers: [l.layer],
        message: `the map at '${l.layer}' is constant (${l.raw.length === 1 ? 'a 1x1 layer' : 'no spatial variation'}): it cannot localize anything; pick a layer with a spatial extent.`,
      });
    }
  }
  return warnings;
}

/** When the score is read from a Sigmoid or Softmax whose value rounds to 0 or 1 (its derivative is then 0 in float32): why, and the pre-activation tensor. */
function saturation(model: ExplainableModel, target: Target, defaultOutput: string, score: Float32Array): { why: string; tensor: string } | undefined {
  const tensor = target.output ?? target.tensors?.[0] ?? defaultOutput;
  const producer = model.nodes?.().find((n) => n.outputs.includes(tensor));
  if (!producer || !['Sigmoid', 'Softmax', 'HardSigmoid'].includes(producer.op)) return undefined;
  const saturated = Array.from(score).every((s) => s <= 1e-6 || s >= 1 - 1e-6);
  if (!saturated) return undefined;
  return {
    tensor: producer.inputs[0],
    why:
      `'${tensor}' is the output of ${producer.op} '${producer.name}' and the score (${Array.from(score, (s) => s.toPrecision(7)).join(', ')}) is saturated, so its derivative rounds to 0: ` +
      `explain the ${producer.op}'s input '${producer.inputs[0]}' instead (a target read before the activation).`,
  };
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

// What an explanation explains: a scalar score computed from the model's
// outputs on the GPU, differentiated by the gradient methods and evaluated by
// the gradient-free ones (pytorch-grad-cam's `targets`, model_targets.py).
// For a batch the scores of all items are summed, as pytorch-grad-cam does: the
// items do not interact, so each item's gradient is that of its own score.

import { gather, reshape, softmax, sum, type Tensor } from '../engine/index.js';
import { TargetError } from './errors.js';

/** The tensors a target reads: the graph outputs plus the inner tensors it asked for. */
export type TargetValues = Readonly<Record<string, Tensor>>;

export interface Target {
  /** What is explained, for messages and results ("class 3 logit of 'fc'"). */
  readonly label: string;
  /** Inner (non-output) tensors the score reads; the model keeps them. */
  readonly tensors?: readonly string[];
  /** The class per batch item, when the score is one class's logit or probability (CAM reads it). */
  readonly category?: readonly number[];
  /** The tensor the class index refers to. */
  readonly output?: string;
  /**
   * The score: a tensor whose elements are summed into the scalar that is
   * explained. `defaultOutput` is the graph output to read when none was named.
   */
  score(values: TargetValues, defaultOutput: string): Tensor;
}

/** A target, a class index (per batch item, or one for all), or any scalar function of the graph outputs. */
export type TargetSpec = Target | number | readonly number[] | ((outputs: TargetValues) => Tensor);

export interface ClassTargetOptions {
  /** Which tensor holds the class scores: a graph output or any inner tensor name (default: the first output). */
  output?: string;
}

/** The named tensor, or the default output. */
function pick(values: TargetValues, name: string | undefined, fallback: string, what: string): Tensor {
  const key = name ?? fallback;
  const t = values[key];
  if (!t) throw new TargetError(`${what}: no tensor '${key}' among ${Object.keys(values).map((k) => `'${k}'`).join(', ')}`);
  return t;
}

/** [N, K, 1, 1] or [N, K] or [K] scores as [N, K]. */
function asRows(t: Tensor, what: string): Tensor {
  const shape = t.shape;
  if (shape.length === 1) return reshape(t, [1, shape[0]]);
  if (shape.slice(2).some((d) => d !== 1)) {
    throw new TargetError(`${what}: expects class scores of shape [N, K] (or [N, K, 1, 1]), got [${shape.join(', ')}]; pass a function target for other outputs`);
  }
  return reshape(t, [shape[0], shape[1]]);
}

/** Picks column category[i] of row i (one gather, no readback). */
function pickClass(rows: Tensor, category: readonly number[], what: string): Tensor {
  const [n, k] = rows.shape;
  const cats = category.length === 1 ? Array<number>(n).fill(category[0]) : [...category];
  if (cats.length !== n) throw new TargetError(`${what}: ${cats.length} categories for a batch of ${n}`);
  for (const c of cats) {
    if (!Number.isInteger(c) || c < 0 || c >= k) throw new TargetError(`${what}: class ${c} is out of range for ${k} classes (0..${k - 1})`);
  }
  return gather(reshape(rows, [n * k]), cats.map((c, i) => i * k + c));
}

function categories(category: number | readonly number[]): number[] {
  return typeof category === 'number' ? [category] : [...category];
}

/** The score of class `category` (per batch item, or one for all): pytorch-grad-cam's ClassifierOutputTarget. */
export function classTarget(category: number | readonly number[], options: ClassTargetOptions = {}): Target {
  const cats = categories(category);
  const where = options.output ? ` of '${options.output}'` : '';
  const label = `class ${cats.join(',')} score${where}`;
  return {
    label,
    category: cats,
    output: options.output,
    tensors: options.output ? [options.output] : [],
    score: (values, first) => pickClass(asRows(pick(values, options.output, first, label), label), cats, label),
  };
}

/** The softmax probability of class `category` over the last axis: ClassifierOutputSoftmaxTarget. */
export function softmaxTarget(category: number | readonly number[], options: ClassTargetOptions = {}): Target {
  const cats = categories(category);
  const where = options.output ? ` of '${options.output}'` : '';
  const label = `class ${cats.join(',')} softmax probability${where}`;
  return {
    label,
    category: cats,
    output: options.output,
    tensors: options.output ? [options.output] : [],
    score: (values, first) => pickClass(softmax(asRows(pick(values, options.output, first, label), label), -1), cats, label),
  };
}

/** A caller-supplied scalar function of the outputs (and of inner tensors listed in `tensors`). */
export function functionTarget(score: (values: TargetValues) => Tensor, label = 'custom score', tensors: readonly string[] = []): Target {
  return { label, tensors, score };
}

/** Normalizes what callers may pass as a target. */
export function toTarget(spec: TargetSpec): Target {
  if (typeof spec === 'function') return functionTarget(spec);
  if (typeof spec === 'number' || Array.isArray(spec)) return classTarget(spec as number | number[]);
  return spec as Target;
}

/** The scalar explained: the target's score summed over its elements (over the batch). */
export function scalarScore(target: Target, values: TargetValues, defaultOutput: string): Tensor {
  const s = target.score(values, defaultOutput);
  return s.size === 1 ? reshape(s, []) : sum(s);
}

/** Index of the largest value in each row of [N, K] scores (the default target is the predicted class). */
export function argmaxRows(data: Float32Array, n: number): number[] {
  const k = data.length / n;
  return Array.from({ length: n }, (_, i) => {
    let best = 0;
    for (let j = 1; j < k; j++) if (data[i * k + j] > data[i * k + best]) best = j;
    return best;
  });
}

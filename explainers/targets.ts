// What an explanation explains: a scalar score computed from the model's
// outputs on the GPU, differentiated by the gradient methods and evaluated by
// the gradient-free ones (pytorch-grad-cam's `targets`, model_targets.py).
// For a batch the scores of all items are summed, as pytorch-grad-cam does: the
// items do not interact, so each item's gradient is that of its own score.
// Each target's score keeps the batch as its leading axis (one score per item,
// [N]), which the batched methods read per item (batched.ts, itemScores).

import { clip, div, gather, max, mul, neg, reshape, slice, softmax, sqrt, sum, tensor, Tensor } from '../engine/index.js';
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

/**
 * A target that scores one tensor: the output named in `options` (also kept
 * by the model when it is an inner tensor), else the default output.
 */
function outputTarget(label: string, options: ClassTargetOptions, score: (out: Tensor) => Tensor, category?: number[]): Target {
  return {
    label,
    ...(category ? { category } : {}),
    output: options.output,
    tensors: options.output ? [options.output] : [],
    score: (values, first) => score(pick(values, options.output, first, label)),
  };
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
  return outputTarget(label, options, (out) => pickClass(asRows(out, label), cats, label), cats);
}

/** The softmax probability of class `category` over the last axis: ClassifierOutputSoftmaxTarget. */
export function softmaxTarget(category: number | readonly number[], options: ClassTargetOptions = {}): Target {
  const cats = categories(category);
  const where = options.output ? ` of '${options.output}'` : '';
  const label = `class ${cats.join(',')} softmax probability${where}`;
  return outputTarget(label, options, (out) => pickClass(softmax(asRows(out, label), -1), cats, label), cats);
}

/** Data given on the host or as a tensor (the caller's: never disposed here). */
export type TargetData = Float32Array | readonly number[] | Tensor;

/** `data` as a tensor of `shape` in the current scope (a host array is uploaded; a tensor is viewed, not copied). */
function dataTensor(data: TargetData, shape: readonly number[]): Tensor {
  if (data instanceof Tensor) return data.view(shape);
  return tensor(data instanceof Float32Array ? data : Float32Array.from(data), shape);
}

function dataShape(data: TargetData): readonly number[] {
  return data instanceof Tensor ? data.shape : [data.length];
}

/** The number of elements per batch item of `t` ([N, ...] -> prod of the rest). */
function perItem(t: Tensor): number {
  return t.shape.length ? t.size / t.shape[0] : 1;
}

export interface MaskTargetOptions extends ClassTargetOptions {
  /** Shape of the mask when given as a flat host array (default: the output's [H, W]). */
  shape?: readonly [number, number];
}

/**
 * The sum of class `category`'s logits over a mask (pytorch-grad-cam's
 * SemanticSegmentationTarget: `(model_output[category] * mask).sum()`), per
 * batch item: score_i = sum_hw out[i, k, h, w] mask[h, w]. Outputs [N, K, H, W],
 * or [N, H, W] single-class maps (category 0). The mask is [H, W] of the output's
 * H x W (0/1, or weights); a host array of H * W values, or a tensor of shape
 * [H, W] (the caller's: not disposed). A mismatch is a TargetError naming both shapes.
 */
export function maskTarget(category: number, mask: TargetData, options: MaskTargetOptions = {}): Target {
  if (!Number.isInteger(category) || category < 0) throw new TargetError(`mask target: the class must be a non-negative integer, got ${category}`);
  const where = options.output ? ` of '${options.output}'` : '';
  const label = `class ${category} over a mask${where}`;
  const given = options.shape ?? (dataShape(mask).length === 2 ? dataShape(mask) : undefined);
  return outputTarget(label, options, (out) => {
    const s = out.shape;
    if (s.length !== 3 && s.length !== 4) throw new TargetError(`${label}: expects segmentation logits [N, K, H, W] or a map [N, H, W], got [${s.join(', ')}]`);
    const [n, k, h, w] = s.length === 4 ? s : [s[0], 1, s[1], s[2]];
    const maskShape = given ?? dataShape(mask);
    if (maskShape.length !== 2 || maskShape[0] !== h || maskShape[1] !== w || maskShape[0] * maskShape[1] !== dataShape(mask).reduce((a, b) => a * b, 1)) {
      throw new TargetError(`${label}: the mask has shape [${maskShape.join(', ')}] (${dataShape(mask).reduce((a, b) => a * b, 1)} values) but the output is [${s.join(', ')}]: the mask must be [${h}, ${w}], the output's H x W`);
    }
    if (category >= k) throw new TargetError(`${label}: class ${category} is out of range for ${k} class${k === 1 ? '' : 'es'} (0..${k - 1}) in output [${s.join(', ')}]`);
    const plane = k === 1 ? reshape(out, [n, h * w]) : reshape(slice(reshape(out, [n, k, h * w]), [category], [category + 1], [1]), [n, h * w]);
    // [N, HW] * [1, HW] -> per item sum: [N].
    return sum(mul(plane, dataTensor(mask, [1, h * w])), [1]);
  });
}

/**
 * Cosine similarity of each item's flattened output with a reference
 * embedding (pytorch-grad-cam's SimilarityToConceptTarget:
 * `cos(model_output, concept_features)`, torch's CosineSimilarity(dim=0),
 * eps 1e-8): score_i = <o_i, r> / sqrt(max(|o_i|^2 |r|^2, eps^2)). The
 * reference has as many values as one item's output (any shape).
 */
export function similarityTarget(reference: TargetData, options: ClassTargetOptions = {}): Target {
  const where = options.output ? ` '${options.output}'` : '';
  const label = `cosine similarity of output${where} to the reference embedding`;
  const d = dataShape(reference).reduce((a, b) => a * b, 1);
  return outputTarget(label, options, (out) => {
    const n = out.shape.length ? out.shape[0] : 1;
    if (perItem(out) !== d) throw new TargetError(`${label}: the reference has ${d} values (shape [${dataShape(reference).join(', ')}]) but each item of output [${out.shape.join(', ')}] has ${perItem(out)}: compute the reference with the same model and output`);
    const o = reshape(out, [n, d]);
    const r = dataTensor(reference, [1, d]);
    const dot = sum(mul(o, r), [1]);
    const norms = mul(sum(mul(o, o), [1]), sum(mul(r, r)));
    return div(dot, sqrt(clip(norms, 1e-16, 3.4e38)));
  });
}

/**
 * A single-logit binary classifier (pytorch-grad-cam's
 * BinaryClassifierOutputTarget): the output for class 1, its negation for
 * class 0, per item (outputs [N], [N, 1] or [N, 1, 1, 1]).
 */
export function binaryTarget(category: 0 | 1, options: ClassTargetOptions = {}): Target {
  if (category !== 0 && category !== 1) throw new TargetError(`binary target: the class must be 0 or 1, got ${String(category)}`);
  const where = options.output ? ` of '${options.output}'` : '';
  const label = `binary class ${category} (${category ? '+' : '-'}logit)${where}`;
  return outputTarget(label, options, (out) => {
    if (perItem(out) !== 1 || out.shape.length === 0) {
      throw new TargetError(`${label}: expects one logit per item ([N] or [N, 1]), got [${out.shape.join(', ')}]; use a class target for K-class outputs`);
    }
    const logit = reshape(out, [out.shape[0]]);
    return category === 1 ? logit : neg(logit);
  });
}

/**
 * The negated score of another target: what lowers it (Selvaraju et al.,
 * "Grad-CAM: Visual Explanations from Deep Networks via Gradient-based
 * Localization", ICCV 2017, §4 "Counterfactual Explanations": Grad-CAM with
 * the negated gradients shows the regions whose removal would raise the
 * class's score). pytorch-grad-cam has no class for it; it is
 * `lambda output: -target(output)`. Not a class score (no `category`): CAM
 * refuses it, the gradient methods explain it.
 */
export function counterfactualTarget(inner: TargetSpec): Target {
  const t = toTarget(inner);
  return {
    label: `counterfactual (negated) ${t.label}`,
    output: t.output,
    tensors: t.tensors,
    score: (values, first) => neg(t.score(values, first)),
  };
}

/** The largest element of each item's output (a model that is neither classifier nor detector). */
export function maxTarget(options: ClassTargetOptions = {}): Target {
  const where = options.output ? ` '${options.output}'` : ' of the output';
  const label = `largest element${where}`;
  return outputTarget(label, options, (out) => {
    const n = out.shape.length ? out.shape[0] : 1;
    return max(reshape(out, [n, out.size / n]), [1]);
  });
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

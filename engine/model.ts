// The model contract: what explainers need from a model, and what importers
// build. A differentiable forward pass that can hand back (and start gradients
// at) any named inner tensor. The ONNX importer's `loadOnnx()` returns one.

import { GradlensError } from './errors.js';
import type { Tensor } from './tensor.js';

export interface LayerInfo {
  /** The tensor's name (ONNX value name): what users pass as `--layer`. */
  name: string;
  /** The op that produced it ('input' for graph inputs). */
  op: string;
  shape: readonly number[];
}

export interface RunOptions {
  /** Inner tensors to return besides the graph outputs (by name). */
  keep?: readonly string[];
  /**
   * Tensors that get `requiresGrad = true` when produced (input names allowed).
   * The tape then records everything downstream of them, and backward stops at
   * them: `t.grad` after `backward(score)` is d score / d t. Cheaper than
   * requiring grad at the input when only a layer's gradient is wanted. A
   * tensor already on the tape (downstream of another requireGrad tensor) is
   * an inner node: the caller decides whether to `tape.retainGrad` it.
   */
  requireGrad?: readonly string[];
  /**
   * Swaps inner tensors as they are produced: `replace[name](t)` receives the
   * computed tensor and returns the one the rest of the graph reads, of the
   * same shape (Ablation-CAM zeroes channels this way). The model frees `t`
   * when a new tensor is returned. Optional for models: one that does not
   * support it never calls the function, and callers check that.
   */
  replace?: Readonly<Record<string, (t: Tensor) => Tensor>>;
}

export interface RunResult {
  /** Graph outputs by name. */
  outputs: Record<string, Tensor>;
  /** The tensors named in `keep` and `requireGrad`. */
  kept: Record<string, Tensor>;
}

/** One graph node, as CAM (the classifier head) and FullGrad (the biases) read the graph. */
export interface GraphNode {
  /** Node name (or a label such as '#12 (y)' for unnamed nodes). */
  name: string;
  /** Op type, e.g. 'Conv', 'BatchNormalization', 'Gemm'. */
  op: string;
  /** Tensor names, constants included ('' for an omitted optional input). */
  inputs: readonly string[];
  outputs: readonly string[];
  /** Numeric attributes the explainers read (Gemm transB/alpha/beta, BatchNormalization epsilon...). */
  attributes: Readonly<Record<string, number | readonly number[]>>;
}

/** A constant (initializer) on the host. */
export interface ConstantValue {
  shape: readonly number[];
  data: Float32Array;
}

export interface ExplainableModel {
  readonly inputs: readonly { name: string; shape: readonly number[] }[];
  readonly outputs: readonly { name: string; shape: readonly number[] }[];
  /** Every tensor in execution order (inputs first). */
  layers(): LayerInfo[];
  /**
   * Runs the graph on the GPU. Inputs may have another batch size than the
   * file declares (Score-CAM runs masked copies in batches) where the graph
   * allows it; otherwise a typed error names the node that pins the batch.
   * Intermediates not returned are disposed; the caller owns the results.
   */
  run(inputs: Record<string, Tensor>, options?: RunOptions): RunResult;
  /**
   * The graph's nodes in execution order, as the file has them (before any
   * fusion). Optional: CAM and FullGrad need it and say so when it is missing.
   */
  nodes?(): GraphNode[];
  /** A constant's values (weights, biases), or undefined when `name` is computed at run time. Optional, as `nodes`. */
  constant?(name: string): ConstantValue | undefined;
  /** The file's free-form metadata (ONNX metadata_props: ultralytics stores `names` and `stride` there). Optional. */
  metadata?(): Record<string, string>;
  /** Frees the uploaded weights. */
  dispose(): void;
}

/** A layer name the model does not have; lists the closest names. */
export class LayerNotFound extends GradlensError {
  constructor(
    readonly layer: string,
    /** The model's layer names closest to `layer`, best first. */
    readonly suggestions: readonly string[],
  ) {
    const hint = suggestions.length ? ` Did you mean: ${suggestions.map((s) => `'${s}'`).join(', ')}?` : '';
    super(`layer '${layer}' not found in the model.${hint} (model.layers() lists every tensor name)`);
  }
}

/** Up to `count` names closest to `name`: substring matches first, then by edit distance. */
export function closeMatches(name: string, names: readonly string[], count = 5): string[] {
  const lower = name.toLowerCase();
  const scored = names.map((n) => {
    const l = n.toLowerCase();
    const contains = l.includes(lower) || lower.includes(l) ? 0 : 1;
    return { n, contains, d: editDistance(lower, l) };
  });
  const limit = Math.max(3, Math.ceil(name.length / 2));
  return scored
    .filter((s) => s.contains === 0 || s.d <= limit)
    .sort((a, b) => a.contains - b.contains || a.d - b.d || a.n.localeCompare(b.n))
    .slice(0, count)
    .map((s) => s.n);
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = cur;
  }
  return prev[b.length];
}

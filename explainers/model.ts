// What an explainer needs from a model: a differentiable forward pass that can
// hand back (and start gradients at) any named inner tensor. The ONNX importer's
// `loadOnnx()` returns an object of this shape.

import type { Tensor } from '../engine/tensor.js';

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
   * requiring grad at the input when only a layer's gradient is wanted.
   */
  requireGrad?: readonly string[];
}

export interface RunResult {
  /** Graph outputs by name. */
  outputs: Record<string, Tensor>;
  /** The tensors named in `keep` and `requireGrad`. */
  kept: Record<string, Tensor>;
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
  /** Frees the uploaded weights. */
  dispose(): void;
}

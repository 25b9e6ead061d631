// The contract between the driver (explain.ts) and one CAM method, as in
// pytorch-grad-cam, where each method subclasses BaseCAM and overrides how the
// channel weights (or the map) are computed. A method file only says how it
// weights:
//
//   weights              channel weights w_k: map = ReLU(sum_k w_k A_k)        (Grad-CAM)
//   weightedActivations  per-position weighted activations, summed by the base (HiResCAM)
//   camImage             the map itself                                        (Eigen-Grad-CAM)
//   pass                 its own pipeline                                      (FullGrad)
//
// A method with knobs of its own (Score-CAM's batch size, occlusion's window)
// declares them as its `Options` type: `CamMethod<Options>` sees them in
// `ctx.options`, and `explain` with that method's name accepts them and no others.

import type { Completeness } from './integrated-gradients.js';
import type { ExplainableModel, Tensor } from '../engine/index.js';
import { ExplainError } from './errors.js';
import type { ProgressCallback } from './batched.js';
import type { SmoothGradOptions } from './smooth-grad.js';
import type { Target, TargetSpec } from './targets.js';

/** What a method sees of one target layer after the forward (and backward) pass. */
export interface LayerState {
  readonly layer: string;
  /** [N, C, h, w] activations. */
  readonly activations: Tensor;
  /** [N, C, h, w] d score / d activations; null for gradient-free methods. */
  readonly gradients: Tensor | null;
  /**
   * [N, C, h, w] H A: the Hessian of the score with respect to the layer applied
   * to the activations themselves (a Hessian-vector product by double backward);
   * only for methods with `usesHessian` (ShapleyCAM).
   */
  readonly hessianActivations?: Tensor;
}

/**
 * The options every method takes; a method's own come on top (CamMethod's `Options`).
 * SmoothGrad (smooth, noise, smoothType, seed) applies to every method: the
 * input-gradient methods smooth their attribution themselves, the driver
 * (explain.ts) averages the final maps of any other method.
 */
export interface ExplainOptions extends SmoothGradOptions {
  /** Target layer name(s); default: the last spatial tensor before global pooling (`defaultLayer`). */
  layers?: string | readonly string[];
  /** What to explain; default: the predicted class (argmax of the default output). */
  target?: TargetSpec;
  /** Graph output targets read when they name none (default: the model's first output). */
  output?: string;
  /** Replace the channel sum by the first principal component of the weighted activations (pytorch-grad-cam's eigen_smooth). */
  eigenSmooth?: boolean;
  /**
   * Average over horizontal flip x intensity factors 0.9, 1, 1.1, each map
   * flipped back (pytorch-grad-cam's aug_smooth: ttach HorizontalFlip + Multiply).
   */
  augSmooth?: boolean;
  /** Map size [H, W] (default: H and W of the NCHW image input). */
  size?: readonly [number, number];
  /** Also read back activations and gradients at every target layer (tests, debugging). */
  inspect?: boolean;
  /** Stops the call (queued or running, at its next batch or pass) with the signal's reason. */
  signal?: AbortSignal;
  /** Inputs per pass of the batched methods; under SmoothGrad also the noisy copies per pass (default 16). */
  batchSize?: number;
  /** Progress of the batched methods' batches, or under SmoothGrad of the noisy copies. */
  onProgress?: ProgressCallback;
}

/** One explanation pass (one augmentation under augSmooth). */
export interface CamContext<Options extends object = object> {
  readonly model: ExplainableModel;
  /** The feeds of this pass (augmented under augSmooth); `inputName` is the image. */
  inputs: Readonly<Record<string, Tensor>>;
  readonly inputName: string;
  /** The graph output targets read when they name none. */
  readonly defaultOutput: string;
  /** The target layers (validated, rank 4). */
  readonly layers: readonly string[];
  /** Map size [H, W]: the image input's spatial size unless given. */
  readonly size: readonly [number, number];
  readonly eigenSmooth: boolean;
  /** The caller's options: the shared ones and the method's own. */
  readonly options: ExplainOptions & Options;
  /** The target; the first pass resolves the default (the predicted class) and stores it here. */
  target: Target | null;
}

/** Per-pass output of a method that runs its own pipeline. */
export interface PassOutput {
  /** [N, H, W], scaled to [0, 1]. */
  map: Tensor;
  /** Per-layer raw maps (after ReLU, before upsampling and scaling), [N, h, w]. */
  raw: { layer: string; map: Tensor }[];
  /** Gradient at the first layer, [N, C, h, w]. */
  gradient?: { layer: string; tensor: Tensor };
  /** The target score per element of the target's output. */
  score: Tensor;
  /** Inspect mode: the layer states. */
  states: LayerState[];
  /** Integrated gradients: its completeness check (copied to ExplainResult.completeness). */
  completeness?: Completeness;
}

type MaybePromise<T> = T | Promise<T>;

/** One CAM method; `Options` are the options it reads beyond ExplainOptions. */
export interface CamMethod<Options extends object = object> {
  /** Registry / CLI name ('gradcam++'). */
  readonly name: string;
  /** Display name ('Grad-CAM++'). */
  readonly title: string;
  /** The paper (authors, year, title) and the equation implemented. */
  readonly paper: string;
  /** Whether the base runs backward before asking for the map. */
  readonly usesGradients: boolean;
  /**
   * Whether the method works in input space, on the image input itself: it
   * perturbs the image (Score-CAM's masked copies, occlusion) or differentiates
   * the score with respect to it (guided backprop, deconvnet, Guided Grad-CAM,
   * FullGrad's input term). Such methods need an NCHW image input; the
   * others only see the target layers.
   */
  readonly inputSpace: boolean;
  /** Whether the method only explains class scores (Finer-CAM compares classes): detections and other targets are refused. */
  readonly classTargetsOnly?: boolean;
  /** Whether the base also computes H A at each layer (LayerState.hessianActivations); implies gradients. */
  readonly usesHessian?: boolean;
  /**
   * Whether the method applies SmoothGrad itself (the input-gradient
   * methods: noise inside their gradient pass, the attribution smoothed);
   * the driver smooths the final maps of the others.
   */
  readonly ownSmoothGrad?: boolean;
  /** Channel weights, [N, C] or [N, C, 1, 1]: map = ReLU(sum_k w_k A_k). */
  weights?(layer: LayerState, ctx: CamContext<Options>): MaybePromise<Tensor>;
  /** Per-position weighted activations [N, C, h, w], summed over channels (or projected under eigenSmooth) by the base. */
  weightedActivations?(layer: LayerState, ctx: CamContext<Options>): MaybePromise<Tensor>;
  /** The map itself, [N, h, w] before ReLU (eigenSmooth is then the method's business). */
  camImage?(layer: LayerState, ctx: CamContext<Options>): MaybePromise<Tensor>;
  /** Replaces the whole pass (methods whose layers or aggregation differ: FullGrad). */
  pass?(ctx: CamContext<Options>): Promise<PassOutput>;
}

/** The options a method reads beyond ExplainOptions. */
export type OptionsOf<M> = M extends CamMethod<infer Options> ? Options : never;

/** The layer's gradient; gradient methods always get one (the base runs backward for them). */
export function gradientsOf(state: LayerState): Tensor {
  if (!state.gradients) throw new ExplainError(`layer '${state.layer}' has no gradient: the method must set usesGradients`);
  return state.gradients;
}

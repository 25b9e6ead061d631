// The shared machinery of every CAM method, shaped like pytorch-grad-cam's
// base_cam.py: run the model keeping the target layers (tape leaves when the
// method needs gradients), build the target score, backpropagate, then per
// layer let the method turn (activations, gradients) into a map:
//
//   cam = ReLU( sum_k w_k A_k )          (w from `weights`, or the per-position
//                                         weighted activations of the method)
//
// then upsample it bilinearly to the input size, min-max scale it to [0, 1]
// and average over the target layers. Everything stays on the GPU; the only
// readbacks are the final maps (and the predicted class when no target is given).
//
// A method file only says how it weights: `weights` (channel weights, Grad-CAM),
// `weightedActivations` (per-position weights, HiResCAM), `camImage` (the map
// itself, Eigen-Grad-CAM), or `pass` (its own pipeline, FullGrad).
//
// Where we differ from pytorch-grad-cam, on purpose:
//  - maps are upsampled, then scaled (it scales, then resizes): the result
//    spans exactly [0, 1];
//  - scaling is (x - min) / (max - min), all-zero for a constant map (it divides
//    by 1e-7 + max, which flattens maps whose values are small);
//  - the SVD sign in eigenSmooth / Eigen-Grad-CAM is fixed (see project2d).
// explainers/reference/generate.py computes its PyTorch reference the same way.

import {
  add,
  clip,
  div,
  gather,
  matmul,
  max,
  mean,
  min,
  mul,
  neg,
  relu,
  reshape,
  resize,
  scopeAsync,
  sqrt,
  sub,
  sum,
  tape,
  tensor,
  transpose,
  type Tensor,
} from '../engine/index.js';
import { closeMatches, ExplainError, LayerNotFound, NoGradientPath, NotASpatialLayer, TargetError } from './errors.js';
import type { ExplainableModel } from '../engine/index.js';
import { argmaxRows, classTarget, scalarScore, toTarget, type Target, type TargetSpec } from './targets.js';

// ---- the method interface --------------------------------------------------------

/** What a method sees of one target layer after the forward (and backward) pass. */
export interface LayerState {
  readonly layer: string;
  /** [N, C, h, w] activations. */
  readonly activations: Tensor;
  /** [N, C, h, w] d score / d activations; null for gradient-free methods. */
  readonly gradients: Tensor | null;
}

/** One explanation pass (one augmentation under augSmooth). */
export interface CamContext {
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
  /** The caller's options, for method-specific knobs. */
  readonly options: ExplainOptions;
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
}

type MaybePromise<T> = T | Promise<T>;

export interface CamMethod {
  /** Registry / CLI name ('gradcam++'). */
  readonly name: string;
  /** Display name ('Grad-CAM++'). */
  readonly title: string;
  /** The paper (authors, year, title) and the equation implemented. */
  readonly paper: string;
  /** Whether the base runs backward before asking for the map. */
  readonly usesGradients: boolean;
  /** Channel weights, [N, C] or [N, C, 1, 1]: map = ReLU(sum_k w_k A_k). */
  weights?(layer: LayerState, ctx: CamContext): MaybePromise<Tensor>;
  /** Per-position weighted activations [N, C, h, w], summed over channels (or projected under eigenSmooth) by the base. */
  weightedActivations?(layer: LayerState, ctx: CamContext): MaybePromise<Tensor>;
  /** The map itself, [N, h, w] before ReLU (eigenSmooth is then the method's business). */
  camImage?(layer: LayerState, ctx: CamContext): MaybePromise<Tensor>;
  /** Replaces the whole pass (methods whose layers or aggregation differ: FullGrad). */
  pass?(ctx: CamContext): Promise<PassOutput>;
}

// ---- options and result ----------------------------------------------------------------

export interface ExplainOptions {
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
  /** Method-specific options (Score-CAM batch size...), read by the method itself. */
  [key: string]: unknown;
}

export interface RawMap {
  layer: string;
  /** [N, h, w] */
  shape: number[];
  data: Float32Array;
}

export interface ExplainResult {
  method: string;
  /** The target layers used (FullGrad: its input, whose raw map is the unscaled sum of all terms). */
  layers: string[];
  /** What was explained. */
  target: string;
  /** The class per batch item, for class targets (including the default one). */
  category?: number[];
  /** The target score(s) of the unaugmented input. */
  score: Float32Array;
  batch: number;
  height: number;
  width: number;
  /** [batch, height, width] row-major, in [0, 1] (all-zero when the raw map is all zero). */
  map: Float32Array;
  /** Per layer: the map after ReLU, before upsampling and scaling. */
  raw: RawMap[];
  /** The gradient at the first target layer: [C, h, w] for one image, else [N, C, h, w] (gradient methods only). */
  gradient?: { layer: string; shape: number[]; data: Float32Array };
  /** With `inspect`: activations and gradients per target layer. */
  layerData?: { layer: string; shape: number[]; activations: Float32Array; gradients: Float32Array | null }[];
}

// ---- layers -------------------------------------------------------------------------------

/** A global pooling: what a classifier applies between its last spatial tensor and its head. */
function isGlobalPool(op: string, shape: readonly number[]): boolean {
  if (op === 'GlobalAveragePool' || op === 'GlobalMaxPool') return true;
  const pooled = shape.length === 2 || (shape.length === 4 && shape[2] * shape[3] === 1);
  return pooled && ['ReduceMean', 'ReduceMax', 'AveragePool', 'MaxPool'].includes(op);
}

/**
 * The default target layer of a classifier: the last rank-4 tensor with a
 * spatial extent produced before the last global pooling (pytorch-grad-cam's
 * usual choice, `model.layer4[-1]` for a ResNet; squeeze-excitation pools come
 * earlier in execution order than the head's); without pooling, the last
 * spatial tensor.
 */
export function defaultLayer(model: ExplainableModel): string {
  const layers = model.layers();
  const inputs = new Set(model.inputs.map((i) => i.name));
  let end = layers.length;
  for (let i = layers.length - 1; i >= 0; i--) {
    if (isGlobalPool(layers[i].op, layers[i].shape)) {
      end = i;
      break;
    }
  }
  for (let i = end - 1; i >= 0; i--) {
    const l = layers[i];
    if (!inputs.has(l.name) && isSpatial(l.shape)) return l.name;
  }
  throw new ExplainError('no spatial (rank-4, more than 1x1) layer in the model to explain; pass `layers` explicitly');
}

function isSpatial(shape: readonly number[]): boolean {
  return shape.length === 4 && shape[2] * shape[3] > 1;
}

/** Checks the names against the model: LayerNotFound with close matches, NotASpatialLayer for non-NCHW tensors. */
export function resolveLayers(model: ExplainableModel, layers: string | readonly string[] | undefined): string[] {
  if (layers === undefined) return [defaultLayer(model)];
  const list = typeof layers === 'string' ? [layers] : [...layers];
  if (!list.length) throw new ExplainError('`layers` is empty: name at least one target layer, or omit it for the default');
  const info = new Map(model.layers().map((l) => [l.name, l]));
  for (const name of list) {
    const l = info.get(name);
    if (!l) throw new LayerNotFound(name, closeMatches(name, [...info.keys()]));
    if (l.shape.length !== 4) throw new NotASpatialLayer(name, l.shape);
  }
  return list;
}

// ---- GPU helpers -------------------------------------------------------------------------

const TINY = 1e-30;
const HUGE = 3e38;

/** A [1] tensor holding `v`, broadcast by the binary ops. */
export function scalar(v: number): Tensor {
  return tensor([v], [1]);
}

/** The layer's gradient; gradient methods always get one (the base runs backward for them). */
export function gradientsOf(state: LayerState): Tensor {
  if (!state.gradients) throw new ExplainError(`layer '${state.layer}' has no gradient: the method must set usesGradients`);
  return state.gradients;
}

/** |x| = ReLU(x) + ReLU(-x). */
export function abs(x: Tensor): Tensor {
  return add(relu(x), relu(neg(x)));
}

/** Sums [N, C, h, w] over the channels: [N, h, w]. */
export function channelSum(x: Tensor): Tensor {
  return sum(x, [1]);
}

/** Per-image min-max scaling of [N, H, W] to [0, 1]; a constant image becomes all zero (never NaN). */
export function scaleMap(x: Tensor): Tensor {
  const lo = min(x, [1, 2], true);
  const range = sub(max(x, [1, 2], true), lo);
  return div(sub(x, lo), clip(range, TINY, HUGE));
}

/** Bilinear upsampling of [N, h, w] to [N, H, W] (half-pixel centers, like cv2.resize and torch's align_corners=False). */
export function upsample(x: Tensor, size: readonly [number, number]): Tensor {
  const [n, h, w] = x.shape;
  if (h === size[0] && w === size[1]) return x;
  const y = resize(reshape(x, [n, 1, h, w]), { mode: 'linear', coordinateTransformationMode: 'half_pixel', sizes: [size[0], size[1]] });
  return reshape(y, [n, size[0], size[1]]);
}

/** Mirrors along `axis` (one gather with reversed indices). */
export function flip(x: Tensor, axis: number): Tensor {
  const len = x.shape[axis];
  return gather(
    x,
    Array.from({ length: len }, (_, i) => len - 1 - i),
    axis,
  );
}

/** Repeated squarings of the Gram matrix: its 2^SQUARINGS-th power isolates the top eigenvector. */
const SQUARINGS = 10;

/** x / ||x||_F over the given axes, zero stays zero. */
function normalize(x: Tensor, axes: number[]): Tensor {
  return div(x, clip(sqrt(sum(mul(x, x), axes, true)), TINY, HUGE));
}

/**
 * The projection of [N, C, h, w] on its first principal component, [N, h, w]
 * (pytorch-grad-cam's get_2d_projection): rows are the h*w positions, columns
 * the channels, centered per channel; the projection is X v1 with v1 the top
 * right singular vector of X.
 *
 * On the GPU without an SVD: v1 is the top eigenvector of the Gram matrix
 * X^T X (or u1 of X X^T when h*w < C, then v1 = X^T u1 / |X^T u1|), found by
 * repeated squaring, M <- M M / |M M|, so M tends to v1 v1^T (error ~
 * (s2/s1)^(2^11)); applying M to a fixed generic vector gives v1.
 *
 * The SVD's sign is arbitrary (LAPACK's choice in pytorch-grad-cam); ours is
 * fixed so the projection correlates positively with the plain channel sum,
 * which keeps the ReLU'd map pointing at the evidence, not at its complement.
 */
export function project2d(x: Tensor): Tensor {
  const [n, c, h, w] = x.shape;
  const hw = h * w;
  const rows = transpose(reshape(x, [n, c, hw]), [0, 2, 1]); // [N, hw, C]
  const centered = sub(rows, mean(rows, [1], true));
  const centeredT = transpose(centered, [0, 2, 1]); // [N, C, hw]
  const channelSide = c <= hw;
  let m = normalize(channelSide ? matmul(centeredT, centered) : matmul(centered, centeredT), [1, 2]);
  for (let i = 0; i < SQUARINGS; i++) m = normalize(matmul(m, m), [1, 2]);
  const size = channelSide ? c : hw;
  let v = matmul(m, tensor(genericVector(size), [size, 1])); // [N, size, 1]
  if (!channelSide) v = matmul(centeredT, v);
  v = normalize(v, [1, 2]); // [N, C, 1]
  const projection = reshape(matmul(centered, v), [n, hw]);
  // sign(<projection, channel sum>) without a readback: clip(c * 1e30, -1, 1).
  const agreement = sum(mul(projection, reshape(sum(x, [1]), [n, hw])), [1], true);
  const sign = clip(mul(agreement, scalar(1e30)), -1, 1);
  return reshape(mul(projection, sign), [n, h, w]);
}

/** Deterministic, generic (no zero entries, no symmetry) start vector. */
function genericVector(size: number): number[] {
  let s = 12345;
  return Array.from({ length: size }, () => {
    s = (s * 1103515245 + 12345) % 2147483648;
    return 0.5 + s / 2147483648;
  });
}

// ---- forward / backward ------------------------------------------------------------------

export interface ForwardState {
  outputs: Record<string, Tensor>;
  layers: LayerState[];
  /** The target's score tensor (per item for class targets). */
  score: Tensor;
  /** d score / d input when asked for. */
  inputGradient: Tensor | null;
}

/**
 * Runs the model on ctx.inputs keeping `layers`; with gradients, makes them
 * tape leaves (retaining the gradient of those the tape reaches through an
 * earlier one), scores the target and backpropagates. Resolves the default
 * target on the first call. NoGradientPath when a layer's gradient is missing.
 */
export async function forwardPass(
  ctx: CamContext,
  layers: readonly string[],
  options: {
    gradients: boolean;
    inputGradient?: boolean;
    /** Give layers the score does not depend on a null gradient instead of throwing NoGradientPath. */
    allowUnreached?: boolean;
  },
): Promise<ForwardState> {
  const targetTensors = ctx.target?.tensors ?? [];
  const requireGrad = options.gradients ? [...layers, ...(options.inputGradient ? [ctx.inputName] : [])] : [];
  const liveBefore = tape.liveNodes;
  try {
    const { outputs, kept } = ctx.model.run(ctx.inputs, { keep: [...new Set([...layers, ...targetTensors])], requireGrad });
    const values = { ...outputs, ...kept };
    if (!ctx.target) ctx.target = await defaultTarget(ctx, values);
    const target = ctx.target;
    for (const name of target.tensors ?? []) {
      if (!values[name]) throw new TargetError(`the target reads '${name}', which the model did not return; pass it in the target's \`tensors\``);
    }
    const states = layers.map((layer) => {
      const t = kept[layer];
      if (!t) throw new LayerNotFound(layer, closeMatches(layer, Object.keys(kept)));
      if (t.shape.length !== 4) throw new NotASpatialLayer(layer, t.shape);
      return t;
    });
    const input = ctx.inputs[ctx.inputName];
    if (!options.gradients) {
      const score = tape.noGrad(() => target.score(values, ctx.defaultOutput));
      return { outputs, layers: states.map((t, i) => ({ layer: layers[i], activations: t, gradients: null })), score, inputGradient: null };
    }
    // For models that only mark requireGrad tensors: a layer the tape reaches
    // through an earlier target layer is no leaf, so retain its gradient.
    for (const t of states) if (t.node) tape.retainGrad(t);
    if (options.inputGradient && input.node) tape.retainGrad(input);
    const score = target.score(values, ctx.defaultOutput);
    const scalar = score.size === 1 ? reshape(score, []) : sum(score);
    if (!scalar.requiresGrad) throw new NoGradientPath(layers[0] ?? ctx.inputName, target.label);
    tape.backward(scalar);
    states.forEach((t, i) => {
      if (!t.grad && !options.allowUnreached) throw new NoGradientPath(layers[i], target.label);
    });
    if (options.inputGradient && !input.grad) throw new NoGradientPath(ctx.inputName, target.label);
    // Detach: what methods compute from these must not be recorded (noGrad
    // cannot span their awaits).
    for (const t of [...states, input]) t.requiresGrad = false;
    return {
      outputs,
      layers: states.map((t, i) => ({ layer: layers[i], activations: t, gradients: t.grad })),
      score,
      inputGradient: options.inputGradient ? input.grad : null,
    };
  } finally {
    // Nodes off the score's path (other outputs), or the whole forward graph
    // after an error, keep saved tensors: when the tape held nothing before
    // this pass, everything left on it is ours.
    if (liveBefore === 0) tape.clear();
  }
}

/** The predicted class of each item (argmax of the default output), as pytorch-grad-cam does without targets. */
async function defaultTarget(ctx: CamContext, values: Record<string, Tensor>): Promise<Target> {
  const out = values[ctx.defaultOutput];
  const n = out.shape[0] ?? 1;
  if (out.shape.length < 1 || out.shape.slice(2).some((d) => d !== 1)) {
    throw new TargetError(`no target given and output '${ctx.defaultOutput}' of shape [${out.shape.join(', ')}] is not class scores; pass \`target\``);
  }
  return classTarget(argmaxRows(await out.data(), out.shape.length === 1 ? 1 : n));
}

// ---- the standard pass ---------------------------------------------------------------------

/** The method's map for one layer, [N, h, w] before ReLU. */
export async function layerCam(method: CamMethod, state: LayerState, ctx: CamContext): Promise<Tensor> {
  if (method.camImage) return method.camImage(state, ctx);
  let weighted: Tensor;
  if (method.weightedActivations) weighted = await method.weightedActivations(state, ctx);
  else if (method.weights) {
    const w = await method.weights(state, ctx);
    const [n, c] = state.activations.shape;
    weighted = mul(reshape(w, [n, c, 1, 1]), state.activations);
  } else throw new ExplainError(`method '${method.name}' defines none of weights, weightedActivations, camImage, pass`);
  return ctx.eigenSmooth ? project2d(weighted) : channelSum(weighted);
}

/** Forward (+ backward), per-layer maps, ReLU, upsampling, scaling, multi-layer average. */
async function standardPass(method: CamMethod, ctx: CamContext): Promise<PassOutput> {
  const state = await forwardPass(ctx, ctx.layers, { gradients: method.usesGradients });
  const raw: PassOutput['raw'] = [];
  const scaled: Tensor[] = [];
  for (const layer of state.layers) {
    const map = relu(await layerCam(method, layer, ctx));
    raw.push({ layer: layer.layer, map });
    scaled.push(scaleMap(upsample(map, ctx.size)));
  }
  const first = state.layers[0];
  return {
    map: combineLayers(scaled),
    raw,
    gradient: first.gradients ? { layer: first.layer, tensor: first.gradients } : undefined,
    score: state.score,
    states: state.layers,
  };
}

/** Several layers: the mean of their scaled maps, scaled again (pytorch-grad-cam's aggregate_multi_layers). */
export function combineLayers(scaled: readonly Tensor[]): Tensor {
  if (scaled.length === 1) return scaled[0];
  let total = scaled[0];
  for (const s of scaled.slice(1)) total = add(total, s);
  return scaleMap(total);
}

// ---- explain --------------------------------------------------------------------------------

/** The feeds by input name: a lone tensor goes to the model's first input. */
function feedsOf(model: ExplainableModel, input: Tensor | Readonly<Record<string, Tensor>>): Record<string, Tensor> {
  if ('shape' in input && typeof (input as Tensor).view === 'function') {
    if (!model.inputs.length) throw new ExplainError('the model has no inputs');
    return { [model.inputs[0].name]: input as Tensor };
  }
  return { ...(input as Record<string, Tensor>) };
}

/** Intensity factors and flips of augSmooth; the identity comes first (it resolves the default target and gives the raw maps). */
const AUGMENTATIONS: readonly { flip: boolean; factor: number }[] = [
  { flip: false, factor: 1 },
  { flip: false, factor: 0.9 },
  { flip: false, factor: 1.1 },
  { flip: true, factor: 0.9 },
  { flip: true, factor: 1 },
  { flip: true, factor: 1.1 },
];

/** Runs `method` on `input` and reads back the maps (see ExplainOptions / ExplainResult). */
export async function explainWith(
  model: ExplainableModel,
  input: Tensor | Readonly<Record<string, Tensor>>,
  method: CamMethod,
  options: ExplainOptions = {},
): Promise<ExplainResult> {
  const feeds = feedsOf(model, input);
  const inputName = model.inputs[0]?.name ?? Object.keys(feeds)[0];
  const image = feeds[inputName];
  if (!image) throw new ExplainError(`no tensor for the model's input '${inputName}'`);
  const size = options.size ?? (image.shape.length === 4 ? ([image.shape[2], image.shape[3]] as const) : undefined);
  if (!size) throw new ExplainError(`input '${inputName}' has shape [${image.shape.join(', ')}], not NCHW: pass \`size\` [H, W] for the maps`);
  const defaultOutput = options.output ?? model.outputs[0]?.name;
  if (!defaultOutput || !model.outputs.some((o) => o.name === defaultOutput)) {
    throw new TargetError(`output '${defaultOutput}' is not a graph output (outputs: ${model.outputs.map((o) => o.name).join(', ')})`);
  }
  const layers = method.pass ? [] : resolveLayers(model, options.layers);
  if (options.augSmooth && image.shape.length !== 4) throw new ExplainError('augSmooth flips the width axis of an NCHW image input');

  return scopeAsync(async () => {
    const ctx: CamContext = {
      model,
      inputs: {},
      inputName,
      defaultOutput,
      layers,
      size: [size[0], size[1]],
      eigenSmooth: options.eigenSmooth ?? false,
      options,
      target: options.target === undefined ? null : toTarget(options.target),
    };
    const runPass = (feedsForPass: Record<string, Tensor>) => {
      ctx.inputs = feedsForPass;
      return method.pass ? method.pass(ctx) : standardPass(method, ctx);
    };
    // A view per pass: requireGrad on the input marks the view, not the caller's tensor.
    const first = await runPass({ ...feeds, [inputName]: image.view(image.shape) });
    let map = first.map;
    if (options.augSmooth) {
      const maps = [first.map];
      for (const aug of AUGMENTATIONS.slice(1)) {
        const x = tape.noGrad(() => {
          const scaledInput = mul(image, scalar(aug.factor));
          return aug.flip ? flip(scaledInput, 3) : scaledInput;
        });
        const pass = await runPass({ ...feeds, [inputName]: x });
        maps.push(aug.flip ? tape.noGrad(() => flip(pass.map, 2)) : pass.map);
      }
      map = tape.noGrad(() => div(maps.reduce((a, b) => add(a, b)), scalar(maps.length)));
    }
    // Every readback at once: the first waits for the GPU, the rest are already done.
    const [mapData, scoreData, gradData, ...rawData] = await Promise.all([
      map.data(),
      first.score.data(),
      first.gradient?.tensor.data(),
      ...first.raw.map((r) => r.map.data()),
    ]);
    const n = map.shape[0];
    const result: ExplainResult = {
      method: method.name,
      layers: first.raw.map((r) => r.layer),
      target: ctx.target!.label,
      category: ctx.target!.category ? [...ctx.target!.category] : undefined,
      score: scoreData,
      batch: n,
      height: size[0],
      width: size[1],
      map: mapData,
      raw: first.raw.map((r, i) => ({ layer: r.layer, shape: [...r.map.shape], data: rawData[i] })),
    };
    if (first.gradient && gradData) {
      const shape = [...first.gradient.tensor.shape];
      result.gradient = { layer: first.gradient.layer, shape: n === 1 ? shape.slice(1) : shape, data: gradData };
    }
    if (options.inspect) {
      result.layerData = await Promise.all(
        first.states.map(async (s) => ({
          layer: s.layer,
          shape: [...s.activations.shape],
          activations: await s.activations.data(),
          gradients: s.gradients ? await s.gradients.data() : null,
        })),
      );
    }
    // Gradients are kept by the tape, outside every scope; the scope's disposal
    // of the layer tensors frees them too (Tensor.dispose releases .grad).
    return result;
  });
}

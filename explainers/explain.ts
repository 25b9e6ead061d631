// The driver of every CAM method, shaped like pytorch-grad-cam's base_cam.py:
// check the input, output and target layers (target-layers.ts), run the
// method's pass (pass.ts: forward, target score, backward, per-layer maps
// through cam-math.ts; or the method's own), average the passes of
// augSmooth or of SmoothGrad (smooth-grad.ts, smoothMaps: the final maps over
// noisy copies, for the methods that do not smooth their own attribution),
// and read the maps back (score, raw maps and gradient: the clean input's).
// Everything stays on the GPU until the readbacks at the end. What a method implements is in method.ts.
// Non-finite inputs are refused: host values before they are uploaded, a GPU
// input read back with the maps (one wait, no readback of its own).

import { add, assertFinite, cast, div, exclusive, mul, scopeAsync, tape, Tensor, type ExplainableModel } from '../engine/index.js';
import { flip, scalar } from './cam-math.js';
import { diagnose, layerPeaks, type ExplainWarning } from './diagnose.js';
import type { Completeness } from './integrated-gradients.js';
import { checkSharedTarget } from './batched.js';
import { ExplainError, MethodNotApplicable, TargetError } from './errors.js';
import type { CamContext, CamMethod, ExplainOptions } from './method.js';
import { standardPass } from './pass.js';
import { smoothMaps, smoothSettings } from './smooth-grad.js';
import { resolveLayers } from './target-layers.js';
import { toTarget } from './targets.js';

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
  /** Integrated gradients: |sum(attribution) - (f(x) - f(x'))| and its parts, per image (the input as given under augSmooth). */
  completeness?: Completeness;
  /** What the result cannot vouch for (diagnose.ts): an all-zero gradient, activations or map, a flat map; [] when none. */
  warnings: ExplainWarning[];
  /** With `inspect`: activations and gradients per target layer. */
  layerData?: { layer: string; shape: number[]; activations: Float32Array; gradients: Float32Array | null }[];
}

/** The model's first input as host values: checked before upload, uploaded for the call only. */
export interface HostInput {
  data: Float32Array;
  shape: readonly number[];
}

/** What explain takes: a tensor or host values for the model's first input, or tensors by input name. */
export type ExplainInput = Tensor | HostInput | Readonly<Record<string, Tensor>>;

const isTensor = (input: ExplainInput): input is Tensor => 'shape' in input && typeof (input as Tensor).view === 'function';

function isHostInput(input: ExplainInput): input is HostInput {
  return !isTensor(input) && (input as HostInput).data instanceof Float32Array && Array.isArray((input as HostInput).shape);
}

/** The feeds by input name: a lone tensor goes to the model's first input. */
function feedsOf(model: ExplainableModel, input: Tensor | Readonly<Record<string, Tensor>>): Record<string, Tensor> {
  if (isTensor(input)) {
    if (!model.inputs.length) throw new ExplainError('the model has no inputs');
    return { [model.inputs[0].name]: input };
  }
  return { ...(input as Record<string, Tensor>) };
}

/** How explainNow's caller has already dealt with the input. */
export interface InputChecked {
  /** The input's values were checked for non-finite values by the caller (an outer explanation): no readback for it. */
  inputChecked?: boolean;
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

/**
 * Runs `method` on `input` and reads back the maps (see ExplainOptions /
 * ExplainResult). Overlapping calls run one after the other (engine/serial.ts).
 */
export function explainWith<Options extends object>(
  model: ExplainableModel,
  input: ExplainInput,
  method: CamMethod<Options>,
  options: ExplainOptions & Options = {} as ExplainOptions & Options,
): Promise<ExplainResult> {
  return exclusive(() => explainNow(model, input, method, options), options.signal);
}

/** explainWith without the queue: for callers already inside exclusive() (a method built on another, a detection loop). */
export async function explainNow<Options extends object>(
  model: ExplainableModel,
  input: ExplainInput,
  method: CamMethod<Options>,
  options: ExplainOptions & Options = {} as ExplainOptions & Options,
  checked: InputChecked = {},
): Promise<ExplainResult> {
  const host = isHostInput(input) ? input : null;
  if (host && !model.inputs.length) throw new ExplainError('the model has no inputs');
  const given = host ? {} : feedsOf(model, input as Tensor | Readonly<Record<string, Tensor>>);
  const inputName = model.inputs[0]?.name ?? Object.keys(given)[0];
  const imageShape = host ? [...host.shape] : given[inputName]?.shape;
  if (!imageShape) throw new ExplainError(`no tensor for the model's input '${inputName}'`);
  // Host values are checked here, before anything is uploaded or run.
  if (host) {
    const n = imageShape.reduce((a, b) => a * b, 1);
    if (host.data.length !== n) throw new ExplainError(`input '${inputName}': ${host.data.length} values do not fill shape [${imageShape.join(', ')}] (${n} elements)`);
    assertFinite(`input '${inputName}'`, host.data, imageShape);
  }
  const size = options.size ?? (imageShape.length === 4 ? ([imageShape[2], imageShape[3]] as const) : undefined);
  if (!size) throw new ExplainError(`input '${inputName}' has shape [${imageShape.join(', ')}], not NCHW: pass \`size\` [H, W] for the maps`);
  const defaultOutput = options.output ?? model.outputs[0]?.name;
  if (!defaultOutput || !model.outputs.some((o) => o.name === defaultOutput)) {
    throw new TargetError(`output '${defaultOutput}' is not a graph output (outputs: ${model.outputs.map((o) => o.name).join(', ')})`);
  }
  const layers = method.pass ? [] : resolveLayers(model, options.layers);
  if (options.augSmooth && imageShape.length !== 4) throw new ExplainError('augSmooth flips the width axis of an NCHW image input');
  // SmoothGrad over the final maps, for the methods that do not smooth their own attribution (smooth-grad.ts).
  const smooth = method.ownSmoothGrad ? null : smoothSettings(options, method.name);
  if (smooth) {
    if (options.augSmooth) throw new MethodNotApplicable(method.name, 'give smooth (SmoothGrad) or augSmooth, not both');
    if (imageShape.length !== 4 || model.inputs.length !== 1) {
      throw new MethodNotApplicable(method.name, `SmoothGrad adds noise to a single NCHW image input; input '${inputName}' has shape [${imageShape.join(', ')}] (${model.inputs.length} inputs)`);
    }
  }

  return scopeAsync(async () => {
    // Host values are uploaded inside the scope: freed with the call's other tensors.
    // The explainers compute in f32: a caller's f16 tensors are read as f32 copies (an f16 model casts at its own boundary).
    const wide = Object.fromEntries(Object.entries(given).map(([name, t]) => [name, t.dtype === 'f16' ? cast(t, 'f32') : t]));
    const image = host ? Tensor.fromData(host.data, imageShape) : wide[inputName];
    const feeds = { ...wide, [inputName]: image };
    const ctx: CamContext<Options> = {
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
        options.signal?.throwIfAborted();
        const pass = await runPass({ ...feeds, [inputName]: x });
        maps.push(aug.flip ? tape.noGrad(() => flip(pass.map, 2)) : pass.map);
      }
      map = tape.noGrad(() => div(maps.reduce((a, b) => add(a, b)), scalar(maps.length)));
    }
    if (smooth) {
      // The target is fixed by the clean pass; the noisy copies' passes report progress as copies, not as their own batches.
      checkSharedTarget(ctx.target!, image.shape[0], method.name);
      (ctx as { options: ExplainOptions & Options }).options = { ...options, onProgress: undefined };
      map = await smoothMaps(image, smooth, (copies) => runPass({ ...feeds, [inputName]: copies }), options);
    }
    const peaks = tape.noGrad(() => layerPeaks(first.states));
    // Every readback at once: the first waits for the GPU, the rest are already done.
    // A GPU input's values come back with them (host values were checked before upload).
    const [inputData, mapData, scoreData, gradData, peakData, ...rawData] = await Promise.all([
      host || checked.inputChecked ? undefined : image.data(),
      map.data(),
      first.score.data(),
      first.gradient?.tensor.data(),
      Promise.all(peaks.map(async (p) => ({ gradient: (await p.gradient?.data())?.[0] ?? null, activation: (await p.activation.data())[0] }))),
      ...first.raw.map((r) => r.map.data()),
    ]);
    // Non-finite values are refused, never drawn: the input first (the likely source), then what came out.
    if (inputData) assertFinite(`input '${inputName}'`, inputData, image.shape);
    assertFinite(`the score of ${ctx.target!.label}`, scoreData);
    first.raw.forEach((r, i) => assertFinite(`the ${method.name} map at '${r.layer}'`, rawData[i], r.map.shape));
    assertFinite(`the ${method.name} map`, mapData, map.shape);
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
      warnings: diagnose({
        model,
        target: ctx.target!,
        defaultOutput,
        score: scoreData,
        layers: first.raw.map((r, i) => {
          const peak = peakData[first.states.findIndex((s) => s.layer === r.layer)];
          return { layer: r.layer, raw: rawData[i], gradientPeak: peak?.gradient ?? null, activationPeak: peak?.activation ?? null };
        }),
      }),
    };
    if (first.completeness) result.completeness = first.completeness;
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

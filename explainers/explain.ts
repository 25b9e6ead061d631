// The driver of every CAM method, shaped like pytorch-grad-cam's base_cam.py:
// check the input, output and target layers (target-layers.ts), run the
// method's pass (pass.ts: forward, target score, backward, per-layer maps
// through cam-math.ts; or the method's own), average the passes of
// augSmooth, and read the maps back. Everything stays on the GPU until the
// readbacks at the end. What a method implements is in method.ts.

import { add, assertFinite, div, exclusive, mul, scopeAsync, tape, type ExplainableModel, type Tensor } from '../engine/index.js';
import { flip, scalar } from './cam-math.js';
import { diagnose, layerPeaks, type ExplainWarning } from './diagnose.js';
import type { Completeness } from './integrated-gradients.js';
import { ExplainError, TargetError } from './errors.js';
import type { CamContext, CamMethod, ExplainOptions } from './method.js';
import { standardPass } from './pass.js';
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

/**
 * Runs `method` on `input` and reads back the maps (see ExplainOptions /
 * ExplainResult). Overlapping calls run one after the other (engine/serial.ts).
 */
export function explainWith<Options extends object>(
  model: ExplainableModel,
  input: Tensor | Readonly<Record<string, Tensor>>,
  method: CamMethod<Options>,
  options: ExplainOptions & Options = {} as ExplainOptions & Options,
): Promise<ExplainResult> {
  return exclusive(() => explainNow(model, input, method, options), options.signal);
}

/** explainWith without the queue: for callers already inside exclusive() (a method built on another, a detection loop). */
export async function explainNow<Options extends object>(
  model: ExplainableModel,
  input: Tensor | Readonly<Record<string, Tensor>>,
  method: CamMethod<Options>,
  options: ExplainOptions & Options = {} as ExplainOptions & Options,
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
    const peaks = tape.noGrad(() => layerPeaks(first.states));
    // Every readback at once: the first waits for the GPU, the rest are already done.
    const [inputData, mapData, scoreData, gradData, peakData, ...rawData] = await Promise.all([
      image.data(),
      map.data(),
      first.score.data(),
      first.gradient?.tensor.data(),
      Promise.all(peaks.map(async (p) => ({ gradient: (await p.gradient?.data())?.[0] ?? null, activation: (await p.activation.data())[0] }))),
      ...first.raw.map((r) => r.map.data()),
    ]);
    // Non-finite values are refused, never drawn: the input first (the likely source), then what came out.
    assertFinite(`input '${inputName}'`, inputData, image.shape);
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

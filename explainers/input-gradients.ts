// The pass shared by the input-gradient methods (saliency, input x gradient,
// integrated gradients) and SmoothGrad over any of them (smooth-grad.ts):
// d score / d input, at one or several points per input, batched on the GPU.
//
// A method names its channel reduction and, per image, an Attribution: the
// points where the gradient is taken (one, the image itself, or IG's path),
// their weights, and how the weighted gradient sum becomes the per-element
// attribution A [1, C, H, W]. Then, per image:
//
//   units   the image itself, or under SmoothGrad n noisy copies of it
//   items   units x points, run `batchSize` at a time through model.run; each
//           item's score is its own (itemScores), so one backward of their
//           sum gives every item's input gradient in one pass
//   A       per unit, from its weighted gradient sum; folded into the
//           NoiseTunnel under SmoothGrad
//
// A plain one-point method (no SmoothGrad) is one forwardPass over the whole
// input batch instead, so per-image targets work as for the other gradient methods.
//
// Result: `gradient` = A [N, C, H, W] (the raw attribution: |g|, x * g, IG),
// `raw` = its channel reduction [N, H, W] (signed for sums), `map` =
// ReLU(raw) upsampled and scaled to [0, 1], as the CAM maps show positive evidence.
//
// Batching: a graph that pins the batch (an ONNX Reshape to [1, -1],
// OnnxBatchError) fails before anything runs; the pass then continues one
// item at a time (same numbers, slower).

import { add, concat, max, min, mul, relu, runtime, scope, slice, sum, tape, tensor, type Tensor } from '../engine/index.js';
import { scaleMap, upsample } from './cam-math.js';
import { batchedOptions, checkSharedTarget, imageInput, item, itemScores, type BatchOptions } from './batched.js';
import { MethodNotApplicable, NoGradientPath } from './errors.js';
import type { CamContext, PassOutput } from './method.js';
import { forwardPass } from './pass.js';
import { NoiseTunnel, noisyCopy, smoothSettings, type SmoothGradOptions, type SmoothSettings } from './smooth-grad.js';

/** The options of every input-gradient method: batching and SmoothGrad. */
export interface InputGradientOptions extends BatchOptions, SmoothGradOptions {}

/** How one image's gradients become its attribution. */
export interface Attribution {
  /** The inputs at points [from, to) for the (noisy) image x [1, C, H, W]: [to - from, C, H, W]; default: x (one point). */
  at?(x: Tensor, from: number, to: number): Tensor;
  /** Weight of the gradient at each point (default 1). */
  weights?: readonly number[];
  /** The attribution [k, C, H, W] of inputs x [k, C, H, W] from their weighted gradient sums g. */
  attribute(x: Tensor, g: Tensor): Tensor;
}

/** An input-gradient method, for inputGradientPass. */
export interface InputGradientSpec<Options extends InputGradientOptions> {
  name: string;
  /** The map's channel reduction: saliency's max (of |g|), else the sum. */
  reduce: 'max' | 'sum';
  /** Gradient evaluations per input (IG: its steps). */
  points(options: Options): number;
  /** The attribution of image `index` (x [1, C, H, W]; with one point and no SmoothGrad, the whole batch and index -1). */
  prepare(x: Tensor, index: number, ctx: CamContext<Options>): Attribution;
  /** Whether sum(A) should equal f(x) - f(x') (IG), reported through `report`. */
  completeness?: boolean;
}

/** Per image: the target's score at the last and first point of each unit (IG: f(x), f(x')). */
export interface PathScores {
  /** Mean over the units (the noisy samples) of f(last) - f(first). */
  delta: number;
  /** f at the first point (IG: the baseline), mean over units. */
  first: number;
}

/** What the pass hands back besides PassOutput. */
export interface InputGradientExtras {
  /** Per image, with `completeness` and when SmoothGrad averages (or is off). */
  paths: PathScores[] | null;
  /** The attribution [N, C, H, W], read back (for the completeness sums). */
  attribution: Float32Array | null;
}

const isBatchError = (e: unknown) => e instanceof Error && e.name === 'OnnxBatchError';

/**
 * The pass of an input-gradient method (see the header). `extras` receives
 * the path scores and the read-back attribution when the spec asks for completeness.
 */
export async function inputGradientPass<Options extends InputGradientOptions>(
  spec: InputGradientSpec<Options>,
  ctx: CamContext<Options>,
  extras?: (e: InputGradientExtras) => void,
): Promise<PassOutput> {
  if (ctx.eigenSmooth) throw new MethodNotApplicable(spec.name, 'eigenSmooth does not apply to an input attribution');
  const options = ctx.options;
  const batch = batchedOptions(options, spec.name);
  const smooth = smoothSettings(options, spec.name);
  const points = spec.points(options);
  const image = ctx.inputs[ctx.inputName];
  let attribution: Tensor;
  let score: Tensor;
  let paths: PathScores[] | null = null;

  if (!smooth && points === 1) {
    // One gradient per image: one pass over the whole batch.
    const state = await forwardPass(ctx, [], { gradients: true, inputGradient: true });
    score = state.score;
    attribution = tape.noGrad(() => spec.prepare(image, -1, ctx).attribute(image, state.inputGradient!));
  } else {
    imageInput(ctx.model, spec.name);
    if (image.shape.length !== 4) throw new MethodNotApplicable(spec.name, `input '${ctx.inputName}' has shape [${image.shape.join(', ')}]; an NCHW image input is expected`);
    // The score of the input itself (this also resolves the default target).
    score = (await forwardPass(ctx, [], { gradients: false })).score;
    const n = image.shape[0];
    checkSharedTarget(ctx.target!, n, spec.name);
    const perImage: Tensor[] = [];
    paths = [];
    // Lowered to 1 for the following images once a graph refuses a larger batch.
    const sizing = { batchSize: batch.batchSize ?? 16 };
    for (let i = 0; i < n; i++) {
      const onProgress = batch.onProgress && ((done: number, total: number) => batch.onProgress!(i * total + done, n * total));
      const x = item(image, i);
      const result = await attributeImage(ctx, spec, x, i, points, smooth, { ...batch, onProgress }, sizing);
      perImage.push(result.attribution);
      paths.push(result.path);
    }
    attribution = perImage.length === 1 ? perImage[0] : tape.noGrad(() => concat(perImage, 0));
  }

  const reported = spec.completeness && (!smooth || smooth.type === 'smoothgrad');
  if (extras) extras({ paths: reported ? paths : null, attribution: reported ? await attribution.data() : null });
  return tape.noGrad(() => {
    const raw = spec.reduce === 'max' ? max(attribution, [1]) : sum(attribution, [1]);
    return {
      map: scaleMap(upsample(relu(raw), ctx.size)),
      raw: [{ layer: ctx.inputName, map: raw }],
      gradient: { layer: ctx.inputName, tensor: attribution },
      score,
      // The input and its attribution: diagnose() then flags an all-zero attribution (a saturated score).
      states: [{ layer: ctx.inputName, activations: image, gradients: attribution }],
    };
  });
}

/** A unit (the image, or one noisy copy) while its points are being run. */
interface Unit {
  x: Tensor;
  /** Weighted gradient sum over the points run so far. */
  g: Tensor | null;
}

/**
 * One image x [1, C, H, W]: its units' items in batches, their gradients
 * summed per unit into the attribution, averaged by the NoiseTunnel under SmoothGrad.
 */
async function attributeImage<Options extends InputGradientOptions>(
  ctx: CamContext<Options>,
  spec: InputGradientSpec<Options>,
  x: Tensor,
  index: number,
  points: number,
  smooth: SmoothSettings | null,
  options: BatchOptions,
  sizing: { batchSize: number },
): Promise<{ attribution: Tensor; path: PathScores }> {
  const target = ctx.target!;
  const units = smooth?.samples ?? 1;
  const total = units * points;
  let sigma = 0;
  if (smooth && smooth.noise > 0) {
    const [hi, lo] = await Promise.all(tape.noGrad(() => [max(x), min(x)]).map((t) => t.data()));
    sigma = smooth.noise * (hi[0] - lo[0]);
  }
  const attr = tape.noGrad(() => spec.prepare(x, index, ctx));
  const tunnel = smooth ? new NoiseTunnel(smooth.type) : null;
  // Without SmoothGrad: the one unit's attribution.
  const single: { a: Tensor | null } = { a: null };
  const live = new Map<number, Unit>();
  let deltaSum = 0;
  let firstSum = 0;

  for (let start = 0; start < total; ) {
    options.signal?.throwIfAborted();
    const end = Math.min(start + sizing.batchSize, total);
    // The units this batch touches, with their segments of points.
    const segments: { unit: number; from: number; to: number }[] = [];
    for (let j = start; j < end; ) {
      const unit = Math.floor(j / points);
      const from = j - unit * points;
      const to = Math.min(points, from + end - j);
      segments.push({ unit, from, to });
      j += to - from;
      // Made outside the batch's scope: a unit lives until its last point has run.
      if (!live.has(unit)) live.set(unit, { x: tape.noGrad(() => (smooth ? noisyCopy(x, sigma, smooth.seed, index, unit) : x.view(x.shape))), g: null });
    }
    let step: { scores: Tensor; keep: Tensor[]; dispose: Tensor[] };
    const liveBefore = tape.liveNodes;
    try {
      step = scope(() => {
        const parts = segments.map((s) => (attr.at ? attr.at(live.get(s.unit)!.x, s.from, s.to) : live.get(s.unit)!.x));
        // A fresh tensor: model.run marks it requiresGrad, and its gradient dies with it.
        const input = parts.length === 1 ? parts[0].view(parts[0].shape) : concat(parts, 0);
        const { outputs, kept } = ctx.model.run({ [ctx.inputName]: input }, { keep: target.tensors ?? [], requireGrad: [ctx.inputName] });
        const scores = itemScores(target, { ...outputs, ...kept }, ctx.defaultOutput, end - start);
        if (!scores.requiresGrad) throw new NoGradientPath(ctx.inputName, target.label);
        tape.backward(sum(scores));
        if (!input.grad) throw new NoGradientPath(ctx.inputName, target.label);
        input.requiresGrad = false;
        const grad = input.grad;
        return tape.noGrad(() => {
          const w = attr.weights;
          // A view: the gradient is freed with `input` at the end of this scope.
          const weighted = w ? mul(grad, tensor(range(start, end).map((j) => w[j % points]), [end - start, 1, 1, 1])) : grad.view(grad.shape);
          const keep: Tensor[] = [];
          const dispose: Tensor[] = [];
          let offset = 0;
          for (const s of segments) {
            const k = s.to - s.from;
            const part = segments.length === 1 ? weighted : slice(weighted, [offset], [offset + k], [0]);
            offset += k;
            const unit = live.get(s.unit)!;
            const summed = k === 1 ? part : sum(part, [0], true);
            const g = unit.g ? add(unit.g, summed) : summed;
            if (unit.g) dispose.push(unit.g);
            unit.g = g;
            if (s.to < points) {
              keep.push(g);
              continue;
            }
            // The unit's last point: its attribution.
            const a = attr.attribute(unit.x, g);
            dispose.push(g, unit.x);
            live.delete(s.unit);
            if (tunnel) dispose.push(...tunnel.add(a));
            else single.a = a;
          }
          if (tunnel) keep.push(...[tunnel.mean, tunnel.m2].filter((t): t is Tensor => t !== null));
          else if (single.a) keep.push(single.a);
          return { scores, keep, dispose };
        });
      });
    } catch (e) {
      // A graph exported for one image: go on one item at a time.
      if (end - start > 1 && isBatchError(e)) {
        sizing.batchSize = 1;
        continue;
      } else throw e;
    } finally {
      if (liveBefore === 0) tape.clear();
    }
    for (const t of step.dispose) t.dispose();
    if (spec.completeness) {
      // The scores at each unit's first and last point (IG: f(x') and f(x)); this readback waits for the batch.
      const scores = await step.scores.data();
      for (let j = start; j < end; j++) {
        const p = j % points;
        if (p === 0) firstSum += scores[j - start];
        if (p === 0) deltaSum -= scores[j - start];
        if (p === points - 1) deltaSum += scores[j - start];
      }
    } else await runtime().sync();
    step.scores.dispose();
    start = end;
    options.onProgress?.(end, total);
  }
  const attribution = tunnel ? tape.noGrad(() => tunnel.result()) : single.a!;
  return { attribution, path: { delta: deltaSum / units, first: firstSum / units } };
}

const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);

// Explaining detections: the detection's score (heads.ts) as the target, at
// the layer feeding the head that made it, through the explainers' own
// explain(). Every registered method works: the gradient methods and the
// gradient-free ones read the same targets, which score each batch item
// (Score-CAM and Ablation-CAM score batches of copies).
//
// All detections of an image at once (explainDetections): the methods that
// only need a layer's activations and gradients (every CAM variant but
// Score-CAM and Ablation-CAM, which rerun the model by design, and the
// methods with a pass of their own: FullGrad, the input-space ones) share ONE
// forward pass: the model runs once keeping every head-feeding layer, then
// each detection's score is backpropagated on the same recorded graph
// (tape.backward with retainGraph), its layer's gradient taken before the
// next. That costs one forward plus one (short: head to layer) backward per
// detection. The alternative, stacking the input once per detection in a
// batch and summing per-item scores (one forward, one backward), would do N
// forwards' work in that one call and cannot give each detection its own
// head's layer. The others run explainDetection once per detection.
//
// The composite (boxComposite) renormalizes each detection's map inside its
// box and shows nothing outside the boxes, as pytorch-grad-cam's YOLOv5
// Eigen-CAM tutorial (renormalize_cam_in_bounding_boxes) does.

import { assertFinite, exclusive, relu, reshape, scopeAsync, sum, tape, Tensor, type ExplainableModel } from '../../engine/index.js';
import { combineLayers, isFlat, mapAtLayer, scaleMap, upsample } from '../cam-math.js';
import { NoGradientPath, NotASpatialLayer, LayerNotFound, closeMatches, ExplainError } from '../errors.js';
import { diagnose, layerPeaks } from '../diagnose.js';
import { explainNow, type ExplainResult } from '../explain.js';
import type { CamContext, CamMethod, ExplainOptions } from '../method.js';
import { getMethod, type AnyMethodOptions } from '../registry.js';
import { resolveLayers } from '../target-layers.js';
import type { Target } from '../targets.js';
import { finiteInput, predictionOf, type Detection, type ModelInput } from './detect.js';
import { detectorHead, SCORE_KINDS, type DetectorHead, type DetectorOptions, type ScoreKind } from './heads.js';
import type { Box } from './nms.js';

export interface DetectionExplainOptions extends Omit<AnyMethodOptions, 'target'>, DetectorOptions {
  /** What is explained (heads.ts): logit, prob, obj, box; default the head's (logit where the graph shows it). */
  score?: ScoreKind;
  /** The head from detect() (else built from `preset` / `meta` / the outputs). */
  head?: DetectorHead;
  /** explainDetections: called as each detection's explanation is done (the page's progress bar). */
  onDetection?: (done: number, total: number) => void;
}

export interface DetectionExplanation extends ExplainResult {
  detection: Detection;
  /** The score kind explained. */
  scoreKind: ScoreKind;
}

export interface DetectionsExplanation {
  /** One explanation per detection, in the order given. */
  results: DetectionExplanation[];
  /** [height, width] in [0, 1]: each detection's map renormalized inside its input box, 0 outside every box. */
  composite: Float32Array;
  height: number;
  width: number;
}

/** The tensor for a ModelInput (created in the caller's scope when given as host values). */
function inputTensor(input: ModelInput): Tensor {
  return input instanceof Tensor ? input : Tensor.fromData(input.data, [...input.shape]);
}

function resolve(model: ExplainableModel, options: DetectionExplainOptions): { head: DetectorHead; score: ScoreKind } {
  const head = options.head ?? detectorHead(model, options);
  const score = options.score ?? head.defaultScore;
  if (!SCORE_KINDS.includes(score)) throw new ExplainError(`unknown score '${String(score)}' (scores: ${SCORE_KINDS.join(', ')})`);
  return { head, score };
}

/** The target of one detection, and its layers (the caller's, else the one feeding its head). */
function plan(head: DetectorHead, d: Detection, score: ScoreKind, layers: ExplainOptions['layers']): { target: Target; layers: ExplainOptions['layers'] } {
  const p = predictionOf(d);
  const layer = head.layer(p);
  return { target: head.target(p, score, d.matches), layers: layers ?? (layer ? [layer] : undefined) };
}

function methodOf(method: string | CamMethod): CamMethod {
  return typeof method === 'string' ? getMethod(method) : method;
}

/** Explains one detection with `method` (a registry name or a CamMethod): its score, at the layer feeding its head. */
export async function explainDetection(
  model: ExplainableModel,
  input: ModelInput,
  detection: Detection,
  method: string | CamMethod,
  options: DetectionExplainOptions = {},
): Promise<DetectionExplanation> {
  const { head, score } = resolve(model, options);
  const { target, layers } = plan(head, detection, score, options.layers);
  const m = methodOf(method);
  // Exports that decode inside the graph usually reshape with the batch fixed
  // to 1 (ultralytics' default static export): batched methods then score one
  // copy per forward pass unless told otherwise.
  const batchSize = options.batchSize ?? (head.format === 'yolov5' || head.format === 'yolov8' ? 1 : undefined);
  const result = await exclusive(() => scopeAsync(() => explainNow(model, input, m, { ...options, batchSize, target, layers } as ExplainOptions)), options.signal);
  return { ...result, detection, scoreKind: score };
}

/** Methods that rerun the model on perturbed copies by design: no shared forward for them. */
const RERUNS = new Set(['scorecam', 'ablationcam']);

/**
 * Explains every detection in `detections` (see the file's header for the
 * cost), and the composite of their maps renormalized per box.
 */
export async function explainDetections(
  model: ExplainableModel,
  input: ModelInput,
  detections: readonly Detection[],
  method: string | CamMethod,
  options: DetectionExplainOptions = {},
): Promise<DetectionsExplanation> {
  const m = methodOf(method);
  const { head, score } = resolve(model, options);
  const shape = input.shape;
  const [height, width] = options.size ?? [shape[2], shape[3]];
  let results: DetectionExplanation[];
  if (!detections.length) results = [];
  // SmoothGrad (options.smooth) reruns each detection over its noisy copies (explain.ts, smoothMaps).
  // A Hessian method (ShapleyCAM) needs its own createGraph backward per detection: no shared forward either.
  else if (m.pass || m.usesHessian || RERUNS.has(m.name) || options.augSmooth || options.smooth !== undefined || options.inspect) {
    results = [];
    for (const d of detections) {
      results.push(await explainDetection(model, input, d, m, { ...options, head, score }));
      options.onDetection?.(results.length, detections.length);
    }
  } else {
    results = await sharedForward(model, input, detections, m, head, score, options, [height, width]);
  }
  const composite = boxComposite(
    results.map((r) => r.map),
    detections.map((d) => d.inputBox),
    height,
    width,
  );
  return { results, composite, height, width };
}

/** One forward, one backward per detection (file header). */
async function sharedForward(
  model: ExplainableModel,
  input: ModelInput,
  detections: readonly Detection[],
  method: CamMethod,
  head: DetectorHead,
  score: ScoreKind,
  options: DetectionExplainOptions,
  size: readonly [number, number],
): Promise<DetectionExplanation[]> {
  const plans = detections.map((d) => plan(head, d, score, options.layers));
  const layersOf = plans.map((p) => resolveLayers(model, p.layers));
  const all = [...new Set(layersOf.flat())];
  const targets = plans.map((p) => p.target);
  const inputName = model.inputs[0].name;
  const defaultOutput = options.output ?? model.outputs[0].name;
  const taken: Tensor[] = []; // gradients moved out of the layers' .grad, freed at the end
  try {
    return await exclusive(() => scopeAsync(async () => {
      const inputValues = finiteInput(inputName, input);
      const x = inputTensor(input);
      const feeds = { [inputName]: x.view(x.shape) };
      const gradients: Map<string, Tensor>[] = [];
      const scores: Tensor[] = [];
      const liveBefore = tape.liveNodes;
      let kept: Record<string, Tensor> = {};
      try {
        const keep = [...new Set([...all, ...targets.flatMap((t) => t.tensors ?? [])])];
        const run = model.run(feeds, { keep, requireGrad: method.usesGradients ? all : [] });
        kept = run.kept;
        const values = { ...run.outputs, ...run.kept };
        for (const layer of all) {
          const t = kept[layer];
          if (!t) throw new LayerNotFound(layer, closeMatches(layer, Object.keys(kept)));
          if (t.shape.length !== 4) throw new NotASpatialLayer(layer, t.shape);
        }
        if (!method.usesGradients) {
          for (const t of targets) scores.push(tape.noGrad(() => t.score(values, defaultOutput)));
        } else {
          // A layer downstream of another is an inner tape node: retain its gradient.
          for (const layer of all) if (kept[layer].node) tape.retainGrad(kept[layer]);
          targets.forEach((target, j) => {
            options.signal?.throwIfAborted();
            const s = target.score(values, defaultOutput);
            scores.push(s);
            const scalar = s.size === 1 ? reshape(s, []) : sum(s);
            if (!scalar.requiresGrad) throw new NoGradientPath(layersOf[j][0], target.label);
            tape.backward(scalar, { retainGraph: j < targets.length - 1 });
            const g = new Map<string, Tensor>();
            for (const layer of all) {
              const t = kept[layer];
              if (layersOf[j].includes(layer)) {
                if (!t.grad) throw new NoGradientPath(layer, target.label);
                g.set(layer, t.grad);
                taken.push(t.grad);
              } else t.grad?.dispose();
              // The next backward starts from zero (leaves would accumulate into .grad).
              t.grad = null;
            }
            gradients.push(g);
          });
          // Detach: the maps computed below must not be recorded.
          for (const layer of all) kept[layer].requiresGrad = false;
        }
      } finally {
        if (liveBefore === 0) tape.clear();
      }
      const passes = [];
      for (let j = 0; j < detections.length; j++) {
        options.signal?.throwIfAborted();
        const ctx: CamContext = { model, inputs: feeds, inputName, defaultOutput, layers: layersOf[j], size, eigenSmooth: options.eigenSmooth ?? false, options, target: targets[j] };
        const raw: { layer: string; map: Tensor }[] = [];
        const scaled: Tensor[] = [];
        for (const layer of layersOf[j]) {
          const state = { layer, activations: kept[layer], gradients: gradients[j]?.get(layer) ?? null };
          const map = relu(await mapAtLayer(method, state, ctx));
          raw.push({ layer, map });
          scaled.push(scaleMap(upsample(map, size)));
        }
        const states = layersOf[j].map((layer) => ({ layer, activations: kept[layer], gradients: gradients[j]?.get(layer) ?? null }));
        passes.push({ map: combineLayers(scaled), raw, gradient: gradients[j]?.get(layersOf[j][0]), peaks: tape.noGrad(() => layerPeaks(states)) });
        options.onDetection?.(j + 1, detections.length);
      }
      const values = await inputValues;
      if (values) assertFinite(`input '${inputName}'`, values, x.shape);
      const read = await Promise.all(
        passes.map(async (p, j) => ({
          peaks: await Promise.all(p.peaks.map(async (t) => ({ gradient: (await t.gradient?.data())?.[0] ?? null, activation: (await t.activation.data())[0] }))),
          map: await p.map.data(),
          score: await scores[j].data(),
          raw: await Promise.all(p.raw.map(async (r) => ({ layer: r.layer, shape: [...r.map.shape], data: await r.map.data() }))),
          gradient: p.gradient ? { layer: layersOf[j][0], shape: p.gradient.shape.slice(1), data: await p.gradient.data() } : undefined,
        })),
      );
      read.forEach((r, j) => {
        assertFinite(`the score of ${targets[j].label}`, r.score);
        assertFinite(`the ${method.name} map of detection ${detections[j].index}`, r.map);
      });
      return read.map((r, j): DetectionExplanation => ({
        method: method.name,
        layers: layersOf[j],
        target: targets[j].label,
        score: r.score,
        batch: 1,
        height: size[0],
        width: size[1],
        map: r.map,
        raw: r.raw,
        gradient: r.gradient,
        warnings: diagnose({
          model,
          target: targets[j],
          defaultOutput,
          score: r.score,
          layers: r.raw.map((raw, i) => ({ layer: raw.layer, raw: raw.data, gradientPeak: r.peaks[i]?.gradient ?? null, activationPeak: r.peaks[i]?.activation ?? null })),
        }),
        detection: detections[j],
        scoreKind: score,
      }));
    }), options.signal);
  } finally {
    for (const g of taken) g.dispose();
  }
}

/**
 * Per-box renormalization (pytorch-grad-cam's YOLO Eigen-CAM tutorial,
 * renormalize_cam_in_bounding_boxes): inside box j (pixels whose index lies in
 * [round(x1), round(x2)) x [round(y1), round(y2))), map j min-max scaled to
 * [0, 1] (all zero when flat: cam-math.ts isFlat); where boxes overlap, the
 * larger value; 0 outside every box.
 * `maps` are [height, width] (the first height * width values are read).
 */
export function boxComposite(maps: readonly Float32Array[], boxes: readonly Box[], height: number, width: number): Float32Array {
  const out = new Float32Array(height * width);
  maps.forEach((map, j) => {
    const [x1, y1, x2, y2] = boxRegion(boxes[j], height, width);
    if (x2 <= x1 || y2 <= y1) return;
    let lo = Infinity;
    let hi = -Infinity;
    for (let y = y1; y < y2; y++) {
      for (let x = x1; x < x2; x++) {
        lo = Math.min(lo, map[y * width + x]);
        hi = Math.max(hi, map[y * width + x]);
      }
    }
    const range = isFlat(lo, hi) ? 0 : hi - lo;
    for (let y = y1; y < y2; y++) {
      for (let x = x1; x < x2; x++) {
        const v = range > 0 ? (map[y * width + x] - lo) / range : 0;
        if (v > out[y * width + x]) out[y * width + x] = v;
      }
    }
  });
  return out;
}

/** A box's pixel region [x1, y1, x2, y2) on a height x width map, clipped. */
export function boxRegion(box: readonly number[], height: number, width: number): [number, number, number, number] {
  const cx = (v: number) => Math.min(Math.max(Math.round(v), 0), width);
  const cy = (v: number) => Math.min(Math.max(Math.round(v), 0), height);
  return [cx(box[0]), cy(box[1]), cx(box[2]), cy(box[3])];
}

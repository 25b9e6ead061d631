// What the engine worker holds and does: one model, one photo, the preset,
// the detections or top classes, and explanations, made with the library's
// public calls exactly as `gradlens explain` makes them (cli/commands/explain.ts),
// so that the page's map for a model, photo, method and detection is the CLI's
// `--map`. Runs in the worker (worker.ts); nothing here touches the DOM but
// the image decoder (decode-image.ts).
//
// What a model is (detector, classifier, anything else) is the library's
// explainers/kind.ts, as for the CLI. The static input shape for symbolic
// dimensions follows cli/detector.ts loadInput() (the CLI asks for
// --input-shape where the page guesses an example shape).

import { exclusive, init, keep, max, relu, reshape, runtime, scopeAsync, tape, tensor, type ExplainableModel, type Tensor } from '../engine/index.js';
import {
  boxComposite,
  activationMax,
  classTarget,
  convFilters,
  detectInput,
  detectionAt,
  iou,
  DetectorFormatError,
  explain,
  explainDetection,
  explainDetections,
  featureMapGrid,
  forwardPass,
  functionTarget,
  getMethod,
  mapAtLayer,
  methods,
  scaleMap,
  toTarget,
  upsample,
  TargetError,
  type DarknetSidecar,
  parseNames,
  type Detection,
  detectionJson,
  type DetectionExplanation,
  type DetectionsExplanation,
  type DetectorHead,
  type CamContext,
  type ExplainOptions,
  type ExplainResult,
  type LayerState,
  type Target,
  type TargetSpec,
} from '../explainers/index.js';
import { predictionOf } from '../explainers/yolo/detect.js';
import { mapOntoPhoto, prepareImage, presetFor, presets, type Preset, type PreparedInput } from '../explainers/presets.js';
import { modelKind as libraryKind, type ModelKind } from '../explainers/kind.js';
import type { ClassifierHead } from '../explainers/target-layers.js';
import type { RgbaImage } from '../explainers/image.js';
import { feedInputs } from '../importers/onnx/graph.js';
import { decodeModel, OnnxGraphModel, type OnnxModel } from '../importers/onnx/index.js';
import type { Dim } from '../importers/onnx/proto.js';
import { decodeImageBytes, ImageError, rgbaFromBitmap } from './decode-image.js';
import type { AdapterSummary, Analysis, ClassSummary, DetectionSummary, Explanation, FeatureView, FileBytes, FilmFrame, Inside, InitResult, LiveFrame, ModelSummary, Pick, ScrubSummary, TapeEntry } from './protocol.js';

/** An error the page shows as it is (a wrong choice, nothing to explain). */
export class WebError extends Error {
  override name = 'WebError';
}

type Kind = ModelKind;
const CONF = 0.25;
const IOU = 0.45;
const TOP_K = 5;
/** Masked or ablated copies per forward pass for classifiers (the CLI's --batch-size default). */
const BATCH_SIZE = 16;
/** Methods that rerun the model on perturbed copies (explainers/yolo/explain.ts RERUNS): no shared forward pass for all detections. */
const RERUNS = ['scorecam', 'ablationcam'];
/**
 * Copies per forward pass for the batched methods on a software adapter: one.
 * A 320x320 Yolo-Fastest copy takes ~6 s on SwiftShader, so progress and
 * Cancel (checked between batches) answer within one copy; the CPU does the
 * same work either way.
 */
const SOFTWARE_BATCH = 1;
/** The methods that report progress (onProgress): they run the model once per batch of copies. */
const BATCHED = ['scorecam', 'ablationcam', 'occlusion', 'integratedgradients'];

/** explainers/kind.ts modelKind(), as the CLI decides; a preset the user named that does not fit the model is said in page words. */
function modelKind(model: ExplainableModel, preset: Preset, presetNamed: boolean, meta: DarknetSidecar | undefined): Kind {
  try {
    return libraryKind(model, { preset, presetNamed, meta });
  } catch (e) {
    if (!(e instanceof DetectorFormatError) || meta) throw e;
    throw new WebError(`preset '${preset.name}' names a ${preset.model.kind} detector, but this model does not fit it: ${e.message}`);
  }
}

/** A shape for declared dimensions with the symbolic ones filled (cli/detector.ts exampleShape): batch 1, channels 3, sides 224. */
function exampleShape(dims: readonly Dim[]): number[] {
  const fixed = (d: Dim): d is number => typeof d === 'number' && d > 0;
  return dims.map((d, i) => (fixed(d) ? d : i === 0 ? 1 : i === 1 && dims.length === 4 && !fixed(dims[3]) ? 3 : 224));
}

/** Static input shapes for a model with symbolic input dimensions: the preset's, else the example shape (the CLI asks for --input-shape). */
function staticInputShape(decoded: OnnxModel, preset: Preset): { shapes?: Record<string, readonly number[]>; guessed: boolean } {
  const input = feedInputs(decoded)[0];
  if (!input || input.shape?.every((d) => typeof d === 'number' && d > 0)) return { guessed: false };
  if (preset.inputShape) return { shapes: { [input.name]: preset.inputShape }, guessed: false };
  return { shapes: { [input.name]: exampleShape(input.shape ?? [null, 3, null, null]) }, guessed: true };
}

const isSpatial = (shape: readonly number[]) => shape.length === 4 && shape[2] * shape[3] > 1;

/** A detection as `detect --json` prints it (detectionJson), with its default layer. */
function detectionSummary(d: Detection, head: DetectorHead): DetectionSummary {
  let layer: string | null = null;
  try {
    layer = head.layer({ cls: d.classId, score: d.score, box: [...d.inputBox], source: d.source }) ?? null;
  } catch {
    layer = null;
  }
  return { ...detectionJson(d), layer };
}

interface State {
  modelName: string;
  decoded: OnnxModel;
  model: OnnxGraphModel;
  inputKey: string;
  guessedShape: boolean;
  preset: Preset;
  presetNamed: boolean;
  meta?: DarknetSidecar;
  kind: Kind;
  photo: RgbaImage;
  imageName: string;
  prepared: PreparedInput;
  detections: Detection[];
  classes: ClassSummary[];
}

export interface Progress {
  (done: number, total: number, label: string): void;
}

/** The methods the layer scrubber re-renders from kept activations and gradients (no pass of their own, no reruns). */
export const SCRUB_METHODS = ['gradcam', 'gradcam++', 'xgradcam', 'hirescam', 'gradcamelementwise', 'layercam', 'eigengradcam', 'eigencam'];
/** Activations plus gradients the scrubber keeps on the GPU; above it the largest layers are dropped first. */
const SCRUB_BUDGET_BYTES = 384 * 2 ** 20;

interface Scrub {
  pick: Pick;
  score: number;
  ctx: CamContext;
  /** Kept layers in graph order. */
  layers: LayerState[];
  detection?: Detection;
  classIndex?: number;
}

export class Session {
  private state: State | null = null;
  private software = false;
  private scrub: Scrub | null = null;
  /** Forward passes of the model (every model.run: detection, explanation, each batch of copies). */
  passes = 0;

  async init(): Promise<InitResult> {
    const rt = await init();
    const info = rt.handle.adapterInfo;
    const adapter: AdapterSummary = {
      description: rt.adapterDescription,
      software: Boolean(info.isFallbackAdapter) || info.architecture === 'software' || /llvmpipe|lavapipe|swiftshader/i.test(`${info.vendor} ${info.architecture} ${info.device} ${info.description}`),
      features: [...rt.handle.features],
    };
    this.software = adapter.software;
    return {
      adapter,
      methods: Object.entries(methods).map(([name, m]) => ({ name, title: m.title, inputSpace: m.inputSpace, classTargetsOnly: Boolean(m.classTargetsOnly), batched: BATCHED.includes(name), scrub: SCRUB_METHODS.includes(name) })),
      presets: Object.values(presets).map((p) => ({ name: p.name, description: p.description })),
    };
  }

  /**
   * Replaces what is given (model, photo, sidecar, preset), then detects or
   * classifies. Everything is built aside first: on any error the previous
   * model and photo stay as they were.
   */
  async open(request: { model?: FileBytes; image?: FileBytes; sidecar?: FileBytes | null; preset?: string | null; precision?: 'f32' | 'f16' }, signal: AbortSignal): Promise<Analysis> {
    const started = performance.now();
    const old = this.state;
    if (!old && (!request.model || !request.image)) throw new WebError('open a model and a photo first');
    if (request.preset && !Object.hasOwn(presets, request.preset)) throw new WebError(`unknown preset '${request.preset}' (presets: ${Object.keys(presets).join(', ')})`);

    // The photo first: a file that is not an image fails before any model work.
    const photo = request.image ? await decodeImageBytes(request.image.bytes, request.image.name) : old!.photo;
    const imageName = request.image?.name ?? old!.imageName;
    let meta = old?.meta;
    if (request.sidecar === null || (request.model && request.sidecar === undefined)) meta = undefined;
    if (request.sidecar) meta = parseSidecar(request.sidecar);

    const modelName = request.model?.name ?? old!.modelName;
    const presetNamed = request.preset === undefined ? (request.model ? false : old!.presetNamed) : request.preset !== null;
    const preset = presetNamed ? presetFor(modelName, (request.preset ?? old!.preset.name) as string) : presetFor(modelName);
    const decoded = request.model ? decodeOnnx(request.model) : old!.decoded;
    const { shapes, guessed } = staticInputShape(decoded, preset);
    const inputKey = JSON.stringify(shapes ?? null);
    await init();
    // f16 storage is kept across opens until unchecked; the model refuses it (PrecisionUnavailable) where the adapter lacks shader-f16.
    const precision = request.precision ?? old?.model.precision ?? 'f32';
    let model = old?.model;
    let fresh: OnnxGraphModel | undefined;
    if (request.model || !old || inputKey !== old.inputKey || precision !== old.model.precision) {
      fresh = new OnnxGraphModel(decoded, { inputShapes: shapes, precision });
      countPasses(fresh, () => this.passes++);
      model = fresh;
    }
    try {
      const kind = modelKind(model!, preset, presetNamed, meta);
      const shape = model!.inputs[0].shape;
      if (shape.length !== 4) throw new WebError(`the model's input '${model!.inputs[0].name}' has shape [${shape.join(', ')}]: the page explains image inputs of rank 4`);
      const nhwc = preset.layout === 'nhwc';
      const [h, w] = nhwc ? [shape[1], shape[2]] : [shape[2], shape[3]];
      const prepared = prepareImage(photo, preset, h, w);
      let detections: Detection[] = [];
      let classes: ClassSummary[] = [];
      if (kind.kind === 'detector') {
        ({ detections } = await detectInput(model!, prepared, { head: kind.head, conf: CONF, iou: IOU, photo: { mapping: prepared.mapping, size: [photo.width, photo.height] }, signal }));
      } else if (kind.kind === 'classifier') {
        classes = await topClasses(model!, prepared, kind.head, preset, signal);
      }
      const next: State = { modelName, decoded, model: model!, inputKey, guessedShape: guessed, preset, presetNamed, meta, kind, photo, imageName, prepared, detections, classes };
      this.dropScrub();
      if (fresh && old) old.model.dispose();
      this.state = next;
      return this.analysis(performance.now() - started);
    } catch (e) {
      fresh?.dispose();
      throw e;
    }
  }

  private analysis(ms: number): Analysis {
    const s = this.state!;
    const layers = s.model
      .layers()
      .filter((l) => isSpatial(l.shape) && !s.model.inputs.some((i) => i.name === l.name))
      .map((l) => ({ name: l.name, op: l.op, shape: [...l.shape] }));
    const k = s.kind;
    const model: ModelSummary = {
      name: s.modelName,
      inputs: s.model.inputs.map((i) => ({ name: i.name, shape: [...i.shape] })),
      outputs: s.model.outputs.map((o) => ({ name: o.name, shape: [...o.shape] })),
      layers,
      preset: s.preset.name,
      presetAuto: !s.presetNamed,
      kind: k.kind,
      describe:
        (k.kind === 'detector'
          ? k.head.describe()
          : k.kind === 'classifier'
            ? `classifier: output '${k.head.output}', ${k.head.classes} classes, features at '${k.head.layer}'`
            : `explained at the largest element of output '${k.output}'`) + (s.guessedShape ? `; symbolic input dimensions set to [${s.model.inputs[0].shape.join(', ')}]` : ''),
      defaultLayer: k.kind === 'classifier' ? k.head.layer : k.kind === 'generic' ? (k.layers[0] ?? null) : null,
      nhwc: s.preset.layout === 'nhwc',
      precision: s.model.precision,
    };
    const data = new Uint8ClampedArray(s.photo.data.length);
    data.set(s.photo.data);
    const [, , H, W] = s.preset.layout === 'nhwc' ? [0, 0, s.prepared.shape[1], s.prepared.shape[2]] : s.prepared.shape;
    return {
      model,
      image: { name: s.imageName, width: s.photo.width, height: s.photo.height, data },
      inputSize: [H, W],
      detections: k.kind === 'detector' ? s.detections.map((d) => detectionSummary(d, k.head)) : undefined,
      classes: k.kind === 'classifier' ? s.classes : undefined,
      conf: CONF,
      iou: IOU,
      ms,
    };
  }

  /** One explanation, as `gradlens explain` makes it; `pick` says what is explained. */
  async explain(request: { method: string; layers?: string[]; pick: Pick }, signal: AbortSignal, progress: Progress): Promise<Explanation> {
    const s = this.state;
    if (!s) throw new WebError('open a model and a photo first');
    const started = performance.now();
    const { method, pick } = request;
    const m = methods[method];
    if (!m) throw new WebError(`unknown method '${method}' (methods: ${Object.keys(methods).join(', ')})`);
    const nhwc = s.preset.layout === 'nhwc';
    if (nhwc && m.inputSpace) throw new WebError(`preset '${s.preset.name}' feeds a channels-last (NHWC) input: ${method} needs NCHW; use a layer method such as gradcam`);
    const layers = request.layers?.length ? request.layers : undefined;
    const x = s.prepared;
    const size = nhwc ? ([x.shape[1], x.shape[2]] as const) : undefined;
    const onProgress = BATCHED.includes(method) ? (done: number, total: number) => progress(done, total, m.title) : undefined;
    // Batched methods on a software adapter: small batches, so that progress and Cancel answer within seconds (the map does not depend on it).
    const batchSize = BATCHED.includes(method) && this.software ? SOFTWARE_BATCH : undefined;
    const k = s.kind;

    let result: ExplainResult;
    let map: Float32Array;
    let explained: Detection[] = [];
    let classIndex: number | undefined;
    if (k.kind === 'detector') {
      const options = { head: k.head, layers, size, onProgress, signal, batchSize };
      if (pick.kind === 'all') {
        if (!s.detections.length) throw new TargetError(`no detection above confidence ${CONF} to explain`);
        const n = s.detections.length;
        const label = `${m.title}, every detection`;
        let all: DetectionsExplanation;
        if (m.pass || RERUNS.includes(method)) {
          // One explanation per detection (what explainDetections does for these methods), with progress per detection.
          const results: DetectionExplanation[] = [];
          for (const [j, d] of s.detections.entries()) {
            progress(j, n, `${label}: ${j + 1} of ${n}`);
            const each = (done: number, total: number) => progress(j + done / Math.max(total, 1), n, `${label}: ${j + 1} of ${n}`);
            results.push(await explainDetection(s.model, x, d, method, { ...options, onProgress: onProgress && each }));
          }
          const [H, W] = [results[0].height, results[0].width];
          all = { results, composite: boxComposite(results.map((r) => r.map), s.detections.map((d) => d.inputBox), H, W), height: H, width: W };
        } else {
          // The layer methods share one forward pass (explainers/yolo/explain.ts).
          progress(0, n, label);
          all = await explainDetections(s.model, x, s.detections, method, options);
        }
        progress(n, n, label);
        result = all.results[0];
        map = Float32Array.from(all.composite);
        explained = s.detections;
      } else {
        if (pick.kind === 'class') throw new WebError('this model is a detector: pick a detection');
        const d = pick.kind === 'detection' ? detectionAt(s.detections, pick.index) : s.detections[0];
        if (!d) throw new TargetError(`no detection above confidence ${CONF} to explain`);
        result = await explainDetection(s.model, x, d, method, options);
        explained = [d];
      }
    } else {
      if (pick.kind === 'detection' || pick.kind === 'all') throw new WebError('this model is no detector: pick a class');
      let target: TargetSpec | undefined;
      let picked: string[] | undefined;
      if (k.kind === 'classifier') {
        picked = [k.head.layer];
        if (pick.kind === 'class') {
          if (!(pick.index >= 0 && pick.index < k.head.classes)) throw new TargetError(`class ${pick.index} is out of range (0..${k.head.classes - 1})`);
          target = classTarget(pick.index);
          classIndex = pick.index;
        }
      } else {
        if (!k.layers.length) throw new WebError(`the model has no spatial layer (rank 4, more than 1x1) that output '${k.output}' is computed from: CAM maps need one`);
        picked = k.layers;
        const name = k.output;
        target = functionTarget((v) => max(reshape(v[name], [v[name].size])), `largest element of '${name}'`);
      }
      const options = { layers: layers ?? picked, target, size, batchSize: batchSize ?? BATCH_SIZE, onProgress, signal };
      const item = { data: x.data, shape: [1, ...x.shape.slice(1)] };
      result = await explain(s.model, item, method as 'gradcam', options); // host values: checked before upload
      classIndex ??= result.category?.[0];
    }
    const [H, W] = [result.height, result.width];
    map ??= Float32Array.from(result.map.subarray(0, H * W));
    const raw = result.raw[0];
    const [, h, w] = raw.shape;
    const photoMap = mapOntoPhoto(map, H, W, s.photo, s.prepared.mapping);
    const head = k.kind === 'detector' ? k.head : undefined;
    return {
      method,
      title: m.title,
      pick,
      layers: [...result.layers],
      target: result.target,
      score: result.score[0],
      map,
      height: H,
      width: W,
      raw: { layer: raw.layer, shape: [h, w], data: Float32Array.from(raw.data.subarray(0, h * w), (v) => Math.max(v, 0)) },
      photoMap,
      detections: head ? explained.map((d) => detectionSummary(d, head)) : [],
      classIndex,
      // Messages only (the library's warnings were strings, now { code, message, layers }: either reads).
      passes: this.passes,
      warnings: ((result.warnings ?? []) as readonly (string | { message: string })[]).map((w) => (typeof w === 'string' ? w : w.message)),
      ms: performance.now() - started,
    };
  }

  /**
   * Live mode: a video frame replaces the photo (the model and preset stay),
   * is detected or classified, and explained: the detection that overlaps the
   * tracked box most (same class, IoU above 0.3), else the top detection or class.
   */
  async frame(request: { bitmap: ImageBitmap; method: string; layers?: string[]; track?: { box: number[]; classId: number } }, signal: AbortSignal): Promise<LiveFrame> {
    const s = this.state;
    if (!s) {
      request.bitmap.close();
      throw new WebError('open a model first');
    }
    const started = performance.now();
    const photo = rgbaFromBitmap(request.bitmap);
    const shape = s.model.inputs[0].shape;
    const [h, w] = s.preset.layout === 'nhwc' ? [shape[1], shape[2]] : [shape[2], shape[3]];
    const prepared = prepareImage(photo, s.preset, h, w);
    let detections: Detection[] = [];
    let classes: ClassSummary[] = [];
    const k = s.kind;
    if (k.kind === 'detector') {
      ({ detections } = await detectInput(s.model, prepared, { head: k.head, conf: CONF, iou: IOU, photo: { mapping: prepared.mapping, size: [photo.width, photo.height] }, signal }));
    } else if (k.kind === 'classifier') {
      classes = await topClasses(s.model, prepared, k.head, s.preset, signal);
    }
    this.dropScrub();
    this.state = { ...s, photo, imageName: 'live frame', prepared, detections, classes };
    const analysis = this.analysis(0);
    let pick: Pick = { kind: 'default' };
    if (k.kind === 'detector') {
      if (!detections.length) return { analysis, explanation: null, ms: performance.now() - started };
      const t = request.track;
      if (t) {
        let best = -1;
        let bestIou = 0.3;
        for (const d of detections) {
          const o = d.classId === t.classId ? iou(d.box, t.box) : 0;
          if (o > bestIou) [best, bestIou] = [d.index, o];
        }
        if (best >= 0) pick = { kind: 'detection', index: best };
      }
    }
    const explanation = await this.explain({ method: request.method, layers: request.layers, pick }, signal, () => undefined);
    return { analysis, explanation, ms: performance.now() - started };
  }

  /** What is explained for `pick` (as explain() picks it): the target, its default layers, the detection or class. */
  private targetOf(pick: Pick): { target?: Target; detection?: Detection; classIndex?: number } {
    const s = this.state!;
    const k = s.kind;
    if (k.kind === 'detector') {
      if (pick.kind === 'class') throw new WebError('this model is a detector: pick a detection');
      const d = pick.kind === 'detection' ? detectionAt(s.detections, pick.index) : s.detections[0];
      if (!d) throw new TargetError(`no detection above confidence ${CONF} to explain`);
      return { target: k.head.target(predictionOf(d), k.head.defaultScore, d.matches), detection: d };
    }
    if (pick.kind === 'detection' || pick.kind === 'all') throw new WebError('this model is no detector: pick a class');
    if (k.kind === 'classifier') return pick.kind === 'class' ? { target: classTarget(pick.index), classIndex: pick.index } : {};
    const name = k.output;
    return { target: functionTarget((v) => max(reshape(v[name], [v[name].size])), `largest element of '${name}'`) };
  }

  private dropScrub(): void {
    for (const l of this.scrub?.layers ?? []) l.activations.dispose(); // and its gradient
    this.scrub = null;
  }

  /**
   * The layer scrubber's one pass: forward and backward keeping the
   * activations and gradients of every spatial layer the score depends on
   * (the largest dropped first above SCRUB_BUDGET_BYTES), for scrubMap() and
   * filmstrip() to render any of them without running the model again.
   */
  async scrubPass(pick: Pick, signal: AbortSignal): Promise<ScrubSummary> {
    const s = this.state;
    if (!s) throw new WebError('open a model and a photo first');
    if (pick.kind === 'all') pick = { kind: 'default' };
    this.dropScrub();
    const started = performance.now();
    const passesBefore = this.passes;
    const { target, detection, classIndex } = this.targetOf(pick);
    const inputs = new Set(s.model.inputs.map((i) => i.name));
    const names = s.model
      .layers()
      .filter((l) => isSpatial(l.shape) && !inputs.has(l.name))
      .map((l) => l.name);
    const nhwc = s.preset.layout === 'nhwc';
    const x = s.prepared;
    const size: [number, number] = nhwc ? [x.shape[1], x.shape[2]] : [x.shape[2], x.shape[3]];
    const result = await exclusive(
      () =>
        scopeAsync(async () => {
          const ctx: CamContext = {
            model: s.model,
            inputs: { [s.model.inputs[0].name]: tensor(x.data, x.shape) },
            inputName: s.model.inputs[0].name,
            defaultOutput: s.model.outputs[0].name,
            layers: names,
            size,
            eigenSmooth: false,
            options: {} as ExplainOptions,
            target: target ? toTarget(target) : null,
          };
          const pass = await forwardPass(ctx, names, { gradients: true, allowUnreached: true });
          const bytes = (l: LayerState) => l.activations.size * 4 * 2;
          const reached = pass.layers.filter((l) => l.gradients);
          let total = reached.reduce((a, l) => a + bytes(l), 0);
          const dropped = new Set<string>();
          for (const l of [...reached].sort((a, b) => bytes(b) - bytes(a))) {
            if (total <= SCRUB_BUDGET_BYTES) break;
            dropped.add(l.layer);
            total -= bytes(l);
          }
          const kept = reached.filter((l) => !dropped.has(l.layer));
          keep(kept.map((l) => l.activations)); // their gradients live as long as they do
          keep(kept.flatMap((l) => (l.gradients ? [l.gradients] : [])));
          const score = (await pass.score.data())[0];
          ctx.inputs = {}; // the input tensor goes with the scope
          return { ctx, kept, dropped: [...dropped], unreached: pass.layers.filter((l) => !l.gradients).map((l) => l.layer), total, score };
        }),
      signal,
    );
    this.scrub = { pick, score: result.score, ctx: result.ctx, layers: result.kept, detection, classIndex };
    const k = s.kind;
    const defaultLayer = detection && k.kind === 'detector' ? (k.head.layer(predictionOf(detection)) ?? null) : k.kind === 'classifier' ? k.head.layer : k.kind === 'generic' ? (k.layers[0] ?? null) : null;
    return {
      pick,
      layers: result.kept.map((l) => ({ name: l.layer, shape: [...l.activations.shape] })),
      dropped: result.dropped,
      unreached: result.unreached.length,
      bytes: result.total,
      budget: SCRUB_BUDGET_BYTES,
      defaultLayer,
      target: result.ctx.target?.label ?? '',
      score: result.score,
      passes: this.passes - passesBefore,
      totalPasses: this.passes,
      ms: performance.now() - started,
    };
  }

  /** One method's map at one kept layer, from the scrub pass: no model run. */
  async scrubMap(request: { layer: string; method: string }, signal: AbortSignal): Promise<Explanation> {
    const s = this.state;
    const sc = this.scrub;
    if (!s || !sc) throw new WebError('run the layer pass first');
    if (!SCRUB_METHODS.includes(request.method)) throw new WebError(`the scrubber renders ${SCRUB_METHODS.join(', ')}; '${request.method}' needs its own passes`);
    const layer = sc.layers.find((l) => l.layer === request.layer);
    if (!layer) throw new WebError(`layer '${request.layer}' was not kept by the layer pass`);
    const started = performance.now();
    const passesBefore = this.passes;
    const m = getMethod(request.method);
    const [H, W] = sc.ctx.size;
    const { map, raw } = await exclusive(
      () =>
        scopeAsync(async () => {
          const r = relu(await mapAtLayer(m, layer, sc.ctx));
          const scaled = scaleMap(upsample(r, sc.ctx.size));
          return { map: await scaled.data(), raw: await r.data() };
        }),
      signal,
    );
    if (this.passes !== passesBefore) throw new WebError('internal: the scrubber ran the model');
    const [, , h, w] = layer.activations.shape;
    const head = s.kind.kind === 'detector' ? s.kind.head : undefined;
    const finalMap = Float32Array.from(map.subarray(0, H * W));
    return {
      method: request.method,
      title: m.title,
      pick: sc.pick,
      layers: [request.layer],
      target: sc.ctx.target?.label ?? '',
      score: sc.score,
      map: finalMap,
      height: H,
      width: W,
      raw: { layer: request.layer, shape: [h, w], data: Float32Array.from(raw.subarray(0, h * w)) },
      photoMap: mapOntoPhoto(finalMap, H, W, s.photo, s.prepared.mapping),
      detections: head && sc.detection ? [detectionSummary(sc.detection, head)] : [],
      classIndex: sc.classIndex,
      warnings: [],
      ms: performance.now() - started,
      passes: this.passes,
      scrubbed: true,
    };
  }

  /** Kept layers [from, from + count)'s raw maps (after ReLU, before upsampling) for one method: the filmstrip, in chunks. No model run. */
  async filmstrip(request: { method: string; from: number; count: number }, signal: AbortSignal): Promise<FilmFrame[]> {
    const sc = this.scrub;
    if (!sc) throw new WebError('run the layer pass first');
    if (!SCRUB_METHODS.includes(request.method)) throw new WebError(`the scrubber renders ${SCRUB_METHODS.join(', ')}; '${request.method}' needs its own passes`);
    const m = getMethod(request.method);
    return exclusive(
      () =>
        scopeAsync(async () => {
          const maps: Tensor[] = [];
          const layers = sc.layers.slice(request.from, request.from + request.count);
          for (const l of layers) maps.push(relu(await mapAtLayer(m, l, sc.ctx)));
          const data = await Promise.all(maps.map((t) => t.data()));
          return layers.map((l, i) => ({ layer: l.layer, shape: [l.activations.shape[2], l.activations.shape[3]] as [number, number], data: data[i] }));
        }),
      signal,
    );
  }

  /**
   * explain() with the inside view: every op the tape records (op, shapes,
   * saved tensors and their bytes) and the GPU time per kernel from
   * timestamp queries (runtime().profile: one compute pass per dispatch, so
   * slower than a plain run), or the wall time where the adapter has none.
   */
  async explainInside(request: { method: string; layers?: string[]; pick: Pick }, signal: AbortSignal, progress: Progress): Promise<Explanation> {
    const nodes: TapeEntry[] = [];
    let nodeCount = 0;
    let savedBytes = 0;
    const seen = new Set<number>();
    const record = tape.record.bind(tape) as (...args: unknown[]) => void;
    // Watches the tape's record() (an own property over the prototype's method, removed after).
    const watched = ((op: string, inputs: readonly Tensor[], outputs: readonly Tensor[], ...rest: unknown[]) => {
      record(op, inputs, outputs, ...rest);
      const node = outputs[0]?.node;
      if (!node || seen.has(node.id)) return;
      seen.add(node.id);
      nodeCount++;
      const bytes = node.ctx.saved.reduce((a, t) => a + t.ref.byteLength, 0);
      savedBytes += bytes;
      if (nodes.length < 3000) nodes.push({ op, inputs: inputs.map((t) => [...t.shape]), outputs: outputs.map((t) => [...t.shape]), saved: node.ctx.saved.map((t) => [...t.shape]), savedBytes: bytes });
    }) as unknown as typeof tape.record;
    (tape as { record: typeof tape.record }).record = watched;
    const started = performance.now();
    let explanation: Explanation;
    let kernels: Inside['kernels'] = [];
    let timing: Inside['timing'] = 'wall';
    try {
      const rt = runtime();
      if (rt.handle.features.has('timestamp-query')) {
        const profiled = await rt.profile(() => this.explain(request, signal, progress));
        explanation = profiled.result;
        timing = 'gpu';
        const byKernel = new Map<string, { kernel: string; calls: number; ms: number }>();
        for (const k of profiled.kernels) {
          const e = byKernel.get(k.kernel) ?? { kernel: k.kernel, calls: 0, ms: 0 };
          e.calls++;
          e.ms += k.ms;
          byKernel.set(k.kernel, e);
        }
        kernels = [...byKernel.values()].sort((a, b) => b.ms - a.ms);
      } else {
        explanation = await this.explain(request, signal, progress);
      }
    } finally {
      delete (tape as { record?: unknown }).record;
    }
    const wallMs = performance.now() - started;
    return { ...explanation, inside: { nodes, nodeCount, savedBytes, kernels, timing, gpuMs: kernels.reduce((a, k) => a + k.ms, 0), wallMs } };
  }

  /** Feature views at `layer`: the most active channels' maps, its conv's filters, or activation maximization of one channel. */
  async features(request: { view: 'maps' | 'filters' | 'actmax'; layer: string; channel?: number; steps?: number; colormap?: 'jet' | 'viridis' }, signal: AbortSignal, progress: Progress): Promise<FeatureView> {
    const s = this.state;
    if (!s) throw new WebError('open a model and a photo first');
    const started = performance.now();
    const x = s.prepared;
    if (request.view === 'maps') {
      const grid = await scopeAsync(() => featureMapGrid(s.model, tensor(x.data, x.shape), request.layer, { count: 16, colormap: request.colormap }));
      const caption = `the ${grid.channels.length} most active channels of ${request.layer}: ${grid.channels.map((c, i) => `#${c} (mean ${grid.means[i].toFixed(3)})`).join(', ')}`;
      return { view: 'maps', layer: request.layer, image: owned(grid.image), caption, ms: performance.now() - started };
    }
    if (request.view === 'filters') {
      const grid = convFilters(s.model, request.layer);
      const caption = `Conv '${grid.node}' weights '${grid.weight}' [${grid.shape.join('×')}], filters ${grid.filters[0]}..${grid.filters[grid.filters.length - 1]}, ${grid.mode === 'rgb' ? 'one RGB tile each' : 'a row per filter, a tile per input channel'}; grey is 0, ±${grid.range.toPrecision(3)} at the ends`;
      return { view: 'filters', layer: request.layer, image: owned(grid.image), caption, ms: performance.now() - started };
    }
    if (s.preset.layout !== 'nchw') throw new WebError(`activation maximization optimizes an NCHW image input; preset '${s.preset.name}' is channels-last`);
    const channel = request.channel ?? 0;
    const steps = request.steps ?? (this.software ? 20 : 100);
    // In chunks: the library's ascent does not yield between steps, so Cancel and progress act between chunks.
    const chunk = this.software ? 1 : 5;
    let image: Float32Array | undefined;
    let shape: [number, number, number] = [0, 0, 0];
    const history: number[] = [];
    progress(0, steps, 'Activation maximization');
    for (let done = 0; done < steps; done += chunk) {
      signal.throwIfAborted();
      const n = Math.min(chunk, steps - done);
      const r = await activationMax(s.model, { layer: request.layer, channel }, { steps: n, init: image, seed: 1 + done, signal });
      image = r.image;
      shape = r.shape;
      history.push(...r.history.slice(done ? 1 : 0));
      await new Promise((resolve) => setTimeout(resolve, 0)); // let a Cancel in
      progress(done + n, steps, 'Activation maximization');
    }
    const [c, h, w] = shape;
    if (c !== 3) throw new WebError(`activation maximization drew a ${c}-channel input; only RGB inputs are shown`);
    const norm = s.preset.norm;
    const data = new Uint8ClampedArray(w * h * 4);
    // Back to pixels: each channel min-max stretched (the optimum leaves the photo's range).
    for (let ch = 0; ch < 3; ch++) {
      const plane = image!.subarray(ch * h * w, (ch + 1) * h * w);
      let lo = Infinity;
      let hi = -Infinity;
      for (const v of plane) [lo, hi] = [Math.min(lo, v), Math.max(hi, v)];
      const dst = norm.order === 'rgb' ? ch : 2 - ch;
      for (let i = 0; i < h * w; i++) data[i * 4 + dst] = hi > lo ? ((plane[i] - lo) / (hi - lo)) * 255 : 128;
    }
    for (let i = 0; i < h * w; i++) data[i * 4 + 3] = 255;
    const caption = `channel ${channel} of ${request.layer}: ${steps} step${steps === 1 ? '' : 's'} of gradient ascent on the input (mean activation ${history[0]?.toFixed(3)} -> ${history[history.length - 1]?.toFixed(3)})`;
    return { view: 'actmax', layer: request.layer, image: { width: w, height: h, data }, caption, history, ms: performance.now() - started };
  }

  /** The adapter line, for the page's footer. */
  adapter(): string {
    return runtime().adapterDescription;
  }
}

/** An image whose bytes the page can take over. */
function owned(img: RgbaImage): { width: number; height: number; data: Uint8ClampedArray } {
  return { width: img.width, height: img.height, data: new Uint8ClampedArray(img.data) };
}

/** Counts the model's forward passes (model.run calls): the page's hook reports them (the scrubber runs none). */
function countPasses(model: OnnxGraphModel, count: () => void): void {
  const run = model.run.bind(model);
  model.run = (inputs, options) => {
    count();
    return run(inputs, options);
  };
}

function decodeOnnx(file: FileBytes): OnnxModel {
  return decodeModel(new Uint8Array(file.bytes));
}

function parseSidecar(file: FileBytes): DarknetSidecar {
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder().decode(file.bytes));
  } catch (e) {
    throw new WebError(`the sidecar '${file.name}' is not JSON (${(e as Error).message})`);
  }
  if (typeof parsed !== 'object' || parsed === null || !Array.isArray((parsed as { outputs?: unknown }).outputs)) {
    throw new WebError(`the sidecar '${file.name}' has no \`outputs\` list (expected the format of yolo_fastest_1.1_coco.json)`);
  }
  return parsed as DarknetSidecar;
}

/** A classifier's top classes with probabilities: one forward pass, the output's softmax (or the output itself when it is one already). */
async function topClasses(model: ExplainableModel, x: PreparedInput, head: ClassifierHead, preset: Preset, signal: AbortSignal): Promise<ClassSummary[]> {
  const values = await exclusive(
    () =>
      scopeAsync(async () => {
        const { outputs } = model.run({ [model.inputs[0].name]: tensor(x.data, x.shape) });
        return outputs[head.output].data();
      }),
    signal,
  );
  const scores = Array.from(values.subarray(0, head.classes));
  const sum = scores.reduce((a, b) => a + b, 0);
  const isProb = scores.every((v) => v >= 0 && v <= 1) && Math.abs(sum - 1) < 1e-3;
  let probs = scores;
  if (!isProb) {
    const top = Math.max(...scores);
    const e = scores.map((v) => Math.exp(v - top));
    const z = e.reduce((a, b) => a + b, 0);
    probs = e.map((v) => v / z);
  }
  const names = preset.model.kind === 'classifier' && preset.model.classNames?.length === head.classes ? preset.model.classNames : undefined;
  const fromFile = parseNames(model.metadata?.().names);
  const metaNames = fromFile?.length === head.classes ? fromFile : undefined;
  return probs
    .map((prob, index) => ({ index, prob, name: names?.[index] ?? metaNames?.[index] ?? `class ${index}` }))
    .sort((a, b) => b.prob - a.prob)
    .slice(0, Math.min(TOP_K, probs.length));
}

export { ImageError };

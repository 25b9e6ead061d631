// Detection as a library call: a photo (or a prepared input tensor) through a
// YOLO model to a sorted list of detections, each knowing the prediction
// behind it (output, index, head, anchor, cell), so that explain.ts can
// explain any of them.
//
//   const { detections, input, head } = await detect(model, photo, { preset: 'yolo-fastest' });
//   detections[0]  // { index: 0, classId: 2, className: 'car', score: 0.88, box: [x1, y1, x2, y2] (photo), inputBox, head, anchor, cell }

import { assertFinite, exclusive, scopeAsync, Tensor } from '../../engine/index.js';
import type { ExplainableModel } from '../../engine/index.js';
import type { RgbaImage } from '../image.js';
import { prepareImage, presets, type PhotoMapping, type PreparedInput } from '../presets.js';
import { TargetError } from '../errors.js';
import { DetectorFormatError } from './format.js';
import { className, detectorHead, resolvePreset, type DetectorHead, type DetectorOptions, type HostOutputs } from './heads.js';
import { iou, nms, type Box, type Prediction, type PredictionSource } from './nms.js';

export interface Detection {
  /** Position in the detection list (0 = highest score). */
  index: number;
  classId: number;
  className: string;
  /** Objectness x class probability (the class probability for anchor-free heads). */
  score: number;
  /** [x1, y1, x2, y2] in photo pixels (model-input pixels when no photo was given). */
  box: Box;
  /** [x1, y1, x2, y2] in model-input pixels, clipped to the input. */
  inputBox: Box;
  /** The head that made it (index into DetectorHead.scales), its anchor slot (anchor-based formats) and grid cell [gx, gy]. */
  head: number;
  anchor?: number;
  cell: readonly [number, number];
  /** The head's stride in input pixels. */
  stride: number;
  /** The prediction behind it: its output and flat prediction index. */
  source: PredictionSource;
  /** The predictions of the same class whose boxes overlap this one (IoU > matchIou, itself included): what the `box` score sums. */
  matches: readonly PredictionSource[];
}

export interface DetectOptions extends DetectorOptions {
  /** Confidence threshold on objectness and on the detection score (default 0.25). */
  conf?: number;
  /** NMS IoU threshold, class by class (default 0.45). */
  iou?: number;
  /** IoU above which a prediction counts toward a detection's `box` score (default 0.5, as pytorch-grad-cam's box target). */
  matchIou?: number;
  /** Stops the call (queued or running) with the signal's reason. */
  signal?: AbortSignal;
  /** At most this many detections (default: all). */
  maxDetections?: number;
  /** A head from an earlier call (skips building it). */
  head?: DetectorHead;
}

/** An input tensor, on the GPU or as host values. */
export type ModelInput = Tensor | { data: Float32Array; shape: readonly number[] };

export interface DetectResult {
  detections: Detection[];
  head: DetectorHead;
  /** The input that was run ([1, 3, H, W]): the prepared photo, or the tensor given. */
  input: ModelInput;
  /** detect() only: the preprocessed photo (the model's view and the mapping back to the photo). */
  prepared?: PreparedInput;
}

/** A box from model-input pixels to the photo: photo = (input - offset) / scale per axis, clipped to it. */
export function boxToPhoto(box: readonly number[], m: PhotoMapping, size: readonly [number, number]): Box {
  const fx = (x: number) => Math.min(Math.max((x - m.offsetX) / m.scaleX, 0), size[0]);
  const fy = (y: number) => Math.min(Math.max((y - m.offsetY) / m.scaleY, 0), size[1]);
  return [fx(box[0]), fy(box[1]), fx(box[2]), fy(box[3])];
}

/**
 * Detects on a photo: the preset's preprocessing (explainers/presets.ts
 * prepareImage; the head is also chosen with it, see detectorHead), one
 * forward pass, decode, class-wise NMS, boxes mapped back to the photo.
 */
export async function detect(model: ExplainableModel, image: RgbaImage, options: DetectOptions = {}): Promise<DetectResult> {
  const preset = resolvePreset(options.preset) ?? presets.plain;
  const head = options.head ?? detectorHead(model, { ...options, preset });
  const shape = model.inputs[0]?.shape ?? [];
  if (shape.length !== 4 || preset.layout !== 'nchw') throw new DetectorFormatError(`detect: an NCHW image input is expected, the model's is [${shape.join(', ')}] (preset '${preset.name}', ${preset.layout})`);
  const prepared = prepareImage(image, preset, shape[2], shape[3]);
  const result = await detectInput(model, prepared, { ...options, head, photo: { mapping: prepared.mapping, size: [image.width, image.height] } });
  return { ...result, prepared };
}

/**
 * Detects on an input already prepared ([1, 3, H, W]): `box` = `inputBox`
 * unless `photo` says how input pixels map back to a photo.
 */
export async function detectInput(
  model: ExplainableModel,
  input: ModelInput,
  options: DetectOptions & { photo?: { mapping: PhotoMapping; size: readonly [number, number] } } = {},
): Promise<DetectResult> {
  const head = options.head ?? detectorHead(model, options);
  const conf = options.conf ?? 0.25;
  const iouThreshold = options.iou ?? 0.45;
  const matchIou = options.matchIou ?? 0.5;
  for (const [what, v] of [['conf', conf], ['iou', iouThreshold], ['matchIou', matchIou]] as const) {
    if (typeof v !== 'number' || !(v >= 0 && v <= 1)) throw new DetectorFormatError(`${what} must be a number from 0 to 1, got ${String(v)}`);
  }
  const outputs = await runOutputs(model, input, [...new Set(head.scales.map((s) => s.output))], options.signal);
  const candidates = head.decode(outputs, conf);
  let kept = nms(candidates, iouThreshold);
  if (options.maxDetections !== undefined) kept = kept.slice(0, options.maxDetections);
  const [, , height, width] = model.inputs[0].shape;
  const clip = (b: Box): Box => [Math.min(Math.max(b[0], 0), width), Math.min(Math.max(b[1], 0), height), Math.min(Math.max(b[2], 0), width), Math.min(Math.max(b[3], 0), height)];
  const detections = kept.map((p, index): Detection => {
    const s = p.source!;
    const inputBox = clip(p.box);
    const matches = candidates.filter((q) => q.cls === p.cls && iou(q.box, p.box) > matchIou).map((q) => q.source!);
    return {
      index,
      classId: p.cls,
      className: className(head, p.cls),
      score: p.score,
      box: options.photo ? boxToPhoto(p.box, options.photo.mapping, options.photo.size) : [...inputBox],
      inputBox,
      head: s.head ?? 0,
      anchor: s.anchor,
      cell: s.cell ?? [0, 0],
      stride: s.stride ?? 0,
      source: s,
      matches,
    };
  });
  return { detections, head, input };
}

/**
 * The non-finite check of a model input: host values are checked now, before
 * any upload; a GPU tensor's values are read back (returned, for the caller
 * to check with its other readbacks, in one wait).
 */
export function finiteInput(inputName: string, input: ModelInput): Promise<Float32Array> | undefined {
  if (input instanceof Tensor) return input.data();
  assertFinite(`input '${inputName}'`, input.data, input.shape);
  return undefined;
}

/** One forward pass; the named outputs read back. Queued behind other engine calls (engine/serial.ts). */
function runOutputs(model: ExplainableModel, input: ModelInput, names: readonly string[], signal: AbortSignal | undefined): Promise<HostOutputs> {
  return exclusive(() => scopeAsync(async () => {
    const inputName = model.inputs[0].name;
    const inputValues = finiteInput(inputName, input);
    const x = input instanceof Tensor ? input : Tensor.fromData(input.data, [...input.shape]);
    const { outputs } = model.run({ [inputName]: x });
    for (const name of names) if (!outputs[name]) throw new DetectorFormatError(`the model returned no output '${name}'`);
    // One wait: the outputs and a GPU input come back together.
    const [values, ...data] = await Promise.all([inputValues, ...names.map((name) => outputs[name].data())]);
    if (values) assertFinite(`input '${inputName}'`, values, input.shape);
    const read: Record<string, { values: Float32Array; shape: readonly number[] }> = {};
    names.forEach((name, i) => {
      read[name] = { values: data[i], shape: outputs[name].shape };
      // A NaN score would pass every threshold test as false and vanish, or print as null.
      assertFinite(`output '${name}'`, data[i], outputs[name].shape);
    });
    return read;
  }), signal);
}

/** The prediction behind a detection, as the heads take it. */
export function predictionOf(d: Detection): Prediction {
  return { cls: d.classId, score: d.score, box: [...d.inputBox], source: d.source };
}

const round2 = (v: number) => Math.round(v * 100) / 100;

/** A detection as plain JSON (what `gradlens detect --json` prints and the page lists): score to 5 decimals, boxes to 2. */
export function detectionJson(d: Detection) {
  return {
    index: d.index,
    classId: d.classId,
    className: d.className,
    score: Math.round(d.score * 1e5) / 1e5,
    box: d.box.map(round2),
    inputBox: d.inputBox.map(round2),
    head: d.head,
    anchor: d.anchor ?? null,
    cell: [...d.cell],
    output: d.source.output,
  };
}

/** Detection `index` of the list (0 = highest score), or a TargetError naming the count. */
export function detectionAt(detections: readonly Detection[], index: number): Detection {
  const d = Number.isInteger(index) && index >= 0 ? detections[index] : undefined;
  if (!d) {
    const range = detections.length ? `indices 0..${detections.length - 1}` : 'nothing to explain';
    throw new TargetError(`detection ${index} is out of range: there ${detections.length === 1 ? 'is 1 detection' : `are ${detections.length} detections`} (${range})`);
  }
  return d;
}

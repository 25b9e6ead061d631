// The real models of the peers and e2e benchmarks, set up as `gradlens
// explain` sets them up (cli/detector.ts, explainers/kind.ts): the preset for
// the file, dog.jpg prepared by it, the model's kind; for a detector its
// detections on the photo and the layers feeding its heads (Grad-CAM "at the
// head layers"), for a classifier its last spatial layer.

import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { scopeAsync, tensor, type Precision } from '../engine/index.js';
import { readSidecar } from '../cli/detector.js';
import { detectInput, explain, explainDetection, explainDetections, NoGradientPath, type Detection, type DetectorHead, type ExplainResult } from '../explainers/index.js';
import { modelKind, type ModelKind } from '../explainers/kind.js';
import { decodeImage } from '../explainers/node-image.js';
import { prepareImage, presetFor } from '../explainers/presets.js';
import { loadOnnx, type OnnxGraphModel } from '../importers/onnx/index.js';
import { SHARED_MODELS } from './shared-device.js';

export const IMAGE = 'explainers/assets/dog.jpg';

export interface BenchModel {
  name: string;
  path: string;
  bytes: Uint8Array;
  model: OnnxGraphModel;
  inputName: string;
  /** dog.jpg as the model's preset prepares it. */
  input: { data: Float32Array; shape: number[] };
  kind: ModelKind;
  /** Detectors: the head, the detections on dog.jpg (conf 0.25, iou 0.45). */
  head?: DetectorHead;
  detections: Detection[];
  /** Grad-CAM's layers: every layer feeding a detector head, or the classifier's last spatial layer. */
  layers: string[];
}

/** The model file's path, or a message saying why it is skipped. */
export function modelPath(file: string): string | { skip: string } {
  const path = resolve(SHARED_MODELS, file);
  return existsSync(path) ? path : { skip: `${path} not found (set GRADLENS_MODELS to the folder holding it): skipped` };
}

export async function benchModel(name: string, path: string, precision: Precision = 'f32'): Promise<BenchModel> {
  const bytes = new Uint8Array(readFileSync(path));
  const model = await loadOnnx(bytes, { precision });
  const preset = presetFor(path);
  const meta = readSidecar(path, undefined);
  const kind = modelKind(model, { preset, meta });
  const shape = model.inputs[0].shape;
  const photo = decodeImage(new Uint8Array(readFileSync(IMAGE)), IMAGE);
  const prepared = prepareImage(photo, preset, shape[2], shape[3]);
  const input = { data: prepared.data, shape: [...prepared.shape] };
  let detections: Detection[] = [];
  let layers: string[];
  let head: DetectorHead | undefined;
  if (kind.kind === 'detector') {
    head = kind.head;
    detections = (await detectInput(model, input, { head })).detections;
    layers = [...new Set(head.scales.map((s) => s.layer).filter((l): l is string => Boolean(l)))];
    // The top detection's score depends only on the head layers upstream of its own head
    // (YOLOv5's PAN: a stride-32 detection sees all three; Yolo-Fastest's two heads are
    // separate): keep those, as Grad-CAM refuses a layer with no gradient path.
    if (detections.length) layers = await reachableLayers(model, input, detections[0], head, layers);
  } else if (kind.kind === 'classifier') {
    layers = [kind.head.layer];
  } else {
    layers = kind.layers;
  }
  return { name, path, bytes, model, inputName: model.inputs[0].name, input, kind, head, detections, layers };
}

async function reachableLayers(model: OnnxGraphModel, input: BenchModel['input'], d: Detection, head: DetectorHead, layers: string[]): Promise<string[]> {
  let left = [...layers];
  for (;;) {
    try {
      await explainDetection(model, input, d, 'gradcam', { head, layers: left });
      return left;
    } catch (e) {
      if (!(e instanceof NoGradientPath) || left.length <= 1) throw e;
      left = left.filter((l) => l !== e.layer);
    }
  }
}

/**
 * One explanation as the CLI makes it: a detector's top detection (its score,
 * at `layers`, default the head layers), a classifier's top class at its layer.
 */
export function explainTop(m: BenchModel, method: string, options: { layers?: string[]; channels?: readonly number[] } = {}): Promise<ExplainResult> {
  const layers = options.layers ?? m.layers;
  const extra = options.channels ? { channels: options.channels } : {};
  if (m.head) {
    if (!m.detections.length) throw new Error(`${m.name}: no detection on ${IMAGE} to explain`);
    return explainDetection(m.model, m.input, m.detections[0], method, { head: m.head, layers, ...extra });
  }
  return explainOnHost(m, method, { layers, ...extra });
}

function explainOnHost(m: BenchModel, method: string, options: Record<string, unknown>): Promise<ExplainResult> {
  return scopeAsync(async () => explain(m.model, tensor(m.input.data, m.input.shape), method, options));
}

/** Every detection explained (explainDetections: one shared forward for the gradient methods). */
export function explainAll(m: BenchModel, method = 'gradcam') {
  return explainDetections(m.model, m.input, m.detections, method, { head: m.head });
}

/** The whole-model forward as a user runs it: upload the input, run, read every output back. */
export function gradlensForward(m: BenchModel): () => Promise<Float32Array[]> {
  const names = m.model.outputs.map((o) => o.name);
  return () =>
    scopeAsync(async () => {
      const { outputs } = m.model.run({ [m.inputName]: tensor(m.input.data, m.input.shape) });
      return Promise.all(names.map((n) => outputs[n].data()));
    });
}

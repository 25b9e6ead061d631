// What a model is, read from its graph rather than its file name: a detector
// (a sidecar's raw heads, a detector preset's raw heads when they fit the
// outputs, or a decoded YOLO layout: explainers/yolo/format.ts), a classifier
// (class scores computed from spatial features: explainers/target-layers.ts),
// or anything else, explained at the largest element of its output. The file
// name only picks the preset (preprocessing; for raw heads, the anchors the
// graph cannot hold).

import type { ExplainableModel } from '../engine/index.js';
import { detectorHead, DetectorFormatError, type DarknetSidecar, type DetectorHead } from '../explainers/index.js';
import { presets, type Preset } from '../explainers/presets.js';
import { classifierHead, nearestSpatialLayer, type ClassifierHead } from '../explainers/target-layers.js';
import { cellCount, decodedLayout, inputSize } from '../explainers/yolo/format.js';
import { headLayers } from '../explainers/yolo/targets.js';
import { CliError } from './errors.js';

export type ModelKind =
  | { kind: 'detector'; head: DetectorHead }
  | { kind: 'classifier'; head: ClassifierHead }
  /** Explained at the largest element of `output` (or a --class of it), at `layers` (empty: no spatial layer). */
  | { kind: 'generic'; output: string; layers: string[] };

export interface KindOptions {
  preset: Preset;
  /** The preset came from --preset (an assertion: its detector format must fit) rather than the file name. */
  presetNamed: boolean;
  meta?: DarknetSidecar;
  /** --output: the output a classifier or generic model is explained at. */
  output?: string;
}

const DETECTOR_KINDS = ['darknet', 'tiny-yolov2', 'yolov5', 'yolov8'];

/** The model's kind; a sidecar or a named detector preset that does not fit the graph is an error saying why. */
export function modelKind(model: ExplainableModel, options: KindOptions): ModelKind {
  const { preset, meta } = options;
  if (meta) return { kind: 'detector', head: detectorHead(model, { preset, meta }) };
  const detectorPreset = DETECTOR_KINDS.includes(preset.model.kind);
  if (detectorPreset) {
    try {
      return { kind: 'detector', head: detectorHead(model, { preset }) };
    } catch (e) {
      if (!(e instanceof DetectorFormatError)) throw e;
      if (options.presetNamed) {
        const layout = decodedLayout(model);
        const outs = model.outputs.map((o) => `'${o.name}' [${o.shape.join(', ')}]`).join(', ');
        const why = layout ? `its outputs ${outs} are a ${layout.format} export: use --preset ${layout.format}` : mismatch(model, graphKind(model, options.output));
        throw new CliError(`--preset ${preset.name} names a ${preset.model.kind} detector, but ${why}`, e);
      }
      // Picked by file name: the graph decides.
    }
  }
  if (decodedLayout(model)) return { kind: 'detector', head: detectorHead(model) };
  return graphKind(model, options.output);
}

/** A classifier or a generic model (no detector format considered). */
function graphKind(model: ExplainableModel, output: string | undefined): ModelKind {
  const classifier = classifierHead(model, output);
  if (classifier) return { kind: 'classifier', head: classifier };
  const name = output ?? model.outputs[0].name;
  // The tensors feeding the output's head, but never a graph input (a one-conv model's conv reads it):
  // else the spatial map nearest the output (that conv's output).
  const inputs = new Set(model.inputs.map((i) => i.name));
  const heads = headLayers(model, [name]).filter((l) => !inputs.has(l));
  const nearest = heads.length ? undefined : nearestSpatialLayer(model, name);
  return { kind: 'generic', output: name, layers: heads.length ? heads : nearest ? [nearest] : [] };
}

/** Detector presets whose anchors fit this model's outputs: a `--preset` hint that works. */
function fittingPresets(model: ExplainableModel): string[] {
  return Object.values(presets)
    .filter((p) => p.model.kind === 'darknet' || p.model.kind === 'tiny-yolov2')
    .filter((p) => {
      try {
        detectorHead(model, { preset: p });
        return true;
      } catch {
        return false;
      }
    })
    .map((p) => p.name);
}

/** What makes raw heads a detector, as flags that work for this model. */
export function anchorsHint(model: ExplainableModel): string {
  const fits = fittingPresets(model).map((p) => `--preset ${p}`);
  return `pass --meta <sidecar.json> (anchors per output, in the format of yolo_fastest_1.1_coco.json)${fits.length ? ` or ${fits.join(' or ')}` : ''}`;
}

/** Outputs that could be raw darknet heads: spatial, with A * (5 + C) >= 5 channels. */
const hasRawHeads = (model: ExplainableModel) => model.outputs.some((o) => o.shape.length === 4 && o.shape[1] >= 5 && o.shape[2] * o.shape[3] > 1);

/** Why the model is no detector, and what to do instead: only hints that work for it. */
export function mismatch(model: ExplainableModel, kind: ModelKind): string {
  const outs = model.outputs.map((o) => `'${o.name}' [${o.shape.join(', ')}]`).join(', ');
  const text = `the model's outputs ${outs} match no known detector layout`;
  if (kind.kind === 'classifier') {
    return `${text}: it is a classifier (class scores '${kind.head.output}' computed from '${kind.head.layer}'); explain its classes with \`gradlens explain\` without --detection, --score and --meta`;
  }
  if (hasRawHeads(model)) return `${text}. Raw darknet heads [1, A * (5 + C), H, W] need their anchors: ${anchorsHint(model)}`;
  let expected = '';
  try {
    const [h, w] = inputSize(model);
    const cells = cellCount(h, w, [8, 16, 32]);
    expected = `; for a ${h}x${w} input a YOLOv5/v7 export has one output [1, ${3 * cells}, 5 + C] and a YOLOv8/11 export one output [1, 4 + C, ${cells}]`;
  } catch {
    // no NCHW input: no decoded layout to describe
  }
  return `${text}${expected}`;
}

/**
 * --class on a generic model: the output must hold class scores ([N, K] or
 * [N, K, 1, 1]); else an error with the flags that do work here.
 */
export function checkClassOutput(model: ExplainableModel, kind: { output: string }, classIndex: number): void {
  const shape = model.outputs.find((o) => o.name === kind.output)?.shape ?? [];
  if (shape.length === 2 || (shape.length === 4 && shape[2] * shape[3] === 1)) return;
  const hints = [`without --class, the largest element of '${kind.output}' is explained`];
  const rows = model.outputs.filter((o) => classifierHead(model, o.name)).map((o) => `--output ${o.name}`);
  if (rows.length) hints.push(`${rows.join(' or ')} explains class scores`);
  if (hasRawHeads(model)) hints.push(`if these are raw darknet heads, ${anchorsHint(model)}: --class then picks the detection of that class`);
  throw new CliError(`--class ${classIndex}: output '${kind.output}' [${shape.join(', ')}] holds no class scores ([N, K] or [N, K, 1, 1]); ${hints.join('; ')}`);
}

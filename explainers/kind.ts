// What a model is, read from its graph rather than its file name: a detector
// (a sidecar's raw heads, a detector preset's raw heads when they fit the
// outputs, or a decoded YOLO layout: yolo/format.ts), a classifier (class
// scores computed from spatial features: target-layers.ts classifierHead), or
// anything else, explained at the largest element of its output. The file
// name only picks the preset (preprocessing; for raw heads, the anchors the
// graph cannot hold). The CLI and the page both decide with this.

import type { ExplainableModel } from '../engine/index.js';
import type { Preset } from './presets.js';
import { classifierHead, nearestSpatialLayer, type ClassifierHead } from './target-layers.js';
import { DetectorFormatError, decodedLayout, type DarknetSidecar } from './yolo/format.js';
import { detectorHead, type DetectorHead } from './yolo/heads.js';
import { headLayers } from './yolo/targets.js';

export type ModelKind =
  | { kind: 'detector'; head: DetectorHead }
  | { kind: 'classifier'; head: ClassifierHead }
  /** Explained at the largest element of `output` (or a class of it), at `layers` (empty: no spatial layer). */
  | { kind: 'generic'; output: string; layers: string[] };

export interface KindOptions {
  preset: Preset;
  /**
   * The preset was named by the user (an assertion: a detector preset must fit
   * the graph, else DetectorFormatError) rather than picked by file name (then
   * a detector preset that does not fit is ignored and the graph decides).
   */
  presetNamed?: boolean;
  meta?: DarknetSidecar;
  /** The output a classifier or generic model is explained at (default: the first). */
  output?: string;
}

const DETECTOR_KINDS = ['darknet', 'tiny-yolov2', 'yolov5', 'yolov8'];

/** The model's kind (see the file's header). */
export function modelKind(model: ExplainableModel, options: KindOptions): ModelKind {
  const { preset, meta } = options;
  if (meta) return { kind: 'detector', head: detectorHead(model, { preset, meta }) };
  if (DETECTOR_KINDS.includes(preset.model.kind)) {
    try {
      return { kind: 'detector', head: detectorHead(model, { preset }) };
    } catch (e) {
      if (!(e instanceof DetectorFormatError) || options.presetNamed) throw e;
      // Picked by file name: the graph decides.
    }
  }
  if (decodedLayout(model)) return { kind: 'detector', head: detectorHead(model) };
  return graphKind(model, options.output);
}

/** A classifier or a generic model (no detector format considered). */
export function graphKind(model: ExplainableModel, output?: string): ModelKind {
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

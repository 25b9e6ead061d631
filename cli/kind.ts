// The model's kind in CLI words: explainers/kind.ts decides from the graph;
// here its refusals become hints that name flags which work for this model.

import type { ExplainableModel } from '../engine/index.js';
import { detectorHead, DetectorFormatError } from '../explainers/index.js';
import { graphKind, modelKind as libraryKind, type KindOptions, type ModelKind } from '../explainers/kind.js';
import { presets } from '../explainers/presets.js';
import { classifierHead } from '../explainers/target-layers.js';
import { cellCount, decodedLayout, inputSize } from '../explainers/yolo/format.js';
import { CliError } from './errors.js';

export type { ModelKind } from '../explainers/kind.js';

/** The model's kind (explainers/kind.ts); a named detector preset that does not fit the graph is an error saying which flag fits. */
export function modelKind(model: ExplainableModel, options: KindOptions): ModelKind {
  try {
    return libraryKind(model, options);
  } catch (e) {
    if (!(e instanceof DetectorFormatError) || options.meta || !options.presetNamed) throw e;
    const { preset } = options;
    const layout = decodedLayout(model);
    const outs = model.outputs.map((o) => `'${o.name}' [${o.shape.join(', ')}]`).join(', ');
    const why = layout ? `its outputs ${outs} are a ${layout.format} export: use --preset ${layout.format}` : mismatch(model, graphKind(model, options.output));
    throw new CliError(`--preset ${preset.name} names a ${preset.model.kind} detector, but ${why}`, e);
  }
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

// Which YOLO layout a model's outputs have, and the configuration each needs:
//
//   yolov5       YOLOv5 / YOLOv7 exports, decode inside the graph: one output
//                [1, N, 5 + C] of rows [cx, cy, w, h, obj, p_0 .. p_C-1] in
//                input pixels, N = 3 anchors x the grid cells of strides 8/16/32;
//                class names from the file's metadata (`names`).
//   yolov8       YOLOv8 / YOLO11 anchor-free exports: one output [1, 4 + C, N],
//                rows cx, cy, w, h (DFL decoded in the graph), then C class
//                probabilities; no objectness; N = the grid cells of strides
//                8, 16, 32, in that column order.
//   darknet      raw darknet heads (YOLOv3/v4-tiny, Yolo-Fastest): one output
//                [1, A * (5 + C), H, W] per scale, anchors in input pixels per
//                output, from a JSON sidecar or a preset.
//   tiny-yolov2  Tiny-YOLOv2's region layer: one raw output [1, A * (5 + C), H, W],
//                anchors in grid cells, class probabilities by softmax.
//
// The two decoded layouts are recognized from the output's shape (rank 3, and
// N must equal the cell count the input size implies, so a [1, 300, 6]
// post-NMS export or BlazeFace's [1, 512, 16] is not mistaken for one); raw
// heads need anchors, which only a sidecar or a preset gives.

import type { ExplainableModel } from '../../engine/index.js';
import { ExplainError } from '../errors.js';

export type DetectorFormat = 'yolov5' | 'yolov8' | 'darknet' | 'tiny-yolov2';

/** A model whose outputs match no known detector layout, or a sidecar / preset that disagrees with them. */
export class DetectorFormatError extends ExplainError {}

/** An anchor [w, h]. */
export type Anchor = readonly [number, number];

/**
 * A darknet sidecar, as ../shared/models/yolo_fastest_1.1_coco.json: per raw
 * output its name, anchors in input pixels (`anchors_px`) and optionally its
 * shape, stride, class count and darknet's scale_x_y; the class names. Only
 * these fields are read; the others document the model.
 */
export interface DarknetSidecar {
  /** 'darknet' (default) or 'tiny-yolov2' (anchors then in grid cells: `anchors`). */
  format?: 'darknet' | 'tiny-yolov2';
  names?: readonly string[];
  num_classes?: number;
  outputs: readonly {
    name: string;
    anchors_px?: readonly Anchor[];
    /** Anchors in grid cells (Tiny-YOLOv2's region layer). */
    anchors?: readonly Anchor[];
    shape?: readonly number[];
    stride?: number;
    classes?: number;
    scale_x_y?: number;
    new_coords?: number;
  }[];
}

/** One raw head of a darknet-style model, resolved against the graph. */
export interface RawHeadSpec {
  output: string;
  /** Anchors [w, h] in input pixels, one per anchor slot. */
  anchors: readonly Anchor[];
  /** darknet's scale_x_y (1: x = (gx + sigmoid(tx)) / gw). */
  scaleXY: number;
}

/** The parsed sidecar's heads, checked against the model's outputs (DetectorFormatError naming the disagreement). */
export function sidecarHeads(model: ExplainableModel, sidecar: DarknetSidecar): { heads: RawHeadSpec[]; classes: number; format: 'darknet' | 'tiny-yolov2' } {
  const list: DarknetSidecar['outputs'] | undefined = sidecar?.outputs;
  if (!sidecar || typeof sidecar !== 'object' || !Array.isArray(list) || !list.length) {
    throw new DetectorFormatError('the sidecar has no `outputs` list (expected the format of yolo_fastest_1.1_coco.json: outputs [{name, anchors_px, ...}], names)');
  }
  const format = sidecar.format ?? 'darknet';
  if (format !== 'darknet' && format !== 'tiny-yolov2') throw new DetectorFormatError(`the sidecar names format '${String(format)}'; known: darknet, tiny-yolov2`);
  const outputs = new Map(model.outputs.map((o) => [o.name, o.shape]));
  let classes: number | undefined = sidecar.num_classes;
  const heads = sidecar.outputs.map((o): RawHeadSpec => {
    const shape = outputs.get(o.name);
    if (!shape) throw new DetectorFormatError(`the sidecar describes output '${o.name}', which the model does not have (outputs: ${[...outputs.keys()].join(', ')})`);
    if (o.shape && (o.shape.length !== shape.length || o.shape.some((d, i) => d !== shape[i]))) {
      throw new DetectorFormatError(`the sidecar says output '${o.name}' has shape [${o.shape.join(', ')}], the model's is [${shape.join(', ')}]`);
    }
    if (shape.length !== 4) throw new DetectorFormatError(`output '${o.name}' has shape [${shape.join(', ')}]: a raw darknet head is [1, A * (5 + C), H, W]`);
    if (o.new_coords) throw new DetectorFormatError(`output '${o.name}': new_coords ${o.new_coords} (scaled-YOLOv4 decode) is not supported`);
    let anchors: readonly Anchor[] | undefined = o.anchors_px;
    if (!anchors && o.anchors) {
      // Grid-cell anchors (region layer): times the output's stride.
      const stride = o.stride ?? inputSize(model)[1] / shape[3];
      anchors = o.anchors.map(([w, h]) => [w * stride, h * stride] as const);
    }
    if (!anchors?.length) throw new DetectorFormatError(`the sidecar gives no anchors for output '${o.name}' (anchors_px: [[w, h], ...] in input pixels)`);
    const c = o.classes ?? classes ?? shape[1] / anchors.length - 5;
    classes ??= c;
    if (c !== classes) throw new DetectorFormatError(`the sidecar's outputs disagree on the class count (${classes} and ${c} for '${o.name}')`);
    if (shape[1] !== anchors.length * (5 + c)) {
      throw new DetectorFormatError(
        `output '${o.name}' has ${shape[1]} channels, but the sidecar's ${anchors.length} anchors x (5 + ${c} classes) make ${anchors.length * (5 + c)}`,
      );
    }
    return { output: o.name, anchors, scaleXY: o.scale_x_y ?? 1 };
  });
  if (sidecar.names && sidecar.names.length !== classes) {
    throw new DetectorFormatError(`the sidecar lists ${sidecar.names.length} names for ${classes} classes`);
  }
  return { heads, classes: classes!, format };
}

/** Raw heads from a preset's anchors by output name, checked against the model. */
export function presetHeads(model: ExplainableModel, anchors: Readonly<Record<string, readonly Anchor[]>>): { heads: RawHeadSpec[]; classes: number } {
  return sidecarHeads(model, { outputs: Object.entries(anchors).map(([name, a]) => ({ name, anchors_px: a })) });
}

/** Grid cells of an H x W input at the given strides (ceil, as the convolutions' padding gives). */
export function cellCount(height: number, width: number, strides: readonly number[]): number {
  return strides.reduce((n, s) => n + Math.ceil(height / s) * Math.ceil(width / s), 0);
}

/** Stride sets of the decoded exports: P3-P5, and the P6 models' P3-P6. */
export const STRIDE_SETS: readonly (readonly number[])[] = [
  [8, 16, 32],
  [8, 16, 32, 64],
];

/** The model's NCHW input height and width. */
export function inputSize(model: ExplainableModel): [number, number] {
  const shape = model.inputs[0]?.shape ?? [];
  if (shape.length !== 4) throw new DetectorFormatError(`the detector's input has shape [${shape.join(', ')}]; an NCHW image input [1, 3, H, W] is expected`);
  return [shape[2], shape[3]];
}

/**
 * The decoded layout of the model's outputs, from their shapes: 'yolov5' for
 * one [1, N, 5 + C] output with N = 3 x the cells of strides 8..32 (or 8..64),
 * 'yolov8' for one [1, 4 + C, N] output with N = the cells; undefined
 * otherwise. The strides are returned for the head arithmetic.
 */
export function decodedLayout(model: ExplainableModel): { format: 'yolov5' | 'yolov8'; strides: readonly number[] } | undefined {
  if (model.outputs.length !== 1 || model.inputs[0]?.shape.length !== 4) return undefined;
  const shape = model.outputs[0].shape;
  if (shape.length !== 3 || shape[0] !== 1) return undefined;
  const [h, w] = inputSize(model);
  const [, a, b] = shape;
  for (const strides of STRIDE_SETS) {
    const cells = cellCount(h, w, strides);
    if (b >= 6 && a === 3 * cells) return { format: 'yolov5', strides };
    if (a >= 5 && b === cells) return { format: 'yolov8', strides };
  }
  return undefined;
}

/** Why the outputs match no known layout, for DetectorFormatError. */
export function describeMismatch(model: ExplainableModel): string {
  const outs = model.outputs.map((o) => `'${o.name}' [${o.shape.join(', ')}]`).join(', ');
  const raw = model.outputs.some((o) => o.shape.length === 4);
  let expected = '';
  try {
    const [h, w] = inputSize(model);
    const cells = cellCount(h, w, [8, 16, 32]);
    expected = ` For a ${h}x${w} input, a YOLOv5/v7 export has one output [1, ${3 * cells}, 5 + C] and a YOLOv8/11 export one output [1, 4 + C, ${cells}].`;
  } catch {
    // no NCHW input: the error says so through inputSize elsewhere
  }
  const hint = raw
    ? ' Raw darknet heads [1, A * (5 + C), H, W] need their anchors: pass a sidecar (`meta`, in the format of yolo_fastest_1.1_coco.json) or a `preset` with anchors.'
    : '';
  return `the model's outputs ${outs} match no known detector layout.${expected}${hint}`;
}

/**
 * Class names from a model's `names` metadata: a Python dict string
 * "{0: 'person', 1: 'bicycle'}" (ultralytics), or a Python / JSON list
 * "['person', 'bicycle']". Undefined when absent or unreadable.
 */
export function parseNames(value: string | undefined): string[] | undefined {
  if (!value) return undefined;
  const text = value.trim();
  // A quoted string in either quote style (Python's repr picks " when the name holds a ').
  const quoted = String.raw`'((?:[^'\\]|\\.)*)'|"((?:[^"\\]|\\.)*)"`;
  const unescape = (m: RegExpExecArray, at: number) => (m[at] ?? m[at + 1]).replace(/\\(.)/g, '$1');
  if (text.startsWith('{')) {
    const names: string[] = [];
    const pair = new RegExp(String.raw`(\d+)\s*:\s*(?:${quoted})`, 'g');
    for (let m = pair.exec(text); m; m = pair.exec(text)) names[Number(m[1])] = unescape(m, 2);
    for (let i = 0; i < names.length; i++) if (!(i in names)) return undefined; // keys must be 0..C-1
    return names.length ? names : undefined;
  }
  if (text.startsWith('[')) {
    const names: string[] = [];
    const item = new RegExp(quoted, 'g');
    for (let m = item.exec(text); m; m = item.exec(text)) names.push(unescape(m, 1));
    return names.length ? names : undefined;
  }
  return undefined;
}

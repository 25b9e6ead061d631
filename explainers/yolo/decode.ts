// Turning YOLO outputs into predictions (before NMS). Boxes come out in the
// model's input pixels; detect.ts maps them to the photo with the
// preprocessing's inverse (boxToPhoto; unletterbox and scaleBoxes are its
// letterbox and plain-resize cases).

import type { Box, Prediction, PredictionSource } from './nms.js';

/** Where the fields of a decoded output lie: rows [1, N, fields] (YOLOv5/v7) or columns [1, fields, N] (YOLOv8/11). */
export interface DecodedLayout {
  /** true: prediction i is row i; false: column i. */
  rows: boolean;
  /** Predictions (N) and fields per prediction (4 box values, objectness when present, C class probabilities). */
  count: number;
  fields: number;
  /** Field 4 is an objectness (YOLOv5/v7); YOLOv8 has none. */
  objectness: boolean;
}

/** Flat index of field k of prediction i. */
export function fieldIndex(layout: DecodedLayout, i: number, k: number): number {
  return layout.rows ? i * layout.fields + k : k * layout.count + i;
}

/**
 * An export with the decode inside the graph: per prediction [cx, cy, w, h,
 * (obj,) p_0 .. p_{C-1}] in input pixels, sigmoids already applied. A
 * prediction is kept when its objectness (if any) and its best class's
 * objectness x probability both exceed `conf` (one per prediction, as
 * YOLOv5's and ultralytics' NMS without multi-label).
 */
export function decodeOutput(values: Float32Array, layout: DecodedLayout, conf: number, source: (i: number) => PredictionSource): Prediction[] {
  const at = (i: number, k: number) => values[fieldIndex(layout, i, k)];
  const first = layout.objectness ? 5 : 4;
  const classes = layout.fields - first;
  const out: Prediction[] = [];
  for (let i = 0; i < layout.count; i++) {
    const obj = layout.objectness ? at(i, 4) : 1;
    if (layout.objectness && obj <= conf) continue;
    let cls = 0;
    for (let c = 1; c < classes; c++) if (at(i, first + c) > at(i, first + cls)) cls = c;
    const score = obj * at(i, first + cls);
    if (score <= conf) continue;
    const [cx, cy, w, h] = [at(i, 0), at(i, 1), at(i, 2), at(i, 3)];
    out.push({ cls, score, box: [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], source: source(i) });
  }
  return out;
}

/** YOLOv5's export: rows of `width` = 5 + C values (decodeOutput on rows with objectness). */
export function decodeYolov5(rows: Float32Array, width: number, conf = 0.25, output = 'output'): Prediction[] {
  const layout = { rows: true, count: Math.floor(rows.length / width), fields: width, objectness: true };
  return decodeOutput(rows, layout, conf, (index) => ({ output, index }));
}

export interface DarknetHead {
  /** The output tensor's name, values and shape [1, A * (5 + C), gh, gw] (raw logits). */
  output: string;
  values: Float32Array;
  shape: readonly number[];
  /** Anchor sizes [w, h] in input pixels, one per anchor slot. */
  anchors: readonly (readonly [number, number])[];
  /** darknet's scale_x_y (default 1). */
  scaleXY?: number;
  /** Class probabilities by softmax over the classes (Tiny-YOLOv2's region layer) instead of independent sigmoids. */
  softmax?: boolean;
  /** The head's index, recorded in each prediction's source. */
  head?: number;
}

const sigmoid = (v: number) => 1 / (1 + Math.exp(-v));

/**
 * A darknet YOLOv3-style head (Yolo-Fastest): for anchor a at cell (gx, gy),
 * channel a * (5 + C) + k holds tx, ty, tw, th, objectness, class logits;
 * x = (gx + sigmoid(tx) * s - (s - 1) / 2) / gw (s = scale_x_y), w = exp(tw) *
 * anchor_w, both then in input pixels; probabilities are independent sigmoids
 * (or a softmax, Tiny-YOLOv2). As darknet, every class with objectness x
 * probability above `conf` is a prediction of its own; heads without class
 * channels (C = 0, face-api's face detector) score by objectness.
 */
export function decodeDarknet(head: DarknetHead, input: readonly [number, number], conf = 0.25): Prediction[] {
  const [, channels, gh, gw] = head.shape;
  const plane = gh * gw;
  const slots = head.anchors.length;
  const per = channels / slots;
  const classes = per - 5;
  const s = head.scaleXY ?? 1;
  const out: Prediction[] = [];
  for (let a = 0; a < slots; a++) {
    for (let cell = 0; cell < plane; cell++) {
      const at = (k: number) => head.values[(a * per + k) * plane + cell];
      const obj = sigmoid(at(4));
      if (obj <= conf) continue;
      const gx = cell % gw;
      const gy = Math.floor(cell / gw);
      const cx = ((gx + sigmoid(at(0)) * s - (s - 1) / 2) / gw) * input[0];
      const cy = ((gy + sigmoid(at(1)) * s - (s - 1) / 2) / gh) * input[1];
      const w = Math.exp(at(2)) * head.anchors[a][0];
      const h = Math.exp(at(3)) * head.anchors[a][1];
      const box: Box = [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2];
      const source: PredictionSource = { output: head.output, index: a * plane + cell, head: head.head, anchor: a, cell: [gx, gy], stride: input[1] / gh };
      if (classes === 0) {
        out.push({ cls: 0, score: obj, box, source });
        continue;
      }
      const logits = Array.from({ length: classes }, (_, c) => at(5 + c));
      let probs = logits.map(sigmoid);
      if (head.softmax) {
        const top = Math.max(...logits);
        const e = logits.map((l) => Math.exp(l - top));
        const total = e.reduce((x, y) => x + y, 0);
        probs = e.map((x) => x / total);
      }
      probs.forEach((p, c) => {
        if (obj * p > conf) out.push({ cls: c, score: obj * p, box, source });
      });
    }
  }
  return out;
}

/** Boxes from a letterboxed input back to the photo (undo the padding, then the scale), clipped to it. */
export function unletterbox(d: Prediction, lb: { scale: number; padX: number; padY: number }, size: readonly [number, number]): Prediction {
  const [x1, y1, x2, y2] = d.box;
  const fx = (x: number) => Math.min(Math.max((x - lb.padX) / lb.scale, 0), size[0]);
  const fy = (y: number) => Math.min(Math.max((y - lb.padY) / lb.scale, 0), size[1]);
  return { ...d, box: [fx(x1), fy(y1), fx(x2), fy(y2)] };
}

/** Boxes from a plainly resized input back to the photo (per-axis scale), clipped to it. */
export function scaleBoxes(d: Prediction, input: readonly [number, number], size: readonly [number, number]): Prediction {
  const [x1, y1, x2, y2] = d.box;
  const fx = (x: number) => Math.min(Math.max((x * size[0]) / input[0], 0), size[0]);
  const fy = (y: number) => Math.min(Math.max((y * size[1]) / input[1], 0), size[1]);
  return { ...d, box: [fx(x1), fy(y1), fx(x2), fy(y2)] };
}

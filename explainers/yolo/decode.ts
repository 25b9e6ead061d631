// Turning YOLO outputs into detections (before NMS), for the two layouts the
// bundled models use. Boxes come out in the model's input pixels; map them to
// the photo with the preprocessing's inverse (unletterbox / scaleBoxes).

import type { Detection } from './nms.js';

/**
 * YOLOv5's export with the decode inside the graph: rows of
 * [cx, cy, w, h, objectness, p_0 .. p_{C-1}] in input pixels, sigmoids already
 * applied. A row is kept when objectness and its best class's
 * objectness x probability both exceed `conf` (one detection per row).
 */
export function decodeYolov5(rows: Float32Array, width: number, conf = 0.25, output = 'output'): Detection[] {
  const out: Detection[] = [];
  for (let r = 0; r * width < rows.length; r++) {
    const o = r * width;
    const obj = rows[o + 4];
    if (obj <= conf) continue;
    let cls = 0;
    for (let c = 1; c < width - 5; c++) if (rows[o + 5 + c] > rows[o + 5 + cls]) cls = c;
    const score = obj * rows[o + 5 + cls];
    if (score <= conf) continue;
    const [cx, cy, w, h] = [rows[o], rows[o + 1], rows[o + 2], rows[o + 3]];
    out.push({ cls, score, box: [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], source: { output, index: r } });
  }
  return out;
}

export interface DarknetHead {
  /** The output tensor's name, values and shape [1, A * (5 + C), gh, gw] (raw logits). */
  output: string;
  values: Float32Array;
  shape: readonly number[];
  /** Anchor sizes [w, h] in input pixels, one per anchor slot. */
  anchors: readonly (readonly [number, number])[];
}

/**
 * A darknet YOLOv3-style head (Yolo-Fastest): for anchor a at cell (gx, gy),
 * channel a * (5 + C) + k holds tx, ty, tw, th, objectness, class logits;
 * x = (gx + sigmoid(tx)) / gw, w = exp(tw) * anchor_w / input_w (relative to
 * the input), probabilities are independent sigmoids. As darknet, every class
 * with objectness x probability above `conf` is a detection of its own.
 */
export function decodeDarknet(head: DarknetHead, input: readonly [number, number], conf = 0.25): Detection[] {
  const [, channels, gh, gw] = head.shape;
  const slots = head.anchors.length;
  const per = channels / slots;
  const classes = per - 5;
  const sig = (v: number) => 1 / (1 + Math.exp(-v));
  const at = (a: number, k: number, cell: number) => head.values[(a * per + k) * gh * gw + cell];
  const out: Detection[] = [];
  for (let a = 0; a < slots; a++) {
    for (let cell = 0; cell < gh * gw; cell++) {
      const obj = sig(at(a, 4, cell));
      if (obj <= conf) continue;
      const gx = cell % gw;
      const gy = Math.floor(cell / gw);
      const cx = ((gx + sig(at(a, 0, cell))) / gw) * input[0];
      const cy = ((gy + sig(at(a, 1, cell))) / gh) * input[1];
      const w = Math.exp(at(a, 2, cell)) * head.anchors[a][0];
      const h = Math.exp(at(a, 3, cell)) * head.anchors[a][1];
      const box: Detection['box'] = [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2];
      const source = { output: head.output, index: a * gh * gw + cell };
      // A single-class head without class channels (face-api's tiny face detector): the score is the objectness.
      if (classes === 0) out.push({ cls: 0, score: obj, box, source });
      for (let c = 0; c < classes; c++) {
        const score = obj * sig(at(a, 5 + c, cell));
        if (score > conf) out.push({ cls: c, score, box, source });
      }
    }
  }
  return out;
}

/** Boxes from a letterboxed input back to the photo (undo the padding, then the scale), clipped to it. */
export function unletterbox(d: Detection, lb: { scale: number; padX: number; padY: number }, size: readonly [number, number]): Detection {
  const [x1, y1, x2, y2] = d.box;
  const fx = (x: number) => Math.min(Math.max((x - lb.padX) / lb.scale, 0), size[0]);
  const fy = (y: number) => Math.min(Math.max((y - lb.padY) / lb.scale, 0), size[1]);
  return { ...d, box: [fx(x1), fy(y1), fx(x2), fy(y2)] };
}

/** Boxes from a plainly resized input back to the photo (per-axis scale), clipped to it. */
export function scaleBoxes(d: Detection, input: readonly [number, number], size: readonly [number, number]): Detection {
  const [x1, y1, x2, y2] = d.box;
  const fx = (x: number) => Math.min(Math.max((x * size[0]) / input[0], 0), size[0]);
  const fy = (y: number) => Math.min(Math.max((y * size[1]) / input[1], 0), size[1]);
  return { ...d, box: [fx(x1), fy(y1), fx(x2), fy(y2)] };
}

// Detections and greedy non-maximum suppression, class by class (as YOLOv5's
// non_max_suppression and darknet's do_nms_sort): within each class, keep the
// highest-scoring box and drop the others that overlap it by more than `iou`.

export interface Detection {
  /** Class index. */
  cls: number;
  /** Objectness x class probability. */
  score: number;
  /** [x1, y1, x2, y2] in pixels of the image the caller maps to. */
  box: [number, number, number, number];
  /** Where it came from (output name and flat anchor-cell index), for targets that explain one detection. */
  source?: { output: string; index: number };
}

/** Intersection over union of two [x1, y1, x2, y2] boxes. */
export function iou(a: readonly number[], b: readonly number[]): number {
  const w = Math.min(a[2], b[2]) - Math.max(a[0], b[0]);
  const h = Math.min(a[3], b[3]) - Math.max(a[1], b[1]);
  if (w <= 0 || h <= 0) return 0;
  const inter = w * h;
  const area = (r: readonly number[]) => (r[2] - r[0]) * (r[3] - r[1]);
  return inter / (area(a) + area(b) - inter);
}

/** Class-wise greedy NMS; returns the kept detections, highest score first. */
export function nms(detections: readonly Detection[], iouThreshold = 0.45): Detection[] {
  const sorted = [...detections].sort((a, b) => b.score - a.score);
  const kept: Detection[] = [];
  for (const d of sorted) {
    if (!kept.some((k) => k.cls === d.cls && iou(k.box, d.box) > iouThreshold)) kept.push(d);
  }
  return kept;
}

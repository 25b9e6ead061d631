// Predictions and greedy non-maximum suppression, class by class (as YOLOv5's
// non_max_suppression and darknet's do_nms_sort): within each class, keep the
// highest-scoring box and drop the others that overlap it by more than `iou`.

/** A box [x1, y1, x2, y2] in pixels. */
export type Box = [number, number, number, number];

/** Where a prediction comes from in the model's outputs. */
export interface PredictionSource {
  /** The graph output holding it. */
  output: string;
  /** Its flat prediction index there: the row (YOLOv5), the column (YOLOv8), a * gh * gw + cell (darknet). */
  index: number;
  /** The head (detection scale) that made it, in the format's head order. */
  head?: number;
  /** The anchor slot within the head (anchor-based formats). */
  anchor?: number;
  /** The grid cell [gx, gy] within the head. */
  cell?: readonly [number, number];
  /** The head's stride in input pixels. */
  stride?: number;
}

/** One decoded prediction (before NMS): a class, its score, a box in the model input's pixels. */
export interface Prediction {
  /** Class index. */
  cls: number;
  /** Objectness x class probability (class probability alone for anchor-free heads). */
  score: number;
  /** [x1, y1, x2, y2] in pixels of the image the caller maps to. */
  box: Box;
  /** Where it came from, for targets that explain one detection. */
  source?: PredictionSource;
}

/** The earlier name of Prediction. */
export type Detection = Prediction;

/** Intersection over union of two [x1, y1, x2, y2] boxes. */
export function iou(a: readonly number[], b: readonly number[]): number {
  const w = Math.min(a[2], b[2]) - Math.max(a[0], b[0]);
  const h = Math.min(a[3], b[3]) - Math.max(a[1], b[1]);
  if (w <= 0 || h <= 0) return 0;
  const inter = w * h;
  const area = (r: readonly number[]) => (r[2] - r[0]) * (r[3] - r[1]);
  return inter / (area(a) + area(b) - inter);
}

/** Class-wise greedy NMS; returns the kept predictions, highest score first. */
export function nms<P extends Prediction>(predictions: readonly P[], iouThreshold = 0.45): P[] {
  const sorted = [...predictions].sort((a, b) => b.score - a.score);
  const kept: P[] = [];
  for (const d of sorted) {
    if (!kept.some((k) => k.cls === d.cls && iou(k.box, d.box) > iouThreshold)) kept.push(d);
  }
  return kept;
}

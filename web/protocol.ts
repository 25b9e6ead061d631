// The messages between the page (main.ts, through client.ts) and the engine's
// Web Worker (worker.ts). Every request carries an id; the worker answers it
// with progress messages (long methods), then exactly one `done` or `error`.
// `cancel` names the id to stop: a queued request never starts, a running one
// stops at the library's next checkpoint (its AbortSignal).

/** A file's name and bytes (moved, not copied, to the worker). */
export interface FileBytes {
  name: string;
  bytes: ArrayBuffer;
}

/** What to explain: the top detection / class, a detection by index, a class by id, every detection. */
export type Pick = { kind: 'default' } | { kind: 'detection'; index: number } | { kind: 'class'; index: number } | { kind: 'all' };

export type Request =
  | { type: 'init' }
  /** Replaces the model, the photo, the sidecar or the preset (null: picked by the model's file name), then detects or classifies. */
  | { type: 'open'; model?: FileBytes; image?: FileBytes; sidecar?: FileBytes | null; preset?: string | null; precision?: 'f32' | 'f16' }
  /** `inside`: also record the tape (ops, shapes, saved tensors) and the GPU time per kernel. */
  | { type: 'explain'; method: string; layers?: string[]; pick: Pick; inside?: boolean }
  /** Feature views at a layer: the most active channels' maps, the conv filters, activation maximization of a channel. */
  | { type: 'features'; view: 'maps' | 'filters' | 'actmax'; layer: string; channel?: number; steps?: number; colormap?: 'jet' | 'viridis' }
  /** The layer scrubber: one forward and backward pass keeping every spatial layer's activations and gradients. */
  | { type: 'scrubPass'; pick: Pick }
  /** A method's map at a kept layer (no model run). */
  | { type: 'scrubMap'; layer: string; method: string }
  /**
   * Live mode: one video frame (moved, not copied) detected and explained: the
   * detection overlapping `track` most (IoU, same class), else the top one;
   * classifiers: the top class.
   */
  | { type: 'frame'; bitmap: ImageBitmap; method: string; layers?: string[]; track?: { box: number[]; classId: number } }
  /** Kept layers [from, from + count)'s raw maps for a method (no model run): the filmstrip, a chunk at a time. */
  | { type: 'filmstrip'; method: string; from: number; count: number };

export type RequestType = Request['type'];

export interface ToWorker {
  id: number;
  request?: Request;
  /** Stop request `cancel` (queued or running). */
  cancel?: number;
}

export type FromWorker =
  | { id: number; kind: 'progress'; done: number; total: number; label: string }
  | { id: number; kind: 'done'; value: unknown }
  | { id: number; kind: 'error'; error: ErrorInfo };

/** What went wrong, sorted so the page can say what to do about it. */
export type ErrorCategory = 'webgpu' | 'unsupported-op' | 'not-onnx' | 'not-image' | 'cancelled' | 'other';

export interface ErrorInfo {
  category: ErrorCategory;
  /** The error class (UnsupportedOnnxOp, OnnxDecodeError, ...). */
  name: string;
  message: string;
  /** unsupported-op: the op type and the node. */
  op?: string;
  node?: string;
}

export interface AdapterSummary {
  description: string;
  software: boolean;
  features: string[];
}

export interface LayerSummary {
  name: string;
  op: string;
  shape: number[];
}

/** A detection as `gradlens detect --json` prints it (cli/detector.ts detectionJson), plus the layer it is explained at by default. */
export interface DetectionSummary {
  index: number;
  classId: number;
  className: string;
  score: number;
  box: number[];
  inputBox: number[];
  head: number;
  anchor: number | null;
  cell: number[];
  output: string;
  /** The layer feeding its head (the default explained layer). */
  layer: string | null;
}

export interface ClassSummary {
  index: number;
  name: string;
  /** Probability (the output's softmax, or the output itself when it already sums to 1). */
  prob: number;
}

export interface ModelSummary {
  name: string;
  inputs: { name: string; shape: number[] }[];
  outputs: { name: string; shape: number[] }[];
  /** Every tensor a CAM can target: rank 4, more than 1x1 (model.layers() order). */
  layers: LayerSummary[];
  preset: string;
  presetAuto: boolean;
  kind: 'detector' | 'classifier' | 'generic';
  /** One line: the detector head or the classifier output. */
  describe: string;
  /** The layer explained when none is picked (classifier, generic); detectors: per detection. */
  defaultLayer: string | null;
  /** Whether the input is channels-last (input-space methods then refused, as in the CLI). */
  nhwc: boolean;
  /** Storage of the model's tensors: 'f16' where the adapter has shader-f16 and it was asked for (LoadOptions.precision). */
  precision: 'f32' | 'f16';
}

export interface Analysis {
  model: ModelSummary;
  image: { name: string; width: number; height: number; data: Uint8ClampedArray };
  /** The model input's [H, W]. */
  inputSize: [number, number];
  detections?: DetectionSummary[];
  classes?: ClassSummary[];
  /** The detection thresholds used. */
  conf: number;
  iou: number;
  ms: number;
}

export interface Explanation {
  method: string;
  title: string;
  pick: Pick;
  layers: string[];
  /** What was explained ("class 2 logit ..."). */
  target: string;
  score: number;
  /** The final map at the model input's H x W, in [0, 1] (the CLI's --map); for `all`, the composite. */
  map: Float32Array;
  height: number;
  width: number;
  /** The first layer's map after ReLU, before upsampling and scaling (the CLI's --raw). */
  raw: { layer: string; shape: [number, number]; data: Float32Array };
  /** The map resampled onto the photo (photo width x height). */
  photoMap: Float32Array;
  /** The detections explained (one, or all of them). */
  detections: DetectionSummary[];
  /** Classifiers: the class explained. */
  classIndex?: number;
  warnings: string[];
  ms: number;
  /** The worker's count of forward passes so far (every model.run). */
  passes: number;
  /** Rendered by the layer scrubber from kept activations and gradients. */
  scrubbed?: boolean;
  /** With `inside`: the tape and the kernel times of this explanation. */
  inside?: Inside;
}

export interface TapeEntry {
  op: string;
  inputs: number[][];
  outputs: number[][];
  /** Shapes of the tensors saved for backward, and their bytes. */
  saved: number[][];
  savedBytes: number;
}

export interface Inside {
  /** The ops recorded on the autodiff tape, in order (the first 3000). */
  nodes: TapeEntry[];
  nodeCount: number;
  savedBytes: number;
  /** Per kernel: dispatches and milliseconds, slowest first. */
  kernels: { kernel: string; calls: number; ms: number }[];
  /** 'gpu': timestamp queries; 'wall': the adapter has none, only the total wall time is known. */
  timing: 'gpu' | 'wall';
  gpuMs: number;
  wallMs: number;
}

export interface FeatureView {
  view: 'maps' | 'filters' | 'actmax';
  layer: string;
  image: { width: number; height: number; data: Uint8ClampedArray };
  /** One line: what the tiles are. */
  caption: string;
  /** actmax: the objective before each step. */
  history?: number[];
  ms: number;
}

export interface ScrubSummary {
  pick: Pick;
  /** The layers kept (graph order): the scrubber's stops. */
  layers: { name: string; shape: number[] }[];
  /** Layers dropped to stay within the memory budget (the largest first). */
  dropped: string[];
  /** Spatial layers the score does not depend on (no gradient): not offered. */
  unreached: number;
  /** Bytes of activations and gradients kept, and the budget. */
  bytes: number;
  budget: number;
  /** The layer the explanation uses by default (where the slider starts). */
  defaultLayer: string | null;
  target: string;
  score: number;
  /** Forward passes this took (1). */
  passes: number;
  /** The worker's count of forward passes so far. */
  totalPasses: number;
  ms: number;
}

export interface FilmFrame {
  layer: string;
  shape: [number, number];
  /** The raw map (after ReLU, before upsampling and scaling). */
  data: Float32Array;
}

export interface LiveFrame {
  analysis: Analysis;
  /** Null when there is nothing to explain (no detection in this frame). */
  explanation: Explanation | null;
  ms: number;
}

export interface PresetSummary {
  name: string;
  description: string;
}

export interface InitResult {
  adapter: AdapterSummary;
  methods: { name: string; title: string; inputSpace: boolean; classTargetsOnly: boolean; batched: boolean; scrub: boolean }[];
  presets: PresetSummary[];
}

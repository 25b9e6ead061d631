// A DetectorHead per YOLO layout (format.ts): how to decode the raw outputs
// into predictions, the differentiable score of one prediction, and the layer
// feeding the head that made it. detect.ts and explain.ts are built on this;
// `detectorHead()` picks the head for a model (sidecar, preset, or the shape
// of its outputs).
//
// Scores (`ScoreKind`), for prediction p of class c:
//   logit  the pre-sigmoid class logit of p. Where the graph decodes inside
//          (YOLOv5, YOLOv8) it is read at the input of the decode's Sigmoid
//          (trace.ts), so the gradient never crosses a saturated sigmoid;
//          for raw heads it is the output itself. Heads without class
//          channels (the face detector) use the objectness logit.
//   prob   what the detection's score is: objectness x class probability
//          (the class probability alone for YOLOv8).
//   obj    the objectness probability (no objectness in YOLOv8: an error).
//   box    pytorch-grad-cam's FasterRCNNBoxScoreTarget idea, simplified: the
//          sum of the `prob` scores for class c of every prediction whose box
//          matches the detection's (the `matches` detect() records: same
//          class, above the confidence threshold, IoU > 0.5), i.e. of the
//          predictions NMS merged into this box. (pytorch-grad-cam adds the
//          IoU of the best match too; the sum over the matched predictions
//          keeps the score a plain sum of output elements.)
// Default: `logit` wherever the graph shows it (it is the recommended score:
// no sigmoid saturation, one class, one prediction), else `prob`.

import { add as addTensors, gather, mul, reshape, sigmoid, softmax, sum, type Tensor } from '../../engine/index.js';
import type { ExplainableModel } from '../../engine/index.js';
import { TargetError } from '../errors.js';
import { presets, type Preset } from '../presets.js';
import type { Target, TargetValues } from '../targets.js';
import {
  decodedLayout,
  describeMismatch,
  DetectorFormatError,
  inputSize,
  parseNames,
  presetHeads,
  sidecarHeads,
  type Anchor,
  type DarknetSidecar,
  type DetectorFormat,
  type RawHeadSpec,
} from './format.js';
import { decodeDarknet, decodeOutput, fieldIndex, type DecodedLayout } from './decode.js';
import type { Prediction, PredictionSource } from './nms.js';
import { elements, headLayers, valueOf } from './targets.js';
import { branchInput, GraphIndex } from './trace.js';

export type ScoreKind = 'logit' | 'prob' | 'obj' | 'box';
export const SCORE_KINDS: readonly ScoreKind[] = ['logit', 'prob', 'obj', 'box'];

/** Output values read back from the GPU, by output name. */
export type HostOutputs = Readonly<Record<string, { values: Float32Array; shape: readonly number[] }>>;

/** One detection scale of a head: where its predictions lie and what they see. */
export interface HeadScale {
  /** The graph output holding its predictions. */
  output: string;
  /** First prediction index and count in that output (rows, columns, or a * gh * gw + cell). */
  start: number;
  count: number;
  /** Grid [gh, gw] and stride in input pixels. */
  grid: readonly [number, number];
  stride: number;
  /** Anchor slots (1 for anchor-free heads). */
  anchors: number;
  /** The tensor feeding this head: the layer its detections are explained at (undefined without a graph). */
  layer?: string;
}

export interface DetectorHead {
  readonly format: DetectorFormat;
  /** Class count (0: a single-class head scored by objectness, the face detector). */
  readonly classes: number;
  /** Names per class ([] when unknown; className() then says 'class k'). */
  readonly classNames: readonly string[];
  /** The scales, in the format's order (YOLOv5/v8: strides 8, 16, 32; darknet: the outputs' order). */
  readonly scales: readonly HeadScale[];
  /** The scores this head can build, and its default (see the file's header). */
  readonly scores: readonly ScoreKind[];
  readonly defaultScore: ScoreKind;
  /** Raw outputs -> predictions above `conf` (boxes in the model input's pixels), each with its source. */
  decode(outputs: HostOutputs, conf: number): Prediction[];
  /** The differentiable score of prediction `p` (class p.cls); `matches` for the `box` score (default: p alone). */
  target(p: Prediction, score: ScoreKind, matches?: readonly PredictionSource[]): Target;
  /** The layer feeding the head that made `p` (undefined when the model exposes no graph). */
  layer(p: Prediction): string | undefined;
  /** One line: format, scales, classes. */
  describe(): string;
}

/** The name of class k, or 'class k'. */
export function className(head: DetectorHead, k: number): string {
  return head.classNames[k] ?? (head.classes === 0 && head.classNames.length ? head.classNames[0] : `class ${k}`);
}

/** A detection's class must be one of the head's (class 0 for a head with objectness only): another would read some other field. */
function checkClass(c: number, classes: number): void {
  const n = Math.max(classes, 1);
  if (!Number.isInteger(c) || c < 0 || c >= n) throw new TargetError(`detection target: class ${c} is out of range for this head's ${n} class${n === 1 ? '' : 'es'} (0..${n - 1})`);
}

function scaleOf(scales: readonly HeadScale[], output: string, index: number): number {
  const h = scales.findIndex((s) => s.output === output && index >= s.start && index < s.start + s.count);
  if (h < 0) throw new TargetError(`prediction ${index} of '${output}' lies in no head of this detector`);
  return h;
}

/** A detection target scoring [N] per batch item. */
function target(label: string, tensors: readonly string[], score: (values: TargetValues) => Tensor): Target {
  return { label, tensors, score };
}

function checkScore(head: { scores: readonly ScoreKind[]; format: string }, score: ScoreKind, why: string): void {
  if (!head.scores.includes(score)) throw new TargetError(`score '${score}' is not available for ${head.format} detections${why ? ` (${why})` : ''}; scores: ${head.scores.join(', ')}`);
}

function sourceText(s: PredictionSource): string {
  const anchor = s.anchor === undefined ? '' : ` anchor ${s.anchor}`;
  return `head ${s.head}${anchor} cell ${s.cell?.[0]},${s.cell?.[1]} of '${s.output}'`;
}

// ---- decoded layouts: YOLOv5/v7 rows, YOLOv8/11 columns ----------------------------------------

interface DecodedSpec {
  format: 'yolov5' | 'yolov8';
  strides: readonly number[];
  names: readonly string[];
}

/**
 * A head over one decoded output. Rows (v5) hold [cx, cy, w, h, obj, p...];
 * columns (v8) hold [cx, cy, w, h, p...]. `at(i, k)` is the flat index of
 * field k of prediction i; the class fields start at `first`. The layer of a
 * YOLOv5 head is its 1x1 convolution's input; YOLOv8's class branch has
 * three convolutions, and its layer is the neck tensor that branch and the
 * box branch both read (trace.ts branchInput).
 */
function decodedHead(model: ExplainableModel, graph: GraphIndex, spec: DecodedSpec): DetectorHead {
  const out = model.outputs[0];
  const v5 = spec.format === 'yolov5';
  const [, d1, d2] = out.shape;
  const [count, fields] = v5 ? [d1, d2] : [d2, d1];
  const first = v5 ? 5 : 4;
  const classes = fields - first;
  const layout: DecodedLayout = { rows: v5, count, fields, objectness: v5 };
  const at = (i: number, k: number) => fieldIndex(layout, i, k);
  const [height, width] = inputSize(model);

  // The scales: traced through the graph (the class-0 field of each head's
  // first prediction comes from cell 0,0 of its convolution, channel 5 =
  // anchor 0's first class for YOLOv5, channel 0 of the class branch for
  // YOLOv8), else by the stride arithmetic of the layout.
  const traced = traceScales();
  const scales = traced ?? arithmeticScales();
  const logitOf = (i: number, c: number) => (graph.hasGraph ? graph.trace(out.name, at(i, first + c)).logit : undefined);
  const hasLogit = Boolean(logitOf(0, 0));

  function traceScales(): HeadScale[] | undefined {
    if (!graph.hasGraph) return undefined;
    const found: HeadScale[] = [];
    for (let i = 0; i < count; ) {
      const conv = graph.trace(out.name, at(i, first)).conv;
      if (!conv || conv.y !== 0 || conv.x !== 0) return undefined;
      const [, channels, gh, gw] = conv.shape;
      const anchors = v5 ? channels / fields : 1;
      if (!Number.isInteger(anchors) || conv.channel !== (v5 ? first : 0)) return undefined;
      const layer = v5 ? conv.input : branchInput(graph, conv.input);
      found.push({ output: out.name, start: i, count: anchors * gh * gw, grid: [gh, gw], stride: height / gh, anchors, layer });
      i += anchors * gh * gw;
    }
    return found;
  }

  function arithmeticScales(): HeadScale[] {
    const layers = v5 ? headLayers(model) : [];
    const anchors = v5 ? 3 : 1;
    let start = 0;
    return spec.strides.map((s, h) => {
      const grid = [Math.ceil(height / s), Math.ceil(width / s)] as const;
      const scale = { output: out.name, start, count: anchors * grid[0] * grid[1], grid, stride: s, anchors, layer: layers[h] };
      start += scale.count;
      return scale;
    });
  }

  function source(i: number): PredictionSource {
    const h = scaleOf(scales, out.name, i);
    const s = scales[h];
    const conv = traced ? graph.trace(out.name, at(i, first)).conv : undefined;
    if (conv) return { output: out.name, index: i, head: h, anchor: v5 ? Math.floor(conv.channel / fields) : undefined, cell: [conv.x, conv.y], stride: s.stride };
    const local = i - s.start;
    const plane = s.grid[0] * s.grid[1];
    const cell = local % plane;
    return { output: out.name, index: i, head: h, anchor: v5 ? Math.floor(local / plane) : undefined, cell: [cell % s.grid[1], Math.floor(cell / s.grid[1])], stride: s.stride };
  }

  const scores: ScoreKind[] = [...(hasLogit ? (['logit'] as const) : []), 'prob', ...(v5 ? (['obj'] as const) : []), 'box'];
  const head: DetectorHead = {
    format: spec.format,
    classes,
    classNames: spec.names,
    scales,
    scores,
    defaultScore: hasLogit ? 'logit' : 'prob',
    decode(outputs, conf) {
      const o = outputs[out.name];
      if (!o) throw new DetectorFormatError(`decode: no output '${out.name}'`);
      return decodeOutput(o.values, layout, conf, source);
    },
    target(p, score, matches) {
      if (!p.source) throw new TargetError('detection target: the detection has no source (output and index)');
      const s = p.source;
      const i = s.index;
      const c = p.cls;
      checkClass(c, classes);
      const name = `detection class ${c} (${className(head, c)})`;
      const where = sourceText(s);
      const prob = (values: TargetValues, rows: readonly number[]): Tensor => {
        const o = valueOf(values, out.name, name);
        const cls = elements(o, rows.map((r) => at(r, first + c)));
        return v5 ? mul(elements(o, rows.map((r) => at(r, 4))), cls) : cls; // [N, k]
      };
      switch (score) {
        case 'logit': {
          checkScore(head, score, 'the graph shows no Sigmoid before the class probabilities');
          const logit = logitOf(i, c);
          if (!logit) throw new TargetError(`${name}: no Sigmoid found behind prediction ${i} of '${out.name}'`);
          return target(`${name} logit (${where}; '${logit.tensor}' before the Sigmoid)`, [logit.tensor], (values) =>
            reshape(elements(valueOf(values, logit.tensor, name), [logit.index]), [values[logit.tensor].shape[0]]),
          );
        }
        case 'prob':
          return target(`${name} ${v5 ? 'objectness x probability' : 'probability'} (${where})`, [], (values) => sum(prob(values, [i]), [1]));
        case 'obj':
          checkScore(head, score, 'anchor-free heads have no objectness');
          return target(`${name} objectness (${where})`, [], (values) => sum(elements(valueOf(values, out.name, name), [at(i, 4)]), [1]));
        case 'box': {
          const rows = [...new Set((matches?.length ? matches : [s]).map((m) => m.index))];
          return target(`${name} box score: ${rows.length} matched prediction${rows.length === 1 ? '' : 's'} (${where})`, [], (values) => sum(prob(values, rows), [1]));
        }
        default:
          throw new TargetError(`unknown score '${String(score)}' (scores: ${SCORE_KINDS.join(', ')})`);
      }
    },
    layer(p) {
      return p.source ? scales[scaleOf(scales, out.name, p.source.index)].layer : undefined;
    },
    describe() {
      const names = spec.names.length ? `${classes} classes` : `${classes} unnamed classes`;
      return `${v5 ? 'YOLOv5/v7' : 'YOLOv8/11'} export '${out.name}' [${out.shape.join(', ')}], ${scales.length} heads (strides ${scales.map((s) => s.stride).join(', ')}), ${names}`;
    },
  };
  return head;
}

// ---- raw darknet heads ----------------------------------------------------------------------

interface RawSpec {
  format: 'darknet' | 'tiny-yolov2';
  heads: readonly RawHeadSpec[];
  classes: number;
  names: readonly string[];
}

/**
 * Raw heads [1, A * (5 + C), gh, gw] (decode.ts decodeDarknet): the scores
 * read the raw logits at the prediction's anchor slot and cell, darknet's
 * probabilities as independent sigmoids, Tiny-YOLOv2's as a softmax over the
 * classes; heads without class channels (C = 0) score by objectness.
 */
function rawHead(model: ExplainableModel, spec: RawSpec): DetectorHead {
  const [height, width] = inputSize(model);
  const softmaxClasses = spec.format === 'tiny-yolov2';
  const classes = spec.classes;
  const per = 5 + classes;
  const shapes = new Map(model.outputs.map((o) => [o.name, o.shape]));
  const scales: HeadScale[] = spec.heads.map((h) => {
    const [, , gh, gw] = shapes.get(h.output)!;
    return { output: h.output, start: 0, count: h.anchors.length * gh * gw, grid: [gh, gw], stride: height / gh, anchors: h.anchors.length, layer: headLayers(model, [h.output])[0] };
  });
  const headOf = (output: string) => {
    const h = spec.heads.findIndex((x) => x.output === output);
    if (h < 0) throw new TargetError(`'${output}' is not one of this detector's heads (${spec.heads.map((x) => x.output).join(', ')})`);
    return h;
  };
  // Flat index of field k of prediction `index` (a * gh * gw + cell) in its output.
  const fieldAt = (s: HeadScale, index: number, k: number) => {
    const plane = s.grid[0] * s.grid[1];
    return (Math.floor(index / plane) * per + k) * plane + (index % plane);
  };

  /** Objectness x class probability of class c at the given predictions of one output, [N, k]. */
  function prob(values: TargetValues, s: HeadScale, indices: readonly number[], c: number, label: string): Tensor {
    const o = valueOf(values, s.output, label);
    const obj = sigmoid(elements(o, indices.map((i) => fieldAt(s, i, 4))));
    if (classes === 0) return obj;
    if (!softmaxClasses) return mul(obj, sigmoid(elements(o, indices.map((i) => fieldAt(s, i, 5 + c)))));
    // Softmax over each prediction's C class logits, then column c: [N, k].
    const n = o.shape[0];
    const logits = reshape(elements(o, indices.flatMap((i) => Array.from({ length: classes }, (_, k) => fieldAt(s, i, 5 + k)))), [n, indices.length, classes]);
    const p = reshape(gather(softmax(logits, -1), [c], 2), [n, indices.length]);
    return mul(obj, p);
  }

  const head: DetectorHead = {
    format: spec.format,
    classes,
    classNames: spec.names,
    scales,
    scores: ['logit', 'prob', 'obj', 'box'],
    defaultScore: 'logit',
    decode(outputs, conf) {
      return spec.heads.flatMap((h, hi) => {
        const o = outputs[h.output];
        if (!o) throw new DetectorFormatError(`decode: no output '${h.output}'`);
        return decodeDarknet({ output: h.output, values: o.values, shape: o.shape, anchors: h.anchors, scaleXY: h.scaleXY, softmax: softmaxClasses, head: hi }, [width, height], conf);
      });
    },
    target(p, score, matches) {
      if (!p.source) throw new TargetError('detection target: the detection has no source (output and index)');
      const src = p.source;
      const s = scales[headOf(src.output)];
      const c = p.cls;
      checkClass(c, classes);
      const name = `detection class ${c} (${className(head, c)})`;
      const where = sourceText({ ...src, head: headOf(src.output) });
      const one = (values: TargetValues, k: number) => elements(valueOf(values, s.output, name), [fieldAt(s, src.index, k)]);
      switch (score) {
        case 'logit':
          return target(`${name} ${classes === 0 ? 'objectness logit' : 'logit'} (${where})`, [], (values) => sum(one(values, classes === 0 ? 4 : 5 + c), [1]));
        case 'prob':
          return target(`${name} ${classes === 0 ? 'objectness' : 'objectness x probability'} (${where})`, [], (values) => sum(prob(values, s, [src.index], c, name), [1]));
        case 'obj':
          return target(`${name} objectness (${where})`, [], (values) => sum(sigmoid(one(values, 4)), [1]));
        case 'box': {
          const list = matches?.length ? matches : [src];
          const byOutput = new Map<string, number[]>();
          for (const m of list) byOutput.set(m.output, [...new Set([...(byOutput.get(m.output) ?? []), m.index])]);
          return target(`${name} box score: ${list.length} matched prediction${list.length === 1 ? '' : 's'} (${where})`, [], (values) => {
            const parts = [...byOutput].map(([output, indices]) => sum(prob(values, scales[headOf(output)], indices, c, name), [1]));
            return parts.reduce((x, y) => addTensors(x, y));
          });
        }
        default:
          throw new TargetError(`unknown score '${String(score)}' (scores: ${SCORE_KINDS.join(', ')})`);
      }
    },
    layer(p) {
      return p.source ? scales[headOf(p.source.output)].layer : undefined;
    },
    describe() {
      const kind = softmaxClasses ? 'Tiny-YOLOv2 region head' : 'darknet heads';
      return `${kind} ${scales.map((s) => `'${s.output}' (stride ${s.stride}, ${s.anchors} anchors)`).join(', ')}, ${classes || 'no'} class${classes === 1 ? '' : 'es'}`;
    },
  };
  return head;
}

// ---- choosing the head ----------------------------------------------------------------------

export interface DetectorOptions {
  /** A preset (or its name): its `model` kind names the format, with anchors and class names. */
  preset?: Preset | string;
  /** A parsed darknet sidecar (format.ts DarknetSidecar); it wins over the preset. */
  meta?: DarknetSidecar;
  /** Class names, overriding the sidecar's, the file's metadata and the preset's. */
  classNames?: readonly string[];
}

/** A preset by name (or as given); DetectorFormatError listing the presets for an unknown name. */
export function resolvePreset(preset: Preset | string | undefined): Preset | undefined {
  if (preset === undefined || typeof preset !== 'string') return preset;
  const p = presets[preset];
  if (!p) throw new DetectorFormatError(`unknown preset '${preset}' (presets: ${Object.keys(presets).join(', ')})`);
  return p;
}

/**
 * The head for `model`: a sidecar's darknet (or Tiny-YOLOv2) heads; else the
 * preset's format; else the layout its outputs show (format.ts). A model
 * matching none, or a sidecar / preset that disagrees with the outputs, is a
 * DetectorFormatError naming what is wrong.
 */
export function detectorHead(model: ExplainableModel, options: DetectorOptions = {}): DetectorHead {
  const preset = resolvePreset(options.preset);
  const kind = preset?.model;
  const presetNames = kind && kind.kind !== 'generic' ? kind.classNames : undefined;
  const metadataNames = parseNames(model.metadata?.().names);
  // Names in order of authority; a list whose length disagrees with the class count is skipped.
  const names = (classes: number, ...lists: (readonly string[] | undefined)[]): readonly string[] =>
    [options.classNames, ...lists].find((l) => l && (l.length === classes || (classes === 0 && l.length === 1))) ?? [];

  if (options.meta) {
    const { heads, classes, format } = sidecarHeads(model, options.meta);
    return rawHead(model, { format, heads, classes, names: names(classes, options.meta.names, metadataNames, presetNames) });
  }
  if (kind?.kind === 'darknet') {
    const { heads, classes } = presetHeads(model, kind.anchors);
    return rawHead(model, { format: 'darknet', heads, classes, names: names(classes, metadataNames, presetNames) });
  }
  if (kind?.kind === 'tiny-yolov2') {
    const output = kind.output ?? model.outputs[0]?.name;
    const shape = model.outputs.find((o) => o.name === output)?.shape;
    if (!shape || shape.length !== 4) throw new DetectorFormatError(`preset '${preset!.name}': Tiny-YOLOv2 reads one raw output [1, A * (5 + C), H, W]; the model's outputs are ${model.outputs.map((o) => `'${o.name}' [${o.shape.join(', ')}]`).join(', ')}`);
    const stride = inputSize(model)[0] / shape[2];
    const { heads, classes } = sidecarHeads(model, { format: 'tiny-yolov2', outputs: [{ name: output!, anchors_px: kind.anchors.map(([w, h]) => [w * stride, h * stride] as Anchor) }] });
    return rawHead(model, { format: 'tiny-yolov2', heads, classes, names: names(classes, metadataNames, presetNames) });
  }
  const layout = decodedLayout(model);
  if (kind?.kind === 'yolov5' || kind?.kind === 'yolov8') {
    if (layout?.format !== kind.kind) {
      const want = kind.kind === 'yolov5' ? '[1, N, 5 + C] (N = 3 anchors x grid cells)' : '[1, 4 + C, N] (N = grid cells)';
      throw new DetectorFormatError(`preset '${preset!.name}' expects one ${kind.kind} output ${want}; ${describeMismatch(model)}`);
    }
  }
  if (!layout) throw new DetectorFormatError(describeMismatch(model));
  const fields = layout.format === 'yolov5' ? model.outputs[0].shape[2] : model.outputs[0].shape[1];
  const classes = fields - (layout.format === 'yolov5' ? 5 : 4);
  return decodedHead(model, new GraphIndex(model), { ...layout, names: names(classes, metadataNames, presetNames) });
}

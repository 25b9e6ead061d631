// The gradient of a detection's score at the layer feeding its head, for
// every detector format: the GPU (explainDetections, float32, the imported
// graph fused, the engine's tape) against the same prepared graph run in
// float64 on the importer's reference backend (engine/reference ops,
// differentiated by engine/reference/tape.ts, a separate minimal tape), and
// both against a float64 central difference along a random direction v:
//   d/dh score(A + h v) at h = 0  =  <grad_A score, v>.
//
//   darknet      Yolo-Fastest 1.1 (committed), dog.jpg: one detection per head (strides 32 and 16)
//   tiny-yolov2  the tiny face detector (committed), astronaut.png: the face (objectness, no classes)
//   yolov5       YOLOv5n 320 (../shared/models, AGPL: skipped when absent), person.jpg: heads 16 and 32
//   yolov8       the seeded YOLOv8n-layout export (test/fixtures/yolov8) on its input.npy: heads 16 and 32
//
// What runs in float64. What is checked is the gradient from the layer on,
// so the reference starts at the layer: one more GPU forward on the same
// input (model.run keeping the layer; none of the tensors kept here lies
// inside a fused conv chain, so it runs the same fused plan as
// explainDetections' forward) gives the layer's float32 activation A, cast
// to float64, and the float64 forward runs only the part of the unfused
// graph between A and the head's convolution (`downstream`), with A watched
// on the reference tape; the finite differences rerun that part around A.
// Anything else such a part reads comes from the same GPU run. Both sides
// thus start from the same activation: the float32 drift of the 20 to 60
// layers above it (up to 1.5e-5 relative in the logits, see below) is no
// longer in the comparison, which checks the head's forward, the engine's
// backward and the tape's walk from the score to A, if anything more
// tightly than a float64 run of the whole network did.
//
// Scores: every kind the head offers but `box` (a sum of `prob`s): `logit`
// (read before the decode's Sigmoid for v5/v8), `prob`, `obj`. The reference
// computes each score in float64 from output elements found by its own
// decode arithmetic (flat indices from the layouts). The library's trace
// (trace.ts) locates two other readings, both checked against that one on the
// base run: the pre-sigmoid tensor of v5/v8 (sigmoid(logit) = the output
// element, to 1e-12), and the head's convolution output (atHeadConv: the
// decode after it is index-only ops and one Sigmoid, applied analytically;
// equal to 1e-12). For those readings the decode (the part from every head's
// convolution to the logits and the outputs) runs in float64 too, fed with
// the float64 convolution outputs above and, for heads no checked detection
// comes from (and tensors such as YOLOv8's box branch), the GPU's float32
// values: every reading is then taken from the same float64 numbers, so
// 1e-12 stays the bound. The score compared with the GPU's is the decode's
// output reading. The reference backward and the finite differences start at
// the head's convolution, so the float64 runs walk only the detection's head.
//
// Tolerances. float64 reference vs float64 finite difference: 1e-6 relative
// (h = 1e-6 x max |A|; the path from the layer to the score has no kink:
// a 1x1 convolution for darknet, Tiny-YOLOv2 and YOLOv5, SiLU blocks for
// YOLOv8, then sigmoids, so the central difference is exact to O(h^2)).
// float32 GPU vs float64: both start from the same activation, so they
// differ only by the head's own float32 arithmetic. The gradient at the
// layer is, for the raw-logit scores of 1x1 heads, the head's weights (exact
// in float32), and otherwise a product of those weights with sigmoid / SiLU
// derivatives evaluated at the head's float32 forward values, which come out
// of one 1x1 convolution (YOLOv8's class branch: two 3x3 and a 1x1) of a few
// hundred to a thousand terms, fused, in another summation order: sqrt(K) x
// depth x 6e-8 gives ~1e-5 relative at most (seen: 3e-6 in the scores). The
// bounds are test/onnx/gradient.test.ts's 1e-3, set when the reference ran
// the whole network in float64 (30 to 60 float32 convolutions upstream:
// ~1e-4 relative in the logits, seen 1.5e-5) and kept, now with a wider
// margin: scores within 1e-3 x max(1, |s|); the gradient within 1e-3 of its
// largest element, element by element (seen: 2.2e-6 at most); the
// directional derivative within 1e-3 relative of the finite difference
// (seen: 1.4e-5; a random direction's sum cancels, |<g, v>| can be 100x
// below |g| |v|, hence no tighter). No
// ReLU/LeakyReLU lies between the layer and the score, so no activation input
// rounding across zero can flip an inner gradient here.

import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, test } from 'vitest';
import { detect, detectInput, detectorHead, explainDetections, type DarknetSidecar, type Detection, type DetectorHead, type ModelInput, type ScoreKind } from '../../explainers/index.js';
import { GraphIndex } from '../../explainers/yolo/trace.js';
import { scopeAsync, tensor } from '../../engine/index.js';
import { refTensor, type RefTensor } from '../../engine/reference/index.js';
import { ReferenceTape } from '../../engine/reference/tape.js';
import { decodeModel, executePlan, OnnxGraphModel, planGraph, type Plan } from '../../importers/onnx/index.js';
import { toFloat32, toNumbers, type HostTensor } from '../../importers/onnx/host-tensor.js';
import { readNpy } from '../../importers/onnx/npy.js';
import { referenceBackend } from '../../importers/onnx/reference-backend.js';
import { readModel, SHARED_MODELS } from '../fixtures/onnx/models.js';
import { readPhoto } from '../fixtures/onnx/photos.js';
import { seeded } from '../fixtures/onnx/synthetic.js';

const sig = (z: number) => 1 / (1 + Math.exp(-z));
const rel = (a: number, b: number) => Math.abs(a - b) / Math.max(Math.abs(b), 1e-300);
const dot = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
};

/** A score as the reference computes it: a function of elements of one tensor, with its gradient. */
interface RefScore {
  tensor: string;
  indices: number[];
  f: (v: number[]) => number;
  df: (v: number[]) => number[];
}

/** The reference's own reading of detection d's score `kind` (see the file's header). */
function referenceScore(model: OnnxGraphModel, head: DetectorHead, d: Detection, kind: ScoreKind): RefScore {
  const c = d.classId;
  const i = d.source.index;
  const out = d.source.output;
  const one = (tensor: string, index: number, f: (z: number) => number, df: (z: number) => number): RefScore => ({ tensor, indices: [index], f: (v) => f(v[0]), df: (v) => [df(v[0])] });
  const ident = (z: number) => z;
  const unit = () => 1;
  const dsig = (z: number) => sig(z) * (1 - sig(z));
  if (head.format === 'darknet' || head.format === 'tiny-yolov2') {
    // Raw heads [1, A * (5 + C), gh, gw]: prediction i = anchor * gh * gw + cell.
    const s = head.scales[d.head];
    const plane = s.grid[0] * s.grid[1];
    const field = (k: number) => (Math.floor(i / plane) * (5 + head.classes) + k) * plane + (i % plane);
    const objOnly = head.classes === 0;
    switch (kind) {
      case 'logit':
        return one(out, field(objOnly ? 4 : 5 + c), ident, unit);
      case 'obj':
        return one(out, field(4), sig, dsig);
      case 'prob':
        if (objOnly) return one(out, field(4), sig, dsig);
        if (head.format !== 'darknet') throw new Error('softmax class probabilities: not in this test');
        return { tensor: out, indices: [field(4), field(5 + c)], f: ([o, p]) => sig(o) * sig(p), df: ([o, p]) => [dsig(o) * sig(p), sig(o) * dsig(p)] };
    }
  } else {
    // Decoded: v5 rows [N, 5 + C] (objectness at 4), v8 columns [4 + C, N].
    const v5 = head.format === 'yolov5';
    const [, , d2] = model.outputs[0].shape;
    const at = (k: number) => (v5 ? i * d2 + k : k * d2 + i);
    const cls = at((v5 ? 5 : 4) + c);
    switch (kind) {
      case 'logit': {
        const logit = new GraphIndex(model).trace(out, cls).logit!;
        return one(logit.tensor, logit.index, ident, unit);
      }
      case 'obj':
        return one(out, at(4), ident, unit);
      case 'prob':
        if (!v5) return one(out, cls, ident, unit);
        return { tensor: out, indices: [at(4), cls], f: ([o, p]) => o * p, df: ([o, p]) => [p, o] };
    }
  }
  throw new Error(`score ${kind}: not in this test`);
}

/**
 * The same score read at the head's convolution output (what the decode's
 * index-only ops and Sigmoid start from): each element traced back to its
 * convolution element (trace.ts); where the walk crossed a Sigmoid, the
 * sigmoid is applied here, analytically. The base run checks that both
 * readings agree in float64; the backward and the finite differences then
 * start at this convolution, so they walk only the detection's own head
 * (the decode's concatenations would otherwise send zero gradients through
 * every head).
 */
function atHeadConv(graph: GraphIndex, s: RefScore): RefScore {
  const traced = s.indices.map((k) => graph.trace(s.tensor, k));
  const conv = traced[0].conv!;
  for (const t of traced) expect(t.conv?.output, `'${s.tensor}' traced to one convolution`).toBe(conv.output);
  const [, channels, gh, gw] = conv.shape;
  const indices = traced.map((t) => ((t.conv!.channel * gh + t.conv!.y) * gw + t.conv!.x));
  expect(Math.max(...traced.map((t) => t.conv!.channel))).toBeLessThan(channels);
  const crossed = traced.map((t) => t.logit !== undefined);
  const decoded = (u: number[]) => u.map((z, n) => (crossed[n] ? sig(z) : z));
  return {
    tensor: conv.output,
    indices,
    f: (u) => s.f(decoded(u)),
    df: (u) => s.df(decoded(u)).map((g, n) => (crossed[n] ? g * sig(u[n]) * (1 - sig(u[n])) : g)),
  };
}

function constantOf() {
  const constants = new Map<HostTensor, RefTensor>();
  return (v: HostTensor) => {
    if (!constants.has(v)) constants.set(v, refTensor(v.shape, toNumbers(v)));
    return constants.get(v)!;
  };
}

/**
 * The part of the plan between the tensors `from` and the tensors `to`: the
 * steps that read `from` (or what they compute) and lead to `to`, as a plan
 * whose inputs are `from` and the computed tensors those steps read from
 * elsewhere (`external`, taken from the GPU run). The float64 reference runs
 * only such parts: the whole float64 graph costs tens of seconds on a CPU.
 */
function downstream(plan: Plan, from: readonly string[], to: readonly string[]): { plan: Plan; external: string[]; reached: string[] } {
  const dirty = new Set(from);
  const touched = plan.steps.filter((step) => {
    if (!step.reads.some((r) => dirty.has(r))) return false;
    step.writes.forEach((w) => dirty.add(w));
    return true;
  });
  const needed = new Set(to);
  const steps = touched.reverse().filter((step) => {
    if (!step.writes.some((w) => needed.has(w))) return false;
    step.reads.forEach((r) => needed.add(r));
    return true;
  }).reverse();
  const written = new Set(steps.flatMap((step) => step.writes));
  const external = [...new Set(steps.flatMap((step) => step.reads))].filter((r) => !from.includes(r) && !written.has(r));
  const lastUse = new Map<string, number>();
  steps.forEach((step, i) => step.reads.forEach((r) => lastUse.set(r, i)));
  const shapeOf = (name: string) => plan.graph.tensors.get(name)!.shape;
  const inputs = [...from, ...external].map((name) => ({ ...plan.graph.inputs[0], name, shape: shapeOf(name) }));
  return { plan: { graph: { ...plan.graph, inputs }, steps, lastUse }, external, reached: to.filter((t) => written.has(t)) };
}

/** One GPU forward (float32) keeping the tensors `keep`, read back as float64 reference tensors. */
async function gpuTensors(model: OnnxGraphModel, x: Float32Array, keep: readonly string[]): Promise<Map<string, RefTensor>> {
  const input = model.inputs[0];
  return scopeAsync(async () => {
    const { kept } = model.run({ [input.name]: tensor(x, input.shape) }, { keep: [...keep] });
    return new Map(await Promise.all(keep.map(async (name) => [name, refTensor(kept[name].shape, await kept[name].data())] as const)));
  });
}

export interface GradCase {
  format: string;
  label: string;
  /** The model, its input and detections, the detections to check (one per head where there are several). */
  load: () => Promise<{ model: OnnxGraphModel; input: ModelInput; head: DetectorHead; detections: Detection[] } | undefined>;
}

const sidecar = () => JSON.parse(readFileSync(resolve(import.meta.dirname, '../fixtures/onnx/yolo_fastest_1.1_coco.json'), 'utf8')) as DarknetSidecar;
const V8 = resolve(import.meta.dirname, '../fixtures/yolov8');

/** The top detection, and the top one of each other head, at most `n`. */
function perHead(detections: readonly Detection[], n = 2): Detection[] {
  const picked: Detection[] = [];
  for (const d of detections) if (picked.length < n && !picked.some((p) => p.head === d.head)) picked.push(d);
  return picked;
}

async function onPhoto(file: string, photo: string, preset: string, meta?: DarknetSidecar) {
  const bytes = readModel(file);
  const image = readPhoto(photo);
  if (!bytes || !image) return undefined;
  const model = new OnnxGraphModel(decodeModel(bytes));
  const r = await detect(model, image, { preset, meta });
  return { model, input: r.input, head: r.head, detections: perHead(r.detections) };
}

const CASES: GradCase[] = [
  { format: 'darknet', label: 'Yolo-Fastest 1.1 on dog.jpg', load: () => onPhoto('yolo_fastest_1.1_coco.onnx', 'dog.jpg', 'yolo-fastest', sidecar()) },
  { format: 'tiny-yolov2', label: 'tiny face detector on astronaut.png', load: () => onPhoto('tiny_face_detector_416.onnx', 'astronaut.png', 'tiny-face') },
  { format: 'yolov5', label: `YOLOv5n 320 on person.jpg (${SHARED_MODELS})`, load: () => onPhoto('yolov5n_320.onnx', 'person.jpg', 'yolov5') },
  {
    format: 'yolov8',
    label: 'seeded YOLOv8n-layout export on test/fixtures/yolov8/input.npy',
    load: async () => {
      const files = ['yolov8n_seeded_320.onnx', 'input.npy'].map((f) => resolve(V8, f));
      if (!files.every(existsSync)) return undefined;
      const model = new OnnxGraphModel(decodeModel(readFileSync(files[0])));
      const npy = readNpy(readFileSync(files[1]));
      const input = { data: toFloat32(npy), shape: [...npy.shape] };
      const head = detectorHead(model, { preset: 'yolov8' });
      const { detections } = await detectInput(model, input, { head });
      return { model, input, head, detections: perHead(detections) };
    },
  },
];

const available: Record<string, boolean> = {
  darknet: true,
  'tiny-yolov2': true,
  yolov5: Boolean(readModel('yolov5n_320.onnx')),
  yolov8: existsSync(resolve(V8, 'yolov8n_seeded_320.onnx')) && existsSync(resolve(V8, 'input.npy')),
};
if (!available.yolov5) console.warn(`[yolo gradient] yolov5n_320.onnx is not in ${SHARED_MODELS}: the yolov5 gradient check is skipped (AGPL, not committed)`);
if (!available.yolov8) console.warn(`[yolo gradient] ${V8}/yolov8n_seeded_320.onnx or input.npy missing: the yolov8 gradient check is skipped`);

/** The gradient checks of the given formats (split over test files so the two test workers share the float64 work). */
export function gradientChecks(formats: readonly GradCase['format'][]): void {
describe('detection score gradients at the head-feeding layer: GPU vs float64 reference vs finite differences', () => {
  for (const c of CASES.filter((k) => formats.includes(k.format))) {
    test.skipIf(!available[c.format])(`${c.format}: ${c.label}`, async () => {
      const loaded = await c.load();
      expect(loaded, 'model and input').toBeDefined();
      const { model, input, head, detections } = loaded!;
      try {
        expect(head.format).toBe(c.format);
        expect(detections.length).toBeGreaterThan(0);
        const kinds = head.scores.filter((k) => k !== 'box');
        const x = (input as { data: Float32Array }).data;

        // GPU: one explainDetections per score kind (one forward, one backward per detection).
        const gpu = new Map<string, { layer: string; grad: Float32Array; shape: number[]; score: number }>();
        for (const kind of kinds) {
          const { results } = await explainDetections(model, input, detections, 'gradcam', { head, score: kind });
          results.forEach((r, j) => gpu.set(`${j} ${kind}`, { layer: r.gradient!.layer, grad: r.gradient!.data, shape: r.gradient!.shape, score: r.score[0] }));
        }

        // Reference: which head convolutions each layer feeds, and which the decode reads.
        const started = performance.now();
        const layerOf = (d: Detection) => head.layer({ cls: d.classId, score: d.score, box: d.inputBox, source: d.source })!;
        const layers = [...new Set(detections.map(layerOf))];
        const graph = new GraphIndex(model);
        const scores = new Map<string, RefScore>();
        const convScores = new Map<string, RefScore>();
        const convsOf = new Map<string, string[]>(layers.map((l) => [l, []]));
        detections.forEach((d, j) =>
          kinds.forEach((kind) => {
            const score = referenceScore(model, head, d, kind);
            const atConv = atHeadConv(graph, score);
            scores.set(`${j} ${kind}`, score);
            convScores.set(`${j} ${kind}`, atConv);
            const convs = convsOf.get(layerOf(d))!;
            if (!convs.includes(atConv.tensor)) convs.push(atConv.tensor);
          }),
        );
        const plan = planGraph(model.graph);
        // Per layer: the float64 part from it to its detections' head convolutions.
        const parts = new Map(layers.map((l) => [l, downstream(plan, [l], convsOf.get(l)!)]));
        for (const [l, part] of parts) expect(part.reached, `'${l}' reaches its head convolutions`).toEqual(convsOf.get(l));
        // The decode: from every head's convolution (each scale's first prediction traced back) to the score tensors and the output.
        const headConvs = [
          ...new Set([
            ...[...convsOf.values()].flat(),
            ...head.scales.map((sc, h) => atHeadConv(graph, referenceScore(model, head, { classId: 0, head: h, source: { output: sc.output, index: sc.start } } as Detection, kinds[0])).tensor),
          ]),
        ];
        const outputs = [...new Set([...[...scores.values()].map((s) => s.tensor), model.outputs[0].name])];
        const decode = downstream(plan, headConvs, outputs);

        // GPU: the layers' float32 activations, the convolutions of the heads no detection here covers, and what the parts read besides.
        const otherConvs = headConvs.filter((t) => ![...convsOf.values()].flat().includes(t));
        const fromGpu = [...new Set([...layers, ...otherConvs, ...[...parts.values(), decode].flatMap((p) => p.external)])];
        const gpuValues = await gpuTensors(model, x, fromGpu);
        const gpuTime = (performance.now() - started) / 1000;

        // float64 forward, each part from its layer's GPU activation (watched: the backward ends there).
        const tape = new ReferenceTape();
        const convValues = new Map<string, RefTensor>();
        const partValues = new Map<string, Map<string, RefTensor>>();
        for (const [layer, part] of parts) {
          const a = refTensor(gpuValues.get(layer)!.shape, gpuValues.get(layer)!.data);
          tape.watch(a);
          const feeds = new Map<string, RefTensor>([[layer, a], ...part.external.map((name) => [name, gpuValues.get(name)!] as const)]);
          const values = executePlan(part.plan, referenceBackend(tape), feeds, part.reached, { constant: constantOf() });
          values.set(layer, a);
          partValues.set(layer, values);
          for (const t of part.reached) {
            expect(convValues.has(t), `'${t}' reached from one layer only`).toBe(false);
            convValues.set(t, values.get(t)!);
          }
        }
        // float64 decode of those convolution outputs (the other heads' from the GPU).
        const decodeFeeds = new Map<string, RefTensor>([...headConvs, ...decode.external].map((name) => [name, convValues.get(name) ?? gpuValues.get(name)!] as const));
        const base = new Map([...decodeFeeds, ...executePlan(decode.plan, referenceBackend(), decodeFeeds, decode.reached, { constant: constantOf() })]);
        for (const t of outputs) expect(base.has(t), `the decode computed '${t}'`).toBe(true);
        const forward = (performance.now() - started) / 1000 - gpuTime;
        let fdTime = 0;
        let bwTime = 0;
        const value = (s: RefScore, values: Map<string, RefTensor>) => s.f(s.indices.map((k) => values.get(s.tensor)!.data[k]));

        // The located pre-sigmoid element is the output's: sigmoid(logit) = the output element (float64).
        detections.forEach((d, j) => {
          if (!kinds.includes('logit') || head.format === 'darknet' || head.format === 'tiny-yolov2') return;
          const logit = value(scores.get(`${j} logit`)!, base);
          const [, , d2] = model.outputs[0].shape;
          const index = head.format === 'yolov5' ? d.source.index * d2 + 5 + d.classId : (4 + d.classId) * d2 + d.source.index;
          expect(sig(logit)).toBeCloseTo(base.get(model.outputs[0].name)!.data[index], 12);
        });
        // Every score read at the head's convolution is the score read at the decode's output.
        for (const [key, score] of scores) expect(rel(value(convScores.get(key)!, base), value(score, base)), key).toBeLessThan(1e-12);

        const lines: string[] = [];
        for (const [j, d] of detections.entries()) {
          const layer = layerOf(d);
          const values = partValues.get(layer)!;
          const a = values.get(layer)!;
          // A direction for the finite differences, and its step (scaled to the layer's magnitude).
          const v = seeded(a.data.length, 31 + j);
          const h = 1e-6 * Math.max(...a.data.map(Math.abs));
          const part = parts.get(layer)!;
          const shifted = (sign: number) => {
            const feeds = new Map<string, RefTensor>([[layer, refTensor(a.shape, a.data.map((y, k) => y + sign * h * v[k]))]]);
            for (const name of part.external) feeds.set(name, gpuValues.get(name)!);
            return executePlan(part.plan, referenceBackend(), feeds, part.reached, { constant: constantOf() });
          };
          const t0 = performance.now();
          const plus = shifted(1);
          const minus = shifted(-1);
          fdTime += performance.now() - t0;
          for (const kind of kinds) {
            const key = `${j} ${kind}`;
            const s = convScores.get(key)!;
            const g = gpu.get(key)!;
            expect(g.layer, `${key}: the layer feeding head ${d.head}`).toBe(layer);
            expect([1, ...g.shape]).toEqual(a.shape);
            // Reference gradient: seed d score / d elements on the head's convolution output.
            const y = values.get(s.tensor)!;
            const seed = refTensor(y.shape);
            const partials = s.df(s.indices.map((k) => y.data[k]));
            s.indices.forEach((k, n) => (seed.data[k] += partials[n]));
            const t1 = performance.now();
            const ref = tape.backward(y, seed).get(a);
            bwTime += performance.now() - t1;
            expect(ref, `${key}: the reference tape reached '${layer}'`).toBeDefined();
            const numeric = (value(s, plus) - value(s, minus)) / (2 * h);
            const refDir = dot(ref!.data, v);
            const gpuDir = dot(g.grad, v);
            let worst = 0;
            let scale = 0;
            for (let k = 0; k < ref!.data.length; k++) {
              worst = Math.max(worst, Math.abs(g.grad[k] - ref!.data[k]));
              scale = Math.max(scale, Math.abs(ref!.data[k]));
            }
            const refScore = value(scores.get(key)!, base);
            lines.push(
              `  #${d.index} ${d.className} head ${d.head} ${kind.padEnd(5)} score GPU ${g.score.toPrecision(7)} ref ${refScore.toPrecision(7)}; <grad, v>: finite difference ${numeric.toPrecision(9)}, ` +
                `reference rel ${rel(refDir, numeric).toExponential(1)}, GPU rel ${rel(gpuDir, numeric).toExponential(1)}; GPU vs reference gradient max error ${(worst / scale).toExponential(1)} of max |grad| ${scale.toExponential(2)} (${ref!.data.length} values)`,
            );
            expect(Math.abs(g.score - refScore), `${key}: score`).toBeLessThan(1e-3 * Math.max(1, Math.abs(refScore)));
            expect(scale, `${key}: a non-zero gradient`).toBeGreaterThan(0);
            expect(rel(refDir, numeric), `${key}: float64 reference vs finite difference`).toBeLessThan(1e-6);
            expect(rel(gpuDir, numeric), `${key}: float32 GPU vs finite difference`).toBeLessThan(1e-3);
            expect(worst / scale, `${key}: GPU vs reference gradient, max |diff| / max |grad|`).toBeLessThan(1e-3);
          }
        }
        console.log(`[yolo gradient] ${c.format}, ${c.label} (layers ${layers.join(', ')}; reference ${((performance.now() - started) / 1000).toFixed(1)} s, of which the GPU activations ${gpuTime.toFixed(1)} s, the float64 forward ${forward.toFixed(1)} s, backward ${(bwTime / 1000).toFixed(1)} s, finite differences ${(fdTime / 1000).toFixed(1)} s; decode: ${decode.plan.steps.length} steps from ${headConvs.length} head convolutions, ${otherConvs.length} of them and ${decode.external.length} other tensors from the GPU):\n${lines.join('\n')}`);
      } finally {
        model.dispose();
      }
    });
  }
});
}

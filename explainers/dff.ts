// Deep Feature Factorization. Collins, Achanta, Süsstrunk, "Deep Feature
// Factorization for Concept Discovery", ECCV 2018, §3: the activations of a
// layer, as a non-negative matrix V (channels x positions of all images),
// are factorized V ~ W H with W >= 0 [C, k] (one column per concept: its
// channel signature) and H >= 0 [k, positions] (where each concept is), by
// non-negative matrix factorization. Each row of H is a concept's heat map;
// the concepts are shared across the images factorized together.
//
// As pytorch-grad-cam's DeepFeatureFactorizer (feature_factorization/): V is
// made non-negative by subtracting each channel's minimum (an offset added back
// to W to give the concept embeddings, W + offset), and with a classifier the
// embeddings go through the model's final linear layer (pytorch-grad-cam's
// computation_on_concepts), softmax over the classes naming each concept's top
// classes. The head is found in the graph as CAM finds it (cam.ts:
// layer -> global average pooling -> Gemm/MatMul [+ bias]).
//
// The factorization: Lee & Seung's multiplicative updates for the Frobenius
// norm ("Algorithms for Non-negative Matrix Factorization", NIPS 2000, Thm. 1),
//   H <- H (W^T V) / (W^T W H + eps),   W <- W (V H^T) / (W H H^T + eps),
// which never increase |V - W H|_F, from a seeded random start scaled to
// sqrt(mean(V) / k) (scikit-learn's 'random' init; scikit-learn's default
// solver is coordinate descent, so its factors differ from ours), for a fixed
// number of iterations, all with engine matmuls on the GPU.
//
// As a CamMethod (`dff`) the map is one concept's heat map: for a class target
// on a classifier whose head is found, the concept whose embedding the
// classifier gives the target class the highest probability (the concept that
// "explains" the class); otherwise (detectors, function targets, no GAP +
// linear head) the concept carrying the most of the image's activation,
// |w_j| sum_p H_jp. Which concept was picked, and every concept's top classes,
// go to the `onConcepts` callback. `deepFeatureFactorization` returns all
// concepts' maps.

import {
  add,
  clip,
  concat,
  div,
  exclusive,
  gather,
  matmul,
  max,
  mean,
  min,
  mul,
  reshape,
  scope,
  scopeAsync,
  softmax,
  sqrt,
  sub,
  sum,
  tape,
  tensor,
  transpose,
  type ExplainableModel,
  type Tensor,
} from '../engine/index.js';
import { seededRandom } from '../engine/host.js';
import { scalar, scaleMap, upsample } from './cam-math.js';
import { findClassifierHead, type ClassifierHead } from './cam.js';
import { ExplainError, MethodNotApplicable } from './errors.js';
import { modelGraph, type ModelGraph } from './graph.js';
import type { CamMethod } from './method.js';
import { resolveLayers } from './target-layers.js';

/** Added to the update denominators (Lee & Seung's updates divide by them). */
const EPS = 1e-12;

export interface NmfOptions {
  /** Multiplicative-update iterations (default 200, scikit-learn's max_iter). */
  iterations?: number;
  /** Seed of the random start (default 0). */
  seed?: number;
  /** Also return |V - W H|_F at the start and after every iteration (one more matmul per iteration). */
  history?: boolean;
}

export interface NmfResult {
  /** [m, k] */
  w: Tensor;
  /** [k, p] */
  h: Tensor;
  /** [iterations + 1] reconstruction errors |V - W H|_F, with `history`. */
  errors?: Tensor;
}

/**
 * The unscaled random start of the factors: W0 then H0 (m*k then k*p values
 * in [0.05, 1.05), from seededRandom(seed)); the start is these times
 * sqrt(mean(V) / k). Exported for the tests' CPU replay.
 */
export function nmfStart(m: number, k: number, p: number, seed = 0): { w: Float32Array; h: Float32Array } {
  const r = seededRandom(seed);
  const w = Float32Array.from({ length: m * k }, () => 0.05 + r());
  const h = Float32Array.from({ length: k * p }, () => 0.05 + r());
  return { w, h };
}

function checkCount(value: unknown, what: string, method: string, max = Infinity): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > max) {
    throw new MethodNotApplicable(method, `${what} must be a positive integer${Number.isFinite(max) ? ` up to ${max}` : ''}, got ${String(value)}`);
  }
  return value;
}

/** |V - W H|_F, [1]. */
function residual(v: Tensor, w: Tensor, h: Tensor): Tensor {
  const r = sub(v, matmul(w, h));
  return reshape(sqrt(sum(mul(r, r))), [1]);
}

/** Non-negative matrix factorization of v [m, p] (non-negative) into k concepts, on the GPU (see the header). */
export function nmf(v: Tensor, k: number, options: NmfOptions = {}): NmfResult {
  const [m, p] = v.shape;
  const iterations = options.iterations ?? 200;
  checkCount(iterations, 'iterations', 'dff');
  const start = nmfStart(m, k, p, options.seed ?? 0);
  let { w, h } = scope(() => {
    const s = sqrt(div(mean(v), scalar(k)));
    return { w: mul(tensor(start.w, [m, k]), s), h: mul(tensor(start.h, [k, p]), s) };
  });
  const errors: Tensor[] = [];
  if (options.history) errors.push(scope(() => residual(v, w, h)));
  for (let i = 0; i < iterations; i++) {
    const next = scope(() => {
      const wt = transpose(w, [1, 0]);
      const h2 = div(mul(h, matmul(wt, v)), add(matmul(matmul(wt, w), h), scalar(EPS)));
      const ht = transpose(h2, [1, 0]);
      const w2 = div(mul(w, matmul(v, ht)), add(matmul(w, matmul(h2, ht)), scalar(EPS)));
      return { w: w2, h: h2, error: options.history ? residual(v, w2, h2) : undefined };
    });
    w.dispose();
    h.dispose();
    ({ w, h } = next);
    if (next.error) errors.push(next.error);
  }
  if (!options.history) return { w, h };
  const all = scope(() => reshape(concatAll(errors), [errors.length]));
  for (const e of errors) e.dispose();
  return { w, h, errors: all };
}

function concatAll(parts: Tensor[]): Tensor {
  // Concatenate in chunks: one concat of hundreds of inputs would bind too many buffers.
  let level = parts;
  while (level.length > 1) {
    const next: Tensor[] = [];
    for (let i = 0; i < level.length; i += 8) next.push(level.length - i === 1 ? level[i] : concat(level.slice(i, i + 8), 0));
    level = next;
  }
  return level[0];
}

// ---- the layer's factorization -------------------------------------------------------------

export interface DffFactors {
  /** [C, k] concept embeddings, W + the per-channel offset. */
  embeddings: Tensor;
  /** [k, C] W before the offset (the NMF factor). */
  w: Tensor;
  /** [N, k, h, w] each concept's heat map (rows of H). */
  maps: Tensor;
  /** [iterations + 1] errors with `history`. */
  errors?: Tensor;
  /** |V - W H|_F after the last iteration, [1]. */
  error: Tensor;
  /** |V|_F of the offset activations (to make errors relative), [1]. */
  norm: Tensor;
}

/** Factorizes [N, C, h, w] activations into k concepts (all images together, as pytorch-grad-cam). */
export function factorize(a: Tensor, k: number, options: NmfOptions = {}): DffFactors {
  const [n, c, hh, ww] = a.shape;
  return scope(() => {
    const v = reshape(transpose(a, [1, 0, 2, 3]), [c, n * hh * ww]);
    const offset = min(v, [1], true); // [C, 1]
    const shifted = sub(v, offset);
    const f = nmf(shifted, k, options);
    return {
      embeddings: add(f.w, offset),
      w: transpose(f.w, [1, 0]),
      maps: transpose(reshape(f.h, [k, n, hh, ww]), [1, 0, 2, 3]),
      errors: f.errors,
      error: residual(shifted, f.w, f.h),
      norm: reshape(sqrt(sum(mul(shifted, shifted))), [1]),
    };
  });
}

/** The classifier's bias per class: Gemm's C (times beta) and constant Adds on the class scores, before any Softmax. */
function headBias(g: ModelGraph, head: ClassifierHead): Float32Array {
  const bias = new Float32Array(head.classes);
  const addConstant = (name: string | undefined, scale: number) => {
    const c = name ? g.constant(name) : undefined;
    if (!c) return;
    if (c.data.length === head.classes) c.data.forEach((v, i) => (bias[i] += scale * v));
    else if (c.data.length === 1) bias.forEach((_, i) => (bias[i] += scale * c.data[0]));
  };
  for (const t of head.scoreTensors) {
    const node = g.producer(t);
    if (!node || node.op === 'Softmax' || node.op === 'LogSoftmax') break;
    if (node.op === 'Gemm') addConstant(node.inputs[2], (node.attributes.beta as number | undefined) ?? 1);
    if (node.op === 'Add') for (const i of node.inputs) if (i !== t) addConstant(i, 1);
  }
  return bias;
}

/**
 * The GAP + linear classifier after `layer` whose class scores reach one of
 * `outputs` (directly or class-wise: bias, Softmax, reshapes), as [classes, C]
 * weights and a bias; undefined when CAM's head walk finds none, or finds a
 * hidden dense layer (MobileNetV2 of nsfwjs: three dense layers after the pooling).
 */
export function conceptClassifier(model: ExplainableModel, layer: string, shape: readonly number[], outputs: readonly string[]): { weights: Tensor; bias: Tensor; head: ClassifierHead } | undefined {
  let g: ModelGraph;
  let head: ClassifierHead;
  try {
    g = modelGraph(model, 'dff');
    head = findClassifierHead(g, layer, shape[1], [shape[2], shape[3]]);
  } catch (e) {
    if (e instanceof MethodNotApplicable) return undefined;
    throw e;
  }
  if (!outputs.some((o) => head.scoreTensors.has(o))) return undefined;
  return { weights: tensor(head.weights, [head.classes, head.channels]), bias: tensor(headBias(g, head), [head.classes, 1]), head };
}

/** Class scores of the concept embeddings [C, k] through the linear head: [k, classes] logits. */
function conceptScores(embeddings: Tensor, classifier: { weights: Tensor; bias: Tensor }): Tensor {
  return transpose(add(matmul(classifier.weights, embeddings), classifier.bias), [1, 0]);
}

/** One of a concept's top classes. */
export interface ConceptClass {
  classId: number;
  /** Softmax over the classes of the concept's class scores. */
  probability: number;
}

/** Each concept's `count` most probable classes. */
function topClassesOf(probabilities: Float32Array, k: number, count: number): ConceptClass[][] {
  const classes = probabilities.length / k;
  return Array.from({ length: k }, (_, j) => {
    const row = probabilities.subarray(j * classes, (j + 1) * classes);
    return Array.from({ length: classes }, (_, c) => c)
      .sort((a, b) => row[b] - row[a] || a - b)
      .slice(0, Math.min(count, classes))
      .map((classId) => ({ classId, probability: row[classId] }));
  });
}

// ---- the library function ------------------------------------------------------------------

export interface DffOptions extends NmfOptions {
  /** The layer to factorize (default: the classifier's last spatial layer, as explain's default). */
  layer?: string;
  /** Concepts k (default 5, as pytorch-grad-cam's run_dff_on_image). */
  concepts?: number;
  /** Top classes listed per concept (default 2); needs a GAP + linear head after the layer. */
  topClasses?: number;
  /** The tensor holding the class scores the head must reach (default: any graph output). */
  output?: string;
  /** Map size [H, W] (default: the NCHW input's). */
  size?: readonly [number, number];
  signal?: AbortSignal;
}

export interface DffResult {
  layer: string;
  /** k */
  concepts: number;
  batch: number;
  height: number;
  width: number;
  /** [batch, k, height, width]: each concept's heat map, upsampled and scaled to [0, 1] per image. */
  maps: Float32Array;
  /** [batch, k, h, w] at the layer, unscaled (the NMF's H). */
  raw: { shape: number[]; data: Float32Array };
  /** [C, k] concept embeddings (W + the per-channel offset). */
  embeddings: { shape: number[]; data: Float32Array };
  /** Per concept, its top classes (a classifier with a GAP + linear head after the layer; else undefined). */
  topClasses?: ConceptClass[][];
  /** [k, classes] the concepts' class scores, with topClasses. */
  scores?: { shape: number[]; data: Float32Array };
  /** |V - W H|_F / |V|_F after the last iteration. */
  error: number;
  /** With `history`: the relative error at the start and after each iteration. */
  errors?: Float32Array;
}

/**
 * Deep Feature Factorization of `input` at one layer (see the header): the
 * concepts' maps, embeddings and, for a classifier, their top classes.
 */
export function deepFeatureFactorization(model: ExplainableModel, input: Tensor, options: DffOptions = {}): Promise<DffResult> {
  return exclusive(async () => {
    const k = checkCount(options.concepts ?? 5, 'concepts', 'dff', 256);
    const topCount = checkCount(options.topClasses ?? 2, 'topClasses', 'dff');
    const [layer] = resolveLayers(model, options.layer);
    const size = options.size ?? (input.shape.length === 4 ? ([input.shape[2], input.shape[3]] as const) : undefined);
    if (!size) throw new ExplainError(`input of shape [${input.shape.join(', ')}] is not NCHW: pass \`size\` [H, W] for the maps`);
    options.signal?.throwIfAborted();
    return scopeAsync(async () => {
      const a = tape.noGrad(() => {
        const { kept } = model.run({ [model.inputs[0].name]: input }, { keep: [layer] });
        return kept[layer];
      });
      const [n, , h, w] = a.shape;
      const f = tape.noGrad(() => factorize(a, k, options));
      const classifier = conceptClassifier(model, layer, a.shape, options.output ? [options.output] : model.outputs.map((o) => o.name));
      const scores = classifier ? conceptScores(f.embeddings, classifier) : undefined;
      const probabilities = scores ? softmax(scores, -1) : undefined;
      const maps = reshape(scaleMap(upsample(reshape(f.maps, [n * k, h, w]), size)), [n, k, size[0], size[1]]);
      const error = div(f.error, clip(f.norm, 1e-30, 3e38));
      const [mapData, rawData, embData, scoreData, probData, errData, historyData] = await Promise.all([
        maps.data(),
        f.maps.data(),
        f.embeddings.data(),
        scores?.data(),
        probabilities?.data(),
        error.data(),
        f.errors ? div(f.errors, clip(f.norm, 1e-30, 3e38)).data() : undefined,
      ]);
      const result: DffResult = {
        layer,
        concepts: k,
        batch: n,
        height: size[0],
        width: size[1],
        maps: mapData,
        raw: { shape: [n, k, h, w], data: rawData },
        embeddings: { shape: [a.shape[1], k], data: embData },
        error: errData[0],
      };
      if (scores && scoreData && probData) {
        result.scores = { shape: [...scores.shape], data: scoreData };
        result.topClasses = topClassesOf(probData, k, topCount);
      }
      if (historyData) result.errors = historyData;
      return result;
    });
  }, options.signal);
}

// ---- the CamMethod ---------------------------------------------------------------------------

/** What `dff` reports through `onConcepts`, once per layer. */
export interface DffConcepts {
  layer: string;
  concepts: number;
  /** The concept whose map is drawn, per image. */
  chosen: number[];
  /** How it was chosen. */
  rule: 'class' | 'energy';
  /** Per concept, its top classes (a GAP + linear classifier only). */
  topClasses?: ConceptClass[][];
  /** [N, k, h, w] every concept's map at the layer, each divided by its maximum (in [0, 1]): what a concept picture draws. */
  maps: { shape: number[]; data: Float32Array };
}

export interface DffMethodOptions extends NmfOptions {
  /** Concepts k (default 5). */
  concepts?: number;
  /** Top classes per concept reported to onConcepts (default 2). */
  topClasses?: number;
  /** Receives the concepts' summary (the CLI prints it). */
  onConcepts?: (concepts: DffConcepts) => void;
}

/** argmax_j data[j * stride + offset], j < count. */
function argmaxOf(data: Float32Array, count: number, stride: number, offset: number): number {
  let best = 0;
  for (let j = 1; j < count; j++) if (data[j * stride + offset] > data[best * stride + offset]) best = j;
  return best;
}

export const dff: CamMethod<DffMethodOptions> = {
  name: 'dff',
  title: 'Deep Feature Factorization',
  paper: 'Collins, Achanta & Süsstrunk, Deep Feature Factorization for Concept Discovery, ECCV 2018, §3: NMF of the activations, V ~ W H; the map is one concept (row of H)',
  usesGradients: false,
  inputSpace: false,
  async camImage(layer, ctx) {
    const o = ctx.options;
    const k = checkCount(o.concepts ?? 5, 'concepts', 'dff', 256);
    const topCount = checkCount(o.topClasses ?? 2, 'topClasses', 'dff');
    if (o.onConcepts !== undefined && typeof o.onConcepts !== 'function') throw new MethodNotApplicable('dff', 'onConcepts must be a function');
    const a = layer.activations;
    const [n, , h, w] = a.shape;
    const f = factorize(a, k, { iterations: o.iterations, seed: o.seed });
    const target = ctx.target!;
    const reads = target.output ?? ctx.defaultOutput;
    const classifier = conceptClassifier(ctx.model, layer.layer, a.shape, [reads]);
    const byClass = classifier && target.category;
    let chosen: number[];
    let topClasses: ConceptClass[][] | undefined;
    if (classifier) {
      const probabilities = await softmax(conceptScores(f.embeddings, classifier), -1).data(); // [k, classes]
      topClasses = topClassesOf(probabilities, k, topCount);
      if (byClass) {
        const classes = classifier.head.classes;
        const cats = target.category!.length === 1 ? Array<number>(n).fill(target.category![0]) : [...target.category!];
        // Column c of [k, classes]: the concept giving class c the highest probability.
        chosen = cats.map((c) => argmaxOf(probabilities, k, classes, c));
      }
    }
    let rule: DffConcepts['rule'] = 'class';
    if (!byClass) {
      rule = 'energy';
      // |w_j| sum_p H_jp per image: [N, k].
      const energy = await mul(sum(f.maps, [2, 3]), reshape(sqrt(sum(mul(f.w, f.w), [1])), [1, k])).data();
      chosen = Array.from({ length: n }, (_, i) => argmaxOf(energy, k, 1, i * k));
    }
    if (o.onConcepts) {
      const peak = clip(max(f.maps, [2, 3], true), 1e-30, 3e38);
      const maps = { shape: [n, k, h, w], data: await div(f.maps, peak).data() };
      o.onConcepts({ layer: layer.layer, concepts: k, chosen: chosen!, rule, topClasses, maps });
    }
    const hw = h * w;
    const index = chosen!.flatMap((j, i) => Array.from({ length: hw }, (_, p) => (i * k + j) * hw + p));
    return reshape(gather(reshape(f.maps, [n * k * hw]), index), [n, h, w]);
  },
};

// KPCA-CAM, Finer-CAM, Deep Feature Factorization and Faster-Score-CAM against
// independent computations: float64 CPU references written here (kernel
// matrix, double centering and a Jacobi eigensolver for KPCA-CAM; a float64
// replay of the same multiplicative updates from the same start for DFF;
// a CPU variance ranking for Faster-Score-CAM), and Grad-CAM on a target
// written here with other engine ops for Finer-CAM. On resnet_mini (32x32,
// layer [1, 16, 8, 8]) and on nsfwjs MobileNetV2 (224x224, a real model).

import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { add, div, exp, gather, mul, reshape, sub, sum, tensor, type Tensor } from '../../engine/index.js';
import { resizeImage } from '../../explainers/image.js';
import { findClassifierHead } from '../../explainers/cam.js';
import { modelGraph } from '../../explainers/graph.js';
import { classTarget, deepFeatureFactorization, explain, functionTarget, nmfStart, similarClasses, type TargetValues } from '../../explainers/index.js';
import { highestVariance } from '../../explainers/score-cam.js';
import { conceptOverlay } from '../../explainers/render.js';
import { decodeImage } from '../../explainers/node-image.js';
import { loadOnnx, type OnnxGraphModel } from '../../importers/onnx/index.js';
import { EXPLAIN_FIXTURES } from '../fixtures/explain/reference.js';
import { modelPath } from '../fixtures/onnx/models.js';
import { EXPLAIN_DIR, miniInput, relError, symmetricEigen } from '../helpers/explain-free-reference.js';
import { expectNoGrowth } from '../helpers/lifetime.js';

const LAYER = '/layer3/relu2/Relu_output_0'; // [1, 16, 8, 8]
const CLASS = 4;

/** Activations of `layer` as read back from the GPU, [C, h, w], and the logits of the first output. */
async function forward(model: OnnxGraphModel, x: Tensor, layer: string, output?: string): Promise<{ data: Float32Array; c: number; h: number; w: number; logits: Float32Array }> {
  const { outputs, kept } = model.run({ [model.inputs[0].name]: x }, { keep: [layer, ...(output ? [output] : [])] });
  const data = await kept[layer].data();
  const logits = await (output ? kept[output] : outputs[model.outputs[0].name]).data();
  const [, c, h, w] = kept[layer].shape;
  for (const t of [...Object.values(outputs), ...Object.values(kept)]) t.dispose();
  return { data, c, h, w, logits };
}

// ---- KPCA-CAM in float64 --------------------------------------------------------------------

type Kernel = 'sigmoid' | 'rbf' | 'linear' | 'poly' | 'cosine';

/** scikit-learn's KernelPCA(n_components=1).fit_transform on the channel-centered positions, sign by the channel sum, ReLU. */
function cpuKpca(a: Float32Array, c: number, p: number, kernel: Kernel, gamma = 1 / c, coef0 = 1, degree = 3): { map: Float64Array; gap: number } {
  const x = new Float64Array(p * c); // [P, C]
  for (let k = 0; k < c; k++) {
    let m = 0;
    for (let i = 0; i < p; i++) m += a[k * p + i];
    m /= p;
    for (let i = 0; i < p; i++) x[i * c + k] = a[k * p + i] - m;
  }
  const dot = (i: number, j: number) => {
    let s = 0;
    for (let k = 0; k < c; k++) s += x[i * c + k] * x[j * c + k];
    return s;
  };
  const K = new Float64Array(p * p);
  for (let i = 0; i < p; i++) {
    for (let j = 0; j < p; j++) {
      const d = dot(i, j);
      K[i * p + j] =
        kernel === 'linear' ? d
        : kernel === 'sigmoid' ? Math.tanh(gamma * d + coef0)
        : kernel === 'poly' ? (gamma * d + coef0) ** degree
        : kernel === 'cosine' ? d / Math.sqrt(dot(i, i) * dot(j, j))
        : Math.exp(-gamma * (dot(i, i) + dot(j, j) - 2 * d));
    }
  }
  // Double centering: K - 1K - K1 + 1K1.
  const row = new Float64Array(p);
  const col = new Float64Array(p);
  let all = 0;
  for (let i = 0; i < p; i++) for (let j = 0; j < p; j++) {
    row[i] += K[i * p + j] / p;
    col[j] += K[i * p + j] / p;
    all += K[i * p + j] / (p * p);
  }
  for (let i = 0; i < p; i++) for (let j = 0; j < p; j++) K[i * p + j] += -row[i] - col[j] + all;
  const { values, vectors } = symmetricEigen(K, p); // Jacobi rotations, eigenvalues descending
  const proj = Float64Array.from({ length: p }, (_, i) => Math.sqrt(values[0]) * vectors[i * p]);
  let agreement = 0;
  for (let i = 0; i < p; i++) {
    let s = 0;
    for (let k = 0; k < c; k++) s += a[k * p + i];
    agreement += s * proj[i];
  }
  const sign = agreement < 0 ? -1 : 1;
  // The gap that matters for repeated squaring: of the shifted spectrum, |K~|_F + lambda.
  let fro = 0;
  for (const v of K) fro += v * v;
  fro = Math.sqrt(fro);
  return { map: proj.map((v) => Math.max(sign * v, 0)), gap: (values[1] + fro) / (values[0] + fro) };
}

// ---- NMF in float64 -------------------------------------------------------------------------

/** The same multiplicative updates as explainers/dff.ts, in float64, from the same start. */
function cpuNmf(v: Float64Array, m: number, p: number, k: number, iterations: number, seed: number): { w: Float64Array; h: Float64Array; errors: number[] } {
  const start = nmfStart(m, k, p, seed);
  let mean = 0;
  for (const x of v) mean += x / v.length;
  const s = Math.fround(Math.sqrt(mean / k));
  const w = Float64Array.from(start.w, (x) => x * s);
  const h = Float64Array.from(start.h, (x) => x * s);
  const eps = 1e-12;
  const error = () => {
    let e = 0;
    for (let i = 0; i < m; i++) for (let j = 0; j < p; j++) {
      let r = v[i * p + j];
      for (let q = 0; q < k; q++) r -= w[i * k + q] * h[q * p + j];
      e += r * r;
    }
    return Math.sqrt(e);
  };
  const errors = [error()];
  for (let it = 0; it < iterations; it++) {
    // H <- H (W^T V) / (W^T W H + eps)
    const wtw = new Float64Array(k * k);
    for (let a = 0; a < k; a++) for (let b = 0; b < k; b++) for (let i = 0; i < m; i++) wtw[a * k + b] += w[i * k + a] * w[i * k + b];
    const h2 = new Float64Array(k * p);
    for (let q = 0; q < k; q++) for (let j = 0; j < p; j++) {
      let num = 0;
      for (let i = 0; i < m; i++) num += w[i * k + q] * v[i * p + j];
      let den = 0;
      for (let b = 0; b < k; b++) den += wtw[q * k + b] * h[b * p + j];
      h2[q * p + j] = (h[q * p + j] * num) / (den + eps);
    }
    h.set(h2);
    // W <- W (V H^T) / (W H H^T + eps)
    const hht = new Float64Array(k * k);
    for (let a = 0; a < k; a++) for (let b = 0; b < k; b++) for (let j = 0; j < p; j++) hht[a * k + b] += h[a * p + j] * h[b * p + j];
    const w2 = new Float64Array(m * k);
    for (let i = 0; i < m; i++) for (let q = 0; q < k; q++) {
      let num = 0;
      for (let j = 0; j < p; j++) num += v[i * p + j] * h[q * p + j];
      let den = 0;
      for (let b = 0; b < k; b++) den += w[i * k + b] * hht[b * k + q];
      w2[i * k + q] = (w[i * k + q] * num) / (den + eps);
    }
    w.set(w2);
    errors.push(error());
  }
  return { w, h, errors };
}

/** Population variance of each channel's map. */
function cpuVariances(a: Float32Array, c: number, p: number): number[] {
  return Array.from({ length: c }, (_, k) => {
    let m = 0;
    for (let i = 0; i < p; i++) m += a[k * p + i] / p;
    let v = 0;
    for (let i = 0; i < p; i++) v += (a[k * p + i] - m) ** 2 / p;
    return v;
  });
}

/** Finer-CAM's score written with other ops than finer-cam.ts: slices by gather of single columns, softmax by exp / sum. */
function finerScore(output: string, main: number, comparison: readonly number[], alpha: number) {
  return functionTarget((values: TargetValues) => {
    const t = values[output];
    const k = t.size;
    const rows = reshape(t, [k]);
    const col = (d: number) => gather(rows, [d]);
    const e = exp(rows);
    const total = sum(e);
    let num: Tensor | null = null;
    let den: Tensor | null = null;
    for (const d of comparison) {
      const p = div(gather(e, [d]), total);
      const term = mul(p, sub(col(main), mul(col(d), tensor([alpha], [1]))));
      num = num ? add(num, term) : term;
      den = den ? add(den, p) : p;
    }
    return div(num!, add(den!, tensor([1e-9], [1])));
  }, `finer reference ${main} vs ${comparison.join(',')}`);
}

// ---- resnet_mini ------------------------------------------------------------------------------

describe('new CAMs on resnet_mini', () => {
  let model: OnnxGraphModel;
  let x: Tensor;
  let acts: Awaited<ReturnType<typeof forward>>;
  beforeAll(async () => {
    model = await loadOnnx(new Uint8Array(readFileSync(join(EXPLAIN_DIR, 'resnet_mini.onnx'))));
    x = tensor(miniInput('chelsea'), [1, 3, 32, 32]);
    acts = await forward(model, x, LAYER);
  });
  afterAll(() => {
    x?.dispose();
    model?.dispose();
  });

  test('KPCA-CAM: sqrt(lambda_1) u_1 of the double-centered kernel matrix (float64 Jacobi), every kernel', async () => {
    const { data, c, h, w } = acts;
    const rows: string[] = [];
    for (const kernel of ['sigmoid', 'rbf', 'linear', 'poly', 'cosine'] as const) {
      const { map, gap } = cpuKpca(data, c, h * w, kernel);
      expect(map.some((v) => v > 0)).toBe(true);
      const result = await explain(model, x, 'kpcacam', { layers: LAYER, kernel });
      const err = relError(result.raw[0].data, map);
      rows.push(`${kernel} ${err.toExponential(1)} (shifted gap ${gap.toFixed(3)})`);
      expect(err, kernel).toBeLessThan(2e-3);
    }
    // gamma is honoured: another gamma, another map, still the reference's.
    const { map } = cpuKpca(data, c, h * w, 'rbf', 0.01);
    const result = await explain(model, x, 'kpcacam', { layers: LAYER, kernel: 'rbf', gamma: 0.01 });
    expect(relError(result.raw[0].data, map)).toBeLessThan(2e-3);
    console.log(`KPCA-CAM vs float64 (max |diff| / max): ${rows.join(', ')}`);
  });

  test('KPCA-CAM with the linear kernel is Eigen-CAM; bad options are refused', async () => {
    const a = await explain(model, x, 'kpcacam', { layers: LAYER, kernel: 'linear' });
    const b = await explain(model, x, 'eigencam', { layers: LAYER });
    expect(relError(a.raw[0].data, b.raw[0].data)).toBeLessThan(2e-3);
    // @ts-expect-error not a kernel
    await expect(explain(model, x, 'kpcacam', { layers: LAYER, kernel: 'laplacian' })).rejects.toThrow(/kpcacam: kernel must be one of sigmoid, rbf/);
    await expect(explain(model, x, 'kpcacam', { layers: LAYER, gamma: -1 })).rejects.toThrow(/gamma must be a positive number/);
  });

  test('Finer-CAM = Grad-CAM of the comparative score written here; alpha 0 = Grad-CAM of the class', async () => {
    const logits = acts.logits;
    const comparison = similarClasses(logits, CLASS, 3);
    // The three closest logits, by a plain CPU sort.
    const byDistance = [...logits.keys()].filter((d) => d !== CLASS).sort((a, b) => Math.abs(logits[a] - logits[CLASS]) - Math.abs(logits[b] - logits[CLASS]));
    expect(comparison).toEqual(byDistance.slice(0, 3));
    for (const alpha of [1, 0.5]) {
      const finer = await explain(model, x, 'finercam', { layers: LAYER, target: classTarget(CLASS), alpha });
      expect(finer.target).toBe(`Finer-CAM: class ${CLASS} vs ${comparison.join(',')} (alpha ${alpha})`);
      expect(finer.category).toEqual([CLASS]);
      const reference = await explain(model, x, 'gradcam', { layers: LAYER, target: finerScore('logits', CLASS, comparison, alpha) });
      const err = relError(finer.raw[0].data, reference.raw[0].data);
      console.log(`Finer-CAM (alpha ${alpha}) vs Grad-CAM of the written-out score: ${err.toExponential(2)}, score ${finer.score[0]} vs ${reference.score[0]}`);
      expect(err).toBeLessThan(1e-4);
      expect(finer.score[0]).toBeCloseTo(reference.score[0], 4);
      expect(relError(finer.gradient!.data, reference.gradient!.data)).toBeLessThan(1e-4);
    }
    // augSmooth keeps the classes chosen on the unaugmented input.
    const aug = await explain(model, x, 'finercam', { layers: LAYER, target: classTarget(CLASS), augSmooth: true });
    expect(aug.target).toBe(`Finer-CAM: class ${CLASS} vs ${comparison.join(',')} (alpha 1)`);
    const zero = await explain(model, x, 'finercam', { layers: LAYER, target: classTarget(CLASS), alpha: 0 });
    const plain = await explain(model, x, 'gradcam', { layers: LAYER, target: classTarget(CLASS) });
    expect(relError(zero.raw[0].data, plain.raw[0].data)).toBeLessThan(1e-5);
    // Given comparison classes; the default target is the predicted class.
    const top = logits.indexOf(Math.max(...logits));
    const others = [...logits.keys()].filter((d) => d !== top).slice(1, 3);
    const given = await explain(model, x, 'finercam', { layers: LAYER, comparison: others });
    expect(given.target).toBe(`Finer-CAM: class ${top} vs ${others.join(',')} (alpha 1)`);
    await expect(explain(model, x, 'finercam', { layers: LAYER, comparison: [logits.length] })).rejects.toThrow(/comparison class 5 is out of range for 5 classes/);
    await expect(explain(model, x, 'finercam', { layers: LAYER, target: classTarget(CLASS), comparison: [CLASS] })).rejects.toThrow(/comparison class 4 is the explained class itself/);
    await expect(explain(model, x, 'finercam', { layers: LAYER, target: () => sum(tensor([1], [1])) })).rejects.toThrow(/finercam: the target .* is not a class score/);
  });

  test('DFF: the NMF matches a float64 replay of the same updates; its error never increases', async () => {
    const { data, c, h, w } = acts;
    const k = 4;
    const iterations = 60;
    const result = await deepFeatureFactorization(model, x, { layer: LAYER, concepts: k, iterations, seed: 3, history: true, topClasses: 3 });
    expect(result.raw.shape).toEqual([1, k, h, w]);
    expect(result.embeddings.shape).toEqual([c, k]);
    // V = activations minus each channel's minimum, [C, P].
    const p = h * w;
    const offset = Array.from({ length: c }, (_, i) => Math.min(...data.subarray(i * p, (i + 1) * p)));
    const v = Float64Array.from({ length: c * p }, (_, i) => data[i] - offset[Math.floor(i / p)]);
    let norm = 0;
    for (const y of v) norm += y * y;
    norm = Math.sqrt(norm);
    const cpu = cpuNmf(v, c, p, k, iterations, 3);
    // Monotone (up to float32 rounding of the error itself), and the same curve as float64.
    const errors = result.errors!;
    expect(errors.length).toBe(iterations + 1);
    for (let i = 1; i < errors.length; i++) expect(errors[i]).toBeLessThanOrEqual(errors[i - 1] * (1 + 1e-5) + 1e-7);
    expect(errors[iterations]).toBeLessThan(errors[0] * 0.5);
    const cpuRelative = cpu.errors.map((e) => e / norm);
    expect(relError(errors, cpuRelative)).toBeLessThan(1e-3);
    for (let i = 1; i < cpu.errors.length; i++) expect(cpu.errors[i]).toBeLessThanOrEqual(cpu.errors[i - 1] * (1 + 1e-12));
    // The factors themselves: H is the maps, W + offset the embeddings.
    const hErr = relError(result.raw.data, cpu.h);
    const embeddings = Float64Array.from({ length: c * k }, (_, i) => cpu.w[i] + offset[Math.floor(i / k)]);
    const wErr = relError(result.embeddings.data, embeddings);
    console.log(`DFF after ${iterations} updates: relative error ${errors[iterations].toFixed(4)} (float64 ${cpuRelative[iterations].toFixed(4)}); H ${hErr.toExponential(1)}, W + offset ${wErr.toExponential(1)} (max |diff| / max)`);
    expect(hErr).toBeLessThan(5e-3);
    expect(wErr).toBeLessThan(5e-3);
    // Maps: each concept upsampled and scaled to [0, 1].
    expect(result.maps.length).toBe(k * 32 * 32);
    for (let j = 0; j < k; j++) expect(Math.max(...result.maps.subarray(j * 1024, (j + 1) * 1024))).toBeCloseTo(1, 5);

    // Concept class scores: the linear head (weights from the graph, bias = logits - W GAP(A)) on each embedding.
    const head = findClassifierHead(modelGraph(model, 'test'), LAYER, c, [h, w]);
    const gap = Array.from({ length: c }, (_, i) => data.subarray(i * p, (i + 1) * p).reduce((s, y) => s + y, 0) / p);
    const bias = Array.from({ length: head.classes }, (_, cls) => acts.logits[cls] - gap.reduce((s, g, i) => s + head.weights[cls * c + i] * g, 0));
    const scores = Array.from({ length: k * head.classes }, (_, q) => {
      const [j, cls] = [Math.floor(q / head.classes), q % head.classes];
      return bias[cls] + Array.from({ length: c }, (_, i) => head.weights[cls * c + i] * result.embeddings.data[i * k + j]).reduce((s, y) => s + y, 0);
    });
    expect(result.scores!.shape).toEqual([k, head.classes]);
    expect(relError(result.scores!.data, scores)).toBeLessThan(1e-4);
    result.topClasses!.forEach((top, j) => {
      const row = scores.slice(j * head.classes, (j + 1) * head.classes);
      const order = [...row.keys()].sort((a, b) => row[b] - row[a]);
      expect(top.map((t) => t.classId)).toEqual(order.slice(0, 3));
      const z = row.reduce((s, y) => s + Math.exp(y), 0);
      expect(top[0].probability).toBeCloseTo(Math.exp(row[order[0]]) / z, 4);
    });

    // The CamMethod draws the concept that gives the class the highest probability.
    let seen: { chosen: number[]; rule: string } | undefined;
    const cam = await explain(model, x, 'dff', { layers: LAYER, target: classTarget(CLASS), concepts: k, iterations, seed: 3, onConcepts: (info) => (seen = info) });
    const probability = (j: number, cls: number) => {
      const row = scores.slice(j * head.classes, (j + 1) * head.classes);
      return Math.exp(row[cls]) / row.reduce((s, y) => s + Math.exp(y), 0);
    };
    const best = [...Array(k).keys()].sort((a, b) => probability(b, CLASS) - probability(a, CLASS))[0];
    expect(seen).toMatchObject({ chosen: [best], rule: 'class' });
    expect(relError(cam.raw[0].data, result.raw.data.subarray(best * p, (best + 1) * p))).toBeLessThan(1e-6);

    // The concept picture: every pixel in some concept's color, a legend row per concept.
    const photo = { width: 32, height: 32, data: new Uint8ClampedArray(32 * 32 * 4).fill(128) };
    const picture = conceptOverlay(photo, result.maps, 32, 32, result.topClasses!.map((t, j) => `${j}: class ${t[0].classId}`));
    expect(picture.width).toBe(32);
    expect(picture.height).toBeGreaterThan(32 + 4 * 9);
  });

  test('Faster-Score-CAM: topN = C is Score-CAM; topN = k masks the k highest-variance channels (CPU ranking)', async () => {
    const { data, c, h, w } = acts;
    const variances = cpuVariances(data, c, h * w);
    const ranked = [...variances.keys()].sort((a, b) => variances[b] - variances[a]);
    const a = tensor(data, [1, c, h, w]);
    const channels = [...Array(c).keys()];
    for (const k of [1, 5, c]) expect(await highestVariance(a, channels, k)).toEqual(ranked.slice(0, k).sort((p, q) => p - q));
    a.dispose();
    const target = classTarget(CLASS);
    const plain = await explain(model, x, 'scorecam', { layers: LAYER, target, batchSize: 8 });
    const all = await explain(model, x, 'scorecam', { layers: LAYER, target, batchSize: 8, topN: c });
    expect(relError(all.raw[0].data, plain.raw[0].data)).toBe(0);
    const k = 5;
    const progress: number[] = [];
    const faster = await explain(model, x, 'scorecam', { layers: LAYER, target, batchSize: 8, topN: k, onProgress: (_d: number, total: number) => progress.push(total) });
    expect(progress.every((t) => t === k)).toBe(true); // k masked copies, not C
    const kept = ranked.slice(0, k).sort((p, q) => p - q);
    const subset = await explain(model, x, 'scorecam', { layers: LAYER, target, batchSize: 8, channels: kept });
    expect(relError(faster.raw[0].data, subset.raw[0].data)).toBeLessThan(1e-6);
    expect(relError(faster.raw[0].data, plain.raw[0].data)).toBeGreaterThan(1e-3);
    await expect(explain(model, x, 'scorecam', { layers: LAYER, target, topN: c + 1 })).rejects.toThrow(/topN 17 is more than the 16 channels/);
    await expect(explain(model, x, 'scorecam', { layers: LAYER, target, topN: 0 })).rejects.toThrow(/topN must be a positive integer/);
  });

  test('no GPU buffer or tape node outlives a call', async () => {
    const target = classTarget(CLASS);
    const calls: [string, () => Promise<unknown>][] = [
      ['kpcacam', () => explain(model, x, 'kpcacam', { layers: LAYER, kernel: 'rbf' })],
      ['finercam', () => explain(model, x, 'finercam', { layers: LAYER, target })],
      ['dff', () => explain(model, x, 'dff', { layers: LAYER, target, concepts: 3, iterations: 20 })],
      ['deepFeatureFactorization', () => deepFeatureFactorization(model, x, { layer: LAYER, concepts: 3, iterations: 20, history: true })],
      ['scorecam topN', () => explain(model, x, 'scorecam', { layers: LAYER, target, topN: 3 })],
    ];
    for (const [name, call] of calls) await expectNoGrowth(name, call);
  });
});

// ---- nsfwjs MobileNetV2 (a real model) -----------------------------------------------------------

const NSFW = modelPath('nsfwjs_mobilenet_v2.onnx');
const haveNsfw = !!NSFW && existsSync(NSFW);

describe.skipIf(!haveNsfw)('new CAMs on nsfwjs MobileNetV2 (chelsea.png)', () => {
  const LOGITS = 'dense_3_pre';
  const OUT = 'out_relu'; // [1, 1280, 7, 7]
  let model: OnnxGraphModel;
  let x: Tensor;
  let acts: Awaited<ReturnType<typeof forward>>;
  beforeAll(async () => {
    model = await loadOnnx(new Uint8Array(readFileSync(NSFW!)));
    const img = resizeImage(decodeImage(new Uint8Array(readFileSync(join(EXPLAIN_FIXTURES, 'chelsea.png'))), 'chelsea.png'), 224, 224);
    const data = new Float32Array(3 * 224 * 224);
    for (let ch = 0; ch < 3; ch++) for (let i = 0; i < 224 * 224; i++) data[ch * 224 * 224 + i] = img.data[i * 4 + ch] / 255;
    x = tensor(data, [1, 3, 224, 224]);
    acts = await forward(model, x, OUT, LOGITS);
  });
  afterAll(() => {
    x?.dispose();
    model?.dispose();
  });

  test('KPCA-CAM (sigmoid) at out_relu equals the float64 kernel PCA', async () => {
    const { data, c, h, w } = acts;
    expect([c, h, w]).toEqual([1280, 7, 7]);
    const { map, gap } = cpuKpca(data, c, h * w, 'sigmoid');
    const result = await explain(model, x, 'kpcacam', { layers: OUT });
    const err = relError(result.raw[0].data, map);
    console.log(`KPCA-CAM on MobileNetV2: ${err.toExponential(2)} (shifted gap ${gap.toFixed(3)})`);
    expect(err).toBeLessThan(2e-3);
  });

  test('Finer-CAM on the Neutral logit = Grad-CAM of the written-out comparative score', async () => {
    const target = classTarget(2, { output: LOGITS }); // "Neutral"
    const comparison = similarClasses(acts.logits, 2, 3);
    const finer = await explain(model, x, 'finercam', { layers: OUT, target });
    const reference = await explain(model, x, 'gradcam', { layers: OUT, target: { ...finerScore(LOGITS, 2, comparison, 1), tensors: [LOGITS] } });
    const err = relError(finer.raw[0].data, reference.raw[0].data);
    console.log(`Finer-CAM on MobileNetV2 (2 vs ${comparison.join(',')}): ${err.toExponential(2)}`);
    expect(err).toBeLessThan(1e-3);
  });

  test('DFF without a linear head: the most active concept; the error decreases; no top classes', async () => {
    const result = await deepFeatureFactorization(model, x, { layer: OUT, concepts: 3, iterations: 40, history: true });
    expect(result.topClasses).toBeUndefined(); // three dense layers after the pooling: no GAP + linear head
    const e = result.errors!;
    for (let i = 1; i < e.length; i++) expect(e[i]).toBeLessThanOrEqual(e[i - 1] * (1 + 1e-5) + 1e-7);
    let info: { rule: string } | undefined;
    const cam = await explain(model, x, 'dff', { layers: OUT, target: classTarget(2, { output: LOGITS }), concepts: 3, iterations: 40, onConcepts: (c) => (info = c) });
    expect(info?.rule).toBe('energy');
    expect(Math.max(...cam.map)).toBeCloseTo(1, 5);
    console.log(`DFF on MobileNetV2 (k 3, 40 updates): relative error ${e[0].toFixed(3)} -> ${e[e.length - 1].toFixed(3)}`);
  });

  test('Faster-Score-CAM keeps the 2 highest-variance channels of 1280', async () => {
    const { data, c, h, w } = acts;
    const variances = cpuVariances(data, c, h * w);
    const kept = [...variances.keys()].sort((a, b) => variances[b] - variances[a]).slice(0, 2).sort((a, b) => a - b);
    const target = classTarget(2, { output: LOGITS });
    const faster = await explain(model, x, 'scorecam', { layers: OUT, target, topN: 2 });
    const subset = await explain(model, x, 'scorecam', { layers: OUT, target, channels: kept });
    expect(relError(faster.raw[0].data, subset.raw[0].data)).toBeLessThan(1e-6);
  });
});

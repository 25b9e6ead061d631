// Float64 CPU references for the gradient-free and input-space explainer tests:
// the model run on the importer's reference backend (engine/reference ops, no
// GPU code), bilinear resizing, a symmetric eigensolver, and comparisons.

import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { refTensor, type RefTensor } from '../../engine/reference/index.js';
import { executePlan, planGraph, type OnnxGraphModel } from '../../importers/onnx/index.js';
import { toFloat32 } from '../../importers/onnx/host-tensor.js';
import { ReferenceTape } from '../../engine/reference/tape.js';
import { referenceBackend } from '../../importers/onnx/reference-backend.js';
import { decodeImage } from '../../explainers/node-image.js';
import { resizeImage, toNchw } from '../../explainers/image.js';

const here = dirname(fileURLToPath(import.meta.url));
export const EXPLAIN_DIR = join(here, '../fixtures/explain');

/** A 32x32 photo of the explainer reference set ('chelsea', 'dog'), as the mini models take it. */
export function miniInput(name: 'chelsea' | 'dog'): Float32Array {
  const ref = JSON.parse(readFileSync(join(EXPLAIN_DIR, 'reference.json'), 'utf8')) as { inputs: Record<string, number[]> };
  return Float32Array.from(ref.inputs[name]);
}

/** text.png as the PP-OCR direction classifier's input [1, 3, 48, 192] (BGR, (v/255 - 0.5) / 0.5). */
export function ocrInput(): Float32Array {
  const img = resizeImage(decodeImage(readFileSync(join(EXPLAIN_DIR, 'text.png'))), 192, 48);
  return toNchw(img, { mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5], divisor: 255, order: 'bgr' });
}

export interface ReferenceRun {
  values: Map<string, RefTensor>;
  /** d (sum seed * y) / d input, when `seed` was given. */
  inputGradient?: RefTensor;
}

/**
 * Runs the model's graph (unfused, at its load shapes) in float64 on the CPU.
 * `replace` swaps a tensor as it is produced; with `seed` ({ name, gradient }),
 * backpropagates from that tensor to the input.
 */
export function referenceRun(
  model: OnnxGraphModel,
  input: ArrayLike<number>,
  want: readonly string[],
  options: { replace?: Record<string, (t: RefTensor) => RefTensor>; seed?: { name: string; gradient: ArrayLike<number> } } = {},
): ReferenceRun {
  const graph = model.graph;
  const inputInfo = graph.inputs[0];
  const tape = new ReferenceTape();
  const backend = referenceBackend(options.seed ? tape : undefined);
  const x = refTensor(inputInfo.shape, input);
  if (options.seed) tape.watch(x);
  const names = [...new Set([...want, ...(options.seed ? [options.seed.name] : [])])];
  const values = executePlan(planGraph(graph), backend, new Map([[inputInfo.name, x]]), names, {
    constant: (v) => refTensor(v.shape, toFloat32(v)),
    produced: (name, t) => options.replace?.[name]?.(t),
  });
  if (!options.seed) return { values };
  const y = values.get(options.seed.name)!;
  const grads = tape.backward(y, refTensor(y.shape, options.seed.gradient));
  return { values, inputGradient: grads.get(x) ?? refTensor(x.shape) };
}

/** Bilinear resize of [h, w] planes with aligned corners (torch UpsamplingBilinear2d). */
export function resizeAlignCorners(src: ArrayLike<number>, h: number, w: number, height: number, width: number): Float64Array {
  const out = new Float64Array(height * width);
  for (let y = 0; y < height; y++) {
    const fy = height > 1 ? (y * (h - 1)) / (height - 1) : 0;
    const y0 = Math.floor(fy);
    const y1 = Math.min(y0 + 1, h - 1);
    const wy = fy - y0;
    for (let x = 0; x < width; x++) {
      const fx = width > 1 ? (x * (w - 1)) / (width - 1) : 0;
      const x0 = Math.floor(fx);
      const x1 = Math.min(x0 + 1, w - 1);
      const wx = fx - x0;
      const top = src[y0 * w + x0] * (1 - wx) + src[y0 * w + x1] * wx;
      const bottom = src[y1 * w + x0] * (1 - wx) + src[y1 * w + x1] * wx;
      out[y * width + x] = top * (1 - wy) + bottom * wy;
    }
  }
  return out;
}

export function softmax(v: readonly number[]): number[] {
  const m = Math.max(...v);
  const e = v.map((x) => Math.exp(x - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((x) => x / s);
}

/**
 * Eigenvalues (descending) and eigenvectors (columns of `vectors`, row-major
 * n x n) of a symmetric matrix, by cyclic Jacobi rotations.
 */
export function symmetricEigen(matrix: ArrayLike<number>, n: number): { values: number[]; vectors: Float64Array } {
  const a = Float64Array.from(matrix);
  const v = new Float64Array(n * n);
  for (let i = 0; i < n; i++) v[i * n + i] = 1;
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0;
    for (let p = 0; p < n; p++) for (let q = p + 1; q < n; q++) off += a[p * n + q] ** 2;
    if (off < 1e-30) break;
    for (let p = 0; p < n; p++) {
      for (let q = p + 1; q < n; q++) {
        const apq = a[p * n + q];
        if (Math.abs(apq) < 1e-300) continue;
        const theta = (a[q * n + q] - a[p * n + p]) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let k = 0; k < n; k++) {
          const akp = a[k * n + p];
          const akq = a[k * n + q];
          a[k * n + p] = c * akp - s * akq;
          a[k * n + q] = s * akp + c * akq;
        }
        for (let k = 0; k < n; k++) {
          const apk = a[p * n + k];
          const aqk = a[q * n + k];
          a[p * n + k] = c * apk - s * aqk;
          a[q * n + k] = s * apk + c * aqk;
        }
        for (let k = 0; k < n; k++) {
          const vkp = v[k * n + p];
          const vkq = v[k * n + q];
          v[k * n + p] = c * vkp - s * vkq;
          v[k * n + q] = s * vkp + c * vkq;
        }
      }
    }
  }
  const order = Array.from({ length: n }, (_, i) => i).sort((i, j) => a[j * n + j] - a[i * n + i]);
  const vectors = new Float64Array(n * n);
  order.forEach((src, dst) => {
    for (let k = 0; k < n; k++) vectors[k * n + dst] = v[k * n + src];
  });
  return { values: order.map((i) => a[i * n + i]), vectors };
}

/** max |a - b| / max |b| (one definition, with the PyTorch reference fixtures). */
export { relError } from '../fixtures/explain/reference.js';

/** ReLU(sum_k w_k A_k) over the channels of A [C, P]. */
export function weightedSum(a: ArrayLike<number>, weights: readonly number[], positions: number): Float64Array {
  const out = new Float64Array(positions);
  weights.forEach((wk, k) => {
    for (let p = 0; p < positions; p++) out[p] += wk * a[k * positions + p];
  });
  return out.map((v) => Math.max(v, 0));
}

/** Deterministic values in [lo, hi) (mulberry32). */
export function uniform(n: number, lo: number, hi: number, seed: number): number[] {
  let a = seed >>> 0;
  return Array.from({ length: n }, () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return lo + (((t ^ (t >>> 14)) >>> 0) / 4294967296) * (hi - lo);
  });
}

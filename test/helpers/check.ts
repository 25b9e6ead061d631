// Gradient checking and GPU-vs-CPU comparison, used by every op test.
//
// Tolerances (stated once, here):
// - finite differences on the float64 reference: central differences with
//   h = 1e-6 (relative to |x|), |analytic - numeric| <= 1e-5 + 1e-4 * |numeric|.
// - GPU (float32) vs reference: |gpu - ref| <= atol + rtol * |ref| with
//   rtol = 1e-4 and atol = 1e-5 * max|ref| (scale-aware for sums of many terms);
//   ops with long reductions (conv, gemm) state looser ones in their cases.

import { seededRandom } from '../../engine/random.js';
import { reference, refTensor, type RefTensor } from '../../engine/reference/index.js';

/** Deterministic PRNG (mulberry32). */
export const rng = seededRandom;

export interface Tolerance {
  rtol: number;
  atol: number;
}

export const GPU_TOLERANCE: Tolerance = { rtol: 1e-4, atol: 1e-5 };

/** Largest violation of |a - b| <= atol*scale + rtol*|b|; returns null when within tolerance. */
export function compare(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: Tolerance): string | null {
  if (actual.length !== expected.length) return `length ${actual.length} != ${expected.length}`;
  let scale = 0;
  for (let i = 0; i < expected.length; i++) scale = Math.max(scale, Math.abs(expected[i]));
  const atol = tol.atol * Math.max(scale, 1);
  let worst = -1;
  let worstExcess = 0;
  for (let i = 0; i < expected.length; i++) {
    const diff = Math.abs(actual[i] - expected[i]);
    const allowed = atol + tol.rtol * Math.abs(expected[i]);
    if (!(diff <= allowed) && (worst < 0 || diff - allowed > worstExcess)) {
      worst = i;
      worstExcess = diff - allowed;
    }
  }
  if (worst < 0) return null;
  return `element ${worst}: got ${actual[worst]}, expected ${expected[worst]} (|diff| ${Math.abs(actual[worst] - expected[worst]).toExponential(2)}, scale ${scale.toExponential(2)})`;
}

/** L = sum_k <gy_k, y_k>: a scalar whose gradient is exactly the VJP with seeds gy. */
function vjpLoss(ys: RefTensor[], gys: RefTensor[]): number {
  let l = 0;
  ys.forEach((y, k) => y.data.forEach((v, i) => (l += v * gys[k].data[i])));
  return l;
}

/**
 * Checks the reference backward of `op` against central finite differences of
 * its reference forward. Checks at most `maxPoints` coordinates per input.
 * Returns a list of failures (empty when the gradient is right).
 */
export function finiteDifferenceCheck<A>(
  opName: string,
  inputs: RefTensor[],
  attrs: A,
  gys: RefTensor[],
  differentiable: boolean[],
  maxPoints = 64,
  random = rng(7),
): string[] {
  const op = (reference as Record<string, { forward(i: RefTensor[], a: A): RefTensor[]; backward(i: RefTensor[], a: A, y: RefTensor[], g: RefTensor[]): (RefTensor | null)[] }>)[opName];
  const ys = op.forward(inputs, attrs);
  const analytic = op.backward(inputs, attrs, ys, gys);
  const failures: string[] = [];
  inputs.forEach((x, k) => {
    if (!differentiable[k]) return;
    const g = analytic[k];
    if (!g) {
      failures.push(`input ${k}: reference backward returned no gradient`);
      return;
    }
    const n = x.data.length;
    const points = n <= maxPoints ? [...Array(n).keys()] : Array.from({ length: maxPoints }, () => Math.floor(random() * n));
    for (const i of points) {
      const saved = x.data[i];
      const h = 1e-6 * Math.max(1, Math.abs(saved));
      x.data[i] = saved + h;
      const lp = vjpLoss(op.forward(inputs, attrs), gys);
      x.data[i] = saved - h;
      const lm = vjpLoss(op.forward(inputs, attrs), gys);
      x.data[i] = saved;
      const numeric = (lp - lm) / (2 * h);
      const a = g.data[i];
      if (!(Math.abs(a - numeric) <= 1e-5 + 1e-4 * Math.abs(numeric))) {
        failures.push(`input ${k}[${i}]: analytic ${a}, numeric ${numeric}`);
        if (failures.length > 5) return;
      }
    }
  });
  return failures;
}

export function randomRef(shape: number[], random: () => number, range: [number, number], avoid: number[] = []): RefTensor {
  const t = refTensor(shape);
  for (let i = 0; i < t.data.length; i++) {
    let v: number;
    do v = range[0] + (range[1] - range[0]) * random();
    while (avoid.some((k) => Math.abs(v - k) < 0.02));
    // Round to float32 so GPU and reference see identical inputs.
    t.data[i] = Math.fround(v);
  }
  return t;
}

// One op case checked on the GPU: the reference gradient against finite
// differences (float64), then GPU forward and backward (through the tape)
// against the reference. ops.test.ts runs every case in f32; f16.test.ts runs
// them again with f16 storage (inputs rounded to f16 first, so the reference
// sees what the GPU holds, and a tolerance for f16 roundings of outputs and
// intermediates).

import { expect } from 'vitest';
import { add, backward, mul, ops, scopeAsync, sum, tensor, toHalf, fromHalf, type Tensor } from '../../engine/index.js';
import { reference, type RefTensor } from '../../engine/reference/index.js';
import { allCases } from '../engine/cases/index.js';
import { compare, finiteDifferenceCheck, GPU_TOLERANCE, randomRef, rng, type Tolerance } from './check.js';
import type { OpCase } from '../engine/op-cases.js';

type AnyCase = OpCase<keyof typeof ops>;
type AnyRef = { forward(i: RefTensor[], a: unknown): RefTensor[]; backward(i: RefTensor[], a: unknown, y: RefTensor[], g: RefTensor[]): (RefTensor | null)[] };
type AnyOp = (inputs: readonly Tensor[], attrs: unknown) => Tensor[];

/**
 * f16 storage against a float64 reference on the same (f16-rounded) inputs:
 * each stored tensor is rounded to 11 significant bits (relative 4.9e-4), and
 * an op's intermediates and saved tensors are stored too, so a few roundings
 * add up; accumulation is f32, so long sums add nothing beyond that.
 */
export const F16_TOLERANCE: Tolerance = { rtol: 4e-3, atol: 2e-3 };

export const caseLabels = (name: keyof typeof ops) =>
  ((allCases[name] ?? []) as AnyCase[]).map((c, i) => [c.label ?? `${JSON.stringify(c.inputs)} ${JSON.stringify(c.attrs)}`, i] as const);

const roundToHalf = (x: RefTensor): RefTensor => ({ ...x, data: Float64Array.from(fromHalf(toHalf(x.data, 'test input'))) });

/** Case i of op `name`: reference vs finite differences, GPU forward and backward vs the reference. */
export async function checkCase(name: keyof typeof ops, i: number, precision: 'f32' | 'f16' = 'f32'): Promise<void> {
  const cases = (allCases[name] ?? []) as AnyCase[];
  const c = cases[i];
  const random = rng(1000 + i);
  const rangeOf = (k: number): [number, number] =>
    Array.isArray(c.range?.[0]) ? (c.range as [number, number][])[k] : ((c.range as [number, number]) ?? [-2, 2]);
  const f16 = precision === 'f16';
  const inputs = c.inputs.map((s, k) => randomRef(s, random, rangeOf(k), c.avoid)).map((x) => (f16 ? roundToHalf(x) : x));
  const differentiable = c.inputs.map((_, k) => !c.noGrad?.includes(k));
  const ref = (reference as unknown as Record<string, AnyRef>)[name];
  const ys = ref.forward(inputs, c.attrs);
  const gys = ys.map((y) => randomRef(y.shape, random, [-1, 1])).map((g) => (f16 ? roundToHalf(g) : g));

  // (1) reference gradient vs finite differences (once, in the f32 run)
  if (!f16) {
    const fd = finiteDifferenceCheck(name, inputs, c.attrs, gys, differentiable);
    expect(fd, `finite differences of reference '${name}'`).toEqual([]);
  }
  const refGrads = ref.backward(inputs, c.attrs, ys, gys);

  // (2) and (3) on the GPU
  const tol = f16 ? widest(F16_TOLERANCE, c.tolerance) : (c.tolerance ?? GPU_TOLERANCE);
  await scopeAsync(async () => {
    // The op runs in its inputs' precision, and so does its backward.
    const xs = inputs.map((x, k) => tensor(Float32Array.from(x.data), x.shape, { requiresGrad: differentiable[k], dtype: precision }));
    const outs = (ops[name] as unknown as AnyOp)(xs, c.attrs);
    expect(outs.length).toBe(ys.length);
    for (let k = 0; k < ys.length; k++) {
      expect(outs[k].shape).toEqual(ys[k].shape);
      const err = compare(await outs[k].data(), ys[k].data, tol);
      expect(err, `forward output ${k}`).toBeNull();
    }
    if (!differentiable.some(Boolean)) return;
    // L = sum_k <gy_k, y_k>, so dL/dx is the VJP with seeds gy.
    let loss: Tensor | null = null;
    outs.forEach((y, k) => {
      if (y.dtype === 'u32') return; // indices (maxPool's): no gradient
      const term = sum(mul(y, tensor(Float32Array.from(gys[k].data), gys[k].shape, { dtype: precision })));
      loss = loss ? add(loss, term) : term;
    });
    backward(loss!);
    for (let k = 0; k < xs.length; k++) {
      if (!differentiable[k]) continue;
      expect(xs[k].grad, `gradient of input ${k}`).not.toBeNull();
      const err = compare(await xs[k].grad!.data(), refGrads[k]!.data, tol);
      expect(err, `gradient of input ${k}`).toBeNull();
    }
  });
}

const widest = (a: Tolerance, b?: Tolerance): Tolerance => (b ? { rtol: Math.max(a.rtol, b.rtol), atol: Math.max(a.atol, b.atol) } : a);

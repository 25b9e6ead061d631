// Every registered op: (1) its reference backward matches finite differences
// of its reference forward (float64); (2) GPU forward matches the reference;
// (3) GPU backward through the tape matches the reference backward.

import { describe, expect, test } from 'vitest';
import { add, backward, mul, ops, runtime, scopeAsync, sum, tensor, type Tensor } from '../../engine/index.js';
import { reference, type RefTensor } from '../../engine/reference/index.js';
import { allCases } from './cases/index.js';
import { compare, finiteDifferenceCheck, GPU_TOLERANCE, randomRef, rng } from '../helpers/check.js';
import type { OpCase } from './op-cases.js';

const names = Object.keys(ops) as (keyof typeof ops)[];

test('every registered op has test cases', () => {
  const missing = names.filter((n) => !allCases[n]?.length);
  expect(missing, `ops without cases in test/cases: ${missing.join(', ')}`).toEqual([]);
});

type AnyCase = OpCase<keyof typeof ops>;
type AnyRef = { forward(i: RefTensor[], a: unknown): RefTensor[]; backward(i: RefTensor[], a: unknown, y: RefTensor[], g: RefTensor[]): (RefTensor | null)[] };
type AnyOp = (inputs: readonly Tensor[], attrs: unknown) => Tensor[];

const caseLabels = (name: keyof typeof ops) =>
  ((allCases[name] ?? []) as AnyCase[]).map((c, i) => [c.label ?? `${JSON.stringify(c.inputs)} ${JSON.stringify(c.attrs)}`, i] as const);

describe.each(names)('%s', (name) => {
  test.each(caseLabels(name))('%s', (_label, i) => checkCase(name, i));
});

// gemm and conv2d have two kernels each, workgroup-tiled (GPUs) and direct
// (CPU-backed adapters; DeviceHandle.workgroupTiles): the ops that reach them
// run again on the kernels this adapter does not pick.
describe.each(['conv2d', 'convTranspose2d', 'matmul', 'gemm'] as const)('%s on the other GEMM kernels (workgroupTiles flipped)', (name) => {
  test.each(caseLabels(name))('%s', async (_label, i) => {
    const rt = runtime();
    const saved = rt.workgroupTiles;
    rt.workgroupTiles = !saved;
    try {
      await checkCase(name, i);
    } finally {
      rt.workgroupTiles = saved;
    }
  });
});

/** Case i of op `name`: reference vs finite differences, GPU forward and backward vs the reference. */
async function checkCase(name: keyof typeof ops, i: number): Promise<void> {
  const cases = (allCases[name] ?? []) as AnyCase[];
  const c = cases[i];
  const random = rng(1000 + i);
  const rangeOf = (k: number): [number, number] =>
    Array.isArray(c.range?.[0]) ? (c.range as [number, number][])[k] : ((c.range as [number, number]) ?? [-2, 2]);
  const inputs = c.inputs.map((s, k) => randomRef(s, random, rangeOf(k), c.avoid));
  const differentiable = c.inputs.map((_, k) => !c.noGrad?.includes(k));
  const ref = (reference as unknown as Record<string, AnyRef>)[name];
  const ys = ref.forward(inputs, c.attrs);
  const gys = ys.map((y) => randomRef(y.shape, random, [-1, 1]));

  // (1) reference gradient vs finite differences
  const fd = finiteDifferenceCheck(name, inputs, c.attrs, gys, differentiable);
  expect(fd, `finite differences of reference '${name}'`).toEqual([]);
  const refGrads = ref.backward(inputs, c.attrs, ys, gys);

  // (2) and (3) on the GPU
  const tol = c.tolerance ?? GPU_TOLERANCE;
  await scopeAsync(async () => {
    const xs = inputs.map((x, k) => tensor(Float32Array.from(x.data), x.shape, { requiresGrad: differentiable[k] }));
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
      const term = sum(mul(y, tensor(Float32Array.from(gys[k].data), gys[k].shape)));
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

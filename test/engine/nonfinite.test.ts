// Non-finite values are never hidden. Every registered op runs its test cases
// (test/engine/cases) with a NaN, a +inf and a -inf written into its data input
// (both inputs of a binary op) at known positions; on the GPU the outputs must
// be NaN exactly where the float64 oracle's are, the same infinity where it has
// one, and finite elsewhere within the op tests' tolerance. The oracle states
// the contract (IEEE arithmetic, as onnxruntime): NaN propagates through
// activations, pools, reductions and softmax, -inf * 0 is NaN, sigmoid(-inf) is
// 0, clip clamps infinities. Forward runs untaped, so conv2d takes its fused
// epilogue; extra cases fuse every activation of the ACTIVATIONS table on each
// conv path. Backward, with the values in x (the activation family, max-pool
// and the max/min reductions, whose derivatives branch on x): a NaN x gives a
// NaN derivative for the piecewise activations, and a max / min routes its
// gradient to the NaN input it selected. Backward of every op with the values
// in the upstream gradient: they reach the input gradients as the oracle's
// chain rule takes them.

import { describe, expect, test } from 'vitest';
import * as host from '../../engine/host.js';
import {
  add,
  assertFinite,
  backward,
  firstNonFinite,
  FUSABLE_KINDS,
  GradlensError,
  mul,
  NonFiniteError,
  ops,
  scopeAsync,
  sum,
  tensor,
  type Activation,
  type FusableKind,
  type Tensor,
} from '../../engine/index.js';
import { binaryRows, unaryRows } from '../../engine/ops/elementwise.js';
import { reference, type RefTensor } from '../../engine/reference/index.js';
import { allCases } from './cases/index.js';
import { compare, GPU_TOLERANCE, randomRef, rng, type Tolerance } from '../helpers/check.js';
import type { OpCase } from './op-cases.js';

type Name = keyof typeof ops;
type AnyCase = OpCase<Name>;
type AnyRef = { forward(i: RefTensor[], a: unknown): RefTensor[]; backward(i: RefTensor[], a: unknown, y: RefTensor[], g: RefTensor[]): (RefTensor | null)[] };
type AnyOp = (inputs: readonly Tensor[], attrs: unknown) => Tensor[];

const names = Object.keys(ops) as Name[];
const binaryOps = new Set<string>(Object.keys(binaryRows));

/** Parameters of the fused-activation cases; typed over the ACTIVATIONS table, so a new kind needs one. */
const fusedParams: { [K in FusableKind]: Omit<Activation, 'kind'> } = {
  relu: {},
  leakyRelu: { alpha: 0.2 },
  sigmoid: {},
  silu: {},
  clip: { alpha: -0.5, beta: 0.7 },
};

// The conv paths whose epilogue applies the activation: implicit GEMM, 1x1 (gemm.wgsl), depthwise.
const convPaths = [
  { label: 'k3 pad 1', inputs: [[1, 3, 6, 6], [4, 3, 3, 3], [4]], attrs: { pads: [1, 1, 1, 1] } },
  { label: '1x1', inputs: [[1, 4, 3, 5], [3, 4, 1, 1], [3]], attrs: {} },
  { label: 'depthwise', inputs: [[1, 3, 5, 5], [3, 1, 3, 3], [3]], attrs: { groups: 3, pads: [1, 1, 1, 1] } },
];
const fusedCases = FUSABLE_KINDS.flatMap((kind) =>
  convPaths.map((c) => ({ ...c, label: `${c.label}, fused ${kind}`, attrs: { ...c.attrs, activation: { kind, ...fusedParams[kind] } }, tolerance: { rtol: 1e-4, atol: 1e-4 } })),
) as AnyCase[];

const casesOf = (name: Name): AnyCase[] => [...((allCases[name] ?? []) as AnyCase[]), ...(name === 'conv2d' ? fusedCases : [])];

const VALUES = [NaN, Infinity, -Infinity];

/**
 * Random inputs as in ops.test.ts, then VALUES written into input 0 (and
 * input 1 of a binary op) at fractions 1/6, 3/6, 5/6 of its elements (shifted
 * by one for input 1). -inf only enters inputs whose range reaches below 0
 * (pow's base is defined for a > 0). Inputs with fewer than 3 elements stay finite.
 */
function inputsOf(name: Name, c: AnyCase, seed: number): RefTensor[] {
  const inputs = finiteInputs(c, rng(seed));
  inputs.forEach((x, k) => {
    const n = x.data.length;
    if ((k === 0 || (k === 1 && binaryOps.has(name))) && n >= VALUES.length) {
      VALUES.forEach((v, j) => {
        if (v === -Infinity && rangeOf(c, k)[0] >= 0) return;
        x.data[(Math.floor(((2 * j + 1) * n) / 6) + k) % n] = v;
      });
    }
  });
  return inputs;
}

/** The case's value range of input k (default [-2, 2]). */
const rangeOf = (c: AnyCase, k: number): [number, number] =>
  Array.isArray(c.range?.[0]) ? (c.range as [number, number][])[k] : ((c.range as [number, number]) ?? [-2, 2]);

/** Random inputs in the case's ranges, as ops.test.ts draws them. */
const finiteInputs = (c: AnyCase, random: () => number): RefTensor[] => c.inputs.map((s, k) => randomRef(s, random, rangeOf(c, k), c.avoid));

const kind = (v: number) => (Number.isNaN(v) ? 'NaN' : v === Infinity ? '+inf' : v === -Infinity ? '-inf' : 'finite');

/** Null when `actual` is non-finite exactly where `expected` is (same kind) and within `tol` elsewhere. */
function checkNonFinite(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: Tolerance): string | null {
  if (actual.length !== expected.length) return `length ${actual.length} != ${expected.length}`;
  const finite: number[] = [];
  for (let i = 0; i < expected.length; i++) {
    if (kind(actual[i]) !== kind(expected[i])) return `element ${i}: got ${actual[i]}, expected ${expected[i]}`;
    if (kind(expected[i]) === 'finite') finite.push(i);
  }
  return compare(
    finite.map((i) => actual[i]),
    finite.map((i) => expected[i]),
    tol,
  );
}

const hasNonFinite = (ts: { data: ArrayLike<number> }[]) => ts.some((t) => Array.from(t.data).some((v) => !Number.isFinite(v)));

/** Ops whose reference output held a non-finite value in at least one case (checked last). */
const exercised = new Set<Name>();

test('every registered op has cases', () => {
  const missing = names.filter((n) => !casesOf(n).length);
  expect(missing, `ops without cases in test/engine/cases: ${missing.join(', ')}`).toEqual([]);
});

describe.each(names)('%s forward', (name) => {
  const cases = casesOf(name);
  test.each(cases.map((c, i) => [c.label ?? `${JSON.stringify(c.inputs)} ${JSON.stringify(c.attrs)}`, i] as const))('%s', async (_label, i) => {
    const c = cases[i];
    const inputs = inputsOf(name, c, 2000 + i);
    const ys = (reference as unknown as Record<string, AnyRef>)[name].forward(inputs, c.attrs);
    if (hasNonFinite(ys)) exercised.add(name);
    await scopeAsync(async () => {
      const xs = inputs.map((x) => tensor(Float32Array.from(x.data), x.shape));
      const outs = (ops[name] as unknown as AnyOp)(xs, c.attrs);
      expect(outs.length).toBe(ys.length);
      for (let k = 0; k < ys.length; k++) {
        expect(checkNonFinite(await outs[k].data(), ys[k].data, c.tolerance ?? GPU_TOLERANCE), `output ${k}`).toBeNull();
      }
    });
  });
});

// Backward, on each op's first case: the activation family (neg's derivative
// does not read x) and the selections (max-pool, max / min reductions).
const selections: Name[] = ['maxPool', 'globalMaxPool', 'max', 'min'];
const backwardNames = [...(Object.keys(unaryRows) as Name[]).filter((n) => n !== 'neg'), ...selections];

describe.each(backwardNames)('%s backward', (name) => {
  test('NaN and infinities in x', async () => {
    const c = casesOf(name)[0];
    const inputs = inputsOf(name, c, 3000);
    const ref = (reference as unknown as Record<string, AnyRef>)[name];
    const ys = ref.forward(inputs, c.attrs);
    const random = rng(3001);
    const gys = ys.map((y) => randomRef(y.shape, random, [-1, 1]));
    const [expected] = ref.backward(inputs, c.attrs, ys, gys);
    // The contract at the NaN input: a NaN derivative, or for a selection the gradient it routed there.
    const nanAt = [...inputs[0].data.keys()].filter((i) => Number.isNaN(inputs[0].data[i]));
    expect(nanAt.length).toBe(1);
    const g = expected!.data[nanAt[0]];
    if (selections.includes(name)) expect(Number.isFinite(g) && g !== 0, `gradient ${g} at the NaN input`).toBe(true);
    else expect(g, 'gradient at the NaN input').toBeNaN();
    await scopeAsync(async () => {
      const x = tensor(Float32Array.from(inputs[0].data), inputs[0].shape, { requiresGrad: true });
      const outs = (ops[name] as unknown as AnyOp)([x], c.attrs);
      // L = sum_k <gy_k, y_k>: dL/dx is the VJP with seeds gy.
      // u32 outputs (maxPool's indices) get no gradient
      const loss = outs.flatMap((y, k) => (y.dtype === 'u32' ? [] : [sum(mul(y, tensor(Float32Array.from(gys[k].data), gys[k].shape)))])).reduce((a, b) => add(a, b));
      backward(loss);
      expect(checkNonFinite(await x.grad!.data(), expected!.data, c.tolerance ?? GPU_TOLERANCE)).toBeNull();
    });
  });
});

/**
 * Like checkNonFinite, but the GPU may also be NaN where the oracle is finite:
 * conv2d's weight gradient (an implicit GEMM) multiplies the upstream gradient
 * by the padding's zeros (0 * NaN is NaN, as with onnxruntime's zero padding),
 * where the oracle skips padded taps. Never the reverse.
 */
function checkCovers(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: Tolerance): string | null {
  if (actual.length !== expected.length) return `length ${actual.length} != ${expected.length}`;
  const both: number[] = [];
  for (let i = 0; i < expected.length; i++) {
    if (!Number.isFinite(expected[i]) && Number.isFinite(actual[i])) return `element ${i}: got ${actual[i]}, expected ${expected[i]}`;
    if (Number.isFinite(expected[i]) && !Number.isNaN(actual[i])) {
      if (!Number.isFinite(actual[i])) return `element ${i}: got ${actual[i]}, expected ${expected[i]}`;
      both.push(i);
    }
  }
  return compare(
    both.map((i) => actual[i]),
    both.map((i) => expected[i]),
    tol,
  );
}

/** Input gradients that sum products with the padding's zeros on the GPU. */
const paddedProducts: Partial<Record<Name, number[]>> = { conv2d: [1] };

// Backward of every op with finite inputs and the non-finite values in the
// upstream gradient of output 0 (every case): they must reach the input
// gradients where the oracle's chain rule takes them.
describe.each(names)('%s backward, upstream', (name) => {
  const cases = casesOf(name);
  test.each(cases.map((c, i) => [c.label ?? `${JSON.stringify(c.inputs)} ${JSON.stringify(c.attrs)}`, i] as const))('%s', async (_label, i) => {
    const c = cases[i];
    const random = rng(4000 + i);
    const inputs = finiteInputs(c, random);
    const differentiable = c.inputs.map((_, k) => !c.noGrad?.includes(k));
    const ref = (reference as unknown as Record<string, AnyRef>)[name];
    const ys = ref.forward(inputs, c.attrs);
    const gys = ys.map((y) => randomRef(y.shape, random, [-1, 1]));
    const n = gys[0].data.length;
    if (n >= VALUES.length) VALUES.forEach((v, j) => (gys[0].data[Math.floor(((2 * j + 1) * n) / 6)] = v));
    const expected = ref.backward(inputs, c.attrs, ys, gys);
    await scopeAsync(async () => {
      const xs = inputs.map((x, k) => tensor(Float32Array.from(x.data), x.shape, { requiresGrad: differentiable[k] }));
      const outs = (ops[name] as unknown as AnyOp)(xs, c.attrs);
      // u32 outputs (maxPool's indices) get no gradient
      const loss = outs.flatMap((y, k) => (y.dtype === 'u32' ? [] : [sum(mul(y, tensor(Float32Array.from(gys[k].data), gys[k].shape)))])).reduce((a, b) => add(a, b));
      backward(loss);
      for (let k = 0; k < xs.length; k++) {
        if (!differentiable[k]) continue;
        const check = paddedProducts[name]?.includes(k) ? checkCovers : checkNonFinite;
        expect(check(await xs[k].grad!.data(), expected[k]!.data, c.tolerance ?? GPU_TOLERANCE), `gradient of input ${k}`).toBeNull();
      }
    });
  });
});

test('every op produced a non-finite output in some case', () => {
  const quiet = names.filter((n) => !exercised.has(n));
  expect(quiet, `ops whose cases never carry a non-finite value to an output: ${quiet.join(', ')}`).toEqual([]);
});

describe('host checks (GPU-free, for the explainer and CLI boundaries)', () => {
  test('firstNonFinite: the first NaN or infinity, -1 when all are finite', () => {
    expect(host.firstNonFinite).toBe(firstNonFinite);
    expect(firstNonFinite([])).toBe(-1);
    expect(firstNonFinite(Float32Array.of(0, -3.4e38, 1e-45, 2))).toBe(-1);
    expect(firstNonFinite([1, 2, NaN, Infinity])).toBe(2);
    expect(firstNonFinite(Float32Array.of(1, Infinity, NaN))).toBe(1);
    expect(firstNonFinite(new Float64Array([0, 0, 0, -Infinity]))).toBe(3);
  });

  test('assertFinite throws NonFiniteError naming the value, index, element and shape', () => {
    expect(host.assertFinite).toBe(assertFinite);
    expect(host.NonFiniteError).toBe(NonFiniteError);
    expect(() => assertFinite("input 'images'", new Float32Array(12), [1, 3, 2, 2])).not.toThrow();
    const data = new Float32Array(1 * 3 * 320 * 320);
    data[1234] = NaN;
    data[2000] = Infinity;
    let error: unknown;
    try {
      assertFinite("input 'images'", data, [1, 3, 320, 320]);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(NonFiniteError);
    expect(error).toBeInstanceOf(GradlensError);
    const e = error as NonFiniteError;
    expect([e.name, e.what, e.index, e.value]).toEqual(['NonFiniteError', "input 'images'", 1234, NaN]);
    // 1234 = 3 * 320 + 274
    expect(e.message).toBe("input 'images' holds NaN at index 1234 (element [0, 0, 3, 274] of [1, 3, 320, 320]): gradlens refuses non-finite values");
    expect(() => assertFinite('score', [0.5, -Infinity])).toThrow(/^score holds -Infinity at index 1: gradlens refuses non-finite values$/);
    expect(() => assertFinite('map', [Infinity], [1, 1])).toThrow(/map holds Infinity at index 0 \(element \[0, 0\] of \[1, 1\]\)/);
  });

  test('assertFinite rejects a shape that does not match the data', () => {
    expect(() => assertFinite('map', [1, 2, 3], [2, 2])).toThrow(/shape \[2, 2\] has 4 elements, data has 3/);
  });
});

// Higher-order gradients (backward with createGraph, tape.grad): Hessian-vector
// products H v = d/de grad f(p + e v) at e = 0 on small composed graphs, against
//  (a) the float64 reference: central differences of the float64 tape's
//      gradient (engine/reference/tape.ts), step 1e-4 (truncation ~1e-8 for
//      these smooth graphs, rounding ~1e-12): an oracle good to ~1e-7;
//  (b) central differences of the GPU's own float32 gradient (step 1e-2):
//      independent of the double-backward code, noisier (~1e-3).
// Also: first-order gradients are unchanged by createGraph, the pool does not
// grow over repeated createGraph runs, and a node without a differentiable rule
// is a typed error naming the op.

import { describe, expect, test } from 'vitest';
import {
  backward,
  MissingDoubleBackward,
  ops,
  runtime,
  scopeAsync,
  sum,
  mul,
  add,
  tape,
  Tensor,
  type AttrsOf,
  type OpName,
} from '../../engine/index.js';
import { ReferenceTape } from '../../engine/reference/tape.js';
import { refTensor, type RefTensor } from '../../engine/reference/index.js';
import { compare, rng } from '../helpers/check.js';

type Apply<T> = <K extends OpName>(op: K, inputs: T[], attrs: AttrsOf<K>) => T[];
type Shapes = Record<string, readonly number[]>;

interface Case {
  name: string;
  shapes: Shapes;
  /** The leaves H v is taken over (the others are constants). */
  wrt: readonly string[];
  /** Value range per leaf (default [-1, 1]). */
  range?: Record<string, [number, number]>;
  /** Step of the GPU's float32 central differences (default 1e-2; smaller where a max's argmax is near a tie). */
  fdStep?: number;
  net<T>(apply: Apply<T>, p: Record<string, T>): T;
}

const CASES: Case[] = [
  {
    // conv + fused SiLU, batchNorm (eval), sigmoid, broadcast mul, concat, square, GAP, flatten, gemm, softmax
    name: 'conv(SiLU) -> BN -> sigmoid gate -> concat / split -> GAP -> gemm -> softmax',
    shapes: { x: [1, 2, 5, 5], w: [3, 2, 3, 3], b: [3], scale: [3], shift: [3], mean: [3], variance: [3], gain: [3, 1, 1], fc: [4, 6], fcb: [4] },
    wrt: ['x', 'w', 'b', 'scale', 'gain', 'fc'],
    range: { variance: [0.5, 1.5] },
    net(apply, p) {
      const [z] = apply('conv2d', [p.x, p.w, p.b], { pads: [1, 1, 1, 1], activation: { kind: 'silu' } });
      const [n] = apply('batchNorm', [z, p.scale, p.shift, p.mean, p.variance], { epsilon: 1e-5 });
      const [s] = apply('sigmoid', [n], {});
      const [m] = apply('mul', [s, p.gain], {});
      const [c] = apply('concat', [m, z], { axis: 1 });
      const [c1, c2] = apply('split', [c], { axis: 1, sizes: [2, 4] });
      const [q] = apply('mul', [apply('concat', [c2, c1], { axis: 1 })[0], c], {});
      const [pooled] = apply('globalAveragePool', [q], {});
      const [f] = apply('flatten', [pooled], { axis: 1 });
      const [logits] = apply('gemm', [f, p.fc, p.fcb], { transB: true });
      const [probs] = apply('softmax', [logits], { axis: -1 });
      const [weighted] = apply('mul', [probs, logits], {});
      return apply('sum', [weighted], {})[0];
    },
  },
  {
    // strided conv with fused sigmoid, a residual add of a strided slice, tanh, exp, div, mean, sub, log-softmax, transpose
    name: 'strided conv(sigmoid) + slice residual -> hardSwish / tanh / exp / div / sqrt / pow / log / neg -> mean -> logSoftmax -> pad',
    shapes: { x: [2, 2, 6, 6], w: [2, 2, 3, 3], d: [2, 1, 1] },
    wrt: ['x', 'w', 'd'],
    range: { d: [1, 4] },
    fdStep: 1e-3, // hardSwish' jumps at +-3
    net(apply, p) {
      const [z] = apply('conv2d', [p.x, p.w], { strides: [2, 2], pads: [1, 1, 1, 1], activation: { kind: 'sigmoid' } });
      const [crop] = apply('slice', [p.x], { starts: [0, 0], ends: [3, 3], axes: [2, 3] });
      const [r] = apply('add', [z, crop], {});
      const [t] = apply('tanh', [apply('hardSwish', [apply('mul', [r, p.d], {})[0]], {})[0]], {});
      const [e] = apply('exp', [r], {});
      const [q] = apply('div', [t, p.d], {});
      const [sq] = apply('sqrt', [e], {});
      const [pw] = apply('pow', [sq, p.d], {});
      const [extra] = apply('add', [apply('log', [sq], {})[0], apply('neg', [pw], {})[0]], {});
      const [u] = apply('add', [apply('sub', [apply('mul', [q, e], {})[0], t], {})[0], extra], {});
      const [avg] = apply('mean', [u], { axes: [3] });
      const [tr] = apply('transpose', [avg], { perm: [0, 2, 1] });
      const [ls] = apply('logSoftmax', [tr], { axis: -1 });
      const [padded] = apply('pad', [ls], { pads: [0, 0, 1, 0, 0, 1] });
      return apply('sum', [apply('mul', [padded, padded], {})[0]], {})[0];
    },
  },
  {
    // the pooling and routing ops: maxPool (its gradient and gather ops), resize, averagePool, globalMaxPool, matmul, max, gather
    name: 'conv -> SiLU -> depthwise dilated conv (leakyRelu) -> maxPool -> resize x2 -> averagePool * globalMaxPool -> matmul -> max / gather',
    shapes: { x: [1, 2, 6, 6], w: [3, 2, 3, 3], dw: [3, 1, 3, 3], m: [9, 4] },
    wrt: ['x', 'w', 'dw', 'm'],
    fdStep: 1e-3,
    net(apply, p) {
      const [z] = apply('conv2d', [p.x, p.w], { pads: [1, 1, 1, 1] });
      const [s0] = apply('silu', [z], {});
      const [d] = apply('conv2d', [s0, p.dw], { pads: [2, 2, 2, 2], dilations: [2, 2], groups: 3, activation: { kind: 'leakyRelu', alpha: 0.1 } });
      const [s] = apply('add', [s0, apply('mul', [d, s0], {})[0]], {});
      const [mp] = apply('maxPool', [s], { kernelShape: [2, 2], strides: [2, 2] });
      const [up] = apply('resize', [mp], { mode: 'linear', sizes: [6, 6] });
      const [near] = apply('resize', [mp], { mode: 'nearest', scales: [2, 2] });
      const [r] = apply('mul', [apply('add', [up, near], {})[0], s], {});
      const [ap] = apply('averagePool', [r], { kernelShape: [2, 2], strides: [2, 2] });
      const [gmp] = apply('globalMaxPool', [r], {});
      const [flat] = apply('reshape', [apply('mul', [ap, gmp], {})[0]], { shape: [3, 9] });
      const [mm] = apply('matmul', [flat, p.m], {});
      const [mx] = apply('max', [mm], { axes: [1] });
      const [picked] = apply('gather', [apply('reshape', [mm], { shape: [12] })[0]], { indices: [0, 5, 7, 11, 5] });
      const [a] = apply('sum', [apply('mul', [mx, mx], {})[0]], {});
      const [b] = apply('sum', [apply('mul', [picked, apply('tanh', [picked], {})[0]], {})[0]], {});
      return apply('add', [a, b], {})[0];
    },
  },
];

function values(c: Case, seed: number): Record<string, number[]> {
  const random = rng(seed);
  return Object.fromEntries(
    Object.entries(c.shapes).map(([k, s]) => {
      const [lo, hi] = c.range?.[k] ?? [-1, 1];
      return [k, Array.from({ length: s.reduce((a, b) => a * b, 1) }, () => lo + random() * (hi - lo))];
    }),
  );
}

/** The float64 gradient of the case's scalar at `p` over the `wrt` leaves. */
function refGradient(c: Case, p: Record<string, number[]>): Record<string, Float64Array> {
  const twin = new ReferenceTape();
  const leaves = Object.fromEntries(Object.entries(c.shapes).map(([k, s]) => [k, refTensor([...s], p[k])])) as Record<string, RefTensor>;
  for (const k of c.wrt) twin.watch(leaves[k]);
  const loss = c.net<RefTensor>((op, inputs, attrs) => twin.apply(op, inputs, attrs), leaves);
  const grads = twin.backward(loss, refTensor([], [1]));
  return Object.fromEntries(c.wrt.map((k) => [k, grads.get(leaves[k])!.data]));
}

const applyGpu: Apply<Tensor> = (op, inputs, attrs) => (ops[op] as (i: Tensor[], a: typeof attrs) => Tensor[])(inputs, attrs);

function gpuLeaves(c: Case, p: Record<string, number[]>): Record<string, Tensor> {
  return Object.fromEntries(
    Object.entries(c.shapes).map(([k, s]) => {
      const t = Tensor.fromData(p[k], [...s]);
      t.requiresGrad = c.wrt.includes(k);
      return [k, t];
    }),
  );
}

/** p + e v over the wrt leaves. */
const shifted = (c: Case, p: Record<string, number[]>, v: Record<string, number[]>, e: number) =>
  Object.fromEntries(Object.entries(p).map(([k, xs]) => [k, c.wrt.includes(k) ? xs.map((x, i) => x + e * v[k][i]) : xs]));

/** The GPU's first-order gradient (float32) at p. */
async function gpuGradient(c: Case, p: Record<string, number[]>): Promise<Record<string, Float32Array>> {
  return scopeAsync(async () => {
    const leaves = gpuLeaves(c, p);
    backward(c.net(applyGpu, leaves));
    const out: Record<string, Float32Array> = {};
    for (const k of c.wrt) out[k] = await leaves[k].grad!.data();
    return out;
  });
}

/** H v on the GPU: g = grad(f) with createGraph, then grad(sum_k g_k . v_k). Also returns g. */
async function gpuHvp(c: Case, p: Record<string, number[]>, v: Record<string, number[]>): Promise<{ g: Record<string, Float32Array>; hv: Record<string, Float32Array> }> {
  return scopeAsync(async () => {
    const leaves = gpuLeaves(c, p);
    const wrt = c.wrt.map((k) => leaves[k]);
    const g = tape.grad([c.net(applyGpu, leaves)], wrt, { createGraph: true }) as Tensor[];
    expect(g.every((t) => t.requiresGrad)).toBe(true);
    let dot = sum(mul(g[0], Tensor.fromData(v[c.wrt[0]], g[0].shape)));
    for (let i = 1; i < g.length; i++) dot = add(dot, sum(mul(g[i], Tensor.fromData(v[c.wrt[i]], g[i].shape))));
    const hv = tape.grad([dot], wrt);
    tape.clear();
    const out = { g: {} as Record<string, Float32Array>, hv: {} as Record<string, Float32Array> };
    for (const [i, k] of c.wrt.entries()) {
      out.g[k] = await g[i].data();
      out.hv[k] = await hv[i]!.data();
    }
    return out;
  });
}

const flat = (r: Record<string, ArrayLike<number>>, keys: readonly string[]) => keys.flatMap((k) => Array.from(r[k]));
/** max |a - b| / max |b|: the error relative to the vector's scale. */
function relError(a: readonly number[], b: readonly number[]): number {
  const scale = Math.max(...b.map(Math.abs));
  return Math.max(...a.map((x, i) => Math.abs(x - b[i]))) / scale;
}

describe('higher-order gradients', () => {
  for (const c of CASES) {
    test(`H v on ${c.name}: double backward vs float64 finite differences and GPU finite differences`, async () => {
      const p = values(c, 11);
      const v = values({ ...c, range: {} }, 12);
      // (a) float64 oracle: central differences of the reference gradient
      const e = 1e-4;
      const [gp, gm] = [refGradient(c, shifted(c, p, v, e)), refGradient(c, shifted(c, p, v, -e))];
      const refHv = c.wrt.flatMap((k) => Array.from(gp[k], (x, i) => (x - gm[k][i]) / (2 * e)));
      const refG = flat(refGradient(c, p), c.wrt);

      const gpu = await gpuHvp(c, p, v);
      const hv = flat(gpu.hv, c.wrt);
      // createGraph leaves the first-order gradient as it was
      expect(relError(flat(gpu.g, c.wrt), refG), 'first-order gradient under createGraph').toBeLessThan(1e-4);
      const errRef = relError(hv, refHv);

      // (b) float32 central differences of the GPU gradient
      const eg = c.fdStep ?? 1e-2;
      const [fp, fm] = [await gpuGradient(c, shifted(c, p, v, eg)), await gpuGradient(c, shifted(c, p, v, -eg))];
      const fdHv = c.wrt.flatMap((k) => Array.from(fp[k], (x, i) => (x - fm[k][i]) / (2 * eg)));
      const errFd = relError(hv, fdHv);
      console.log(`${c.name}: |Hv| = ${Math.max(...refHv.map(Math.abs)).toPrecision(3)}, rel. error vs float64 ${errRef.toExponential(2)}, vs GPU FD ${errFd.toExponential(2)}`);
      expect(errRef, 'H v vs float64 finite differences').toBeLessThan(1e-4);
      expect(errFd, 'H v vs GPU float32 finite differences').toBeLessThan(5e-3);
      expect(compare(hv, refHv, { rtol: 1e-3, atol: 1e-4 * Math.max(...refHv.map(Math.abs)) })).toBeNull();
      expect(tape.liveNodes).toBe(0);
    });
  }

  test('third order: D^3 f[v, v] (a createGraph H v differentiated again) through the gradient ops (maxPoolGrad, resizeGrad, conv2dGradWeight, gatherGrad, averagePoolGrad)', async () => {
    const c: Case = {
      name: 'third order',
      shapes: { x: [1, 1, 4, 4], w: [2, 1, 3, 3] },
      wrt: ['x', 'w'],
      net(apply, p) {
        const [z] = apply('conv2d', [p.x, p.w], { pads: [1, 1, 1, 1], activation: { kind: 'silu' } });
        const [mp] = apply('maxPool', [apply('mul', [z, z], {})[0]], { kernelShape: [2, 2], strides: [2, 2] });
        const [up] = apply('resize', [mp], { mode: 'linear', sizes: [4, 4] });
        const [ap] = apply('averagePool', [apply('mul', [up, z], {})[0]], { kernelShape: [2, 2], strides: [2, 2] });
        const [picked] = apply('gather', [apply('reshape', [ap], { shape: [8] })[0]], { indices: [1, 6, 6, 3] });
        return apply('sum', [apply('mul', [picked, apply('sigmoid', [picked], {})[0]], {})[0]], {})[0];
      },
    };
    const p = values(c, 21);
    const v = values(c, 22);
    // float64: the second difference of the reference gradient along v, step 1e-3 (truncation ~1e-6)
    const e = 1e-3;
    const [gp, g0, gm] = [refGradient(c, shifted(c, p, v, e)), refGradient(c, p), refGradient(c, shifted(c, p, v, -e))];
    const expected = c.wrt.flatMap((k) => Array.from(gp[k], (x, i) => (x - 2 * g0[k][i] + gm[k][i]) / (e * e)));
    const third = await scopeAsync(async () => {
      const leaves = gpuLeaves(c, p);
      const wrt = c.wrt.map((k) => leaves[k]);
      const vs = c.wrt.map((k, i) => Tensor.fromData(v[k], wrt[i].shape));
      const dot = (gs: (Tensor | null)[]) => gs.map((g, i) => sum(mul(g!, vs[i]))).reduce((a, b) => add(a, b));
      const g = tape.grad([c.net(applyGpu, leaves)], wrt, { createGraph: true });
      const hv = tape.grad([dot(g)], wrt, { createGraph: true });
      const out = tape.grad([dot(hv)], wrt);
      tape.clear();
      return flat(Object.fromEntries(await Promise.all(c.wrt.map(async (k, i) => [k, await out[i]!.data()] as const))), c.wrt);
    });
    const err = relError(third, expected);
    console.log(`third order: |D3 f[v, v]| = ${Math.max(...expected.map(Math.abs)).toPrecision(3)}, rel. error vs float64 ${err.toExponential(2)}`);
    expect(err).toBeLessThan(1e-3);
    expect(tape.liveNodes).toBe(0);
  });

  test('first-order backward is unchanged: createGraph gives the same .grad as plain backward', async () => {
    const c = CASES[0];
    const p = values(c, 3);
    const plain = await gpuGradient(c, p);
    const created = await scopeAsync(async () => {
      const leaves = gpuLeaves(c, p);
      backward(c.net(applyGpu, leaves), { createGraph: true });
      const out: Record<string, Float32Array> = {};
      for (const k of c.wrt) {
        expect(leaves[k].grad!.node, `${k}.grad is on the tape`).not.toBeNull();
        out[k] = await leaves[k].grad!.data();
      }
      tape.clear();
      return out;
    });
    expect(relError(flat(created, c.wrt), flat(plain, c.wrt))).toBeLessThan(1e-6);
  });

  test('grad() touches no .grad: a retained inner gradient survives a second-order walk through its node', async () => {
    await scopeAsync(async () => {
      const x = Tensor.fromData([1, 2, 3], [3]);
      x.requiresGrad = true;
      const h = mul(x, x);
      tape.retainGrad(h);
      backward(sum(mul(h, h)), { createGraph: true }); // h.grad = 2 h, x.grad = 4 x^3 (on the tape)
      const hBefore = Array.from(await h.grad!.data());
      const [hv] = tape.grad([sum(x.grad!)], [x]); // d/dx sum(4 x^3) = 12 x^2, through h's node
      expect(Array.from(await hv!.data())).toEqual([12, 48, 108]);
      expect(Array.from(await h.grad!.data())).toEqual(hBefore);
      expect(hBefore).toEqual([2, 8, 18]);
      tape.clear();
    });
  });

  test('repeated createGraph runs leave no buffers and no nodes behind', async () => {
    const c = CASES[1];
    const p = values(c, 5);
    const v = values(c, 6);
    await gpuHvp(c, p, v); // warm up (pipelines, the pool's size classes)
    const before = runtime().pool.stats().liveBuffers;
    for (let i = 0; i < 3; i++) await gpuHvp(c, p, v);
    expect(runtime().pool.stats().liveBuffers).toBe(before);
    expect(tape.liveNodes).toBe(0);
  });

  test('a node without a differentiable rule is a typed error naming the op (batchNormTrain)', async () => {
    await scopeAsync(async () => {
      const x = Tensor.fromData(Array.from({ length: 16 }, (_, i) => 4 * Math.sin(i)), [1, 1, 4, 4]);
      x.requiresGrad = true;
      const bn = () => ops.batchNormTrain([ops.mul([x, x], {})[0], Tensor.fromData([1.5], [1]), Tensor.fromData([0.1], [1])], {})[0];
      const loss = sum(ops.mul([bn(), x], {})[0]);
      expect(() => tape.grad([loss], [x], { createGraph: true })).toThrow(MissingDoubleBackward);
      expect(() => tape.grad([loss], [x], { createGraph: true })).toThrow(/double backward of batchNormTrain is not supported/);
      tape.clear();
      // A constant output gradient and no saved tensor on the tape need no differentiable rule (gather's rule reads only dy).
      const [g] = tape.grad([sum(ops.gather([x], { indices: [0, 0, 3], axis: 3 })[0])], [x], { createGraph: true });
      expect(g!.requiresGrad).toBe(false);
      expect(Array.from(await g!.data()).slice(0, 4)).toEqual([2, 0, 0, 1]);
      tape.clear();
      // First order is untouched.
      backward(sum(ops.mul([bn(), x], {})[0]));
      expect(x.grad).not.toBeNull();
    });
  });
});

// The fused epilogues (bias + activation in one kernel) match the unfused
// composition conv2d + activation op, on each forward path (implicit GEMM, 1x1
// matmul, depthwise, naive) and for gemm; and the raw kernel entry points the
// benchmark calls agree with the ops. The activations tested are the rows of
// the ACTIVATIONS table (engine/activations.ts): a new fusable kind needs only
// its test parameters below (the compiler asks for them) to be checked fused
// against its elementwise op.
import { describe, expect, test } from 'vitest';
import {
  type Activation,
  activationParams,
  bestMatmul,
  conv2d,
  conv2dGradInput,
  conv2dGradWeight,
  conv2dNaive,
  FUSABLE_KINDS,
  type FusableKind,
  gemm,
  gemmKernelRun,
  matmul,
  ops,
  scopeAsync,
  silu,
  tape,
  tensor,
  type Tensor,
} from '../../engine/index.js';
import { compare, rng } from '../helpers/check.js';

const tol = { rtol: 1e-5, atol: 1e-5 };

function random(shape: number[], seed: number): Tensor {
  const r = rng(seed);
  const n = shape.reduce((a, b) => a * b, 1);
  return tensor(Float32Array.from({ length: n }, () => 4 * r() - 2), shape);
}

/** Parameters each fusable kind is tested with; typed over the ACTIVATIONS table, so a new kind needs an entry. */
const testParams: { [K in FusableKind]: Omit<Activation, 'kind'> } = {
  relu: {},
  leakyRelu: { alpha: 0.2 },
  sigmoid: {},
  silu: {},
  clip: { alpha: -0.5, beta: 0.7 },
};

/** The unfused composition: the kind's elementwise op, with the parameters the kernels get. */
function unfused(act: Activation): (t: Tensor) => Tensor {
  if (act.kind === 'none') return (t) => t;
  const { act_alpha, act_beta } = activationParams(act);
  const op = ops[act.kind];
  return (t) => op([t], { alpha: act_alpha, beta: act_beta })[0];
}

// none, then every kind of the table in code order.
const activations: [Activation, (t: Tensor) => Tensor][] = [{ kind: 'none' } as Activation, ...FUSABLE_KINDS.map((kind) => ({ kind, ...testParams[kind] }))].map(
  (act) => [act, unfused(act)],
);
const byKind = (kind: FusableKind) => activations.find(([a]) => a.kind === kind)!;

// Every activation on the implicit GEMM path; the other paths share the epilogue
// code per file, so two activations (one with parameters) cover their wiring.
// (Each combination compiles a pipeline, which takes seconds on a software adapter.)
const paths = [
  { label: 'implicit GEMM', x: [2, 5, 9, 7], w: [6, 5, 3, 3], attrs: { pads: [1, 1, 1, 1] as const, strides: [2, 1] as const }, acts: activations },
  { label: '1x1 matmul', x: [2, 6, 5, 5], w: [7, 6, 1, 1], attrs: {}, acts: [byKind('leakyRelu'), byKind('silu')] },
  { label: 'depthwise', x: [1, 4, 7, 6], w: [4, 1, 3, 3], attrs: { groups: 4, pads: [1, 0, 1, 2] as const }, acts: [byKind('leakyRelu'), byKind('clip')] },
];

describe.each(paths)('conv2d $label', ({ x: xs, w: ws, attrs, acts }) => {
  test.each(acts.map(([a, f]) => [a.kind, a, f] as const))('fused %s matches conv + activation', async (_kind, act, f) => {
    await scopeAsync(async () => {
      const x = random(xs, 1);
      const w = random(ws, 2);
      const b = random([ws[0]], 3);
      const fused = conv2d(x, w, b, { ...attrs, activation: act });
      const reference = f(conv2d(x, w, b, attrs));
      expect(compare(await fused.data(), await reference.data(), tol)).toBeNull();
      const naive = conv2dNaive(x, w, b, { ...attrs, activation: act });
      expect(compare(await naive.data(), await reference.data(), tol)).toBeNull();
    });
  });
});

test('gemm kernel with a fused activation matches gemm + activation', async () => {
  await scopeAsync(async () => {
    const a = random([9, 13], 4);
    const b = random([13, 6], 5);
    const c = random([6], 6);
    const reference = silu(gemm(a, b, c));
    const fused = gemmKernelRun(a, b, { m: 9, n: 6, k: 13, c: { tensor: c, rowStride: 0, colStride: 1 }, activation: { kind: 'silu' } });
    expect(compare(await fused.data(), await reference.data(), tol)).toBeNull();
  });
});

test('raw entry points agree with the ops (benchmark API)', async () => {
  await scopeAsync(async () => {
    const attrs = { pads: [1, 1, 1, 1] as const, strides: [2, 2] as const };
    const x = random([2, 4, 9, 8], 7);
    const w = random([6, 4, 3, 3], 8);
    const gy = random([2, 6, 5, 4], 9);
    x.requiresGrad = true;
    w.requiresGrad = true;
    const y = ops.conv2d([x, w], attrs)[0];
    tape.backward(y, { grad: gy });
    const gx = conv2dGradInput(gy, w, x.shape, attrs);
    const gw = conv2dGradWeight(x, gy, w.shape, attrs);
    expect(compare(await gx.data(), await x.grad!.data(), tol)).toBeNull();
    expect(compare(await gw.data(), await w.grad!.data(), tol)).toBeNull();

    const a = random([3, 40, 24], 10);
    const bm = random([3, 24, 36], 11);
    const best = bestMatmul(a, bm, 40, 36, 24, 3);
    expect(compare(await best.data(), await matmul(a, bm).data(), tol)).toBeNull();
  });
});

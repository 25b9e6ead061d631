// The GPU tape (engine/tape.ts) against its float64 twin (engine/reference/tape.ts)
// on one composed graph: the same ops and attributes run through both, and every
// leaf's gradient must agree. The graph has what makes a tape's bookkeeping hard:
// a tensor read twice (accumulation), a broadcast operand (un-broadcasting), an op
// with two outputs (maxPool), a fused conv activation (a saved intermediate), and
// an inner tensor whose gradient is kept (retainGrad).

import { describe, expect, test } from 'vitest';
import { backward, ops, scopeAsync, tape, Tensor, type AttrsOf, type OpName } from '../../engine/index.js';
import { ReferenceTape } from '../../engine/reference/tape.js';
import { refTensor, type RefTensor } from '../../engine/reference/index.js';
import { compare, rng } from '../helpers/check.js';

type Apply<T> = <K extends OpName>(op: K, inputs: T[], attrs: AttrsOf<K>) => T[];

const SHAPES = { x: [2, 2, 6, 6], w: [4, 2, 3, 3], b: [4], scale: [4], shift: [4], mean: [4], variance: [4], gain: [4, 1, 1] } as const;
type Leaf = keyof typeof SHAPES;

/** The network, written once for both tapes; returns the scalar loss and the tensor whose gradient is retained. */
function network<T>(apply: Apply<T>, p: Record<Leaf, T>): { loss: T; inner: T } {
  const [z] = apply('conv2d', [p.x, p.w, p.b], { pads: [1, 1, 1, 1], activation: { kind: 'silu' } });
  const [n] = apply('batchNorm', [z, p.scale, p.shift, p.mean, p.variance], { epsilon: 1e-5 });
  const [a] = apply('leakyRelu', [n], { alpha: 0.1 });
  const [pooled] = apply('maxPool', [a], { kernelShape: [2, 2], strides: [2, 2] });
  const [up] = apply('resize', [pooled], { mode: 'linear', sizes: [6, 6] });
  const [gated] = apply('mul', [up, p.gain], {}); // gain [4, 1, 1] broadcasts over N, H, W
  const [both] = apply('concat', [gated, apply('sigmoid', [a], {})[0]], { axis: 1 });
  const [sq] = apply('mul', [both, both], {}); // read twice: both paths accumulate
  const [probs] = apply('softmax', [sq], { axis: 1 });
  const [weighted] = apply('mul', [probs, both], {});
  const [loss] = apply('sum', [weighted], {});
  return { loss, inner: pooled };
}

describe('the GPU tape and its float64 twin', () => {
  test('give the same gradient at every leaf and at a retained inner tensor', async () => {
    const random = rng(7);
    const values = Object.fromEntries(
      Object.entries(SHAPES).map(([k, s]) => {
        const n = (s as readonly number[]).reduce((a, b) => a * b, 1);
        const lo = k === 'variance' ? 0.5 : -1;
        return [k, Array.from({ length: n }, () => lo + random() * (k === 'variance' ? 1 : 2))];
      }),
    ) as Record<Leaf, number[]>;

    // float64 twin
    const twin = new ReferenceTape();
    const refLeaves = Object.fromEntries(Object.entries(SHAPES).map(([k, s]) => [k, refTensor([...s], values[k as Leaf])])) as Record<Leaf, RefTensor>;
    for (const t of Object.values(refLeaves)) twin.watch(t);
    const ref = network<RefTensor>((op, inputs, attrs) => twin.apply(op, inputs, attrs), refLeaves);
    const refGrads = twin.backward(ref.loss, refTensor([], [1]));

    // GPU tape
    const gpu = await scopeAsync(async () => {
      const leaves = Object.fromEntries(
        Object.entries(SHAPES).map(([k, s]) => {
          const t = Tensor.fromData(values[k as Leaf], [...s]);
          t.requiresGrad = true;
          return [k, t];
        }),
      ) as Record<Leaf, Tensor>;
      const out = network<Tensor>((op, inputs, attrs) => (ops[op] as (i: Tensor[], a: typeof attrs) => Tensor[])(inputs, attrs), leaves);
      tape.retainGrad(out.inner);
      backward(out.loss);
      const grads: Record<string, Float32Array> = {};
      for (const k of Object.keys(SHAPES)) grads[k] = await leaves[k as Leaf].grad!.data();
      grads.inner = await out.inner.grad!.data();
      for (const t of Object.values(leaves)) t.grad!.dispose();
      out.inner.grad!.dispose();
      return grads;
    });

    expect(tape.liveNodes).toBe(0);
    const tol = { rtol: 1e-3, atol: 1e-4 };
    for (const k of Object.keys(SHAPES) as Leaf[]) {
      const expected = refGrads.get(refLeaves[k])!;
      expect(expected.shape).toEqual([...SHAPES[k]]);
      expect(compare(gpu[k], expected.data, tol), `gradient at ${k}`).toBeNull();
    }
    expect(compare(gpu.inner, refGrads.get(ref.inner)!.data, tol), 'retained inner gradient').toBeNull();
  });
});

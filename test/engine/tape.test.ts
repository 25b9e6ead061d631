// The autodiff tape: accumulation, inner gradients, hooks, swapped rules, describe().

import { describe, expect, test } from 'vitest';
import { add, backward, mul, relu, scope, ShapeError, sum, tape, tensor, type Tensor } from '../../engine/index.js';

// `+ 0` folds -0 into 0 (gy * 0 is -0 for negative gy).
const values = async (t: Tensor) => Array.from(await t.data(), (v) => v + 0);

describe('tape', () => {
  test('a tensor used twice accumulates both gradient paths (diamond)', async () => {
    const x = tensor([1, 2, 3], [3], { requiresGrad: true });
    // y = x*x + x  ->  dy/dx = 2x + 1
    backward(sum(add(mul(x, x), x)));
    expect(await values(x.grad!)).toEqual([3, 5, 7]);
    // a second backward adds into .grad (PyTorch semantics)
    backward(sum(mul(x, x)));
    expect(await values(x.grad!)).toEqual([5, 9, 13]);
    x.dispose();
  });

  test('broadcast inputs receive gradients reduced to their shape', async () => {
    const a = tensor([1, 2, 3, 4, 5, 6], [2, 3], { requiresGrad: true });
    const b = tensor([10, 20, 30], [3], { requiresGrad: true });
    backward(sum(mul(a, b)));
    expect(await values(b.grad!)).toEqual([5, 7, 9]);
    expect(await values(a.grad!)).toEqual([10, 20, 30, 10, 20, 30]);
    a.dispose();
    b.dispose();
  });

  test('retainGrad exposes the gradient at an inner tensor', async () => {
    const x = tensor([-1, 2], [2], { requiresGrad: true });
    const h = mul(x, tensor([3, 3], [2]));
    tape.retainGrad(h);
    backward(sum(mul(relu(h), relu(h))));
    // d/dh sum(relu(h)^2) = 2 relu(h) * 1[h > 0]
    expect(await values(h.grad!)).toEqual([0, 12]);
    expect(await values(x.grad!)).toEqual([0, 36]);
    x.dispose();
    h.dispose();
  });

  test('a hook can read and replace a gradient in flight', async () => {
    const x = tensor([1, 2], [2], { requiresGrad: true });
    const h = mul(x, x);
    let seen: number[] = [];
    const pending: Promise<void>[] = [];
    tape.onGrad(h, (g) => {
      pending.push(values(g).then((v) => void (seen = v)));
      return mul(g, tensor([10, 10], [2]));
    });
    backward(sum(h));
    await Promise.all(pending);
    expect(seen).toEqual([1, 1]);
    expect(await values(x.grad!)).toEqual([20, 40]);
    x.dispose();
  });

  test('overrideBackward swaps a rule (deconvnet-style ReLU) and restores it', async () => {
    const x = tensor([-1, 2], [2], { requiresGrad: true });
    const seed = tensor([-5, -7], [2]);
    // deconvnet: ReLU backward passes relu(dy) regardless of the forward input
    const restore = tape.overrideBackward('relu', (_ctx, [gy]) => [relu(gy)]);
    backward(relu(x), { grad: tensor([3, 4], [2]) });
    expect(await values(x.grad!)).toEqual([3, 4]);
    restore();
    x.grad!.dispose();
    x.grad = null;
    backward(relu(x), { grad: seed });
    expect(await values(x.grad!)).toEqual([0, -7]);
    x.dispose();
  });

  test('describe() lists nodes, shapes and saved tensors in order', () => {
    scope(() => {
      const x = tensor([1, 2, 3], [3], { requiresGrad: true, name: 'x' });
      const y = sum(relu(mul(x, x)));
      const text = tape.describe(y);
      const lines = text.split('\n');
      expect(lines).toHaveLength(3);
      expect(lines[0]).toMatch(/^#\d+ mul\(x#\d+\[3\], x#\d+\[3\]\) -> t\d+\[3\]  saved: \[3\], \[3\], \[3\]$/);
      expect(lines[1]).toMatch(/ relu\(/);
      expect(lines[2]).toMatch(/ sum\(t\d+\[3\]\) -> t\d+\[\]$/);
      tape.clear();
    });
  });

  test('backward through a released graph is an error; retainGraph allows twice', () => {
    scope(() => {
      const x = tensor([1, 2], [2], { requiresGrad: true });
      const y = sum(mul(x, x));
      backward(y, { retainGraph: true });
      backward(y);
      expect(() => backward(y)).toThrow(/already released/);
      const c = tensor([1], [1]);
      expect(() => backward(c)).toThrow(ShapeError);
    });
  });

  test('noGrad refuses an async function (recording would resume at its first await)', () => {
    expect(() => tape.noGrad(async () => 1)).toThrow(/noGrad\(\): fn returned a Promise/);
    expect(tape.recording).toBe(true);
  });

  test('no tape nodes are kept when no input requires grad', () => {
    scope(() => {
      const before = tape.liveNodes;
      relu(mul(tensor([1], [1]), tensor([2], [1])));
      expect(tape.liveNodes).toBe(before);
    });
  });
});

import { expect, test } from 'vitest';
import { add, backward, mul, relu, sum, tensor } from '../../engine/index.js';

test('smoke', async () => {
  const a = tensor([1, -2, 3, 4], [2, 2], { requiresGrad: true });
  const b = tensor([10, 20], [2]);
  const y = relu(add(mul(a, b), b));
  const l = sum(y);
  expect(Array.from(await y.data())).toEqual([20, 0, 40, 100]);
  expect(Array.from(await l.data())).toEqual([160]);
  backward(l);
  expect(Array.from(await a.grad!.data())).toEqual([10, 0, 10, 20]);
});

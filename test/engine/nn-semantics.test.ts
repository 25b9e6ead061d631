// Semantics the random-input op tests cannot reach: tie rules (random values
// never tie), pooling output sizes against values worked out by hand with the
// PyTorch/onnxruntime formulas, and count_include_pad divisors on known inputs.
import { describe, expect, test } from 'vitest';
import { backward, globalMaxPool, max, min, ops, scopeAsync, sum, tensor, type Tensor } from '../../engine/index.js';
import { reference, refTensor } from '../../engine/reference/index.js';

const values = async (t: Tensor) => Array.from(await t.data());

describe('tie rules', () => {
  test('max/min split the gradient evenly among tied extrema (GPU and oracle)', async () => {
    await scopeAsync(async () => {
      const data = [1, 3, 3, 2, /* row 2 */ 0, 0, 5, 0];
      const x = tensor(data, [2, 4], { requiresGrad: true });
      backward(sum(max(x, [1])));
      expect(await values(x.grad!)).toEqual([0, 0.5, 0.5, 0, 0, 0, 1, 0]);
      const y = tensor(data, [2, 4], { requiresGrad: true });
      backward(sum(min(y, [1])));
      const third = Math.fround(1 / 3);
      expect(await values(y.grad!)).toEqual([1, 0, 0, 0, third, third, 0, third]);

      const rx = refTensor([2, 4], data);
      const [ry] = reference.min.forward([rx], { axes: [1] });
      const [rg] = reference.min.backward([rx], { axes: [1] }, [ry], [refTensor([2], [1, 1])]);
      expect(Array.from(rg!.data)).toEqual([1, 0, 0, 0, 1 / 3, 1 / 3, 0, 1 / 3]);
    });
  });

  test('globalMaxPool follows the max reduction rule', async () => {
    await scopeAsync(async () => {
      const x = tensor([5, 5, 1, 5], [1, 1, 2, 2], { requiresGrad: true });
      backward(sum(globalMaxPool(x)));
      const g = await values(x.grad!);
      [1 / 3, 1 / 3, 0, 1 / 3].forEach((v, i) => expect(g[i]).toBeCloseTo(v, 6));
    });
  });

  test('maxPool routes the gradient to the first maximum in row-major window order', async () => {
    await scopeAsync(async () => {
      // An all-zero plane (as after ReLU): every window ties.
      const x = tensor(new Float32Array(9), [1, 1, 3, 3], { requiresGrad: true });
      const [y, indices] = ops.maxPool([x], { kernelShape: [2, 2] });
      expect(await values(indices)).toEqual([0, 1, 3, 4]);
      backward(sum(y));
      // Windows start at (0,0), (0,1), (1,0), (1,1): each one's first tap.
      expect(await values(x.grad!)).toEqual([1, 1, 0, 1, 1, 0, 0, 0, 0]);
      const rx = refTensor([1, 1, 3, 3]);
      const attrs = { kernelShape: [2, 2] };
      const ys = reference.maxPool.forward([rx], attrs);
      expect(Array.from(ys[1].data)).toEqual([0, 1, 3, 4]);
      const [rg] = reference.maxPool.backward([rx], attrs, ys, [refTensor([1, 1, 2, 2], [1, 1, 1, 1]), refTensor([1, 1, 2, 2])]);
      expect(Array.from(rg!.data)).toEqual([1, 1, 0, 1, 1, 0, 0, 0, 0]);
    });
  });
});

describe('pooling output sizes', () => {
  const outShape = (shape: number[], attrs: Parameters<typeof ops.maxPool>[1]) =>
    scopeAsync(async () => ops.maxPool([tensor(new Float32Array(shape.reduce((a, b) => a * b)), shape)], attrs)[0].shape);

  test.each([
    // floor((112 + 2 - 3) / 2) + 1 = 56: the ResNet stem
    ['k3 s2 p1', [1, 1, 112, 112], { kernelShape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] }, [1, 1, 56, 56]],
    // floor((8 - 3) / 2) + 1 = 3
    ['k3 s2 floor', [1, 1, 8, 8], { kernelShape: [3, 3], strides: [2, 2] }, [1, 1, 3, 3]],
    // ceil((8 - 3) / 2) + 1 = 4: the last window hangs over the edge
    ['k3 s2 ceil', [1, 1, 8, 8], { kernelShape: [3, 3], strides: [2, 2], ceilMode: true }, [1, 1, 4, 4]],
    // ceil((5 + 2 - 2) / 2) + 1 = 4, but window 3 would start at 6 - 1 = 5, in the bottom padding: dropped
    ['ceil drops a window starting in the padding', [1, 1, 5, 5], { kernelShape: [2, 2], strides: [2, 2], pads: [1, 1, 1, 1], ceilMode: true }, [1, 1, 3, 3]],
    // H: (9 + 1 - 3) + 1 = 8; W: dilated extent (3 - 1) * 2 + 1 = 5, (8 + 1 - 5) + 1 = 5
    ['dilation, asymmetric pads', [2, 3, 9, 8], { kernelShape: [2, 3], dilations: [2, 2], pads: [1, 1, 0, 0] }, [2, 3, 8, 5]],
  ] as const)('%s', async (_label, shape, attrs, expected) => {
    expect(await outShape([...shape], attrs)).toEqual(expected);
  });
});

describe('averagePool divisors', () => {
  // A 3x3 plane of ones, 3x3 windows, stride 1, pad 1: the corner window holds 4 real taps of 9.
  const run = (countIncludePad: boolean) =>
    scopeAsync(async () => values(ops.averagePool([tensor(new Float32Array(9).fill(1), [1, 1, 3, 3])], { kernelShape: [3, 3], pads: [1, 1, 1, 1], countIncludePad })[0]));

  test('count_include_pad = 0 averages the real taps only', async () => {
    expect(await run(false)).toEqual(new Array(9).fill(1));
  });

  test('count_include_pad = 1 divides by the whole window', async () => {
    const y = await run(true);
    [4 / 9, 6 / 9, 4 / 9, 6 / 9, 1, 6 / 9, 4 / 9, 6 / 9, 4 / 9].forEach((v, i) => expect(y[i]).toBeCloseTo(v, 6));
  });

  test('count_include_pad = 1 with ceil mode does not count taps past the padded input', async () => {
    // W = 4, k = 3, s = 2, no pads, ceil: windows start at 0 and 2; the second covers columns 2, 3 and 4 (outside).
    const y = await scopeAsync(async () =>
      values(ops.averagePool([tensor([1, 2, 3, 4], [1, 1, 1, 4])], { kernelShape: [1, 3], strides: [1, 2], ceilMode: true, countIncludePad: true })[0]),
    );
    expect(y).toEqual([2, 3.5]);
  });
});

// The opt-in f16 storage (tensor(..., { dtype: 'f16' }), cast(), f16 models): every op's
// forward and backward with f16 storage against the float64 reference on the
// same f16-rounded inputs, and the mode's guards. Lavapipe (CI) has
// shader-f16; an adapter without it skips these here, but not on CI.

import { describe, expect, test } from 'vitest';
import { add, backward, cast, conv2d, F16_MAX, mean, mul, sum, fromHalf, ops, PrecisionMismatch, PrecisionOverflow, runtime, scopeAsync, tensor, toHalf } from '../../engine/index.js';
import { caseLabels, checkCase } from '../helpers/op-check.js';
import { needF16 } from '../helpers/f16.js';

const names = Object.keys(ops) as (keyof typeof ops)[];


describe('f16 on the host', () => {
  test('rounding to nearest even, subnormals, overflow as an error', () => {
    const cases: [number, number][] = [
      [1, 1],
      [1 + 2 ** -11, 1], // a tie: to the even mantissa
      [1 + 3 * 2 ** -11, 1 + 2 ** -9],
      [65504, 65504],
      [2 ** -24, 2 ** -24], // smallest subnormal
      [2 ** -26, 0],
      [-0.1, -0.0999755859375],
      [Infinity, Infinity],
    ];
    const got = fromHalf(toHalf(cases.map(([v]) => v), 'x'));
    expect(Array.from(got)).toEqual(cases.map(([, h]) => h));
    expect(Number.isNaN(fromHalf(toHalf([NaN], 'x'))[0])).toBe(true);
    expect(() => toHalf([1, 70000], 'weights w')).toThrow(PrecisionOverflow);
    expect(() => toHalf([1, 70000], 'weights w')).toThrow(/weights w: value 70000 at index 1 does not fit in f16/);
    // Every f16 bit pattern survives the round trip.
    const all = new Uint16Array(65536).map((_, i) => i);
    const back = toHalf(fromHalf(all).map((v) => (Number.isNaN(v) ? 0 : v)), 'all');
    const finite = Array.from(all).filter((h) => (h & 0x7c00) !== 0x7c00 || (h & 0x3ff) === 0);
    for (const h of finite) expect(back[h]).toBe(h);
  });
});

describe('f16 tensors', () => {
  test('tensor(..., { dtype: \'f16\' }), ops in their inputs\' precision, cast; mixing precisions and overflowing values are errors naming the culprit', async (ctx) => {
    needF16(ctx);
    const f32 = tensor([1, 2, 3], [3]);
    const f16 = { dtype: 'f16' } as const;
    try {
      await scopeAsync(async () => {
        const h = tensor([0.1, 2, 65504], [3], f16);
        expect(h.dtype).toBe('f16');
        expect(h.ref.byteLength).toBe(6);
        expect(Array.from(await h.data())).toEqual([0.0999755859375, 2, 65504]);
        expect(add(h, h).dtype).toBe('f16'); // an op runs in its inputs' precision
        expect(runtime().precision).toBe('f32'); // and leaves no setting behind
        expect(() => add(h, f32)).toThrow(PrecisionMismatch);
        expect(() => add(h, f32)).toThrow(/add: input Tensor#\d+ \[3\] is stored as f32 but Tensor#\d+ \[3\] f16 as f16; convert one with cast\(\)/);
        // cast: exact f16 -> f32, rounding f32 -> f16, and its gradient is the cast back.
        const wide = cast(h, 'f32');
        expect(wide.dtype).toBe('f32');
        expect(Array.from(await add(wide, f32).data())).toEqual([1.0999755859375, 4, 65507]);
        const x = tensor([0.1, 3], [2], { requiresGrad: true });
        const narrow = cast(x, 'f16');
        expect(Array.from(await narrow.data())).toEqual([0.0999755859375, 3]);
        backward(sum(mul(narrow, narrow))); // the seed and every rule in f16, the last cast back to f32
        expect(x.grad!.dtype).toBe('f32');
        expect(Array.from(await x.grad!.data())).toEqual([0.199951171875, 6]);
        expect(() => tensor([F16_MAX * 2], [1], { name: 'big', dtype: 'f16' })).toThrow(/value 131008 .* does not fit in f16/);
        expect(() => runtime().withPrecision('f16', async () => 0)).toThrow(/must be synchronous/);
        // Odd element counts per channel: concat and slice leave the 4-byte-aligned copies for their kernels.
        const a = tensor([1, 2, 3, 4, 5, 6], [1, 2, 3], f16);
        const b = tensor([7, 8, 9], [1, 1, 3], f16);
        const c = ops.concat([a, b], { axis: 1 })[0];
        expect(Array.from(await c.data())).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
        const [s0, s1] = ops.split([c], { axis: 1, sizes: [1, 2] });
        expect(Array.from(await s1.data())).toEqual([4, 5, 6, 7, 8, 9]);
        expect(Array.from(await s0.data())).toEqual([1, 2, 3]);
        // A large-magnitude result overflows to infinity inside a kernel: the engine's finiteness checks see it.
        const y = conv2d(tensor([300], [1, 1, 1, 1], f16), tensor([300], [1, 1, 1, 1], f16));
        expect((await y.data())[0]).toBe(Infinity);
      });
    } finally {
      f32.dispose();
    }
    expect(() => add(f32, f32)).toThrow(); // disposed, not silently reused
  });
});

describe('f16 sums that would overflow where the result does not', () => {
  test('BatchNorm statistics of a wide channel and a mean over non-adjacent axes stay finite and right', async (ctx) => {
    needF16(ctx);
    await scopeAsync(async () => {
      const f16 = { dtype: 'f16' } as const;
      // 4096 values per channel with std 16: a chunk's sum of squares (~1e6) is past f16's 65504.
      const n = 4 * 2 * 32 * 32;
      const values = Float32Array.from({ length: n }, (_, i) => ((i * 7919) % 33) - 16);
      const x = tensor(values, [4, 2, 32, 32], f16);
      const [, batchMean, batchVar] = ops.batchNormTrain([x, tensor([1, 1], [2], f16), tensor([0, 0], [2], f16)], {});
      const m = (c: number) => values.filter((_, i) => Math.floor(i / 1024) % 2 === c).reduce((a, v) => a + v, 0) / (n / 2);
      const v = (c: number) => values.filter((_, i) => Math.floor(i / 1024) % 2 === c).reduce((a, x) => a + (x - m(c)) ** 2, 0) / (n / 2);
      const [gotMean, gotVar] = [await batchMean.data(), await batchVar.data()];
      for (const c of [0, 1]) {
        expect(Math.abs(gotMean[c] - m(c))).toBeLessThan(1e-2);
        expect(Math.abs(gotVar[c] - v(c)) / v(c)).toBeLessThan(2e-3);
      }
      // A mean over axes 0 and 2, 3 runs as two reductions: the first stored sum (1024 values of 100) is past 65504.
      const y = mean(tensor(new Float32Array(4 * 2 * 32 * 32).fill(100), [4, 2, 32, 32], f16), [0, 2, 3]);
      expect(Array.from(await y.data())).toEqual([100, 100]);
    });
  });
});

// Every registered op, forward and backward, with f16 storage.
describe.each(names)('f16: %s', (name) => {
  test.for(caseLabels(name))('%s', async ([, i], ctx) => {
    needF16(ctx);
    await checkCase(name, i, 'f16');
  });
});

// The GEMM-family kernels this adapter does not pick (workgroup-tiled on a CPU adapter, direct on a GPU), in f16 too.
describe.each(['conv2d', 'convTranspose2d', 'matmul', 'gemm'] as const)('f16: %s on the other GEMM kernels (workgroupTiles flipped)', (name) => {
  test.for(caseLabels(name))('%s', async ([, i], ctx) => {
    needF16(ctx);
    const rt = runtime();
    const saved = rt.workgroupTiles;
    rt.workgroupTiles = !saved;
    try {
      await checkCase(name, i, 'f16');
    } finally {
      rt.workgroupTiles = saved;
    }
  });
});

// Engine core: memory, kernels, batching, errors, profiling.

import { describe, expect, test } from 'vitest';
import {
  add, backward, defineKernel, DisposedTensorError, exp, fill, KernelCompileError, launch, mean, mul, relu, runtime,
  scope, scopeAsync, ShapeError, sigmoid, silu, sub, sum, tape, Tensor, tensor, transpose, max, min, conv2d,
} from '../../engine/index.js';

describe('memory', () => {
  test('pool statistics return to baseline after 100 forward+backward iterations', async () => {
    const w = tensor([0.5, -1, 2, 0.25, 1.5, -0.75], [2, 3], { requiresGrad: true });
    const x = tensor([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12], [4, 3]);
    const step = () =>
      scope(() => {
        const h = silu(mul(x.view([4, 1, 3]), w));
        const loss = mean(sigmoid(add(h, transpose(h, [0, 1, 2]))));
        backward(loss);
      });
    step(); // warm-up: first use creates the pool's buffers
    w.grad!.dispose();
    w.grad = null;
    await runtime().sync();
    const baseline = runtime().pool.stats();
    for (let i = 0; i < 100; i++) {
      step();
      w.grad!.dispose();
      w.grad = null;
    }
    await runtime().sync();
    const after = runtime().pool.stats();
    expect(after.liveBuffers).toBe(baseline.liveBuffers);
    expect(after.liveBytes).toBe(baseline.liveBytes);
    expect(after.created).toBe(baseline.created); // steady state reuses buffers
    expect(tape.liveNodes).toBe(0);
    w.dispose();
    x.dispose();
  });

  test('views share storage; the buffer is freed with the last holder', async () => {
    await runtime().sync();
    const before = runtime().pool.stats().liveBuffers;
    const a = tensor([1, 2, 3, 4], [2, 2]);
    const v = a.view([4]);
    a.dispose();
    expect(Array.from(await v.data())).toEqual([1, 2, 3, 4]);
    expect(runtime().pool.stats().liveBuffers).toBe(before + 1);
    v.dispose();
    expect(runtime().pool.stats().liveBuffers).toBe(before);
  });

  test('using a disposed tensor is a typed error', () => {
    const a = tensor([1], [1]);
    a.dispose();
    expect(() => relu(a)).toThrow(DisposedTensorError);
  });

  test('scope keeps returned tensors and frees the rest', async () => {
    await runtime().sync(); // the pending batch's uniform arena counts as live until submitted
    const before = runtime().pool.stats().liveBuffers;
    const kept = scope(() => {
      const a = tensor([1, 2], [2]);
      return { out: exp(mul(a, a)) };
    });
    await runtime().sync();
    expect(runtime().pool.stats().liveBuffers).toBe(before + 1);
    const [e1, e4] = await kept.out.data();
    expect(e1).toBeCloseTo(Math.E, 5);
    expect(e4).toBeCloseTo(Math.exp(4), 4);
    kept.out.dispose();
  });
});

describe('review fixes', () => {
  test('nested scopeAsync hands kept tensors to the enclosing scope', async () => {
    await runtime().sync();
    const before = runtime().pool.stats().liveBuffers;
    await scopeAsync(async () => {
      const inner = await scopeAsync(async () => tensor([1, 2, 3], [3]));
      expect(Array.from(await inner.data())).toEqual([1, 2, 3]);
      return 0;
    });
    await runtime().sync();
    expect(runtime().pool.stats().liveBuffers).toBe(before);
  });

  test('a view with another element count is a ShapeError', () => {
    const a = tensor([1, 2, 3, 4], [2, 2]);
    expect(() => a.view([5])).toThrow(/view: 4 elements cannot be viewed as \[5\]/);
    a.dispose();
  });

  test('an exception inside profile() does not poison the next batch', async () => {
    const x = tensor([1, -1], [2]);
    await expect(
      runtime().profile(() => {
        relu(x).dispose();
        throw new Error('inside');
      }),
    ).rejects.toThrow('inside');
    expect(Array.from(await relu(x).data())).toEqual([1, 0]);
    await runtime().sync();
    x.dispose();
  });

  test('max and min of infinities (identities are +-inf, not +-FLT_MAX)', async () => {
    expect(Array.from(await max(tensor([-Infinity, -Infinity], [2])).data())).toEqual([-Infinity]);
    expect(Array.from(await min(tensor([Infinity, 3], [2])).data())).toEqual([3]);
  });

  test('a 1x1 conv over more than 4M pixels leaves the matmul path instead of overflowing its grid', async () => {
    const [h, w] = [2048, 2049];
    const x = tensor(Float32Array.from({ length: h * w }, (_, i) => (i % 7) - 3), [1, 1, h, w]);
    const k = tensor([2, -1], [2, 1, 1, 1]);
    const y = conv2d(x, k);
    const out = await y.data();
    const last = h * w - 1;
    expect([out[0], out[last], out[h * w], out[h * w + last]]).toEqual([-6, 2 * ((last % 7) - 3), 3, -((last % 7) - 3)]);
    for (const t of [x, k, y]) t.dispose();
  });
});

describe('kernels and dispatch', () => {
  test('a WGSL syntax error names the kernel and line', () => {
    expect(() => defineKernel({ name: 'broken_syntax', wgsl: 'fn main( {' })).toThrow(/kernel 'broken_syntax' line 1/);
  });

  test('a WGSL type error found by the GPU compiler names the kernel and line', async () => {
    const k = defineKernel({
      name: 'broken_types',
      wgsl: `@group(0) @binding(0) var<storage, read_write> y: array<f32>;
@compute @workgroup_size(1) fn main() {
  y[0] = vec2<f32>(1.0, 2.0);
}`,
    });
    const y = Tensor.empty([1]);
    launch(k, { y }, { workgroups: [1] });
    const err = await runtime().sync().catch((e) => e);
    expect(err).toBeInstanceOf(KernelCompileError);
    expect(err.message).toMatch(/kernel 'broken_types' line 3/);
    runtime().dropPipelines(k);
    y.dispose();
  });

  test('mismatched shapes give a ShapeError naming op and shapes', () => {
    const a = Tensor.empty([2, 3]);
    const b = Tensor.empty([4]);
    expect(() => add(a, b)).toThrow(ShapeError);
    expect(() => add(a, b)).toThrow(/^add: .*\[2, 3\], \[4\]/);
    expect(() => sum(a, [5])).toThrow(/sum: axis 5 is out of range for rank 2/);
    expect(() => transpose(a, [0, 0])).toThrow(/transpose: perm \[0, 0\]/);
    a.dispose();
    b.dispose();
  });

  test('many dispatches go out in one submit, each with its own uniforms', async () => {
    await runtime().sync();
    const submits = runtime().submits;
    const ts = Array.from({ length: 300 }, (_, i) => fill([3], i));
    const total = ts.reduce((acc, t) => {
      const s = add(acc, t);
      acc.dispose();
      return s;
    }, fill([3], 0));
    const values = await total.data();
    // 301 fills + 300 adds + the readback copy in 2 submits (batches hold 512 dispatches).
    expect(runtime().submits - submits).toBeLessThanOrEqual(2);
    expect(Array.from(values)).toEqual([44850, 44850, 44850]);
    ts.forEach((t) => t.dispose());
    total.dispose();
  });

  test('profile() reports GPU time per kernel', async () => {
    const a = fill([64, 64], 1);
    const { kernels } = await runtime().profile(() => {
      const b = relu(sub(a, fill([1], 0.5)));
      b.dispose();
    });
    expect(kernels.map((k) => k.kernel)).toEqual(['fill', 'sub', 'relu']);
    for (const k of kernels) expect(k.ms).toBeGreaterThanOrEqual(0);
    a.dispose();
  });
});

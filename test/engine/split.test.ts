// Ops on tensors larger than one storage binding (engine/ops/split.ts), with
// the binding limit lowered (runtime().maxBindingBytes, what
// GRADLENS_MAX_BINDING_BYTES sets) so small tensors take the path:
//  - every registered op case of test/engine/cases, forward and backward,
//    against the float64 reference, with the limit at half its largest tensor;
//  - convolutions cut over rows (halo windows, strides, dilations, pads,
//    output padding), grouped convs cut over whole groups, a recorded fused
//    activation;
//  - what cannot run in parts: TensorTooLarge naming the op, the tensor, its
//    size and the limit, at once, leaving nothing on the GPU.

import { afterEach, describe, expect, test } from 'vitest';
import { backward, BufferTooLarge, ops, runtime, scopeAsync, sum, tape, tensor, TensorTooLarge, type Tensor } from '../../engine/index.js';
import { numel } from '../../engine/shape.js';
import { reference, type RefTensor } from '../../engine/reference/index.js';
import { splitCounts } from '../../engine/ops/split.js';
import { allCases } from './cases/index.js';
import { compare, GPU_TOLERANCE, randomRef, rng, type Tolerance } from '../helpers/check.js';
import type { OpCase } from './op-cases.js';
import { needF16 } from '../helpers/f16.js';

type Name = keyof typeof ops;
type AnyRef = { forward(i: RefTensor[], a: unknown): RefTensor[]; backward(i: RefTensor[], a: unknown, y: RefTensor[], g: RefTensor[]): (RefTensor | null)[] };
type AnyOp = (inputs: readonly Tensor[], attrs: unknown) => Tensor[];

const adapterLimit = () => runtime().handle.limits.maxStorageBufferBindingSize;
afterEach(() => {
  runtime().maxBindingBytes = adapterLimit();
  runtime().maxBufferBytes = runtime().handle.limits.maxBufferSize;
});

const splits = () => [...splitCounts.values()].reduce((a, b) => a + b, 0);

interface Check {
  inputs: number[][];
  attrs: unknown;
  range?: [number, number] | [number, number][];
  avoid?: number[];
  noGrad?: number[];
  tolerance?: Tolerance;
}

/**
 * Runs `name` on random inputs with the binding limit at `limit(largest tensor)`, forward and
 * backward (seeded with random output gradients, one backward per output), against the reference.
 * Returns how many times an op ran in parts, or the TensorTooLarge it threw.
 */
async function runInParts(name: Name, c: Check, seed: number, limit: (largest: number, inputs: number) => number): Promise<number | TensorTooLarge> {
  const random = rng(seed);
  const rangeOf = (k: number): [number, number] => (Array.isArray(c.range?.[0]) ? (c.range as [number, number][])[k] : ((c.range as [number, number]) ?? [-2, 2]));
  const inputs = c.inputs.map((s, k) => randomRef(s, random, rangeOf(k), c.avoid));
  const differentiable = c.inputs.map((_, k) => !c.noGrad?.includes(k));
  const ref = (reference as unknown as Record<string, AnyRef>)[name];
  const ys = ref.forward(inputs, c.attrs);
  const gys = ys.map((y) => randomRef(y.shape, random, [-1, 1]));
  const refGrads = ref.backward(inputs, c.attrs, ys, gys);
  const largest = Math.max(...[...c.inputs, ...ys.map((y) => y.shape)].map((s) => numel(s) * 4));
  const largestInput = Math.max(...c.inputs.map((s) => numel(s) * 4));
  const tol = c.tolerance ?? GPU_TOLERANCE;
  const before = splits();
  try {
    await scopeAsync(async () => {
      const xs = inputs.map((x, k) => tensor(Float32Array.from(x.data), x.shape, { requiresGrad: differentiable[k] }));
      const seeds = gys.map((g) => tensor(Float32Array.from(g.data), g.shape));
      runtime().maxBindingBytes = limit(largest, largestInput);
      const outs = (ops[name] as unknown as AnyOp)(xs, c.attrs);
      if (differentiable.some(Boolean)) outs.forEach((y, k) => y.requiresGrad && backward(y, { grad: seeds[k], retainGraph: k < outs.length - 1 }));
      runtime().maxBindingBytes = adapterLimit();
      for (let k = 0; k < ys.length; k++) {
        expect(outs[k].shape).toEqual(ys[k].shape);
        expect(compare(await outs[k].data(), ys[k].data, tol), `${name} forward output ${k}`).toBeNull();
      }
      for (let k = 0; k < xs.length; k++) {
        if (!differentiable[k] || !refGrads[k]) continue;
        expect(xs[k].grad, `${name}: gradient of input ${k}`).not.toBeNull();
        expect(compare(await xs[k].grad!.data(), refGrads[k]!.data, tol), `${name}: gradient of input ${k}`).toBeNull();
      }
    });
  } catch (e) {
    if (e instanceof TensorTooLarge) return e;
    throw e;
  } finally {
    runtime().maxBindingBytes = adapterLimit();
  }
  return splits() - before;
}

// Whole vec4s, and room for the smallest parts of these tiny cases.
const half = (largest: number) => Math.max(16, Math.floor(largest / 2 / 16) * 16);
// gemm cuts rows of A (B read whole) or columns of B (A read whole): both operands must fit.
const limits: Partial<Record<Name, (largest: number, inputs: number) => number>> = { gemm: (_l, inputs) => Math.ceil(inputs / 16) * 16 };

describe('every op case, run in parts (binding limit at half its largest tensor)', () => {
  const names = Object.keys(ops) as Name[];
  const refused: string[] = [];
  const whole: string[] = [];
  test.each(names)('%s', async (name) => {
    const cases = (allCases[name] ?? []) as OpCase<Name>[];
    let parts = 0;
    for (const [i, c] of cases.entries()) {
      const r = await runInParts(name, c as Check, 2000 + i, limits[name] ?? half);
      if (r instanceof TensorTooLarge) {
        expect(r.message).toMatch(new RegExp(`^${name}( backward)?(?: \\(.*\\))?: .* is [\\d.]+ MiB \\([\\d,]+ bytes\\), over this adapter's`));
        refused.push(`${name} ${JSON.stringify(c.inputs)}: ${r.message}`);
      } else parts += r;
    }
    // Views (reshape, flatten) bind nothing; every other op ran in parts at least once.
    if (['reshape', 'flatten'].includes(name)) whole.push(name);
    else expect(parts, `${name} never ran in parts`).toBeGreaterThan(0);
  });
  test('the cases no op could run in parts are the expected ones', () => {
    if (refused.length) console.log(`[split] refused:\n  ${refused.join('\n  ')}`);
    console.log(`[split] ran in parts: ${[...splitCounts.keys()].sort().join(', ')}`);
    // Refusals are typed (checked above) and come from the planner: nothing to cut at this limit (single
    // planes of pools and resize, full reductions, pads on every axis, operands read whole).
    for (const r of refused) expect(r).toMatch(/cannot run in parts: ((along .* (even a part of \d+ is too big|every part would read input \d+ .* whole)|.* has extent \d+|no axis to cut)(; |$))+/);
  });
});

describe('convolutions in parts', () => {
  const conv = (inputs: number[][], attrs: Record<string, unknown>, limit: number): Check & { limit: number } => ({
    inputs,
    attrs,
    limit,
    tolerance: { rtol: 1e-3, atol: 1e-4 },
  });
  // Limits chosen so that batch and output-channel parts do not fit (x is read whole by a channel part): rows it is.
  const byRows = [
    ['3x3, pad 1', conv([[1, 4, 20, 20], [3, 4, 3, 3], [3]], { pads: [1, 1, 1, 1] }, 4096)],
    ['3x3, stride 2, pads 1/2', conv([[1, 4, 21, 19], [5, 4, 3, 3]], { strides: [2, 2], pads: [1, 0, 2, 1] }, 3072)],
    ['dilation 2, stride 3', conv([[1, 4, 24, 16], [3, 4, 3, 2], [3]], { strides: [3, 1], dilations: [2, 2], pads: [2, 1, 2, 1] }, 2048)],
    ['1x1 with a fused ReLU (recorded: keeps z)', conv([[1, 6, 16, 16], [4, 6, 1, 1], [4]], { activation: { kind: 'relu' } }, 4096)],
    ['fused leaky ReLU, stride 2', conv([[1, 5, 18, 18], [3, 5, 3, 3], [3]], { strides: [2, 2], pads: [1, 1, 1, 1], activation: { kind: 'leakyRelu', alpha: 0.1 } }, 2048)],
  ] as const;
  test.each(byRows)('conv2d over rows: %s', async (_label, c) => {
    splitCounts.clear();
    const r = await runInParts('conv2d', c, 1, () => c.limit);
    expect(r).toBeGreaterThan(0);
    expect([...splitCounts.keys()]).toEqual(expect.arrayContaining(['conv2d forward rows', 'conv2d backward rows']));
  });

  test('conv2d over whole groups (depthwise and 2 channels per group)', async () => {
    splitCounts.clear();
    // Depthwise: x is cut with y, per channel.
    expect(await runInParts('conv2d', conv([[1, 8, 12, 12], [8, 1, 3, 3], [8]], { groups: 8, pads: [1, 1, 1, 1] }, 2048), 2, () => 2048)).toBeGreaterThan(0);
    // Groups of 2 in, 4 out: parts are multiples of 4 output channels.
    expect(await runInParts('conv2d', conv([[1, 6, 10, 10], [12, 2, 3, 3]], { groups: 3, pads: [1, 1, 1, 1] }, 2048), 3, () => 2048)).toBeGreaterThan(0);
    expect(splitCounts.get('conv2d forward output channels')).toBeGreaterThan(0);
    expect(splitCounts.get('conv2d backward output channels')).toBeGreaterThan(0);
  });

  test('conv2d over output channels reads x whole and sums its gradient', async () => {
    splitCounts.clear();
    expect(await runInParts('conv2d', conv([[1, 3, 12, 12], [16, 3, 3, 3], [16]], { pads: [1, 1, 1, 1] }, 4096), 4, () => 4096)).toBeGreaterThan(0);
    expect(splitCounts.get('conv2d forward output channels')).toBeGreaterThan(0);
  });

  const transposed = [
    ['2x2 stride 2 (the DBNet head)', conv([[1, 4, 10, 10], [4, 3, 2, 2], [3]], { strides: [2, 2] }, 1024)],
    ['3x3 stride 2, pads 1, output padding 1', conv([[1, 4, 9, 11], [4, 3, 3, 3], [3]], { strides: [2, 2], pads: [1, 1, 1, 1], outputPadding: [1, 1] }, 1200)],
    ['3x3 stride 3, dilation 2, pads 2/0', conv([[1, 3, 7, 6], [3, 2, 3, 3]], { strides: [3, 1], dilations: [2, 1], pads: [2, 0, 0, 1] }, 400)],
    ['1x1 stride 2 (outputs no input reaches)', conv([[1, 4, 8, 8], [4, 3, 1, 1]], { strides: [2, 2], outputPadding: [1, 1] }, 768)],
  ] as const;
  test.each(transposed)('convTranspose2d over rows: %s', async (_label, c) => {
    splitCounts.clear();
    expect(await runInParts('convTranspose2d', c, 5, () => c.limit)).toBeGreaterThan(0);
    expect([...splitCounts.keys()]).toEqual(expect.arrayContaining(['convTranspose2d forward rows', 'convTranspose2d backward rows']));
  });

  test('convTranspose2d over output channels, plain and grouped', async () => {
    splitCounts.clear();
    expect(await runInParts('convTranspose2d', conv([[1, 2, 8, 8], [2, 8, 2, 2], [8]], { strides: [2, 2] }, 2048), 6, () => 2048)).toBeGreaterThan(0);
    expect(await runInParts('convTranspose2d', conv([[1, 4, 8, 8], [4, 3, 2, 2], [6]], { strides: [2, 2], groups: 2 }, 2048), 7, () => 2048)).toBeGreaterThan(0);
    expect(splitCounts.get('convTranspose2d forward output channels')).toBeGreaterThan(0);
  });
});

describe('what cannot run in parts fails at once, naming it', () => {
  test('a full reduction of a tensor past the limit: TensorTooLarge with op, tensor, size and limit', async () => {
    await scopeAsync(async () => {
      const x = tensor(new Float32Array(4096), [64, 64]);
      runtime().maxBindingBytes = 4096;
      const before = runtime().pool.stats().liveBuffers;
      const started = performance.now();
      const error = (() => {
        try {
          sum(x);
        } catch (e) {
          return e;
        }
      })();
      expect(performance.now() - started).toBeLessThan(1000);
      expect(error).toBeInstanceOf(TensorTooLarge);
      const e = error as TensorTooLarge;
      expect([e.op, e.tensor, e.bytes, e.limit, e.kind]).toEqual(['sum', 'input 0 [64, 64]', 16384, 4096, 'binding']);
      expect(e.message).toBe(
        "sum: input 0 [64, 64] is 0.0 MiB (16,384 bytes), over this adapter's 0.0 MiB (4,096 bytes) limit per storage binding (maxStorageBufferBindingSize); it cannot run in parts: no axis to cut",
      );
      expect(runtime().pool.stats().liveBuffers).toBe(before);
    });
  });

  test('a tensor past the buffer limit: TensorTooLarge naming the output', async () => {
    await scopeAsync(async () => {
      const x = tensor(new Float32Array(64), [1, 1, 8, 8]);
      runtime().maxBufferBytes = 1 << 16;
      const error = (() => {
        try {
          ops.resize([x], { scales: [64, 64], mode: 'nearest' });
        } catch (e) {
          return e;
        }
      })();
      expect(error).toBeInstanceOf(TensorTooLarge);
      expect((error as Error).message).toMatch(/^resize: output 0 \[1, 1, 512, 512\] is 1\.0 MiB \(1,048,576 bytes\), over this adapter's 0\.1 MiB \(65,536 bytes\) limit per buffer \(maxBufferSize\); no GPU buffer can hold it/);
      expect(error).not.toBeInstanceOf(BufferTooLarge);
    });
  });

  test('backward that cannot run in parts names the op, its output and the limit', async () => {
    await scopeAsync(async () => {
      const x = tensor(new Float32Array(4096).fill(1), [1, 4096], { requiresGrad: true, name: 'x' });
      const [y] = ops.softmax([x], { axis: -1 });
      y.name = 'probabilities';
      runtime().maxBindingBytes = 4096;
      expect(() => backward(y, { grad: tensor(new Float32Array(4096), [1, 4096]) })).toThrow(
        /^softmax backward \(the gradient of 'probabilities'\): input 0 \[1, 4096\] is .* \(16,384 bytes\), over this adapter's .* \(4,096 bytes\) limit per storage binding .*; it cannot run in parts: no axis to cut/,
      );
      tape.clear(); // the failed backward left the node recorded
    });
  });
});

// f16 storage: slabs move by buffer copies of whole 4-byte words, so an axis with an odd number of
// elements per index cannot be cut; the planner says so before any GPU work.
describe('f16 tensors past the binding limit', () => {
  test('cut where every slab is word-aligned, refused with the reason where none is', async (ctx) => {
    needF16(ctx);
    const rt = runtime();
    const f16 = { dtype: 'f16' } as const;
    try {
      await scopeAsync(async () => {
        const a = Float32Array.from({ length: 2 * 3 * 5 * 6 }, (_, i) => (i % 17) / 8 - 1);
        const x = tensor(a, [2, 3, 5, 6], f16);
        const y = tensor(a.map((v) => v * 0.5), [2, 3, 5, 6], f16);
        const before = splits();
        rt.maxBindingBytes = 128; // the [2, 3, 5, 6] f16 tensors are 360 bytes
        const sum = ops.add([x, y], {})[0];
        rt.maxBindingBytes = adapterLimit();
        expect(splits()).toBeGreaterThan(before);
        expect(Array.from(await sum.data())).toEqual(Array.from(a, (v) => v * 1.5));

        const odd = tensor(Float32Array.from({ length: 2 * 3 * 5 * 5 }, (_, i) => i / 64), [2, 3, 5, 5], f16);
        rt.maxBindingBytes = 128;
        let error: unknown;
        try {
          ops.add([odd, odd], {});
        } catch (e) {
          error = e;
        }
        rt.maxBindingBytes = adapterLimit();
        expect(error).toBeInstanceOf(TensorTooLarge);
        expect((error as Error).message).toMatch(/odd f16 offsets \(buffer copies move whole 4-byte words\)/);
      });
    } finally {
      rt.maxBindingBytes = adapterLimit();
    }
    expect(tape.liveNodes).toBe(0);
  });
});

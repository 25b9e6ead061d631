// ONNX graphs with tensors past the binding limit (lowered here with
// runtime().maxBindingBytes, what GRADLENS_MAX_BINDING_BYTES sets, so small
// inputs take the path the real limit takes at large ones):
//  - PP-OCRv4 runs in parts and matches onnxruntime and the unsplit run,
//    forward and the input gradient;
//  - a node that cannot run in parts fails at load, in milliseconds, before
//    anything is uploaded, naming the node, the tensor, its size and the limit.
// The real limit (128 MiB on lavapipe) is crossed by PP-OCRv4 at 2080 x 2080:
// scripts/big-input-parity.ts (minutes on lavapipe; its figures are in its header).

import { InferenceSession, Tensor as OrtTensor } from 'onnxruntime-node';
import { afterEach, describe, expect, test } from 'vitest';
import { backward, runtime, scopeAsync, tensor, TensorTooLarge } from '../../engine/index.js';
import { splitCounts } from '../../engine/ops/split.js';
import { loadOnnx, OnnxGraphError } from '../../importers/onnx/index.js';
import { encodeModel, floats, int64s } from '../fixtures/onnx/onnx-writer.js';
import { readModel } from '../fixtures/onnx/models.js';
import { seeded } from '../fixtures/onnx/synthetic.js';

const adapterLimit = () => runtime().handle.limits.maxStorageBufferBindingSize;
afterEach(() => {
  runtime().maxBindingBytes = adapterLimit();
});

/** max |a - b| over the range of b. */
function relativeError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let [lo, hi, worst] = [Infinity, -Infinity, 0];
  for (let i = 0; i < b.length; i++) {
    lo = Math.min(lo, b[i]);
    hi = Math.max(hi, b[i]);
    worst = Math.max(worst, Math.abs(a[i] - b[i]));
  }
  return worst / Math.max(hi - lo, 1e-12);
}

describe('PP-OCRv4 in parts', () => {
  const bytes = readModel('ch_PP-OCRv4_det_infer.onnx');
  test.skipIf(!bytes)('at 192 x 256 under a 640 KiB binding limit (above its largest weight, 576 KiB): forward vs onnxruntime and the unsplit run, input gradient vs the unsplit run', async () => {
    const shape = [1, 3, 192, 256];
    const x = Float32Array.from(seeded(3 * 192 * 256, 31, -2, 2));
    const weights = Float32Array.from(seeded(192 * 256, 32));
    const model = await loadOnnx(bytes!, { inputShapes: { x: shape } });
    const run = () =>
      scopeAsync(async () => {
        const input = tensor(x, shape, { requiresGrad: true });
        const { outputs } = model.run({ x: input }, { requireGrad: ['x'] });
        const y = Object.values(outputs)[0];
        backward(y, { grad: tensor(weights, y.shape) });
        return { y: await y.data(), grad: await input.grad!.data() };
      });
    const whole = await run();
    splitCounts.clear();
    runtime().maxBindingBytes = 640 << 10;
    const started = performance.now();
    const parts = await run();
    const ms = performance.now() - started;
    runtime().maxBindingBytes = adapterLimit();
    model.dispose();
    const ran = [...splitCounts.entries()].sort((a, b) => b[1] - a[1]);
    console.log(`[split] PP-OCRv4 192x256 at 640 KiB per binding: ${ms.toFixed(0)} ms; ops run in parts: ${ran.map(([k, n]) => `${k} x${n}`).join(', ')}`);
    expect(ran.some(([k]) => k.startsWith('conv2d forward'))).toBe(true);
    expect(ran.some(([k]) => k.includes('backward'))).toBe(true);

    const session = await InferenceSession.create(bytes!, { executionProviders: ['cpu'] });
    const result = await session.run({ x: new OrtTensor('float32', x, shape) });
    await session.release();
    const ort = Object.values(result)[0].data as Float32Array;
    expect(relativeError(parts.y, ort)).toBeLessThan(1e-3);
    expect(relativeError(parts.y, whole.y)).toBeLessThan(1e-5);
    expect(relativeError(parts.grad, whole.grad)).toBeLessThan(1e-4);
  });
});

describe('a node that cannot run in parts', () => {
  // conv -> relu -> flatten by reshape -> softmax over all 8 x 32 x 32 values: no axis to cut.
  const model = encodeModel({
    opset: 13,
    inputs: [{ name: 'x', dims: [1, 3, 32, 32] }],
    outputs: [{ name: 'y' }],
    initializers: [floats('w', [8, 3, 3, 3], seeded(216, 5)), floats('b', [8], seeded(8, 6)), int64s('shape', [2], [1, -1])],
    nodes: [
      { opType: 'Conv', name: 'conv', inputs: ['x', 'w', 'b'], outputs: ['c'], attrs: { pads: { ints: [1, 1, 1, 1] } } },
      { opType: 'Relu', name: 'relu', inputs: ['c'], outputs: ['r'] },
      { opType: 'Reshape', name: 'flat', inputs: ['r', 'shape'], outputs: ['f'] },
      { opType: 'Softmax', name: 'softmax', inputs: ['f'], outputs: ['y'], attrs: { axis: { i: 1 } } },
    ],
  });

  test('fails at load in milliseconds, before any upload, naming the node, the tensor, its size and the limit', async () => {
    await runtime().sync();
    const buffers = runtime().pool.stats().liveBuffers;
    const submits = runtime().submits;
    runtime().maxBindingBytes = 16 << 10;
    const started = performance.now();
    const error = await loadOnnx(model).catch((e: unknown) => e);
    const ms = performance.now() - started;
    expect(ms).toBeLessThan(1000);
    expect(error).toBeInstanceOf(OnnxGraphError);
    const e = error as OnnxGraphError;
    expect([e.node, e.opType]).toEqual(['softmax', 'Softmax']);
    expect(e.message).toContain(
      "softmax: input 0 'f' [1, 8192] is 0.0 MiB (32,768 bytes), over this adapter's 0.0 MiB (16,384 bytes) limit per storage binding (maxStorageBufferBindingSize); it cannot run in parts: no axis to cut",
    );
    expect(e.cause).toBeInstanceOf(TensorTooLarge);
    expect((e.cause as TensorTooLarge).bytes).toBe(32768);
    // The conv before it would have run in parts (over output channels); nothing ran or stayed on the GPU.
    expect(runtime().submits).toBe(submits);
    expect(runtime().pool.stats().liveBuffers).toBe(buffers);
    console.log(`[split] refused at load in ${ms.toFixed(1)} ms: ${e.message}`);
  });

  test('a tensor no GPU buffer can hold fails at load too, naming the node and its output', async () => {
    runtime().maxBufferBytes = 16 << 10;
    try {
      const error = await loadOnnx(model).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(OnnxGraphError);
      expect([(error as OnnxGraphError).node, (error as OnnxGraphError).opType]).toEqual(['conv', 'Conv']);
      expect((error as Error).message).toContain(
        "conv2d: output 0 [1, 8, 32, 32] is 0.0 MiB (32,768 bytes), over this adapter's 0.0 MiB (16,384 bytes) limit per buffer (maxBufferSize); no GPU buffer can hold it, in parts or not",
      );
      // An input too big for any buffer names the input.
      runtime().maxBufferBytes = 8 << 10;
      await expect(loadOnnx(model)).rejects.toThrow(/ONNX input 'x': shape \[1, 3, 32, 32\] needs 12288 bytes, over this adapter's 8192-byte limit per buffer \(maxBufferSize\)/);
    } finally {
      runtime().maxBufferBytes = runtime().handle.limits.maxBufferSize;
    }
  });

  test('under the adapter limit the same model loads and runs', async () => {
    const m = await loadOnnx(model);
    const y = await scopeAsync(async () => m.run({ x: tensor(new Float32Array(3 * 32 * 32), [1, 3, 32, 32]) }).outputs.y.data());
    expect(y.length).toBe(8192);
    m.dispose();
  });
});

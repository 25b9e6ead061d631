// Bad files and bad inputs through the public API (loadOnnx, run): each ends in
// a typed error whose message says what is wrong and where, and nothing is
// left on the GPU. (The decoder's own corner cases and fuzzing are in
// onnx-decode.test.ts and onnx-fuzz.test.ts.)

import { describe, expect, test } from 'vitest';
import { runtime, scope, tensor } from '../../engine/index.js';
import { loadOnnx, OnnxDecodeError, OnnxError, OnnxInputError, UnsupportedOnnxOp } from '../../importers/onnx/index.js';
import { encodeModel, floats } from '../fixtures/onnx/onnx-writer.js';
import { readModel } from '../fixtures/onnx/models.js';
import { seeded, syntheticCnn } from '../fixtures/onnx/synthetic.js';

/** Runs `fn` and checks that the GPU holds no more buffers afterwards. */
async function leavesNothing(fn: () => Promise<unknown>): Promise<void> {
  await runtime().read(tensor([0], [1]).buffer, 4); // settle pending work
  const before = runtime().pool.stats().liveBuffers;
  await fn();
  expect(runtime().pool.stats().liveBuffers).toBeLessThanOrEqual(before + 1); // + the settle tensor above
}

describe('loadOnnx on bad files', () => {
  const face = readModel('tiny_face_detector_416.onnx')!;

  test('a truncated file is an OnnxDecodeError with the byte offset', async () => {
    await leavesNothing(async () => {
      const cut = face.subarray(0, Math.floor(face.length * 0.6));
      await expect(loadOnnx(cut)).rejects.toThrow(OnnxDecodeError);
      await expect(loadOnnx(cut)).rejects.toThrow(/ONNX decode error at byte \d+ in .*: /);
    });
  });

  test('random bytes are an OnnxError, not a crash', async () => {
    const noise = Uint8Array.from(seeded(4096, 99, 0, 256), Math.floor);
    await expect(loadOnnx(noise)).rejects.toThrow(OnnxError);
    await expect(loadOnnx(new Uint8Array(0))).rejects.toThrow(OnnxError);
    await expect(loadOnnx(new TextEncoder().encode('{"not": "onnx"}'))).rejects.toThrow(OnnxError);
  });

  test('an unknown op names the op, the node and the supported ops', async () => {
    const bytes = encodeModel({
      opset: 13,
      inputs: [{ name: 'x', dims: [1, 4] }],
      outputs: [{ name: 'y' }],
      nodes: [
        { opType: 'Relu', name: 'relu', inputs: ['x'], outputs: ['r'] },
        { opType: 'Mish', name: 'mish_7', inputs: ['r'], outputs: ['y'] },
      ],
    });
    await leavesNothing(async () => {
      const error = await loadOnnx(bytes).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(UnsupportedOnnxOp);
      expect((error as Error).message).toMatch(/^Unsupported ONNX operation: Mish \(node 'mish_7'\)\. Supported: .*Conv.*Relu/);
    });
  });

  test('shapes at load: an input that does not exist, a wrong rank, a dynamic model without shapes', async () => {
    await expect(loadOnnx(syntheticCnn(), { inputShapes: { image: [1, 3, 16, 16] } })).rejects.toThrow("ONNX input 'image': the model has no such input; its inputs are: 'x'");
    await expect(loadOnnx(syntheticCnn(), { inputShapes: { x: [1, 3, 16] } })).rejects.toThrow(/ONNX input 'x': shape \[1, 3, 16\] has rank 3; the model declares \[1, 3, 16, 16\]/);
    const cls = readModel('ch_ppocr_mobile_v2.0_cls_infer.onnx')!;
    await expect(loadOnnx(cls)).rejects.toThrow(/ONNX input 'x': dimensions \[p2o.DynamicDimension.0, 3, p2o.DynamicDimension.1, p2o.DynamicDimension.2\] are not all fixed; pass a static shape, e.g. inputShapes: \{ "x": \[1, 3, 1, 1\] \}/);
  });

  test('inputs at run: a name that does not exist, a wrong shape, a missing input', async () => {
    const model = await loadOnnx(syntheticCnn());
    scope(() => {
      const x = tensor(seeded(768, 1), [1, 3, 16, 16]);
      expect(() => model.run({ images: x })).toThrow(OnnxInputError);
      expect(() => model.run({ images: x })).toThrow(/'images': the model has no such input; it expects 'x' \[1, 3, 16, 16\]/);
      expect(() => model.run({ x: tensor(seeded(3 * 32 * 32, 1), [1, 3, 32, 32]) })).toThrow(/'x': shape \[1, 3, 32, 32\] differs in dimension 2; the model expects 'x' \[1, 3, 16, 16\] \(only the batch, dimension 0, may differ\)/);
      expect(() => model.run({})).toThrow(/'x': is missing/);
    });
    model.dispose();
  });

  test('an output that is a constant comes back as a view the caller may free', async () => {
    const bytes = encodeModel({
      opset: 13,
      inputs: [{ name: 'x', dims: [2] }],
      outputs: [{ name: 'y' }, { name: 'c' }],
      initializers: [floats('c', [2], [5, 6])],
      nodes: [{ opType: 'Add', name: 'add', inputs: ['x', 'c'], outputs: ['y'] }],
    });
    const model = await loadOnnx(bytes);
    for (let i = 0; i < 2; i++) {
      const { outputs } = model.run({ x: tensor([1, 2], [2]) });
      expect(Array.from(await outputs.y.data())).toEqual([6, 8]);
      expect(Array.from(await outputs.c.data())).toEqual([5, 6]);
      outputs.c.dispose(); // must not free the model's copy
      outputs.y.dispose();
    }
    model.dispose();
  });
});

// Non-finite values at the library's boundary (issue 10): an input holding
// NaN or an infinity is refused with an error naming the input and the first
// bad element, and a score or map that comes out non-finite is an error,
// never a number or a blank map. (The kernels' own NaN propagation is
// test/engine/nonfinite.test.ts.)

import { describe, expect, test, vi } from 'vitest';
import { div, NonFiniteError, runtime, sub, sum, tensor, type Tensor } from '../../engine/index.js';
import { classTarget, detect, detectInput, explain, explainDetection, explainDetections, functionTarget } from '../../explainers/index.js';
import { decodeModel, OnnxGraphModel } from '../../importers/onnx/index.js';
import { resnetMiniOnChelsea } from '../fixtures/explain/reference.js';
import { readModel } from '../fixtures/onnx/models.js';
import { readPhoto } from '../fixtures/onnx/photos.js';

const LAYER = '/layer3/relu2/Relu_output_0';

describe('non-finite values at the boundary', () => {
  const mini = resnetMiniOnChelsea();

  /** The clean input with `value` at flat index `at`. */
  async function poisoned(at: number, value: number): Promise<Tensor> {
    const data = await mini.x.data();
    data[at] = value;
    return tensor(data, mini.x.shape);
  }

  test.each([
    ['one NaN', 1234, NaN],
    ['one +Infinity', 5, Infinity],
    ['one -Infinity', 3071, -Infinity],
  ])('%s in the input: explain refuses it, naming the input and the element, for gradient and gradient-free methods', async (_, at, value) => {
    const x = await poisoned(at, value);
    try {
      for (const method of ['gradcam', 'eigencam'] as const) {
        const error = await explain(mini.model, x, method, { layers: LAYER, target: classTarget(3) }).catch((e: unknown) => e);
        expect(error, method).toBeInstanceOf(NonFiniteError);
        const [c, rest] = [Math.floor(at / 1024), at % 1024];
        expect((error as Error).message).toBe(`input '${mini.model.inputs[0].name}' holds ${value} at index ${at} (element [0, ${c}, ${Math.floor(rest / 32)}, ${rest % 32}] of [1, 3, 32, 32]): gradlens refuses non-finite values`);
      }
    } finally {
      x.dispose();
    }
  });

  test('an all-NaN input is refused at its first element', async () => {
    const x = tensor(new Float32Array(mini.x.size).fill(NaN), mini.x.shape);
    try {
      await expect(explain(mini.model, x, 'gradcam', { layers: LAYER })).rejects.toThrow(/holds NaN at index 0 /);
    } finally {
      x.dispose();
    }
  });

  test('host values: a NaN is refused before anything is uploaded; clean ones give the tensor map without reading the input back', async () => {
    const data = await mini.x.data();
    const rt = runtime();
    const upload = vi.spyOn(rt, 'upload');
    const read = vi.spyOn(rt, 'read');
    try {
      const bad = Float32Array.from(data);
      bad[40] = NaN;
      await expect(explain(mini.model, { data: bad, shape: mini.x.shape }, 'gradcam', { layers: LAYER, target: classTarget(3) })).rejects.toThrow(/input '.+' holds NaN at index 40 \(element \[0, 0, 1, 8\]/);
      expect(upload).not.toHaveBeenCalled();
      // Same map as the GPU tensor; the GPU input costs one more readback (its values, fetched with the maps), host values none.
      read.mockClear();
      const onGpu = await explain(mini.model, mini.x, 'gradcam', { layers: LAYER, target: classTarget(3) });
      const gpuReads = read.mock.calls.length;
      read.mockClear();
      const onHost = await explain(mini.model, { data, shape: mini.x.shape }, 'gradcam', { layers: LAYER, target: classTarget(3) });
      expect(Array.from(onHost.map)).toEqual(Array.from(onGpu.map));
      expect(read.mock.calls.length).toBe(gpuReads - 1);
      expect(read.mock.calls.some(([, bytes]) => bytes === mini.x.size * 4)).toBe(false);
    } finally {
      upload.mockRestore();
      read.mockRestore();
    }
  });

  test('guided Grad-CAM reads its GPU input back once, not once more for its inner Grad-CAM', async () => {
    const read = vi.spyOn(runtime(), 'read');
    try {
      await explain(mini.model, mini.x, 'guidedgradcam', { layers: LAYER, target: classTarget(3) });
      expect(read.mock.calls.filter(([, bytes]) => bytes === mini.x.size * 4).length).toBeLessThanOrEqual(2); // the input, and the [1, 3, 32, 32] gradient
    } finally {
      read.mockRestore();
    }
  });

  test('a score that comes out NaN is an error naming the target, not a map', async () => {
    // (s - s) / (s - s) of the logits' sum: 0/0, and still a function of the output, so a gradient path exists.
    const nan = functionTarget((v) => {
      const s = sum(v[mini.model.outputs[0].name]);
      return div(sub(s, s), sub(s, s));
    }, '0/0');
    await expect(explain(mini.model, mini.x, 'gradcam', { layers: LAYER, target: nan })).rejects.toThrow(/the score of 0\/0 holds NaN/);
  });

  test('detectors: a NaN pixel is refused by detect and by explainDetections, before any detection is printed', async () => {
    const detector = new OnnxGraphModel(decodeModel(readModel('tiny_face_detector_416.onnx')!));
    try {
      const { input, detections, head } = await detect(detector, readPhoto('astronaut.png')!, { preset: 'tiny-face' });
      const bad = { data: Float32Array.from(input.data as Float32Array), shape: [...input.shape] };
      bad.data[7] = NaN;
      await expect(detectInput(detector, bad, { head })).rejects.toThrow(NonFiniteError);
      await expect(detectInput(detector, bad, { head })).rejects.toThrow(/input '.+' holds NaN at index 7 \(element \[0, 0, 0, 7\]/);
      const error = await explainDetections(detector, bad, detections, 'gradcam', { head }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(NonFiniteError);
      // One detection: host values checked before upload, by explain itself.
      await expect(explainDetection(detector, bad, detections[0], 'gradcam', { head })).rejects.toThrow(/input '.+' holds NaN at index 7 /);
    } finally {
      detector.dispose();
    }
  });
});

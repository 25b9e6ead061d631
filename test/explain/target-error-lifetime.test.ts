// GPU memory on error paths: an explanation whose target fails (a class out
// of range, a detection without its prediction or with a class its head does
// not have) throws, and leaves the pool's live buffers and the tape where they
// were: gradient, gradient-free and input-gradient methods, and detections.

import { expect, test } from 'vitest';
import { Tensor } from '../../engine/index.js';
import { detect, explain, explainDetection, explainDetections, TargetError, type Detection } from '../../explainers/index.js';
import { decodeModel, OnnxGraphModel } from '../../importers/onnx/index.js';
import { resnetMiniOnChelsea } from '../fixtures/explain/reference.js';
import { readModel } from '../fixtures/onnx/models.js';
import { readPhoto } from '../fixtures/onnx/photos.js';
import { expectNoGrowth } from '../helpers/lifetime.js';

const mini = resnetMiniOnChelsea();

/** `call` rejects with `error` twice; the second call (pipelines and uploads cached by the first) leaves no buffer and no tape node. */
function expectNoLeak(name: string, call: () => Promise<unknown>, error: new (...args: never[]) => Error = TargetError): Promise<void> {
  return expectNoGrowth(name, () => expect(call(), name).rejects.toBeInstanceOf(error));
}

test.each(['gradcam', 'eigencam', 'scorecam', 'saliency'] as const)('%s: a class out of range throws a TargetError and frees every buffer', async (method) => {
  await expectNoLeak(method, () => explain(mini.model, mini.x, method, { target: 99 }));
  await expectNoLeak(`${method}, batch of 2`, () => explain(mini.model, mini.x, method, { target: [1, 2] }));
});

const detector = readModel('tiny_face_detector_416.onnx');
const photo = readPhoto('astronaut.png');
test.skipIf(!detector || !photo)('a detection target that fails frees every buffer (host and GPU input, one and all)', async () => {
  const yolo = new OnnxGraphModel(decodeModel(detector!));
  try {
    const found = await detect(yolo, photo!, { preset: 'tiny-face' });
    expect(found.detections.length).toBeGreaterThan(0);
    const d = found.detections[0];
    const host = found.input as { data: Float32Array; shape: readonly number[] };
    const gpu = host instanceof Tensor ? host : Tensor.fromData(host.data, [...host.shape]);
    try {
      const noSource = { ...d, source: undefined } as unknown as Detection;
      // A class the head does not have (it would read another field of the prediction).
      const noClass = { ...d, classId: found.head.classes + 7 };
      for (const [what, input] of [['host', host], ['gpu', gpu]] as const) {
        for (const method of ['gradcam', 'eigencam'] as const) {
          for (const [how, bad] of [['no source', noSource], ['class out of range', noClass]] as const) {
            await expectNoLeak(`${what} ${method} ${how}: one`, () => explainDetection(yolo, input, bad, method, { head: found.head }));
            await expectNoLeak(`${what} ${method} ${how}: all`, () => explainDetections(yolo, input, [d, bad], method, { head: found.head }));
          }
        }
      }
      await expect(explainDetection(yolo, host, noClass, 'gradcam', { head: found.head })).rejects.toThrow(/class \d+ is out of range for this head's \d+ class/);
    } finally {
      if (gpu !== found.input) gpu.dispose();
    }
  } finally {
    yolo.dispose();
  }
});

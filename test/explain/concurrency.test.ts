// Overlapping calls (issue 10): the page fires a new request while Score-CAM
// still runs. Every registered method started at once, on one model and on
// two, must give bitwise the maps it gives alone, and a long call must stop
// when its AbortSignal fires, leaving the engine usable and no buffer behind.

import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { runtime, type Tensor } from '../../engine/index.js';
import { classTarget, detect, explain, explainDetections, type ExplainResult, type MethodName, type OptionsFor } from '../../explainers/index.js';
import { decodeModel, OnnxGraphModel } from '../../importers/onnx/index.js';
import { loadFixture, reference, refInput } from '../fixtures/explain/reference.js';
import { methodCases } from '../helpers/method-cases.js';
import { readModel } from '../fixtures/onnx/models.js';
import { readPhoto } from '../fixtures/onnx/photos.js';

/** Small batches and windows: the gradient-free methods stay short and have many awaits to interleave at. */
const cases = methodCases({ scorecam: 4, ablationcam: 4, occlusion: 4 });
const names = Object.keys(cases) as MethodName[];

function expectSame(actual: ExplainResult, expected: ExplainResult, what: string): void {
  expect(actual.method, what).toBe(expected.method);
  expect(Array.from(actual.map), `${what}: map`).toEqual(Array.from(expected.map));
  expect(Array.from(actual.score), `${what}: score`).toEqual(Array.from(expected.score));
}

describe('overlapping calls', () => {
  let model: OnnxGraphModel;
  let other: OnnxGraphModel;
  let x: Tensor;
  const alone = new Map<MethodName, ExplainResult>();
  const category = reference().models.resnet_mini.category[0];
  const run = (m: OnnxGraphModel, name: MethodName, signal?: AbortSignal) => explain(m, x, name, { ...cases[name], target: classTarget(category), signal });

  beforeAll(async () => {
    model = await loadFixture('resnet_mini.onnx');
    other = await loadFixture('resnet_mini.onnx');
    x = refInput('chelsea');
    for (const name of names) alone.set(name, await run(model, name));
  });
  afterAll(() => {
    x?.dispose();
    model?.dispose();
    other?.dispose();
  });

  test('every method started at once on one model gives the maps it gives alone', async () => {
    const together = await Promise.all(names.map((name) => run(model, name)));
    together.forEach((r, i) => expectSame(r, alone.get(names[i])!, names[i]));
  });

  test('every method started at once, alternating between two models, gives the maps it gives alone', async () => {
    const together = await Promise.all(names.flatMap((name) => [run(model, name), run(other, name)]));
    together.forEach((r, i) => expectSame(r, alone.get(names[i >> 1])!, `${names[i >> 1]} on model ${i & 1}`));
  });

  test('a detector and a classifier overlap: detections and maps as when run alone', async () => {
    const detector = new OnnxGraphModel(decodeModel(readModel('tiny_face_detector_416.onnx')!));
    try {
      const image = readPhoto('astronaut.png')!;
      const first = await detect(detector, image, { preset: 'tiny-face' });
      const solo = await explainDetections(detector, first.input, first.detections, 'gradcam', { head: first.head });
      const progress: number[][] = [];
      const [again, maps, score] = await Promise.all([
        detect(detector, image, { preset: 'tiny-face' }),
        explainDetections(detector, first.input, first.detections, 'gradcam', { head: first.head, onDetection: (done, total) => progress.push([done, total]) }),
        run(model, 'scorecam'),
      ]);
      expect(again.detections.map((d) => [d.classId, d.score, ...d.box])).toEqual(first.detections.map((d) => [d.classId, d.score, ...d.box]));
      maps.results.forEach((r, j) => expect(Array.from(r.map)).toEqual(Array.from(solo.results[j].map)));
      expectSame(score, alone.get('scorecam')!, 'scorecam beside the detector');
      expect(progress).toEqual(first.detections.map((_, j) => [j + 1, first.detections.length]));
    } finally {
      detector.dispose();
    }
  });

  test('an aborted call rejects with the signal reason, mid-run and while queued; the next calls are unaffected and no buffer is left', async () => {
    const pool = () => runtime().pool.stats();
    const before = pool();
    for (const name of ['scorecam', 'ablationcam', 'occlusion'] as const) {
      const controller = new AbortController();
      let batches = 0;
      // Aborted from its own progress callback: after its first batch, so mid-run.
      const onProgress = () => {
        batches++;
        controller.abort(new Error(`stop ${name}`));
      };
      const started = explain(model, x, name, { ...cases[name], target: classTarget(category), signal: controller.signal, onProgress } as OptionsFor<typeof name>);
      const queued = run(model, 'gradcam', controller.signal);
      const [a, b] = await Promise.allSettled([started, queued]);
      expect(a.status === 'rejected' && String(a.reason), name).toBe(`Error: stop ${name}`);
      expect(b.status === 'rejected' && String(b.reason), `gradcam queued behind ${name}`).toBe(`Error: stop ${name}`);
      expect(batches, `${name}: batches run before stopping`).toBe(1);
      expectSame(await run(model, name), alone.get(name)!, `${name} after an abort`);
    }
    // An already-aborted signal rejects before any work.
    await expect(run(model, 'gradcam', AbortSignal.abort(new Error('never started')))).rejects.toThrow('never started');
    expect(pool().liveBuffers).toBe(before.liveBuffers);
  });
});

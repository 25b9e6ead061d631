// Every registered method runs: driven by the registry, one case per method
// on resnet_mini (32x32, the chelsea photo of the reference set), each giving
// a finite, non-constant map in [0, 1] of the input's size. A method added to
// the registry without a case here fails (at compile time through the
// Record<MethodName, ...>, and at run time by the key check). The numbers
// themselves are checked elsewhere (reference, free-cams, zf-* tests).

import { describe, expect, test } from 'vitest';
import type { Tensor } from '../../engine/index.js';
import { classTarget, explain, gradCam, methods, scoreCam, type MethodName } from '../../explainers/index.js';
import type { OnnxGraphModel } from '../../importers/onnx/index.js';
import { reference, resnetMiniOnChelsea } from '../fixtures/explain/reference.js';
import { methodCases } from '../helpers/method-cases.js';

const SIZE = 32;

/** Small batches and windows keep the gradient-free ones short. */
const cases = methodCases({ scorecam: 16, ablationcam: 17, occlusion: 16 });

describe('every registered method on resnet_mini', () => {
  const category = reference().models.resnet_mini.category[0];
  const mini = resnetMiniOnChelsea();

  test('each method has a case, under its own name', () => {
    expect(Object.keys(methods).sort()).toEqual(Object.keys(cases).sort());
    for (const [name, method] of Object.entries(methods)) expect(method.name).toBe(name);
  });

  test.each(Object.keys(cases) as MethodName[])('%s: a finite, non-constant map in [0, 1]', async (name) => {
    const method = methods[name];
    const result = await explain(mini.model, mini.x, name, { ...cases[name], target: classTarget(category) });
    expect(result.method).toBe(name);
    expect([result.batch, result.height, result.width]).toEqual([1, SIZE, SIZE]);
    expect(result.map.length).toBe(SIZE * SIZE);
    let lo = Infinity;
    let hi = -Infinity;
    for (const v of result.map) {
      expect(Number.isFinite(v)).toBe(true);
      lo = Math.min(lo, v);
      hi = Math.max(hi, v);
    }
    // Every map is min-max scaled at the end: a non-constant one spans [0, 1].
    expect(lo).toBeCloseTo(0, 5);
    expect(hi).toBeCloseTo(1, 5);
    expect(result.raw.length).toBeGreaterThan(0);
    for (const r of result.raw) expect(r.data.every(Number.isFinite)).toBe(true);
    // Gradient methods report the gradient at their first layer (the input for input-space ones).
    expect(result.gradient !== undefined).toBe(method.usesGradients);
    if (result.gradient && method.inputSpace) expect(result.gradient.shape).toEqual([3, SIZE, SIZE]);
  });
});

/** Compile-time checks of explain's options (never run: tsc reports an unused @ts-expect-error). */
export async function optionTypes(model: OnnxGraphModel, x: Tensor, runtimeName: string): Promise<void> {
  await explain(model, x, 'scorecam', { batchSize: 4, channels: [0, 1] });
  await explain(model, x, runtimeName, { batchSize: 4, k: 2, patch: 3 });
  await explain(model, x, scoreCam, { batchSize: 2 });
  await explain(model, x, 'gradcam-pp'); // unknown names compile (UnknownMethod at run time)
  // @ts-expect-error a misspelt option
  await explain(model, x, 'scorecam', { batchsize: 4 });
  // @ts-expect-error another method's option (batchSize is every method's: SmoothGrad's copies per pass)
  await explain(model, x, 'gradcam', { channels: [0, 1] });
  // @ts-expect-error a misspelt option, for a method chosen at run time
  await explain(model, x, runtimeName, { pach: 4 });
  // @ts-expect-error another method's option, with a method object
  await explain(model, x, gradCam, { k: 4 });
  // @ts-expect-error an option of the wrong type
  await explain(model, x, 'fem', { k: '2' });
}

// Blank maps are said, not drawn (issue 10): a saturated score, an all-zero
// gradient or an all-zero or flat map comes with a warning that names the
// layer and what to try, and following the advice gives a real map. A
// constant raw map scales to all zero, not to stretched rounding noise.

import { afterAll, describe, expect, test } from 'vitest';
import { max, tensor, type Tensor } from '../../engine/index.js';
import { classTarget, explain, functionTarget } from '../../explainers/index.js';
import { diagnose } from '../../explainers/diagnose.js';
import { decodeModel, OnnxGraphModel } from '../../importers/onnx/index.js';
import { readModel } from '../fixtures/onnx/models.js';
import { readPhoto, rgbInput, textPageInput } from '../fixtures/onnx/photos.js';

const disposables: { dispose(): void }[] = [];
afterAll(() => disposables.forEach((d) => d.dispose()));

function load(file: string, inputShapes?: Record<string, number[]>): OnnxGraphModel {
  const model = new OnnxGraphModel(decodeModel(readModel(file)!), { inputShapes });
  disposables.push(model);
  return model;
}

function input(data: Float32Array, shape: number[]): Tensor {
  const t = tensor(data, shape);
  disposables.push(t);
  return t;
}

describe('saturated and blank explanations', () => {
  test("PP-OCRv4 with its largest output element as the target: a saturated sigmoid, said and explained; the hint's pre-sigmoid target gives a map", async () => {
    const model = load('ch_PP-OCRv4_det_infer.onnx', { x: [1, 3, 128, 128] });
    const page = textPageInput(readPhoto('page.png')!, 128, 128);
    const x = input(page.data, page.shape);
    const largest = (name: string) => functionTarget((v) => max(v[name], undefined), `largest element of '${name}'`, [name]);
    const output = model.outputs[0].name;
    const saturated = await explain(model, x, 'gradcam', { target: largest(output) });
    expect(saturated.score[0]).toBe(1);
    expect(Math.max(...saturated.map)).toBe(0);
    expect(saturated.warnings.map((w) => w.code)).toEqual(['dead-gradient']);
    const [{ message: warning, tensor }] = saturated.warnings;
    expect(warning).toMatch(/gradient of largest element of .* is all zero at '.+'/);
    expect(warning).toMatch(/is the output of Sigmoid '.+' and the score \(1\.000000\) is saturated/);
    // Follow the hint: explain the tensor it names.
    const pre = /explain the Sigmoid's input '([^']+)' instead/.exec(warning)![1];
    expect(tensor).toBe(pre);
    const followed = await explain(model, x, 'gradcam', { target: largest(pre) });
    expect(followed.warnings).toEqual([]);
    expect(Math.max(...followed.map)).toBe(1);
  });

  test('nsfwjs at its 1x1 average pool: the map is all zero (not upsampling noise stretched to [0, 1]) and said to be constant', async () => {
    const model = load('nsfwjs_mobilenet_v2.onnx');
    const photo = rgbInput(readPhoto('astronaut.png')!, 224, 224);
    const x = input(photo.data, photo.shape);
    const layer = model.layers().find((l) => /average_pooling2d/.test(l.name) && l.shape.length === 4)!.name;
    const result = await explain(model, x, 'gradcam', { layers: layer, target: classTarget(2) });
    expect(result.raw[0].shape).toEqual([1, 1, 1]);
    expect(result.raw[0].data[0]).toBeGreaterThan(0);
    expect(Array.from(new Set(result.map))).toEqual([0]);
    expect(result.warnings).toEqual([
      { code: 'flat-map', layers: [layer], message: `the map at '${layer}' is constant (a 1x1 layer): it cannot localize anything; pick a layer with a spatial extent.` },
    ]);
  });

  test('diagnose: all-zero activations, an all-zero map with a live gradient, a flat map, a dead gradient without a sigmoid', () => {
    const model = { inputs: [], outputs: [{ name: 'y', shape: [1, 4] }], layers: () => [], run: () => ({}) as never, dispose: () => {} };
    const target = classTarget(0);
    const base = { model, target, defaultOutput: 'y', score: Float32Array.of(0.5) };
    const at = (raw: Float32Array, gradientPeak: number | null, activationPeak: number | null = 1) => diagnose({ ...base, layers: [{ layer: 'a', raw, gradientPeak, activationPeak }] });
    expect(at(new Float32Array(4), 0.3).map((w) => w.message)).toEqual([
      "the map at 'a' is all zero: its weighted channel sum is negative everywhere and the ReLU clears it. Try another layer, or LayerCAM (per-position weights).",
    ]);
    expect(at(new Float32Array(4), 0, 0).map((w) => [w.code, w.layers])).toEqual([['zero-activations', ['a']]]);
    expect(at(Float32Array.of(2, 2 + 1e-6, 2, 2), 0.3)[0].message).toMatch(/constant \(no spatial variation\)/);
    expect(at(Float32Array.of(2, 2.1, 2, 2), 0.3)).toEqual([]);
    expect(at(new Float32Array(4), 0)).toEqual([
      {
        code: 'dead-gradient',
        layers: ['a'],
        tensor: undefined,
        message:
          "the gradient of class 0 score is all zero at 'a': the map shows no evidence, not evidence of nothing. Every path from the score to the layer is saturated or cut by inactive ReLUs: try another layer, or a target read before the final activation.",
      },
    ]);
    // Gradient-free methods have no gradient to judge.
    expect(at(Float32Array.of(0, 1, 0, 0), null)).toEqual([]);
  });
});

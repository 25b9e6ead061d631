// The gradient methods against PyTorch (explainers/reference/generate.py, float64):
// activations, gradients, raw maps, final maps and FullGrad on three small
// networks exported to ONNX and loaded with loadOnnx.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mul, sum, tape, tensor } from '../../engine/index.js';
import {
  classTarget,
  defaultLayer,
  explain,
  functionTarget,
  LayerNotFound,
  MethodNotApplicable,
  NoGradientPath,
  NotASpatialLayer,
  scalar,
  softmaxTarget,
  UnknownMethod,
} from '../../explainers/index.js';
import type { OnnxGraphModel } from '../../importers/onnx/index.js';
import { loadFixture, reference, refInput, relError, type RefModel } from '../fixtures/explain/reference.js';

const TOL = 1e-3;
const GRADIENT_METHODS = ['gradcam', 'gradcam++', 'xgradcam', 'hirescam', 'gradcamelementwise', 'layercam', 'eigengradcam'];
/** Worst relative error per check, printed at the end (the figures in the report). */
const agreement = new Map<string, number>();
function record(key: string, err: number): void {
  agreement.set(key, Math.max(agreement.get(key) ?? 0, err));
}

afterAll(() => {
  const rows = [...agreement].map(([k, v]) => `  ${k.padEnd(34)} ${v.toExponential(2)}`);
  console.log(`max |ours - torch| / max |torch|:\n${rows.join('\n')}`);
});

describe.each(['resnet_mini', 'vgg_mini', 'silu_mini'])('%s vs PyTorch', (name) => {
  const ref: RefModel = reference().models[name];
  let model: OnnxGraphModel;
  beforeAll(async () => {
    model = await loadFixture(ref.file);
  });
  afterAll(() => model.dispose());

  it.each(GRADIENT_METHODS)('%s: activations, gradients and raw maps at both layers', async (method) => {
    for (const layer of ref.layer_names) {
      const x = refInput(ref.input);
      const r = await explain(model, x, method, { layers: layer, target: classTarget(ref.category), inspect: true });
      x.dispose();
      const data = r.layerData![0];
      expect(data.shape).toEqual(ref.layers[layer].shape);
      record('activations', relError(data.activations, ref.layers[layer].activations));
      record('gradients', relError(data.gradients!, ref.layers[layer].gradients));
      expect(relError(data.activations, ref.layers[layer].activations)).toBeLessThan(TOL);
      expect(relError(data.gradients!, ref.layers[layer].gradients)).toBeLessThan(TOL);
      const err = relError(r.raw[0].data, ref.raw[method][layer]);
      record(`raw ${method}`, err);
      expect(err, `${method} at ${layer}`).toBeLessThan(TOL);
      expect(r.score[0]).toBeCloseTo(ref.score[0], 3);
      expect(r.gradient!.shape).toEqual(ref.layers[layer].shape.slice(1));
    }
    expect(tape.liveNodes).toBe(0);
  });

  it.each([
    ['gradcam', 'gradcam+eigen'],
    ['layercam', 'layercam+eigen'],
  ])('%s with eigenSmooth: the first principal component (sign fixed by the channel sum)', async (method, key) => {
    for (const layer of ref.layer_names) {
      const x = refInput(ref.input);
      const r = await explain(model, x, method, { layers: layer, target: classTarget(ref.category), eigenSmooth: true });
      x.dispose();
      const err = relError(r.raw[0].data, ref.raw[key][layer]);
      record(`raw ${key}`, err);
      expect(err, layer).toBeLessThan(TOL);
    }
  });

  it.each(GRADIENT_METHODS)('%s: final maps (upsampled, scaled; one layer and both averaged)', async (method) => {
    const x = refInput(ref.input);
    const one = await explain(model, x, method, { layers: ref.layer_names[0], target: classTarget(ref.category) });
    const both = await explain(model, x, method, { layers: ref.layer_names, target: classTarget(ref.category) });
    x.dispose();
    expect([one.batch, one.height, one.width]).toEqual([1, 32, 32]);
    record('final map (1 layer)', relError(one.map, ref.final[method]));
    record('final map (2 layers)', relError(both.map, ref.final[`${method}@all`]));
    // Scaled maps amplify the raw error by 1 / (max - min) of the raw map; 1e-3 still holds.
    expect(relError(one.map, ref.final[method])).toBeLessThan(TOL);
    expect(relError(both.map, ref.final[`${method}@all`])).toBeLessThan(TOL);
    expect(both.raw.map((r) => r.layer)).toEqual(ref.layer_names);
    expect(Math.min(...one.map)).toBe(0);
    expect(Math.max(...one.map)).toBeCloseTo(1, 6);
  });

  it('fullgrad: input gradient, the unscaled sum and the final map', async () => {
    const x = refInput(ref.input);
    const r = await explain(model, x, 'fullgrad', { target: classTarget(ref.category) });
    x.dispose();
    expect(r.gradient!.shape).toEqual([3, 32, 32]);
    record('fullgrad input gradient', relError(r.gradient!.data, ref.fullgrad.input_gradient));
    record('fullgrad raw', relError(r.raw[0].data, ref.fullgrad.raw));
    record('fullgrad map', relError(r.map, ref.fullgrad.map));
    expect(relError(r.gradient!.data, ref.fullgrad.input_gradient)).toBeLessThan(TOL);
    expect(relError(r.raw[0].data, ref.fullgrad.raw)).toBeLessThan(TOL);
    expect(relError(r.map, ref.fullgrad.map)).toBeLessThan(TOL);
    expect(tape.liveNodes).toBe(0);
  });
});

describe('resnet_mini: CAM, batches, targets, options', () => {
  const ref: RefModel = reference().models.resnet_mini;
  const [layer3, layer2] = ref.layer_names;
  let model: OnnxGraphModel;
  beforeAll(async () => {
    model = await loadFixture(ref.file);
  });
  afterAll(() => model.dispose());

  it('CAM: the classifier weights from the graph, equal to PyTorch', async () => {
    for (const name of ['resnet_mini', 'silu_mini']) {
      const r0 = reference().models[name];
      const m = name === 'resnet_mini' ? model : await loadFixture(r0.file);
      const x = refInput(r0.input);
      const r = await explain(m, x, 'cam', { layers: r0.layer_names[0], target: classTarget(r0.category) });
      x.dispose();
      record('raw cam', relError(r.raw[0].data, r0.raw.cam[r0.layer_names[0]]));
      expect(relError(r.raw[0].data, r0.raw.cam[r0.layer_names[0]])).toBeLessThan(TOL);
      if (m !== model) m.dispose();
    }
  });

  it('CAM equals Grad-CAM times h*w on a GAP + linear model (Grad-CAM paper, section 3.1)', async () => {
    const x = refInput(ref.input);
    const camMap = await explain(model, x, 'cam', { layers: layer3, target: classTarget(ref.category) });
    const grad = await explain(model, x, 'gradcam', { layers: layer3, target: classTarget(ref.category) });
    x.dispose();
    const [, h, w] = camMap.raw[0].shape;
    const scaled = grad.raw[0].data.map((v) => v * h * w);
    expect(Math.max(...camMap.raw[0].data)).toBeGreaterThan(0);
    expect(relError(scaled, camMap.raw[0].data)).toBeLessThan(1e-5);
    expect(relError(grad.map, camMap.map)).toBeLessThan(1e-4);
  });

  it('CAM refuses layers and models without a GAP + linear head', async () => {
    const x = refInput(ref.input);
    await expect(explain(model, x, 'cam', { layers: layer2 })).rejects.toThrow(MethodNotApplicable);
    await expect(explain(model, x, 'cam', { layers: layer2 })).rejects.toThrow(/layer '\/layer2\/relu2\/Relu_output_0' feeds 2 nodes \(Conv, Conv\)/);
    await expect(explain(model, x, 'cam', { layers: layer3, target: functionTarget((o) => sum(o.logits)) })).rejects.toThrow(/not a class score/);
    const vgg = await loadFixture(reference().models.vgg_mini.file);
    await expect(explain(vgg, x, 'cam', { layers: reference().models.vgg_mini.layer_names[0] })).rejects.toThrow(MethodNotApplicable);
    vgg.dispose();
    x.dispose();
  });

  it('a batch of two images with one class each', async () => {
    const b = ref.batch!;
    const x = refInput(...b.inputs);
    for (const method of ['gradcam', 'hirescam']) {
      const r = await explain(model, x, method, { layers: layer3, target: classTarget(b.category) });
      expect(r.batch).toBe(2);
      expect(r.raw[0].shape).toEqual([2, 8, 8]);
      expect(r.gradient!.shape).toEqual([2, 16, 8, 8]);
      expect(relError(r.score, b.score)).toBeLessThan(1e-5);
      record(`raw ${method} (batch 2)`, relError(r.raw[0].data, b.raw[method][layer3]));
      expect(relError(r.raw[0].data, b.raw[method][layer3])).toBeLessThan(TOL);
      // Each image's map is scaled on its own.
      for (let i = 0; i < 2; i++) expect(Math.max(...r.map.subarray(i * 1024, (i + 1) * 1024))).toBeCloseTo(1, 6);
    }
    x.dispose();
  });

  it('softmax probability target', async () => {
    const x = refInput(ref.input);
    const r = await explain(model, x, 'gradcam', { layers: layer3, target: softmaxTarget(ref.category) });
    x.dispose();
    expect(r.score[0]).toBeCloseTo(ref.softmax!.score[0], 5);
    record('raw gradcam (softmax target)', relError(r.raw[0].data, ref.softmax!.raw.gradcam as unknown as number[]));
    expect(relError(r.raw[0].data, ref.softmax!.raw.gradcam as unknown as number[])).toBeLessThan(TOL);
  });

  it('defaults: the layer before global pooling and the predicted class', async () => {
    expect(defaultLayer(model)).toBe(layer3);
    const x = refInput(ref.input);
    const r = await explain(model, x, 'gradcam');
    x.dispose();
    expect(r.layers).toEqual([layer3]);
    expect(r.category).toEqual(ref.category); // the generator explains the argmax class
    expect(relError(r.raw[0].data, ref.raw.gradcam[layer3])).toBeLessThan(TOL);
  });

  it('all-zero gradients give all-zero maps, never NaN', async () => {
    const x = refInput(ref.input);
    const zero = functionTarget((o) => mul(o.logits, scalar(0)), 'zero');
    for (const method of [...GRADIENT_METHODS, 'fullgrad']) {
      for (const eigenSmooth of method === 'fullgrad' ? [false] : [false, true]) {
        const r = await explain(model, x, method, { layers: layer3, target: zero, eigenSmooth });
        expect([...r.map].every((v) => v === 0), `${method} eigen=${eigenSmooth}`).toBe(true);
        expect([...r.raw[0].data].every((v) => v === 0), method).toBe(true);
      }
    }
    x.dispose();
  });

  it('augSmooth: the mean over flips and intensities 0.9, 1, 1.1 of the maps flipped back', async () => {
    const x = refInput(ref.input);
    const data = await x.data();
    const opts = { layers: layer3, target: classTarget(ref.category) };
    const smooth = await explain(model, x, 'gradcam', { ...opts, augSmooth: true });
    const expected = new Float32Array(32 * 32);
    for (const flip of [false, true]) {
      for (const factor of [0.9, 1, 1.1]) {
        const aug = new Float32Array(data.length);
        for (let c = 0; c < 3; c++) {
          for (let y = 0; y < 32; y++) {
            for (let xx = 0; xx < 32; xx++) aug[(c * 32 + y) * 32 + xx] = factor * data[(c * 32 + y) * 32 + (flip ? 31 - xx : xx)];
          }
        }
        const t = tensor(aug, [1, 3, 32, 32]);
        const r = await explain(model, t, 'gradcam', opts);
        t.dispose();
        for (let y = 0; y < 32; y++) for (let xx = 0; xx < 32; xx++) expected[y * 32 + xx] += r.map[y * 32 + (flip ? 31 - xx : xx)] / 6;
      }
    }
    x.dispose();
    expect(relError(smooth.map, expected)).toBeLessThan(1e-5);
    // The raw maps are those of the unaugmented input.
    expect(relError(smooth.raw[0].data, ref.raw.gradcam[layer3])).toBeLessThan(TOL);
  });

  it('leaves the caller\'s input and the tape as they were', async () => {
    const x = refInput(ref.input);
    await explain(model, x, 'fullgrad', { target: classTarget(ref.category) });
    await explain(model, x, 'layercam', { layers: [layer3, layer2], target: classTarget(ref.category) });
    expect(x.requiresGrad).toBe(false);
    expect(x.grad).toBeNull();
    expect(tape.liveNodes).toBe(0);
    x.dispose();
  });
});

describe('FullGrad on a BN-folded and an unfolded export', () => {
  it('gives the same map: the folded Conv bias is the BN effective bias at the same tensor', async () => {
    const ref = reference().models.resnet_mini;
    const folded = await loadFixture(ref.file);
    const unfolded = await loadFixture(ref.file_bn!);
    expect(folded.nodes().filter((n) => n.op === 'BatchNormalization')).toHaveLength(0);
    expect(unfolded.nodes().filter((n) => n.op === 'BatchNormalization').length).toBeGreaterThan(0);
    const x = refInput(ref.input);
    for (const m of [folded, unfolded]) {
      const r = await explain(m, x, 'fullgrad', { target: classTarget(ref.category) });
      record('fullgrad map (BN unfolded)', m === unfolded ? relError(r.map, ref.fullgrad.map) : 0);
      expect(relError(r.map, ref.fullgrad.map)).toBeLessThan(TOL);
      expect(relError(r.raw[0].data, ref.fullgrad.raw)).toBeLessThan(TOL);
    }
    x.dispose();
    folded.dispose();
    unfolded.dispose();
  });
});

describe('errors', () => {
  const ref = reference().models.silu_mini;
  let model: OnnxGraphModel;
  beforeAll(async () => {
    model = await loadFixture(ref.file);
  });
  afterAll(() => model.dispose());

  it('an unknown layer: LayerNotFound with close matches', async () => {
    const x = refInput(ref.input);
    const err = await explain(model, x, 'gradcam', { layers: '/act3/Mul_output' }).catch((e: unknown) => e);
    x.dispose();
    expect(err).toBeInstanceOf(LayerNotFound);
    expect((err as LayerNotFound).suggestions[0]).toBe('/act3/Mul_output_0');
    expect((err as Error).message).toMatch(/Did you mean: '\/act3\/Mul_output_0'/);
  });

  it('a layer the target does not depend on: NoGradientPath, not a zero map', async () => {
    const x = refInput(ref.input);
    const err = await explain(model, x, 'gradcam', { layers: ref.unreachable_layer!, target: classTarget(ref.category) }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NoGradientPath);
    expect((err as Error).message).toContain(ref.unreachable_layer!);
    // The same layer explains the output it feeds.
    const aux = await explain(model, x, 'gradcam', { layers: ref.unreachable_layer!, target: classTarget(0, { output: 'aux' }) });
    expect(aux.raw[0].shape).toEqual([1, 16, 16]);
    x.dispose();
    expect(tape.liveNodes).toBe(0);
  });

  it('a non-spatial layer, an unknown method, a bad class', async () => {
    const x = refInput(ref.input);
    await expect(explain(model, x, 'gradcam', { layers: 'logits' })).rejects.toThrow(NotASpatialLayer);
    await expect(explain(model, x, 'gradcam-pp')).rejects.toThrow(UnknownMethod);
    await expect(explain(model, x, 'gradcam', { target: classTarget(7) })).rejects.toThrow(/class 7 is out of range for 5 classes/);
    x.dispose();
    // The failed passes left nothing on the tape.
    expect(tape.liveNodes).toBe(0);
  });
});

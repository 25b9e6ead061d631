// ShapleyCAM (explainers/shapley-cam.ts): w_k = mean_ij(g - 1/2 H A)_k, with
// H A from the engine's double backward (pass.ts). Checked
//  - on silu_mini (smooth: SiLU, a sigmoid squeeze-excitation gate), at a layer
//    whose score is not linear in it (H A is far from 0): the weights against
//    float64, g from the reference tape and H A = (g(A (1 + e)) - g(A (1 - e))) / 2e
//    by central differences of the float64 gradient, e = 1e-4;
//  - on resnet_mini (ReLU, class logit): H A = 0 almost everywhere, so the map
//    is Grad-CAM's.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { runtime, scopeAsync, tape } from '../../engine/index.js';
import { refTensor, type RefTensor } from '../../engine/reference/index.js';
import { ReferenceTape } from '../../engine/reference/tape.js';
import { classTarget, explain } from '../../explainers/index.js';
import type { CamContext } from '../../explainers/method.js';
import { forwardPass } from '../../explainers/pass.js';
import { shapleyCam } from '../../explainers/shapley-cam.js';
import { executePlan } from '../../importers/onnx/executor.js';
import { prepareGraph } from '../../importers/onnx/graph.js';
import { toNumbers, type HostTensor } from '../../importers/onnx/host-tensor.js';
import type { OnnxGraphModel } from '../../importers/onnx/index.js';
import { planGraph } from '../../importers/onnx/plan.js';
import { decodeModel } from '../../importers/onnx/proto.js';
import { referenceBackend } from '../../importers/onnx/reference-backend.js';
import { EXPLAIN_FIXTURES, loadFixture, reference, refInput, relError } from '../fixtures/explain/reference.js';

/** silu_mini's second SiLU: downstream are the squeeze-excitation gate, a conv, SiLU, GAP and the linear head. */
const SILU_LAYER = '/act2/Mul_output_0';
const CATEGORY = 2;

/** d logit[CATEGORY] / d A in float64 with A scaled by `factor`; also A itself. */
function float64Gradient(file: string, layer: string, factor: number): { a: RefTensor; g: RefTensor } {
  const graph = prepareGraph(decodeModel(new Uint8Array(readFileSync(join(EXPLAIN_FIXTURES, file)))));
  const input = graph.inputs[0];
  const x = reference().inputs.dog.map(Math.fround); // the GPU reads the same float32 values
  const twin = new ReferenceTape();
  const constants = new Map<HostTensor, RefTensor>();
  let a: RefTensor | undefined;
  const out = graph.outputs[0].name;
  const values = executePlan(planGraph(graph), referenceBackend(twin), new Map([[input.name, refTensor(input.shape, x)]]), [out], {
    constant: (v) => constants.get(v) ?? constants.set(v, refTensor(v.shape, toNumbers(v))).get(v)!,
    produced(name, t) {
      if (name !== layer) return;
      a = refTensor(t.shape, t.data.map((v) => v * factor));
      twin.watch(a);
      return a;
    },
  });
  const y = values.get(out)!;
  const seed = refTensor(y.shape);
  seed.data[CATEGORY] = 1;
  return { a: a!, g: twin.backward(y, seed).get(a!)! };
}

/** mean over h, w of [1, C, h, w] values. */
function channelMeans(v: ArrayLike<number>, shape: number[]): number[] {
  const [, c, h, w] = shape;
  return Array.from({ length: c }, (_, k) => {
    let s = 0;
    for (let i = 0; i < h * w; i++) s += v[k * h * w + i];
    return s / (h * w);
  });
}

describe('ShapleyCAM', () => {
  let silu: OnnxGraphModel;
  let resnet: OnnxGraphModel;
  beforeAll(async () => {
    silu = await loadFixture('silu_mini.onnx');
    resnet = await loadFixture('resnet_mini.onnx');
  });
  afterAll(() => {
    silu.dispose();
    resnet.dispose();
  });

  test('silu_mini: weights mean(g - 1/2 H A) against float64 (reference gradient, H A by central differences)', async () => {
    const e = 1e-4;
    const at = float64Gradient('silu_mini.onnx', SILU_LAYER, 1);
    const plus = float64Gradient('silu_mini.onnx', SILU_LAYER, 1 + e);
    const minus = float64Gradient('silu_mini.onnx', SILU_LAYER, 1 - e);
    const ha64 = at.g.data.map((_, i) => (plus.g.data[i] - minus.g.data[i]) / (2 * e));
    const expected = channelMeans(at.g.data.map((g, i) => g - 0.5 * ha64[i]), at.g.shape);
    const gradCamWeights = channelMeans(at.g.data, at.g.shape);

    const x = refInput('dog');
    const ctx = {
      model: silu,
      inputs: { [silu.inputs[0].name]: x },
      inputName: silu.inputs[0].name,
      defaultOutput: silu.outputs[0].name,
      layers: [SILU_LAYER],
      size: [32, 32] as const,
      eigenSmooth: false,
      options: {},
      target: classTarget(CATEGORY),
    } satisfies CamContext;
    const { ha, weights } = await scopeAsync(async () => {
      const state = await forwardPass(ctx, [SILU_LAYER], { gradients: true, hessian: true });
      const layer = state.layers[0];
      return { ha: await layer.hessianActivations!.data(), weights: await (await shapleyCam.weights!(layer, ctx)).data() };
    });
    expect(tape.liveNodes).toBe(0);

    const errHa = relError(ha, ha64);
    const errW = relError(weights, expected);
    const hessianShare = relError(gradCamWeights, expected); // how far Grad-CAM's weights are: H A matters here
    console.log(`silu_mini ${SILU_LAYER}: |H A| max ${Math.max(...ha64.map(Math.abs)).toPrecision(3)}, H A rel. error ${errHa.toExponential(2)}, weights rel. error ${errW.toExponential(2)} (Grad-CAM's weights differ by ${hessianShare.toExponential(2)})`);
    expect(hessianShare).toBeGreaterThan(1e-2);
    expect(errHa).toBeLessThan(1e-3);
    expect(errW).toBeLessThan(1e-4);
    x.dispose();
  });

  test('resnet_mini (ReLU, class logit): H A = 0, the map is Grad-CAM\'s', async () => {
    const layer = '/layer2/relu2/Relu_output_0';
    const x = refInput('dog');
    const options = { layers: layer, target: classTarget(CATEGORY) };
    const shapley = await explain(resnet, x, 'shapleycam', options);
    const grad = await explain(resnet, x, 'gradcam', options);
    const err = relError(shapley.raw[0].data, grad.raw[0].data);
    console.log(`resnet_mini ${layer}: ShapleyCAM vs Grad-CAM raw map rel. difference ${err.toExponential(2)}`);
    expect(err).toBeLessThan(1e-6);
    expect(relError(shapley.map, grad.map)).toBeLessThan(1e-6);
    x.dispose();
  });

  test('silu_mini: explain(..., "shapleycam") differs from Grad-CAM, and leaves no buffers or tape nodes behind', async () => {
    const x = refInput('dog');
    const options = { layers: SILU_LAYER, target: classTarget(CATEGORY) };
    const shapley = await explain(silu, x, 'shapleycam', options);
    const grad = await explain(silu, x, 'gradcam', options);
    expect(shapley.map.every(Number.isFinite)).toBe(true);
    expect(relError(shapley.raw[0].data, grad.raw[0].data)).toBeGreaterThan(1e-3);
    // Two layers, the second downstream of the first (an inner tape node whose gradient is retained):
    // each layer's raw map is its one-layer run's (H A of the first must not touch the second's gradient).
    const second = '/act3/Mul_output_0';
    const both = await explain(silu, x, 'shapleycam', { ...options, layers: [SILU_LAYER, second] });
    const alone = await explain(silu, x, 'shapleycam', { ...options, layers: second });
    expect(relError(both.raw[0].data, shapley.raw[0].data)).toBeLessThan(1e-6);
    expect(relError(both.raw[1].data, alone.raw[0].data)).toBeLessThan(1e-6);
    const before = runtime().pool.stats().liveBuffers;
    for (let i = 0; i < 2; i++) await explain(silu, x, 'shapleycam', options);
    expect(runtime().pool.stats().liveBuffers).toBe(before);
    expect(tape.liveNodes).toBe(0);
    x.dispose();
  });
});

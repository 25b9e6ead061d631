// Deconvnet, guided backpropagation and Guided Grad-CAM against a float64 CPU
// reference: the model's graph run on the importer's reference backend and
// differentiated by its reference tape, with the ReLU-like backward rules
// replaced by the formulas written out here:
//   guided     dx = relu(g) * f'(x)   (ReLU: g [x > 0] [g > 0])
//   deconvnet  dx = relu(g)           (LeakyRelu: leakyRelu(g))
// Models: vgg_mini (PyTorch export, 32x32: Conv+ReLU pairs that the executor
// fuses, max pooling, a ReLU after a Gemm that stays standalone) and a tiny
// net written here with LeakyRelu and Clip(0, 6) (ReLU6), fused and unfused.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { backward, tape, tensor, type Tensor } from '../../engine/index.js';
import { reference, refTensor, type RefOp, type RefTensor } from '../../engine/reference/index.js';
import { loadOnnx, type OnnxGraphModel } from '../../importers/onnx/index.js';
import { classTarget, explain } from '../../explainers/index.js';
import { gradientImage } from '../../explainers/backprop-rules.js';
import { encodeModel, floats } from '../fixtures/onnx/onnx-writer.js';
import { EXPLAIN_DIR, miniInput, referenceRun, relError, uniform } from '../helpers/explain-free-reference.js';

type Mode = 'guided' | 'deconvnet' | 'gradient';
type Rule = (x: number, g: number, attrs: { alpha?: number; beta?: number }) => number;

// Per-element backward of the ReLU-like ops under each mode.
const RULES: Record<'relu' | 'leakyRelu' | 'clip', Record<Mode, Rule>> = {
  relu: {
    gradient: (x, g) => (x > 0 ? g : 0),
    guided: (x, g) => (x > 0 && g > 0 ? g : 0),
    deconvnet: (_x, g) => Math.max(g, 0),
  },
  leakyRelu: {
    gradient: (x, g, { alpha = 0.01 }) => (x > 0 ? g : alpha * g),
    guided: (x, g, { alpha = 0.01 }) => Math.max(g, 0) * (x > 0 ? 1 : alpha),
    deconvnet: (_x, g, { alpha = 0.01 }) => (g > 0 ? g : alpha * g),
  },
  clip: {
    gradient: (x, g, { alpha = -Infinity, beta = Infinity }) => (x >= alpha && x <= beta ? g : 0),
    guided: (x, g, { alpha = -Infinity, beta = Infinity }) => (x >= alpha && x <= beta ? Math.max(g, 0) : 0),
    deconvnet: (_x, g) => Math.max(g, 0),
  },
};

/** d logits[category] / d input in float64 with the ReLU rules of `mode`. */
function cpuInputGradient(model: OnnxGraphModel, input: ArrayLike<number>, category: number, mode: Mode): Float64Array {
  const table = reference as unknown as Record<string, RefOp<{ alpha?: number; beta?: number }>>;
  const saved = { relu: table.relu, leakyRelu: table.leakyRelu, clip: table.clip };
  for (const op of ['relu', 'leakyRelu', 'clip'] as const) {
    table[op] = {
      forward: saved[op].forward,
      backward: ([x], attrs, _outputs, [gy]) => [refTensor(x.shape, x.data.map((v, i) => RULES[op][mode](v, gy.data[i], attrs)))],
    };
  }
  try {
    const out = model.outputs[0];
    const seed = new Float64Array(out.shape[1]);
    seed[category] = 1;
    return referenceRun(model, input, [out.name], { seed: { name: out.name, gradient: seed } }).inputGradient!.data;
  } finally {
    Object.assign(table, saved);
  }
}

const METHOD: Record<Exclude<Mode, 'gradient'>, string> = { guided: 'guidedbackprop', deconvnet: 'deconvnet' };

describe('guided backprop and deconvnet on vgg_mini (ReLU: fused into Conv, and after a Gemm)', () => {
  let model: OnnxGraphModel;
  let input: Float32Array;
  let x: Tensor;
  const category = 1;
  beforeAll(async () => {
    model = await loadOnnx(new Uint8Array(readFileSync(join(EXPLAIN_DIR, 'vgg_mini.onnx'))));
    input = miniInput('chelsea');
    x = tensor(input, [1, 3, 32, 32]);
  });
  afterAll(() => {
    x?.dispose();
    model?.dispose();
  });

  for (const mode of ['guided', 'deconvnet'] as const) {
    test(`${METHOD[mode]}: the input gradient equals the CPU reference with the ${mode} ReLU rule`, async () => {
      const expected = cpuInputGradient(model, input, category, mode);
      const plain = cpuInputGradient(model, input, category, 'gradient');
      const result = await explain(model, x, METHOD[mode], { target: classTarget(category) });
      expect(result.gradient!.shape).toEqual([3, 32, 32]);
      expect(relError(result.gradient!.data, expected)).toBeLessThan(1e-4);
      // The modified rule matters here: the result is far from the plain gradient.
      expect(relError(expected, plain)).toBeGreaterThan(0.1);
      // map = max over channels of |gradient|, min-max scaled to [0, 1].
      const saliency = Array.from({ length: 32 * 32 }, (_, p) => Math.max(...[0, 1, 2].map((c) => Math.abs(expected[c * 1024 + p]))));
      const [lo, hi] = [Math.min(...saliency), Math.max(...saliency)];
      expect(relError(result.map, saliency.map((v) => (v - lo) / (hi - lo)))).toBeLessThan(1e-3);
    });
  }

  test('the ReLU rules are restored after a guided pass: a plain backward gives the gradient again', async () => {
    await explain(model, x, 'guidedbackprop', { target: classTarget(category) });
    const leaf = tensor(input, [1, 3, 32, 32]);
    const { outputs } = model.run({ input: leaf }, { requireGrad: ['input'] });
    const seed = tensor([0, 1, 0, 0, 0], [1, 5]);
    backward(outputs.logits, { grad: seed });
    const grad = await leaf.grad!.data();
    for (const t of [leaf, seed, outputs.logits]) t.dispose();
    tape.clear();
    expect(relError(grad, cpuInputGradient(model, input, category, 'gradient'))).toBeLessThan(1e-4);
  });

  test('Guided Grad-CAM = guided backprop (.) the Grad-CAM map at input resolution', async () => {
    const options = { target: classTarget(category), layers: '/relu3/Relu_output_0' };
    const guided = await explain(model, x, 'guidedbackprop', options);
    const cam = await explain(model, x, 'gradcam', { ...options, size: [32, 32] as const });
    const result = await explain(model, x, 'guidedgradcam', options);
    const expected = guided.gradient!.data.map((g, i) => g * cam.map[i % 1024]);
    expect(relError(result.gradient!.data, expected)).toBeLessThan(1e-5);
    expect(result.target).toBe(guided.target);
  });

  test('gradientImage renders [3, H, W] as pytorch-grad-cam deprocess_image', async () => {
    const result = await explain(model, x, 'guidedbackprop', { target: classTarget(category) });
    const g = result.gradient!.data;
    const img = gradientImage(g, result.gradient!.shape);
    expect([img.width, img.height]).toEqual([32, 32]);
    const mean = g.reduce((a, b) => a + b, 0) / g.length;
    const std = Math.sqrt(g.reduce((a, b) => a + (b - mean) ** 2, 0) / g.length);
    for (const p of [0, 77, 517, 1023]) {
      for (let c = 0; c < 3; c++) {
        const v = Math.min(Math.max(((g[c * 1024 + p] - mean) / (std + 1e-5)) * 0.1 + 0.5, 0), 1);
        expect(Math.abs(img.data[p * 4 + c] - v * 255)).toBeLessThanOrEqual(0.5 + 1e-9);
      }
    }
  });
});

/** Conv -> LeakyRelu(0.1) -> Conv -> Clip(0, 6) -> GAP -> Flatten -> Gemm -> LeakyRelu(0.2) -> Gemm, on [1, 3, 8, 8]. */
function leakyClipNet(): Uint8Array {
  return encodeModel({
    opset: 13,
    nodes: [
      { opType: 'Conv', name: 'conv1', inputs: ['x', 'w1', 'b1'], outputs: ['c1'], attrs: { pads: { ints: [1, 1, 1, 1] } } },
      { opType: 'LeakyRelu', name: 'act1', inputs: ['c1'], outputs: ['a1'], attrs: { alpha: { f: 0.1 } } },
      { opType: 'Conv', name: 'conv2', inputs: ['a1', 'w2', 'b2'], outputs: ['c2'], attrs: { pads: { ints: [1, 1, 1, 1] } } },
      { opType: 'Clip', name: 'act2', inputs: ['c2', 'lo', 'hi'], outputs: ['a2'] },
      { opType: 'GlobalAveragePool', name: 'gap', inputs: ['a2'], outputs: ['p'] },
      { opType: 'Flatten', name: 'flat', inputs: ['p'], outputs: ['f'] },
      { opType: 'Gemm', name: 'fc1', inputs: ['f', 'w3', 'b3'], outputs: ['h'], attrs: { transB: { i: 1 } } },
      { opType: 'LeakyRelu', name: 'act3', inputs: ['h'], outputs: ['h2'], attrs: { alpha: { f: 0.2 } } },
      { opType: 'Gemm', name: 'fc2', inputs: ['h2', 'w4', 'b4'], outputs: ['logits'], attrs: { transB: { i: 1 } } },
    ],
    initializers: [
      floats('w1', [6, 3, 3, 3], uniform(162, -0.6, 0.6, 1)),
      floats('b1', [6], uniform(6, -0.5, 0.5, 2)),
      floats('w2', [6, 6, 3, 3], uniform(324, -0.5, 0.5, 3)),
      floats('b2', [6], uniform(6, 0, 1.5, 4)),
      floats('lo', [], [0]),
      floats('hi', [], [6]),
      floats('w3', [5, 6], uniform(30, -1, 1, 5)),
      floats('b3', [5], uniform(5, -0.5, 0.5, 6)),
      floats('w4', [3, 5], uniform(15, -1, 1, 7)),
      floats('b4', [3], uniform(3, -0.5, 0.5, 8)),
    ],
    inputs: [{ name: 'x', dims: [1, 3, 8, 8] }],
    outputs: [{ name: 'logits', dims: [1, 3] }],
  });
}

describe('guided backprop and deconvnet through LeakyRelu and Clip(0, 6)', () => {
  const input = uniform(3 * 64, -3, 3, 9);
  for (const fuse of [true, false]) {
    test(`activations ${fuse ? 'fused into Conv' : 'as separate ops'}: both modes match the CPU rules`, async () => {
      const model = await loadOnnx(leakyClipNet(), { fuseActivations: fuse });
      const x = tensor(input, [1, 3, 8, 8]);
      try {
        // The input saturates the Clip somewhere (above 6) and leaves some LeakyRelu inputs negative.
        const ref = referenceRun(model, input, ['c1', 'c2']).values;
        expect(ref.get('c2')!.data.some((v) => v > 6) && ref.get('c2')!.data.some((v) => v < 0)).toBe(true);
        expect(ref.get('c1')!.data.some((v) => v < 0)).toBe(true);
        for (const mode of ['guided', 'deconvnet'] as const) {
          const expected = cpuInputGradient(model, input, 2, mode);
          const result = await explain(model, x, METHOD[mode], { target: classTarget(2) });
          expect(relError(result.gradient!.data, expected)).toBeLessThan(1e-4);
          expect(relError(expected, cpuInputGradient(model, input, 2, 'gradient'))).toBeGreaterThan(0.05);
        }
      } finally {
        x.dispose();
        model.dispose();
      }
    });
  }
});

export type { RefTensor };

// loadOnnx(): the ExplainableModel over an ONNX file. Layers, kept tensors,
// gradients started at inner tensors, fusions that step aside for requested
// names, freeing of intermediates across runs, other batch sizes, and the
// typed errors for bad inputs and names.

import { describe, expect, test } from 'vitest';
import { backward, mul, runtime, scope, scopeAsync, sum, tape, tensor, Tensor } from '../../engine/index.js';
import { LayerNotFound, loadOnnx, OnnxBatchError, OnnxGraphModel, OnnxInputError } from '../../importers/onnx/index.js';
import { execute } from '../fixtures/onnx/execute.js';
import { readModel } from '../fixtures/onnx/models.js';
import { batchPinnedCnn, paddedCnn, seeded, SYNTHETIC_LAYERS, syntheticCnn } from '../fixtures/onnx/synthetic.js';

const input = (shape: number[], seed = 1) => tensor(seeded(shape.reduce((a, b) => a * b, 1), seed), shape);

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
  return worst;
}

/** Kinds of the planned steps, e.g. 'Conv+BatchNormalization+Sigmoid+Mul' for a fused chain. */
function stepKinds(model: OnnxGraphModel, requested: string[] = []): string[] {
  return model
    .planFor(model.graph, new Set(requested))
    .steps.map((s) => (s.kind === 'conv' ? `${s.nodes.map((n) => n.node.opType).join('+')}:${s.attrs.activation?.kind ?? 'none'}` : s.node.node.opType));
}

describe('loadOnnx: layers and runs', () => {
  test('layers() lists the inputs, then every node output in execution order, with op and shape', async () => {
    const model = await loadOnnx(syntheticCnn());
    const layers = model.layers();
    expect(layers.map((l) => l.name)).toEqual(SYNTHETIC_LAYERS);
    expect(layers[0]).toEqual({ name: 'x', op: 'input', shape: [1, 3, 16, 16] });
    expect(layers.find((l) => l.name === 'a1')).toEqual({ name: 'a1', op: 'Mul', shape: [1, 8, 8, 8] });
    expect(model.inputs).toEqual([{ name: 'x', shape: [1, 3, 16, 16] }]);
    expect(model.outputs).toEqual([{ name: 'y', shape: [1, 4] }]);
    // nodes() and constant() expose the unfused graph to the explainers (CAM heads, FullGrad biases).
    expect(model.nodes().map((n) => n.op)).toEqual(['Conv', 'BatchNormalization', 'Sigmoid', 'Mul', 'Conv', 'LeakyRelu', 'Resize', 'Concat', 'Conv', 'MaxPool', 'GlobalAveragePool', 'Flatten']);
    expect(model.nodes()[1].attributes.epsilon).toBeCloseTo(1e-3);
    expect(model.constant('bias2')?.shape).toEqual([8]);
    expect(model.constant('c1')).toBeUndefined();
    model.dispose();
  });

  test('fusions: Conv+BN+SiLU and Conv+LeakyRelu run as one conv each, and agree with the unfused graph', async () => {
    const fused = await loadOnnx(syntheticCnn());
    const plain = await loadOnnx(syntheticCnn(), { fuseBatchNorm: false, fuseActivations: false });
    expect(stepKinds(fused)).toEqual(['Conv+BatchNormalization+Sigmoid+Mul:silu', 'Conv+LeakyRelu:leakyRelu', 'Resize', 'Concat', 'Conv', 'MaxPool', 'GlobalAveragePool', 'Flatten']);
    expect(stepKinds(plain)).toEqual(plain.graph.nodes.map((n) => n.node.opType));
    await scopeAsync(async () => {
      const x = input([1, 3, 16, 16]);
      const a = await fused.run({ x }).outputs.y.data();
      const b = await plain.run({ x }).outputs.y.data();
      const c = (await execute(plain.graph, { x: seeded(768, 1) })).y; // the test executor, one node at a time
      expect(maxDiff(a, b)).toBeLessThan(1e-5);
      expect(maxDiff(b, c)).toBe(0);
    });
    fused.dispose();
    plain.dispose();
  });

  test('zero Pads fold into the Convs that read them (two readers: both), with the same values; asking for a Pad output keeps that Pad', async () => {
    const folded = await loadOnnx(paddedCnn());
    const plain = await loadOnnx(paddedCnn(), { foldPads: false });
    expect(stepKinds(folded)).toEqual(['Conv+Pad+BatchNormalization+Clip:clip', 'Conv+Pad:none', 'Conv+Pad:none', 'Add']);
    expect(stepKinds(plain)).toEqual(['Pad', 'Conv+BatchNormalization+Clip:clip', 'Pad', 'Conv', 'Conv', 'Add']);
    expect(stepKinds(folded, ['p2'])).toEqual(['Conv+Pad+BatchNormalization+Clip:clip', 'Pad', 'Conv', 'Conv', 'Add']);
    expect(folded.layers().map((l) => l.name)).toEqual(['x', 'p1', 'c1', 'b1', 'a1', 'p2', 'c2', 'c3', 'y']);
    await scopeAsync(async () => {
      const x = input([1, 4, 9, 9]);
      const a = await folded.run({ x }).outputs.y.data();
      const { outputs, kept } = folded.run({ x }, { keep: ['p2'] });
      const b = await plain.run({ x }).outputs.y.data();
      expect(maxDiff(a, b)).toBeLessThan(1e-5);
      expect(maxDiff(await outputs.y.data(), b)).toBeLessThan(1e-5);
      expect(kept.p2.shape).toEqual([1, 4, 6, 6]);
    });
    folded.dispose();
    plain.dispose();
  });

  test('a kept tensor hidden by a fusion switches that fusion off, and has the unfused values', async () => {
    const model = await loadOnnx(syntheticCnn());
    const plain = await loadOnnx(syntheticCnn(), { fuseBatchNorm: false, fuseActivations: false });
    // b1 lives inside the Conv+BN+SiLU chain: asking for it leaves Conv+BN fused but not the SiLU.
    expect(stepKinds(model, ['b1']).slice(0, 3)).toEqual(['Conv+BatchNormalization:none', 'Sigmoid', 'Mul']);
    expect(stepKinds(model, ['c1']).slice(0, 4)).toEqual(['Conv', 'BatchNormalization', 'Sigmoid', 'Mul']);
    await scopeAsync(async () => {
      const x = input([1, 3, 16, 16]);
      const { outputs, kept } = model.run({ x }, { keep: ['c1', 'a2', 'x'] });
      const ref = plain.run({ x }, { keep: ['c1', 'a2'] });
      expect(Object.keys(kept).sort()).toEqual(['a2', 'c1', 'x']);
      expect(kept.c1.shape).toEqual([1, 8, 8, 8]);
      expect(maxDiff(await kept.c1.data(), await ref.kept.c1.data())).toBeLessThan(1e-5);
      expect(maxDiff(await kept.a2.data(), await ref.kept.a2.data())).toBeLessThan(1e-5);
      expect(maxDiff(await outputs.y.data(), await ref.outputs.y.data())).toBeLessThan(1e-5);
      expect(kept.x).toBe(x); // an input comes back as the caller's own tensor
    });
    model.dispose();
    plain.dispose();
  });

  test('requireGrad: backward stops at the named tensor and leaves d score / d tensor in .grad', async () => {
    const model = await loadOnnx(syntheticCnn());
    await scopeAsync(async () => {
      const x = input([1, 3, 16, 16]);
      const { outputs, kept } = model.run({ x }, { requireGrad: ['cat'] });
      const cat = kept.cat;
      expect(cat.requiresGrad).toBe(true);
      expect(x.requiresGrad).toBe(false); // nothing upstream of 'cat' was recorded
      backward(sum(mul(outputs.y, tensor([1, -1, 2, 0.5], [1, 4]))));
      expect(cat.grad?.shape).toEqual([1, 11, 16, 16]);
      const g = await cat.grad!.data();
      expect(g.some((v) => v !== 0)).toBe(true);
      expect(tape.liveNodes).toBe(0);

      // Input names are allowed, and an upstream and a downstream tensor both receive gradients.
      const x2 = input([1, 3, 16, 16]);
      const r = model.run({ x: x2 }, { requireGrad: ['x', 'cat'] });
      tape.retainGrad(r.kept.cat); // downstream of x, so an inner node: its gradient is kept on request
      backward(sum(mul(r.outputs.y, tensor([1, -1, 2, 0.5], [1, 4]))));
      expect(r.kept.x).toBe(x2);
      expect(x2.grad?.shape).toEqual([1, 3, 16, 16]);
      expect(maxDiff(await r.kept.cat.grad!.data(), g)).toBeLessThan(1e-6);
    });
    expect(tape.liveNodes).toBe(0);
    model.dispose();
  });

  test('repeated runs free their intermediates: pool buffers do not grow (forward and forward + backward)', async () => {
    const model = await loadOnnx(syntheticCnn());
    const x = input([1, 3, 16, 16]);
    const forward = () => scope(() => void model.run({ x }, { keep: ['up'] }));
    const withGrad = () =>
      scope(() => {
        const { outputs } = model.run({ x }, { requireGrad: ['a1'] });
        backward(sum(outputs.y));
      });
    forward();
    withGrad();
    await x.data(); // let the queue settle
    const before = runtime().pool.stats().liveBuffers;
    for (let i = 0; i < 4; i++) {
      forward();
      withGrad();
    }
    await x.data();
    expect(runtime().pool.stats().liveBuffers).toBe(before);
    expect(tape.liveNodes).toBe(0);
    // Without a scope, everything but the returned tensors is freed too.
    const { outputs, kept } = model.run({ x }, { keep: ['c3'] });
    await outputs.y.data();
    expect(runtime().pool.stats().liveBuffers).toBe(before + 2);
    outputs.y.dispose();
    kept.c3.dispose();
    model.dispose();
    x.dispose();
  });

  test('weights are uploaded once, at load, shared by all runs, and freed by dispose()', async () => {
    const model = await loadOnnx(syntheticCnn());
    // conv1 (BatchNormalization folded: weight + bias), conv2 (weight + bias), conv3 (weight);
    // the Resize scales are read at prepare time and stay on the host.
    expect(model.gpuConstants()).toEqual({ count: 5, bytes: 4 * (8 * 27 + 8 + 64 + 8 + 4 * 99) });
    const x = input([1, 3, 16, 16]);
    scope(() => void model.run({ x }));
    scope(() => void model.run({ x: input([5, 3, 16, 16]) })); // another shape, same weights
    expect(model.gpuConstants().count).toBe(5);
    // Asking for a tensor inside a fused chain runs it unfused: the file's own weights are uploaded then, once.
    scope(() => void model.run({ x }, { keep: ['c1'] }));
    scope(() => void model.run({ x }, { keep: ['c1'] }));
    expect(model.gpuConstants().count).toBe(5 + 6); // w1, bias1 and the four BatchNormalization parameters
    await x.data();
    const live = runtime().pool.stats().liveBuffers;
    model.dispose();
    expect(runtime().pool.stats().liveBuffers).toBe(live - 11);
    expect(() => model.run({ x })).toThrow(/disposed/);
    x.dispose();
  });
});

describe('loadOnnx: other batch sizes', () => {
  test('a batch of 3 re-prepares the graph; each item matches its single run', async () => {
    const model = await loadOnnx(syntheticCnn());
    await scopeAsync(async () => {
      const items = [1, 2, 3].map((seed) => seeded(768, seed));
      const batch = model.run({ x: tensor(items.flat(), [3, 3, 16, 16]) }, { keep: ['cat'] });
      expect(batch.outputs.y.shape).toEqual([3, 4]);
      expect(batch.kept.cat.shape).toEqual([3, 11, 16, 16]);
      const ys = await batch.outputs.y.data();
      for (let i = 0; i < 3; i++) {
        const single = await model.run({ x: tensor(items[i], [1, 3, 16, 16]) }).outputs.y.data();
        expect(maxDiff(ys.subarray(i * 4, i * 4 + 4), single)).toBeLessThan(1e-5);
      }
    });
    model.dispose();
  });

  test('a real model (Yolo-Fastest) at batch 2 gives each image its own detections map', async () => {
    const bytes = readModel('yolo_fastest_1.1_coco.onnx')!;
    const model = await loadOnnx(bytes);
    await scopeAsync(async () => {
      const a = seeded(3 * 320 * 320, 5, 0, 1);
      const b = seeded(3 * 320 * 320, 6, 0, 1);
      const both = model.run({ images: tensor([...a, ...b], [2, 3, 320, 320]) }).outputs;
      const one = model.run({ images: tensor(b, [1, 3, 320, 320]) }).outputs;
      expect(both.yolo1_stride16.shape).toEqual([2, 255, 20, 20]);
      const second = (await both.yolo1_stride16.data()).subarray(255 * 400);
      expect(maxDiff(second, await one.yolo1_stride16.data())).toBeLessThan(1e-4);
    });
    model.dispose();
  });

  test('a constant Reshape target that merges the batch is an OnnxBatchError naming the node', async () => {
    const merged = await loadOnnx(batchPinnedCnn([1, -1]));
    const x = input([4, 2, 4, 4]);
    expect(() => merged.run({ x })).toThrow(OnnxBatchError);
    expect(() => merged.run({ x })).toThrow(/batch 4 is not possible: node 'flatten_by_reshape' \(Reshape\) fixes the batch size .*\[1, 128\] at batch 4/);
    const fixed = await loadOnnx(batchPinnedCnn([1, 2, 16]));
    expect(() => fixed.run({ x })).toThrow(/input 'x': batch 4 is not possible: node 'flatten_by_reshape' \(Reshape\)/);
    // The batch it was exported for still runs.
    scope(() => expect(fixed.run({ x: input([1, 2, 4, 4]) }).outputs.y.shape).toEqual([1, 2, 16]));
    merged.dispose();
    fixed.dispose();
    x.dispose();
  });

  const yolov5 = readModel('yolov5n_320.onnx');
  test.skipIf(!yolov5)('YOLOv5 exports its head Reshapes with batch 1: batch 2 names the first one', async () => {
    const model = await loadOnnx(yolov5!);
    const images = tensor(new Float32Array(2 * 3 * 320 * 320), [2, 3, 320, 320]);
    expect(() => model.run({ images })).toThrow(OnnxBatchError);
    expect(() => model.run({ images })).toThrow(/ONNX input 'images': batch 2 is not possible: node '[^']+' \(Reshape\) fixes the batch size .*cannot reshape/);
    images.dispose();
    model.dispose();
  });
});

describe('loadOnnx: typed errors', () => {
  test('an unknown or missing input, or a wrong shape, is an OnnxInputError listing the expected inputs', async () => {
    const model = await loadOnnx(syntheticCnn());
    scope(() => {
      const x = input([1, 3, 16, 16]);
      expect(() => model.run({ image: x })).toThrow(OnnxInputError);
      expect(() => model.run({ image: x })).toThrow("ONNX input 'image': the model has no such input; it expects 'x' [1, 3, 16, 16]");
      expect(() => model.run({})).toThrow("ONNX input 'x': is missing; the model expects 'x' [1, 3, 16, 16]");
      expect(() => model.run({ x: input([1, 3, 16, 15]) })).toThrow(/'x': shape \[1, 3, 16, 15\] differs in dimension 3; the model expects 'x' \[1, 3, 16, 16\]/);
      expect(() => model.run({ x: input([3, 16, 16]) })).toThrow(/has rank 3, not 4/);
    });
    model.dispose();
  });

  test('an unknown keep or requireGrad name is a LayerNotFound with close matches', async () => {
    const model = await loadOnnx(syntheticCnn());
    scope(() => {
      const x = input([1, 3, 16, 16]);
      expect(() => model.run({ x }, { keep: ['cat2'] })).toThrow(LayerNotFound);
      expect(() => model.run({ x }, { requireGrad: ['C3'] })).toThrow(/layer 'C3' not found in the model. Did you mean: 'c3'/);
      // Constants are not layers: gradients cannot start at a weight.
      expect(() => model.run({ x }, { requireGrad: ['w1'] })).toThrow(LayerNotFound);
      expect(x.requiresGrad).toBe(false);
    });
    expect(tape.liveNodes).toBe(0);
    model.dispose();
  });

  test('tensors made during a failed run are freed', async () => {
    const model = await loadOnnx(syntheticCnn());
    const x = input([1, 3, 16, 16]);
    scope(() => void model.run({ x }));
    await x.data();
    const before = runtime().pool.stats().liveBuffers;
    expect(() => model.run({ x, extra: x } as Record<string, Tensor>)).toThrow(OnnxInputError);
    expect(runtime().pool.stats().liveBuffers).toBe(before);
    model.dispose();
    x.dispose();
  });
});

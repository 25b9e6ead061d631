// Gradients of a scalar score w.r.t. an inner tensor of a real graph: the GPU
// (loadOnnx with requireGrad, fusions on, the engine's tape) against the same
// prepared graph run in float64 on the CPU reference (engine/reference's ops
// through the same handlers, differentiated by a separate minimal tape), and
// both against a float64 central difference along a random direction v:
//   d/dh score(t + h v) at h = 0  =  <grad_t score, v>.

import { describe, expect, test } from 'vitest';
import { backward, mul, scopeAsync, sum, tensor } from '../../engine/index.js';
import { refTensor, type RefTensor } from '../../engine/reference/index.js';
import { executePlan } from '../../importers/onnx/executor.js';
import { prepareGraph, type PreparedGraph } from '../../importers/onnx/graph.js';
import { toNumbers, type HostTensor } from '../../importers/onnx/host-tensor.js';
import { loadOnnx } from '../../importers/onnx/index.js';
import { planGraph } from '../../importers/onnx/plan.js';
import { decodeModel } from '../../importers/onnx/proto.js';
import { ReferenceTape } from '../../engine/reference/tape.js';
import { referenceBackend } from '../../importers/onnx/reference-backend.js';
import { compare } from '../helpers/check.js';
import { readModel } from '../fixtures/onnx/models.js';
import { paddedCnn, seeded, syntheticCnn } from '../fixtures/onnx/synthetic.js';

interface GradCase {
  label: string;
  bytes: Uint8Array | undefined;
  inputShapes?: Record<string, number[]>;
  /** The tensor the gradient is taken at (an input name is allowed). */
  at: string;
  /** Input values in [lo, hi). */
  range: [number, number];
}

const CASES: GradCase[] = [
  { label: 'synthetic CNN (Conv/BN/SiLU/LeakyRelu/Resize/Concat/MaxPool), at the SiLU output', bytes: syntheticCnn(), at: 'a1', range: [-1, 1] },
  { label: 'synthetic CNN, at the input', bytes: syntheticCnn(), at: 'x', range: [-1, 1] },
  { label: 'zero Pads folded into the Convs that read them (Keras-style), at the input', bytes: paddedCnn(), at: 'x', range: [-1, 1] },
  { label: 'zero Pads folded into the Convs that read them, at the Pad input a1', bytes: paddedCnn(), at: 'a1', range: [-1, 1] },
  {
    label: 'text-orientation classifier (MobileNetV3: hard-swish, squeeze-excite) at 48x192, at relu_6',
    bytes: readModel('ch_ppocr_mobile_v2.0_cls_infer.onnx'),
    inputShapes: { x: [1, 3, 48, 192] },
    at: 'relu_6.tmp_0',
    range: [-1, 1],
  },
];

/** The float64 reference run of a prepared graph (unfused): the output, and the tensor at `at` (optionally replaced). */
function referenceRun(graph: PreparedGraph, x: number[], at: string, options: { tape?: ReferenceTape; replace?: (t: RefTensor) => RefTensor } = {}) {
  const constants = new Map<HostTensor, RefTensor>();
  let inner: RefTensor | undefined;
  const input = graph.inputs[0];
  const out = graph.outputs[0].name;
  const values = executePlan(planGraph(graph), referenceBackend(options.tape), new Map([[input.name, refTensor(input.shape, x)]]), [out], {
    constant(v) {
      if (!constants.has(v)) constants.set(v, refTensor(v.shape, toNumbers(v)));
      return constants.get(v)!;
    },
    produced(name, t) {
      if (name !== at) return;
      inner = options.replace ? options.replace(t) : t;
      options.tape?.watch(inner);
      return inner;
    },
  });
  return { y: values.get(out)!, inner: inner! };
}

const dot = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
};

describe('gradients at inner tensors: GPU vs float64 reference vs finite differences', () => {
  for (const c of CASES) {
    test.skipIf(!c.bytes)(c.label, async () => {
      const graph = prepareGraph(decodeModel(c.bytes!), { inputShapes: c.inputShapes });
      const input = graph.inputs[0];
      const x = seeded(input.shape.reduce((a, b) => a * b, 1), 21, ...c.range).map(Math.fround);
      const outShape = graph.outputs[0].shape;
      // The scalar score: a fixed random weighting of the output.
      const weights = seeded(outShape.reduce((a, b) => a * b, 1), 22).map(Math.fround);
      const score = (y: RefTensor) => dot(y.data, weights);

      // GPU: gradient at `at` from the engine's tape (fusions on).
      const model = await loadOnnx(c.bytes!, { inputShapes: c.inputShapes });
      const gpu = await scopeAsync(async () => {
        const { outputs, kept } = model.run({ [input.name]: tensor(x, input.shape) }, { requireGrad: [c.at] });
        backward(sum(mul(outputs[graph.outputs[0].name], tensor(weights, outShape))));
        return { grad: await kept[c.at].grad!.data(), y: await outputs[graph.outputs[0].name].data() };
      });
      model.dispose();

      // Reference: forward with the reference tape watching `at`, then backward from the score.
      const started = performance.now();
      const tape = new ReferenceTape();
      const base = referenceRun(graph, x, c.at, { tape });
      const refGrad = tape.backward(base.y, refTensor(outShape, weights)).get(base.inner)!;
      expect(refGrad, 'the reference tape reached the tensor').toBeDefined();

      // Central difference along a random direction v, scaled to the tensor's magnitude.
      const magnitude = Math.max(...base.inner.data.map(Math.abs), 1e-3);
      const v = seeded(base.inner.data.length, 23);
      const h = 1e-6 * magnitude;
      const shifted = (sign: number) =>
        score(referenceRun(graph, x, c.at, { replace: (t) => refTensor(t.shape, t.data.map((a, i) => a + sign * h * v[i])) }).y);
      const numeric = (shifted(1) - shifted(-1)) / (2 * h);
      const refDirectional = dot(refGrad.data, v);
      const gpuDirectional = dot(gpu.grad, v);
      const seconds = (performance.now() - started) / 1000;

      const rel = (a: number, b: number) => Math.abs(a - b) / Math.max(Math.abs(b), 1e-12);
      let worst = 0;
      let scale = 0;
      for (let i = 0; i < refGrad.data.length; i++) {
        worst = Math.max(worst, Math.abs(gpu.grad[i] - refGrad.data[i]));
        scale = Math.max(scale, Math.abs(refGrad.data[i]));
      }
      console.log(
        `[gradient] ${c.label}: <grad, v> finite difference ${numeric.toPrecision(8)}, reference ${refDirectional.toPrecision(8)} ` +
          `(rel ${rel(refDirectional, numeric).toExponential(1)}), GPU ${gpuDirectional.toPrecision(8)} (rel ${rel(gpuDirectional, numeric).toExponential(1)}); ` +
          `GPU vs reference gradient: max error ${(worst / scale).toExponential(1)} of max |grad| ${scale.toExponential(2)} over ${refGrad.data.length} values; reference ${seconds.toFixed(1)} s`,
      );
      // The forward agrees too (the GPU ran fused, the reference unfused).
      expect(compare(gpu.y, base.y.data, { rtol: 1e-4, atol: 1e-5 })).toBeNull();
      // float64 reference vs float64 finite difference: the rules and the graph plumbing.
      expect(rel(refDirectional, numeric)).toBeLessThan(1e-5);
      // float32 GPU vs float64.
      expect(rel(gpuDirectional, numeric)).toBeLessThan(1e-3);
      expect(compare(gpu.grad, refGrad.data, { rtol: 1e-3, atol: 1e-4 })).toBeNull();
    });
  }
});

// End to end: every real model, prepared by the importer and run on the GPU
// node by node, against onnxruntime-node (CPU) on the same input.

import { InferenceSession, Tensor as OrtTensor } from 'onnxruntime-node';
import { describe, expect, test } from 'vitest';
import { prepareGraph } from '../importers/onnx/graph.js';
import { decodeModel } from '../importers/onnx/proto.js';
import { execute } from './fixtures/onnx/execute.js';
import { MODELS, readModel } from './fixtures/onnx/models.js';

/** Smaller inputs for the dynamic models keep the software GPU quick. */
const SMALL: Record<string, Record<string, number[]>> = {
  'ch_PP-OCRv4_det_infer.onnx': { x: [1, 3, 96, 128] },
};

/** A smooth pseudo-image in [-1, 1] (a constant image would hide layout bugs). */
function image(shape: readonly number[]): Float32Array {
  const [, c, h, w] = shape.length === 4 ? shape : [1, 1, 1, shape.reduce((a, b) => a * b, 1)];
  const out = new Float32Array(shape.reduce((a, b) => a * b, 1));
  for (let i = 0; i < out.length; i++) {
    const x = i % w;
    const y = Math.floor(i / w) % h;
    const ch = Math.floor(i / (w * h)) % c;
    out[i] = Math.sin(x * 0.11 + ch) * Math.cos(y * 0.07 - ch * 0.5) * 0.9 + 0.1 * Math.sin(i);
  }
  return out;
}

/**
 * A white page with two lines of dark glyph-like strokes, ImageNet-normalized:
 * DBNet fires on it (a smooth pattern gives an all-zero text map).
 */
function textPage(shape: readonly number[]): Float32Array {
  const [, , h, w] = shape;
  const mean = [0.485, 0.456, 0.406];
  const std = [0.229, 0.224, 0.225];
  const out = new Float32Array(3 * h * w);
  for (let c = 0; c < 3; c++) {
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const inLine = (y >= 20 && y < 34) || (y >= 56 && y < 70);
        const glyph = inLine && x >= 12 && x < w - 12 && x % 8 < 5 && x % 40 <= 32;
        out[(c * h + y) * w + x] = ((glyph ? 0.05 : 0.95) - mean[c]) / std[c];
      }
    }
  }
  return out;
}

const INPUT: Record<string, (shape: readonly number[]) => Float32Array> = { 'ch_PP-OCRv4_det_infer.onnx': textPage };

describe('GPU importer vs onnxruntime (CPU)', () => {
  for (const m of MODELS) {
    const bytes = readModel(m.file);
    test.skipIf(!bytes)(m.file, async () => {
      const shapes = SMALL[m.file] ?? m.inputShapes;
      const p = prepareGraph(decodeModel(bytes!), { inputShapes: shapes });
      const feeds = Object.fromEntries(p.inputs.map((i) => [i.name, (INPUT[m.file] ?? image)(i.shape)]));
      const ours = await execute(p, feeds);
      const session = await InferenceSession.create(bytes!, { executionProviders: ['cpu'] });
      const ort = await session.run(Object.fromEntries(p.inputs.map((i) => [i.name, new OrtTensor('float32', feeds[i.name], [...i.shape])])));
      await session.release();
      for (const o of p.outputs) {
        const ref = ort[o.name];
        expect(ref.dims, o.name).toEqual(o.shape);
        expect((ref.data as Float32Array).some((v) => Math.abs(v) > 0.1), `${o.name} is not all near zero`).toBe(true);
        const want = ref.data as Float32Array;
        const got = ours[o.name];
        let scale = 0;
        for (const v of want) scale = Math.max(scale, Math.abs(v));
        let worst = 0;
        for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got[i] - want[i]));
        console.log(`[parity] ${m.file} ${o.name}: max error ${(worst / Math.max(scale, 1)).toExponential(1)} of the output range ${scale.toFixed(2)}`);
        // float32 with other summation orders: errors relative to the output's range.
        expect(worst / Math.max(scale, 1), `${o.name}: max |ours - onnxruntime| = ${worst} (output range ${scale})`).toBeLessThan(1e-4);
      }
    });
  }
});

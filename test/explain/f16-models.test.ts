// The f16 storage mode on real models (LoadOptions.precision 'f16', the CLI's
// --f16) against f32: outputs, Grad-CAM maps, and gradients that cross the
// model's f32 boundary (casts on the tape). Lavapipe (CI) has shader-f16; an
// adapter without it skips here, but not on CI. Figures for the large models:
// `npm run bench -- f16` (bench/RESULTS.md).

import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { fromHalf, scopeAsync, tape, tensor, toHalf } from '../../engine/index.js';
import { resizeImage } from '../../explainers/image.js';
import { classTarget, explain } from '../../explainers/index.js';
import { decodeImage } from '../../explainers/node-image.js';
import { decodeModel, OnnxGraphModel } from '../../importers/onnx/index.js';
import { cli } from '../helpers/cli.js';
import { needF16 } from '../helpers/f16.js';
import { expectNoGrowth } from '../helpers/lifetime.js';
import { EXPLAIN_FIXTURES } from '../fixtures/explain/reference.js';
import { encodeModel, floats, int64s } from '../fixtures/onnx/onnx-writer.js';

const NSFW = join(EXPLAIN_FIXTURES, '..', 'onnx', 'nsfwjs_mobilenet_v2.onnx');


/** Pearson correlation: pixel-level maps (input gradients) differ per pixel but must show the same picture. */
function correlation(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const n = a.length;
  let [ma, mb] = [0, 0];
  for (let i = 0; i < n; i++) [ma, mb] = [ma + a[i] / n, mb + b[i] / n];
  let [sab, saa, sbb] = [0, 0, 0];
  for (let i = 0; i < n; i++) [sab, saa, sbb] = [sab + (a[i] - ma) * (b[i] - mb), saa + (a[i] - ma) ** 2, sbb + (b[i] - mb) ** 2];
  return sab / Math.sqrt(saa * sbb);
}

const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => Array.from(a).reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);

describe('f16 on nsfwjs MobileNetV2 (chelsea.png)', () => {
  test('forward, Grad-CAM and an input-gradient method agree with f32; the boundary stays f32', async (ctx) => {
    needF16(ctx);
    const bytes = new Uint8Array(readFileSync(NSFW));
    const img = resizeImage(decodeImage(new Uint8Array(readFileSync(join(EXPLAIN_FIXTURES, 'chelsea.png'))), 'chelsea.png'), 224, 224);
    const data = new Float32Array(3 * 224 * 224);
    for (let c = 0; c < 3; c++) for (let i = 0; i < 224 * 224; i++) data[c * 224 * 224 + i] = img.data[i * 4 + c] / 255;
    const models = { f32: new OnnxGraphModel(decodeModel(bytes)), f16: new OnnxGraphModel(decodeModel(bytes), { precision: 'f16' }) };
    try {
      const target = classTarget(2, { output: 'dense_3_pre' }); // "Neutral"
      const run = (p: 'f32' | 'f16') =>
        scopeAsync(async () => {
          const m = models[p];
          const out = tape.noGrad(() => m.run({ input: tensor(data, [1, 3, 224, 224]) }, { keep: ['out_relu'] }));
          for (const t of [...Object.values(out.outputs), ...Object.values(out.kept)]) expect(t.dtype).toBe('f32');
          const logits = await out.outputs.dense_3_pre.data();
          const gradcam = await explain(m, tensor(data, [1, 3, 224, 224]), 'gradcam', { target, layers: ['out_relu'] });
          const ixg = await explain(m, tensor(data, [1, 3, 224, 224]), 'inputxgradient', { target });
          return { logits, gradcam, ixg };
        });
      const a = await run('f32');
      const b = await run('f16');
      const scale = Math.max(...Array.from(a.logits, Math.abs));
      const logitError = maxDiff(a.logits, b.logits) / scale;
      const gradcamError = maxDiff(a.gradcam.map, b.gradcam.map);
      const ixgError = maxDiff(a.ixg.map, b.ixg.map);
      const ixgCorrelation = correlation(a.ixg.map, b.ixg.map);
      console.log(
        `[f16] nsfwjs MobileNetV2: logits rel. error ${logitError.toExponential(2)}, Grad-CAM map ${gradcamError.toExponential(2)}, ` +
          `Input x Gradient map ${ixgError.toExponential(2)} (maps in [0, 1]), correlation ${ixgCorrelation.toFixed(4)}`,
      );
      // Measured on lavapipe: 2.1e-2, 2.4e-2, and 0.21 at the worst pixel of a pixel-level map whose correlation with f32's is 0.98.
      expect(logitError).toBeLessThan(5e-2);
      expect(b.gradcam.category).toEqual(a.gradcam.category);
      expect(gradcamError).toBeLessThan(5e-2);
      expect(gradcamError).toBeGreaterThan(0); // f16 ran: not the f32 model twice
      expect(ixgCorrelation).toBeGreaterThan(0.95);
      expect(b.ixg.warnings).toEqual([]);
      // Methods that swap backward rules (guided backprop's ReLU) or differentiate twice (ShapleyCAM) run
      // their rules in the node's precision: they give f32's picture.
      for (const method of ['guidedbackprop', 'shapleycam', 'fullgrad']) {
        const [p, q] = await Promise.all(
          (['f32', 'f16'] as const).map((k) => explain(models[k], { data, shape: [1, 3, 224, 224] }, method, { target, ...(method === 'shapleycam' ? { layers: ['out_relu'] } : {}) })),
        );
        const c = correlation(p.map, q.map);
        console.log(`[f16] nsfwjs MobileNetV2: ${method} map correlation with f32 ${c.toFixed(4)}`);
        expect(c, method).toBeGreaterThan(0.95);
      }
      // Repeated f16 runs, with gradients and with a replacement that throws, leave no buffer and no tape node behind.
      for (const m of [models.f16, models.f32]) {
      await expectNoGrowth(`${m.precision} explain`, () => explain(m, { data, shape: [1, 3, 224, 224] }, 'gradcam', { target, layers: ['out_relu'] }));
      await expectNoGrowth(`${m.precision} run that throws`, async () => {
        const x = tensor(data, [1, 3, 224, 224]);
        try {
          expect(() => m.run({ input: x }, { keep: ['out_relu'], replace: { out_relu: (t) => t.view([t.size]) } })).toThrow(/replace\['out_relu'\] returned/);
        } finally {
          x.dispose();
          tape.clear();
        }
      });
      }
    } finally {
      models.f32.dispose();
      models.f16.dispose();
    }
  });
});

describe('gradlens explain --f16', () => {
  test('the embedded default (Yolo-Fastest, dog.jpg): the same detection, its logit within 1e-2', async (ctx) => {
    needF16(ctx);
    const dir = mkdtempSync(join(tmpdir(), 'gradlens-f16-'));
    const f32 = await cli('explain', '--json', '--out', join(dir, 'f32.png'));
    const f16 = await cli('explain', '--json', '--out', join(dir, 'f16.png'), '--f16');
    expect(f32.code, f32.err).toBe(0);
    expect(f16.code, f16.err).toBe(0);
    const [a, b] = [JSON.parse(f32.out), JSON.parse(f16.out)];
    expect(b.detection.className).toBe(a.detection.className);
    expect(b.layers).toEqual(a.layers);
    expect(Math.abs(b.score - a.score)).toBeLessThan(1e-2);
    expect(b.score).not.toBe(a.score);
  });

  test('the views take --f16 too: features lists the same channels, their means within 1e-2', async (ctx) => {
    needF16(ctx);
    const dir = mkdtempSync(join(tmpdir(), 'gradlens-f16-'));
    const args = ['features', '--model', 'explainers/assets/yolo_fastest_1.1_coco.onnx', '--image', 'explainers/assets/dog.jpg', '--json', '--count', '4'];
    const f32 = await cli(...args, '--out', join(dir, 'f32.png'));
    const f16 = await cli(...args, '--out', join(dir, 'f16.png'), '--f16');
    expect(f32.code, f32.err).toBe(0);
    expect(f16.code, f16.err).toBe(0);
    const [a, b] = [JSON.parse(f32.out), JSON.parse(f16.out)];
    expect(b.channels).toEqual(a.channels);
    a.means.forEach((m: number, i: number) => expect(Math.abs(b.means[i] - m)).toBeLessThan(1e-2 * Math.max(1, Math.abs(m))));
  });
});

describe('a caller\'s f16 tensor given to explain()', () => {
  test('is read as f32 (the maps are computed in f32): the same map as its f32 values give', async (ctx) => {
    needF16(ctx);
    const model = new OnnxGraphModel(decodeModel(new Uint8Array(readFileSync(NSFW))), { precision: 'f16' });
    try {
      const data = fromHalf(toHalf(Float32Array.from({ length: 3 * 224 * 224 }, (_, i) => ((i * 7919) % 256) / 255), 'x'));
      const target = classTarget(2, { output: 'dense_3_pre' });
      const [a, b] = await scopeAsync(async () => {
        const [x32, x16] = [tensor(data, [1, 3, 224, 224]), tensor(data, [1, 3, 224, 224], { dtype: 'f16' })];
        return [await explain(model, x32, 'gradcam', { target, layers: ['out_relu'] }), await explain(model, x16, 'gradcam', { target, layers: ['out_relu'] })];
      });
      expect(Array.from(b.map)).toEqual(Array.from(a.map));
    } finally {
      model.dispose();
    }
  });
});

describe('f16 graphs that make tensors while they run', () => {
  test('ConstantOfShape left unfolded: its tensor is made in the graph\'s f16, beside f16 activations', async (ctx) => {
    needF16(ctx);
    const bytes = encodeModel({
      inputs: [{ name: 'x', dims: [1, 2, 4, 4] }],
      outputs: [{ name: 'y', dims: [1, 2, 4, 4] }],
      initializers: [int64s('s', [4], [1, 2, 4, 4])],
      nodes: [
        { opType: 'ConstantOfShape', name: 'ones', inputs: ['s'], outputs: ['c'], attrs: { value: { t: floats('v', [1], [0.5]) } } },
        { opType: 'Add', name: 'add', inputs: ['x', 'c'], outputs: ['y'] },
      ],
    });
    const model = new OnnxGraphModel(decodeModel(bytes), { precision: 'f16', maxFoldElements: 0 });
    try {
      const data = Float32Array.from({ length: 32 }, (_, i) => i / 4);
      const y = await scopeAsync(async () => model.run({ x: tensor(data, [1, 2, 4, 4]) }).outputs.y.data());
      expect(Array.from(y)).toEqual(Array.from(data, (v) => v + 0.5));
    } finally {
      model.dispose();
    }
  });
});

describe('f16 load of a model f16 cannot hold', () => {
  test('a weight past 65504: PrecisionOverflow naming it, and nothing stays on the GPU', async (ctx) => {
    needF16(ctx);
    const weights = Array.from({ length: 4 * 3 * 3 * 3 }, (_, i) => (i === 5 ? 1e5 : 0.01 * i));
    const bytes = encodeModel({
      inputs: [{ name: 'x', dims: [1, 3, 8, 8] }],
      outputs: [{ name: 'y', dims: [1, 4, 6, 6] }],
      initializers: [floats('w', [4, 3, 3, 3], weights), floats('b', [4], [0, 0, 0, 0])],
      nodes: [{ opType: 'Conv', name: 'conv', inputs: ['x', 'w', 'b'], outputs: ['y'] }],
    });
    await expectNoGrowth('failed f16 load', async () => {
      expect(() => new OnnxGraphModel(decodeModel(bytes), { precision: 'f16' })).toThrow(/a constant \[4, 3, 3, 3\] of the model: value 100000 at index 5 does not fit in f16/);
    });
    const f32 = new OnnxGraphModel(decodeModel(bytes)); // the same file loads in f32
    expect(f32.precision).toBe('f32');
    f32.dispose();
  });
});

// Feature-map grids and convolution filter tiles on real models: sizes, the
// channel choice (top-k by mean activation) and pixel values are checked
// against the activations and weights read independently.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { tensor, type Tensor } from '../../engine/index.js';
import { loadOnnx, type OnnxGraphModel } from '../../importers/onnx/index.js';
import { convFilters, featureMapGrid, minMax } from '../../explainers/feature-maps.js';
import { colorize } from '../../explainers/render.js';
import { readModel } from '../fixtures/onnx/models.js';
import { EXPLAIN_DIR, miniInput } from '../helpers/explain-free-reference.js';

const LAYER = '/relu2/Relu_output_0'; // vgg_mini [1, 8, 32, 32]

describe('feature maps and filters on vgg_mini', () => {
  let model: OnnxGraphModel;
  let x: Tensor;
  let acts: Float32Array;
  beforeAll(async () => {
    model = await loadOnnx(new Uint8Array(readFileSync(join(EXPLAIN_DIR, 'vgg_mini.onnx'))));
    x = tensor(miniInput('dog'), [1, 3, 32, 32]);
    const { outputs, kept } = model.run({ input: x }, { keep: [LAYER] });
    acts = await kept[LAYER].data();
    for (const t of [...Object.values(outputs), kept[LAYER]]) t.dispose();
  });
  afterAll(() => {
    x?.dispose();
    model?.dispose();
  });

  test('grid of the top-5 channels by mean activation: order, size and tile pixels', async () => {
    const means = Array.from({ length: 8 }, (_, k) => acts.subarray(k * 1024, (k + 1) * 1024).reduce((a, b) => a + b, 0) / 1024);
    const top = [...means.keys()].sort((a, b) => means[b] - means[a]).slice(0, 5);
    const g = await featureMapGrid(model, x, LAYER, { count: 5, columns: 3, scale: 2, gap: 2 });
    expect(g.channels).toEqual(top);
    g.means.forEach((m, i) => expect(m).toBeCloseTo(means[top[i]], 5));
    expect([g.tileWidth, g.tileHeight, g.columns, g.rows]).toEqual([64, 64, 3, 2]);
    expect([g.image.width, g.image.height]).toEqual([3 * 64 + 2 * 2, 2 * 64 + 2]);
    // Tile 4 (row 1, column 1) shows channel top[4]: its pixel (5, 9) is activation (2, 4) magnified 2x.
    const tile = colorize(minMax(acts.slice(top[4] * 1024, (top[4] + 1) * 1024)), 32, 32, 'viridis');
    const [ox, oy] = [66, 66];
    const px = ((oy + 9) * g.image.width + ox + 5) * 4;
    const src = (4 * 32 + 2) * 4;
    expect(Array.from(g.image.data.slice(px, px + 4))).toEqual(Array.from(tile.data.slice(src, src + 4)));
    // The unused sixth cell stays white.
    const empty = ((oy + 10) * g.image.width + 132 + 2 + 10) * 4;
    expect(Array.from(g.image.data.slice(empty, empty + 3))).toEqual([255, 255, 255]);
  });

  test('first-layer filters as RGB tiles, deeper ones as a row of grey tiles per filter', () => {
    const w1 = model.constant(model.nodes().find((n) => n.outputs[0] === '/conv1/Conv_output_0')!.inputs[1])!;
    expect(w1.shape).toEqual([8, 3, 3, 3]);
    const rgb = convFilters(model, '/conv1/Conv_output_0', { scale: 4, columns: 4, gap: 1 });
    expect(rgb.mode).toBe('rgb');
    expect(rgb.filters).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect([rgb.image.width, rgb.image.height]).toEqual([4 * 12 + 3, 2 * 12 + 1]);
    const range = Math.max(...Array.from(w1.data, Math.abs));
    expect(rgb.range).toBeCloseTo(range, 6);
    // Filter 5 (row 1, column 1), weight (ky 2, kx 1): pixel (1*4+1, 2*4+1) of the tile.
    const px = ((13 + 9) * rgb.image.width + 13 + 5) * 4;
    for (let c = 0; c < 3; c++) {
      const wv = w1.data[((5 * 3 + c) * 3 + 2) * 3 + 1];
      expect(rgb.image.data[px + c]).toBe(Math.round((0.5 + (0.5 * wv) / range) * 255));
    }
    const deep = convFilters(model, '/conv3/Conv_output_0', { count: 3, maxChannels: 5, scale: 2, gap: 1 });
    expect(deep.mode).toBe('channels');
    expect(deep.shape).toEqual([16, 8, 3, 3]);
    expect([deep.columns, deep.rows]).toEqual([5, 3]);
    expect([deep.image.width, deep.image.height]).toEqual([5 * 6 + 4, 3 * 6 + 2]);
    expect(() => convFilters(model, '/relu1/Relu_output_0')).toThrow(/not found/);
  });
});

describe('filters of a depthwise-separable real model', () => {
  const bytes = readModel('tiny_face_detector_416.onnx');
  test.runIf(bytes)('tiny face detector: conv0 RGB filters, a depthwise conv as a square grid of grey tiles', async () => {
    const model = await loadOnnx(bytes!);
    try {
      const first = convFilters(model, 'conv0', { scale: 3, gap: 0 });
      expect(first.shape).toEqual([16, 3, 3, 3]);
      expect([first.columns, first.rows, first.image.width, first.image.height]).toEqual([4, 4, 36, 36]);
      const dw = convFilters(model, 'conv1.dw_out', { count: 16, scale: 1, gap: 0 });
      expect(dw.shape).toEqual([16, 1, 3, 3]);
      expect([dw.columns, dw.rows, dw.image.width]).toEqual([4, 4, 12]);
    } finally {
      model.dispose();
    }
  });
});

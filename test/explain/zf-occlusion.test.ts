// Occlusion sensitivity (Zeiler & Fergus 2014, §4.2): on a synthetic input
// with one planted feature the map must peak on it, and the per-pixel map
// must be the mean score drop over the windows covering each pixel, with the
// occluded copies scored in GPU batches.

import { describe, expect, test } from 'vitest';
import { tensor } from '../../engine/index.js';
import { loadOnnx } from '../../importers/onnx/index.js';
import { classTarget, explain } from '../../explainers/index.js';
import { occlusionGeometry, spreadDrops, windowStarts } from '../../explainers/occlusion.js';
import { encodeModel, floats } from '../fixtures/onnx/onnx-writer.js';
import { referenceRun } from '../helpers/explain-free-reference.js';

const S = 16;

/**
 * A "bright blob" detector on [N, 3, 16, 16]: a 3x3 all-ones conv with bias -6
 * (fires where a 3x3x3 neighbourhood sums above 6), ReLU, global average pool:
 * logits [N, 2] = [response, -response].
 */
function blobDetector(): Uint8Array {
  return encodeModel({
    opset: 13,
    nodes: [
      { opType: 'Conv', name: 'detect', inputs: ['x', 'w', 'b'], outputs: ['d'], attrs: { pads: { ints: [1, 1, 1, 1] } } },
      { opType: 'Relu', name: 'act', inputs: ['d'], outputs: ['a'] },
      { opType: 'Conv', name: 'head', inputs: ['a', 'w2'], outputs: ['h'] },
      { opType: 'GlobalAveragePool', name: 'gap', inputs: ['h'], outputs: ['p'] },
      { opType: 'Flatten', name: 'flat', inputs: ['p'], outputs: ['logits'] },
    ],
    initializers: [floats('w', [1, 3, 3, 3], new Array(27).fill(1)), floats('b', [1], [-6]), floats('w2', [2, 1, 1, 1], [1, -1])],
    inputs: [{ name: 'x', dims: [1, 3, S, S] }],
    outputs: [{ name: 'logits', dims: [1, 2] }],
  });
}

/** Dim noise everywhere, a bright 4x4 square at rows 9..12, columns 3..6. */
function plantedInput(): Float32Array {
  const x = new Float32Array(3 * S * S);
  for (let i = 0; i < x.length; i++) x[i] = 0.1 * ((i * 7919) % 13) / 13;
  for (let c = 0; c < 3; c++) for (let y = 9; y < 13; y++) for (let xx = 3; xx < 7; xx++) x[c * S * S + y * S + xx] = 1;
  return x;
}

const inSquare = (p: number) => Math.floor(p / S) >= 9 && Math.floor(p / S) < 13 && p % S >= 3 && p % S < 7;

describe('occlusion', () => {
  test('window starts cover every pixel, the last one flush with the border', () => {
    expect(windowStarts(16, 4, 2)).toEqual([0, 2, 4, 6, 8, 10, 12]);
    expect(windowStarts(10, 4, 4)).toEqual([0, 4, 6]);
    expect(windowStarts(4, 4, 1)).toEqual([0]);
    const g = occlusionGeometry({ patch: [4, 2], stride: 3 }, 10, 5);
    expect(g.positions).toEqual([0, 3, 6].flatMap((y) => [0, 3].map((x) => [y, x])));
    expect(() => occlusionGeometry({ patch: 20 }, 10, 5)).toThrow(/patch 20/);
  });

  test('the map peaks on the planted square; per-pixel values are mean drops over covering windows', async () => {
    const model = await loadOnnx(blobDetector());
    const input = plantedInput();
    const x = tensor(input, [1, 3, S, S]);
    try {
      const progress: number[] = [];
      const result = await explain(model, x, 'occlusion', {
        target: classTarget(0),
        patch: 4,
        stride: 2,
        batchSize: 20,
        onProgress: (done: number) => progress.push(done),
      });
      // 7 x 7 windows in batches of 20.
      expect(progress).toEqual([20, 40, 49]);
      // Reference: each occluded copy scored by a float64 CPU forward.
      const { positions, patch } = occlusionGeometry({ patch: 4, stride: 2 }, S, S);
      const score = (img: ArrayLike<number>) => referenceRun(model, img, ['logits']).values.get('logits')!.data[0];
      const base = score(input);
      const drops = positions.map(([y0, x0]) => {
        const copy = Float32Array.from(input);
        for (let c = 0; c < 3; c++) for (let y = y0; y < y0 + 4; y++) for (let xx = x0; xx < x0 + 4; xx++) copy[c * S * S + y * S + xx] = 0;
        return base - score(copy);
      });
      const expected = spreadDrops(drops, positions, patch, S, S);
      const raw = result.raw[0].data;
      for (let i = 0; i < raw.length; i++) expect(raw[i]).toBeCloseTo(expected[i], 5);
      // The planted feature: the highest value lies inside it, and the map there dominates.
      const map = result.map;
      const argmax = map.indexOf(Math.max(...map));
      expect(inSquare(argmax)).toBe(true);
      let inside = 0;
      let outside = 0;
      map.forEach((v, p) => (inSquare(p) ? (inside += v / 16) : (outside += v / (S * S - 16))));
      expect(inside).toBeGreaterThan(5 * outside);
      expect(base).toBeGreaterThan(0);
    } finally {
      x.dispose();
      model.dispose();
    }
  });
});

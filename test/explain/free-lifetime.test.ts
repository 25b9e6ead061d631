// GPU memory: the gradient-free, input-space and visualization tools free
// everything they allocate (the pool's live buffers return to their level
// after each call) and leave nothing on the tape.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'vitest';
import { tensor } from '../../engine/index.js';
import { loadOnnx } from '../../importers/onnx/index.js';
import { activationMax } from '../../explainers/activation-max.js';
import { featureMapGrid } from '../../explainers/feature-maps.js';
import { classTarget, explain } from '../../explainers/index.js';
import { confidenceChange, road } from '../../explainers/metrics.js';
import { EXPLAIN_DIR, miniInput } from '../helpers/explain-free-reference.js';
import { expectNoGrowth } from '../helpers/lifetime.js';

test('every method and tool returns the GPU buffers it allocates', async () => {
  const model = await loadOnnx(new Uint8Array(readFileSync(join(EXPLAIN_DIR, 'vgg_mini.onnx'))));
  const x = tensor(miniInput('dog'), [1, 3, 32, 32]);
  const layers = '/relu3/Relu_output_0';
  const target = classTarget(2);
  const calls: [string, () => Promise<unknown>][] = [
    ...['scorecam', 'eigencam', 'fem', 'guidedbackprop', 'deconvnet', 'guidedgradcam'].map((m): [string, () => Promise<unknown>] => [m, () => explain(model, x, m, { layers, target, batchSize: 7 })]),
    ['occlusion', () => explain(model, x, 'occlusion', { target, patch: 8, stride: 8 })],
    ['featureMapGrid', () => featureMapGrid(model, x, layers, { count: 4 })],
    ['activationMax', () => activationMax(model, { layer: layers, channel: 1 }, { steps: 2 })],
    ['confidenceChange', () => confidenceChange(model, x, new Float32Array(1024).fill(0.5), target)],
    ['road', () => road(model, x, Float32Array.from({ length: 1024 }, (_, i) => i % 37), target, { percentages: [20, 60] })],
  ];
  try {
    for (const [name, call] of calls) await expectNoGrowth(name, call);
  } finally {
    x.dispose();
    model.dispose();
  }
});

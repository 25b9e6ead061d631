// SmoothGrad over the CAM family (issue 13): explain.ts averages any
// method's final maps over noisy copies of the input (smooth-grad.ts,
// smoothMaps), with the noise streams of the input-gradient methods. Checked
// on resnet_mini and chelsea: noise 0 is the base map bit for bit, and the
// mean is that of a loop of explain() calls on the same noisy inputs.

import { describe, expect, test } from 'vitest';
import { max, min, runtime } from '../../engine/index.js';
import { explain, MethodNotApplicable } from '../../explainers/index.js';
import { noisyCopy } from '../../explainers/smooth-grad.js';
import { reference, refInput, resnetMiniOnChelsea } from '../fixtures/explain/reference.js';

const LAYER = '/layer3/relu2/Relu_output_0';

describe('SmoothGrad over gradcam (resnet_mini, chelsea)', () => {
  const mini = resnetMiniOnChelsea();

  test('noise 0: the base map exactly, batched or one copy at a time', async () => {
    const base = await explain(mini.model, mini.x, 'gradcam', { layers: LAYER });
    for (const batchSize of [3, 1]) {
      for (const smoothType of ['smoothgrad', 'smoothgrad_sq'] as const) {
        const r = await explain(mini.model, mini.x, 'gradcam', { layers: LAYER, smooth: 3, noise: 0, batchSize, smoothType });
        const expected = smoothType === 'smoothgrad' ? base.map : base.map.map((v) => Math.fround(v * v));
        expect(Array.from(r.map), `${smoothType}, batchSize ${batchSize}`).toEqual(Array.from(expected));
        expect(Array.from(r.score)).toEqual(Array.from(base.score));
      }
    }
    const v = await explain(mini.model, mini.x, 'gradcam', { layers: LAYER, smooth: 3, noise: 0, smoothType: 'vargrad' });
    expect(v.map.every((e) => e === 0)).toBe(true);
  });

  test('smoothgrad = the mean of explain() over the same noisy inputs; smoothgrad_sq and vargrad agree with it', async () => {
    const n = 5;
    const noise = 0.2;
    const seed = 7;
    const [hi, lo] = await Promise.all([max(mini.x), min(mini.x)].map(async (t) => (await t.data())[0]));
    const sigma = noise * (hi - lo);
    const clean = await explain(mini.model, mini.x, 'gradcam', { layers: LAYER });
    const maps: Float32Array[] = [];
    for (let s = 0; s < n; s++) {
      const noisy = noisyCopy(mini.x, sigma, seed, 0, s);
      // The clean input's class: the smoothed run fixes its target on the clean pass.
      maps.push((await explain(mini.model, noisy, 'gradcam', { layers: LAYER, target: clean.category })).map);
      noisy.dispose();
    }
    const mean = maps[0].map((_, p) => maps.reduce((a, m) => a + m[p], 0) / n);
    const sq = maps[0].map((_, p) => maps.reduce((a, m) => a + m[p] * m[p], 0) / n);
    const r = await explain(mini.model, mini.x, 'gradcam', { layers: LAYER, smooth: n, noise, seed, batchSize: 2 });
    const worst = (a: ArrayLike<number>, b: ArrayLike<number>) => Array.from(a).reduce((w, v, p) => Math.max(w, Math.abs(v - b[p])), 0);
    const err = worst(r.map, mean);
    const sqr = await explain(mini.model, mini.x, 'gradcam', { layers: LAYER, smooth: n, noise, seed, smoothType: 'smoothgrad_sq' });
    const vg = await explain(mini.model, mini.x, 'gradcam', { layers: LAYER, smooth: n, noise, seed, smoothType: 'vargrad' });
    const errSq = worst(sqr.map, sq);
    const errVar = worst(vg.map, sq.map((v, p) => v - mean[p] * mean[p]));
    console.log(`smoothed gradcam vs a loop of ${n} explain() calls: max |diff| mean ${err.toExponential(2)}, sq ${errSq.toExponential(2)}, var ${errVar.toExponential(2)}`);
    expect(err).toBeLessThan(1e-5);
    expect(errSq).toBeLessThan(1e-5);
    expect(errVar).toBeLessThan(1e-5);
    // The noise changes the map (it is not the clean one), and the score stays the clean input's.
    expect(worst(r.map, clean.map)).toBeGreaterThan(1e-3);
    expect(r.score[0]).toBe(clean.score[0]);
  });

  test('a batch of two images: each smoothed with its own noise streams (image index), as one image at a time', async () => {
    const names = Object.keys(reference().inputs).slice(0, 2);
    const both = refInput(...names);
    const options = { layers: LAYER, target: 3, smooth: 3, noise: 0.1, seed: 2, batchSize: 3 };
    const r = await explain(mini.model, both, 'gradcam', options);
    both.dispose();
    expect(r.batch).toBe(2);
    // Image 0 alone draws the same streams (image index 0); image 1 alone would draw index 0's, not its own, so it is checked at noise 0.
    const first = refInput(names[0]);
    const alone = await explain(mini.model, first, 'gradcam', options);
    first.dispose();
    const plane = 32 * 32;
    const err = Array.from(alone.map).reduce((w, v, p) => Math.max(w, Math.abs(v - r.map[p])), 0);
    expect(err).toBeLessThan(1e-5);
    const both0 = refInput(...names);
    const zero = await explain(mini.model, both0, 'gradcam', { ...options, noise: 0 });
    const plain = await explain(mini.model, both0, 'gradcam', { layers: LAYER, target: 3 });
    both0.dispose();
    expect(Array.from(zero.map.subarray(plane))).toEqual(Array.from(plain.map.subarray(plane)));
    await expect(explain(mini.model, mini.x, 'gradcam', { layers: LAYER, smooth: 2, target: [1, 2] })).rejects.toThrow(/2 categories for a batch of 1/);
  });

  test('no GPU buffer outlives a smoothed call, batched or one copy at a time', async () => {
    await explain(mini.model, mini.x, 'gradcam', { layers: LAYER, smooth: 3, smoothType: 'vargrad' }); // pipelines and pool warm
    await explain(mini.model, mini.x, 'gradcam++', { layers: LAYER });
    const live = () => runtime().pool.stats().liveBuffers;
    const before = live();
    await explain(mini.model, mini.x, 'gradcam', { layers: LAYER, smooth: 3, smoothType: 'vargrad', batchSize: 2 });
    expect(live()).toBe(before);
    await explain(mini.model, mini.x, 'gradcam++', { layers: LAYER, smooth: 2, batchSize: 1 });
    expect(live()).toBe(before);
  });

  test('any method: scorecam and fullgrad smooth too; bad settings are typed errors naming the method', async () => {
    const sc = await explain(mini.model, mini.x, 'scorecam', { layers: LAYER, smooth: 2, noise: 0 });
    const base = await explain(mini.model, mini.x, 'scorecam', { layers: LAYER });
    expect(Array.from(sc.map)).toEqual(Array.from(base.map));
    const fg = await explain(mini.model, mini.x, 'fullgrad', { smooth: 2, noise: 0.1 });
    expect(fg.map.length).toBe(32 * 32);
    await expect(explain(mini.model, mini.x, 'gradcam', { smooth: 0 })).rejects.toThrow(MethodNotApplicable);
    await expect(explain(mini.model, mini.x, 'gradcam', { noise: 0.1 })).rejects.toThrow(/gradcam: noise and smoothType apply with smooth/);
    await expect(explain(mini.model, mini.x, 'gradcam', { smooth: 2, augSmooth: true })).rejects.toThrow(/gradcam: give smooth \(SmoothGrad\) or augSmooth, not both/);
  });
});

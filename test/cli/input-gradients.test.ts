// gradlens explain with the input-gradient methods on resnet_mini (32x32, a
// .npy input): saliency, inputxgradient and integratedgradients, --steps,
// --baseline black|blur|<file.npy>, SmoothGrad's --smooth --noise
// --smooth-type --seed, and the completeness gap in --json.

import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, test, vi } from 'vitest';
import { readNpy, writeNpy } from '../../importers/onnx/npy.js';
import { reference } from '../fixtures/explain/reference.js';
import { cli } from '../helpers/cli.js';

const MODEL = 'test/fixtures/explain/resnet_mini.onnx';
const dir = mkdtempSync(join(tmpdir(), 'gradlens-input-gradients-'));
const file = (name: string) => join(dir, name);
const ref = reference();

beforeAll(() => {
  writeFileSync(file('x.npy'), writeNpy(ref.inputs.chelsea, [1, 3, 32, 32]));
  writeFileSync(file('zeros.npy'), writeNpy(new Float32Array(3 * 32 * 32), [3, 32, 32]));
});
afterEach(() => vi.restoreAllMocks());
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const explain = (...args: string[]) => cli('explain', '--model', MODEL, '--input', file('x.npy'), ...args);
const npy = (name: string) => {
  const t = readNpy(readFileSync(file(name)));
  return { shape: t.shape, data: Float32Array.from(t.data as Float32Array) };
};

describe('gradlens explain: input-gradient methods', () => {
  test('integratedgradients --steps 32: --json reports the completeness gap, the same for a black and a zeros.npy baseline', async () => {
    const black = await explain('--method', 'integratedgradients', '--steps', '32', '--baseline', 'black', '--json', '--grad', file('ig.npy'));
    expect(black.err).toBe('');
    expect(black.code).toBe(0);
    const json = JSON.parse(black.out);
    expect(json.class).toBe(ref.models.resnet_mini.category[0]);
    expect(json.score).toBeCloseTo(ref.models.resnet_mini.score[0], 3);
    expect(json.layers).toEqual([{ name: 'input', shape: [1, 3, 32, 32] }]);
    // sum(IG) = f(x) - f(baseline) up to the quadrature: the gap the JSON reports.
    const ig = npy('ig.npy');
    expect(ig.shape).toEqual([3, 32, 32]);
    const total = ig.data.reduce((a, b) => a + b, 0);
    expect(json.completenessGap).toBeCloseTo(Math.abs(total - (json.score - json.baselineScore)), 3);
    expect(json.completenessGap).toBeLessThan(0.02 * Math.abs(json.score - json.baselineScore));
    const zeros = JSON.parse((await explain('--method', 'integratedgradients', '--steps', '32', '--baseline', file('zeros.npy'), '--json')).out);
    expect(zeros.baselineScore).toBe(json.baselineScore);
    expect(zeros.completenessGap).toBe(json.completenessGap);
    // Blurred: another baseline score; and the text output says it too.
    const blur = await explain('--method', 'integratedgradients', '--steps', '8', '--baseline', 'blur', '--out', file('ig.png'));
    expect(blur.code).toBe(0);
    expect(blur.out).toMatch(/completeness gap \|sum\(IG\) - \(score - baseline score\)\| = [\d.e-]+ \([\d.e-]+% of -?[\d.]+\); baseline score -?[\d.]+, 8 steps/);
    expect(blur.out).not.toMatch(new RegExp(`baseline score ${json.baselineScore.toFixed(4)},`));
  });

  test('saliency and inputxgradient, plain and under SmoothGrad (--smooth --noise --smooth-type --seed)', async () => {
    const sal = await explain('--method', 'saliency', '--json', '--grad', file('sal.npy'), '--raw', file('sal-raw.npy'));
    expect(sal.code).toBe(0);
    expect(JSON.parse(sal.out)).not.toHaveProperty('completenessGap');
    const g = npy('sal.npy');
    expect(g.data.every((v) => v >= 0)).toBe(true);
    // raw = max over channels of |g|
    const raw = npy('sal-raw.npy');
    expect(raw.shape).toEqual([32, 32]);
    raw.data.forEach((v, p) => expect(v).toBe(Math.max(g.data[p], g.data[1024 + p], g.data[2048 + p])));

    const args = ['--method', 'inputxgradient', '--smooth', '3', '--noise', '0.1', '--seed', '5', '--json'];
    const mean = await explain(...args, '--grad', file('mean.npy'));
    expect(mean.code).toBe(0);
    expect(JSON.parse(mean.out).class).toBe(ref.models.resnet_mini.category[0]);
    await explain(...args, '--smooth-type', 'smoothgrad_sq', '--grad', file('sq.npy'));
    await explain(...args, '--smooth-type', 'vargrad', '--grad', file('var.npy'));
    const [m, sq, v] = [npy('mean.npy').data, npy('sq.npy').data, npy('var.npy').data];
    m.forEach((mi, i) => expect(Math.abs(sq[i] - mi * mi - v[i])).toBeLessThanOrEqual(1e-6 * sq[i] + 1e-30));
    expect(v.some((x) => x > 0)).toBe(true);
  });

  test('flags are checked against the methods', async () => {
    const steps = await explain('--method', 'gradcam', '--steps', '8');
    expect(steps.code).toBe(1);
    expect(steps.err.split('\n')[0]).toBe('gradlens: --steps applies to --method integratedgradients');
    const noise = await explain('--method', 'saliency', '--noise', '0.1');
    expect(noise.err.split('\n')[0]).toBe('gradlens: --noise needs --smooth <n>, the number of noisy copies');
    const kind = await explain('--method', 'saliency', '--smooth', '2', '--smooth-type', 'smoothgrad_sqr');
    expect(kind.err.split('\n')[0]).toBe("gradlens: --smooth-type 'smoothgrad_sqr' must be one of smoothgrad, smoothgrad_sq, vargrad. Did you mean 'smoothgrad_sq', 'smoothgrad'?");
    // SmoothGrad applies to every method (test/cli/targets.test.ts smooths gradcam), not on top of --aug-smooth.
    const aug = await explain('--method', 'gradcam', '--smooth', '2', '--aug-smooth');
    expect(aug.err.split('\n')[0]).toBe('gradlens: give --smooth (SmoothGrad) or --aug-smooth, not both');
  });
});

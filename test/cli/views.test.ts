// gradlens features, filters, actmax and metrics on resnet_mini (32x32, a .npy
// input): the PNG each writes, its --json against a direct library call, the
// default layer (the one `gradlens explain` picks) and CLI-worded errors.

import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { tensor, type Tensor } from '../../engine/index.js';
import { activationMax, classTarget, confidenceChange, convFilters, explain, featureMapGrid, road, softmaxTarget } from '../../explainers/index.js';
import { decodeImage } from '../../explainers/node-image.js';
import { writeNpy } from '../../importers/onnx/npy.js';
import type { OnnxGraphModel } from '../../importers/onnx/model.js';
import { loadInput, presetFlag } from '../../cli/detector.js';
import { reference } from '../fixtures/explain/reference.js';
import { cli } from '../helpers/cli.js';

const MODEL = 'test/fixtures/explain/resnet_mini.onnx';
const dir = mkdtempSync(join(tmpdir(), 'gradlens-views-'));
const file = (name: string) => join(dir, name);
const ref = reference();
const source = () => ['--model', MODEL, '--input', file('x.npy')];

let model: OnnxGraphModel;
let x: Tensor;
/** What `gradlens explain` picks by default: its layer and class. */
let picked: { layer: string; class: number };

beforeAll(async () => {
  writeFileSync(file('x.npy'), writeNpy(ref.inputs.chelsea, [1, 3, 32, 32]));
  const loaded = await loadInput(MODEL, presetFlag(MODEL, undefined), { input: file('x.npy') });
  model = loaded.model;
  x = tensor(loaded.input.data, loaded.input.shape);
  const r = await cli('explain', ...source(), '--json');
  expect(r.code).toBe(0);
  const json = JSON.parse(r.out);
  picked = { layer: json.layers[0].name, class: json.class };
});
afterAll(() => {
  x?.dispose();
  model?.dispose();
  rmSync(dir, { recursive: true, force: true });
});

/** The PNG's size, checked to be more than one color. */
function png(name: string): [number, number] {
  const img = decodeImage(readFileSync(file(name)));
  const first = img.data.subarray(0, 4).join();
  let varied = false;
  for (let i = 4; i < img.data.length && !varied; i += 4) varied = img.data.subarray(i, i + 4).join() !== first;
  expect(varied, `${name} is blank`).toBe(true);
  return [img.width, img.height];
}

describe('gradlens features, filters, actmax, metrics', () => {
  test('features: the grid of the default layer, channels and means as featureMapGrid gives them', async () => {
    const r = await cli('features', ...source(), '--count', '6', '--json', '--out', file('features.png'));
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    const json = JSON.parse(r.out);
    expect(json.layer).toBe(picked.layer);
    const g = await featureMapGrid(model, x, picked.layer, { count: 6 });
    expect(json.channels).toEqual(g.channels);
    json.means.forEach((m: number, i: number) => expect(m).toBeCloseTo(g.means[i], 5));
    expect(png('features.png')).toEqual([g.image.width, g.image.height]);
    expect([json.width, json.height]).toEqual([g.image.width, g.image.height]);
  });

  test('filters: the first Conv by default, its shape as convFilters gives it; --layer names another', async () => {
    const r = await cli('filters', '--model', MODEL, '--json', '--out', file('filters.png'));
    expect(r.code).toBe(0);
    const json = JSON.parse(r.out);
    const f = convFilters(model, json.layer);
    expect(json).toMatchObject({ node: f.node, weight: f.weight, shape: f.shape, mode: 'rgb', filters: f.filters });
    expect(json.shape[1]).toBe(3);
    expect(png('filters.png')).toEqual([f.image.width, f.image.height]);
    const deeper = await cli('filters', '--model', MODEL, '--layer', '/layer3/conv2/Conv_output_0', '--json', '--out', file('filters3.png'));
    expect(deeper.err).toBe('');
    expect(JSON.parse(deeper.out)).toMatchObject({ mode: 'channels', shape: convFilters(model, '/layer3/conv2/Conv_output_0').shape });
  });

  test('actmax: the top class by default, its objective history as activationMax gives it; --layer --channel', async () => {
    const r = await cli('actmax', ...source(), '--steps', '4', '--json', '--out', file('actmax.png'));
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    const json = JSON.parse(r.out);
    expect(json.objective).toEqual({ class: picked.class, output: 'logits' });
    const direct = await activationMax(model, { target: classTarget(picked.class, { output: 'logits' }), output: 'logits' }, { steps: 4 });
    expect(json.history).toHaveLength(5);
    json.history.forEach((v: number, i: number) => expect(v).toBeCloseTo(direct.history[i], 3));
    expect(png('actmax.png')).toEqual([128, 128]);
    const channel = await cli('actmax', ...source(), '--layer', picked.layer, '--channel', '3', '--steps', '2', '--tv', '0', '--jitter', '0', '--json', '--out', file('channel.png'));
    expect(channel.err).toBe('');
    expect(JSON.parse(channel.out).objective).toEqual({ layer: picked.layer, channel: 3 });
  });

  test('metrics: Average Drop and ROAD on the explain map, as the library gives them, and the curves as a PNG', async () => {
    const r = await cli('metrics', ...source(), '--percentages', '20,50,80', '--json', '--out', file('road.png'));
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    const json = JSON.parse(r.out);
    expect(json).toMatchObject({ method: 'gradcam', layer: picked.layer, class: picked.class });
    const map = (await explain(model, x, 'gradcam', { layers: [picked.layer] })).map;
    const target = softmaxTarget(picked.class, { output: 'logits' });
    const change = await confidenceChange(model, x, map, target);
    expect(json.averageDrop).toBeCloseTo(change.averageDrop, 3);
    expect(json.increaseInConfidence).toBe(change.increaseInConfidence);
    const direct = await road(model, x, map, target, { percentages: [20, 50, 80] });
    expect(json.road.percentages).toEqual([20, 50, 80]);
    json.road.morf.forEach((v: number, i: number) => expect(v).toBeCloseTo(direct.morf[i], 4));
    expect(json.road.combined).toBeCloseTo(direct.combined, 4);
    expect(png('road.png')).toEqual([480, 320]);
  });

  test('errors in command-line words', async () => {
    const missing = await cli('features', ...source(), '--layer', '/layer3/relu2/Relu_outpt_0');
    expect(missing.code).toBe(1);
    expect(missing.err).toMatch(/--layer: layer '\/layer3\/relu2\/Relu_outpt_0' not found in the model\. Did you mean: '\/layer3\/relu2\/Relu_output_0'.*`gradlens layers /);
    expect(missing.err).not.toMatch(/model\.layers\(\)/);
    const flat = await cli('actmax', ...source(), '--layer', 'logits');
    expect(flat.err).toMatch(/--layer 'logits' has shape \[1, 5\]: pick a rank-4 \(NCHW\) layer/);
    const conv = await cli('filters', '--model', MODEL, '--layer', '/layer3/conv2/Con');
    expect(conv.err).toMatch(/--layer: layer '\/layer3\/conv2\/Con' not found.*Did you mean: '\/layer3\/conv2\/Conv/);
    const flag = await cli('metrics', ...source(), '--lyer', 'x');
    expect(flag.err).toMatch(/unknown flag --lyer\. Did you mean --layer/);
    expect(flag.err).toMatch(/usage: gradlens metrics/);
    expect((await cli('metrics', ...source(), '--method', 'gradcan')).err).toMatch(/unknown method 'gradcan'\. Did you mean 'gradcam'/);
    expect((await cli('actmax', ...source(), '--channel', '2')).err).toMatch(/--channel needs --layer/);
    expect((await cli('actmax', ...source(), '--class', '99')).err).toMatch(/--class 99 is out of range: 'logits' has 5 classes/);
    expect((await cli('features', '--model', MODEL)).err).toMatch(/give an --image or an --input/);
    expect((await cli('metrics', ...source(), '--percentages', '10,100')).err).toMatch(/--percentages '10,100': each must be a number in \[0, 100\)/);
    for (const name of ['features', 'filters', 'actmax', 'metrics']) {
      const help = await cli(name, '--help');
      expect(help.code).toBe(0);
      expect(help.out).toMatch(new RegExp(`^usage: gradlens ${name} `));
    }
  });
});

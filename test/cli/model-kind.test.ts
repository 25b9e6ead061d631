// gradlens explain / detect: what a model is comes from its graph, not its
// file name (the name only picks the preprocessing preset). A renamed
// classifier is still explained at its last spatial layer with its top class;
// a one-conv model at its conv output, never at its input; a detector named
// like a classifier still detects.

import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, test, vi } from 'vitest';
import { cli } from '../helpers/cli.js';
import { classifierHead } from '../../explainers/target-layers.js';
import { loadOnnx } from '../../importers/onnx/index.js';
import { writeNpy } from '../../importers/onnx/npy.js';
import { MODELS, modelPath, readModel } from '../fixtures/onnx/models.js';
import { seeded } from '../fixtures/onnx/synthetic.js';
import { oneConvClassifier, oneConvMap } from './tiny-models.js';

const dir = mkdtempSync(join(tmpdir(), 'gradlens-kind-'));
const file = (name: string) => join(dir, name);
const NSFW = 'test/fixtures/onnx/nsfwjs_mobilenet_v2.onnx';
const CAT = 'test/fixtures/explain/chelsea.png';

afterEach(() => vi.restoreAllMocks());
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('the model kind comes from the graph', () => {
  test('classifierHead: the two classifiers of ../shared/models and nothing else', async () => {
    const expected: Record<string, ReturnType<typeof classifierHead>> = {
      'nsfwjs_mobilenet_v2.onnx': { output: 'dense_3', layer: 'out_relu', classes: 5 },
      // Its head pools [1, 200, 1, 48] by GlobalAveragePool: the MaxPool before is the last spatial map.
      'ch_ppocr_mobile_v2.0_cls_infer.onnx': { output: 'softmax_0.tmp_0', layer: 'p2o.MaxPool.1', classes: 2 },
    };
    for (const m of MODELS) {
      const bytes = readModel(m.file);
      if (!bytes) continue;
      const model = await loadOnnx(bytes, { inputShapes: m.inputShapes });
      try {
        expect(classifierHead(model), m.file).toEqual(expected[m.file]);
      } finally {
        model.dispose();
      }
    }
  });

  test('a copy of nsfwjs named mynet.onnx is explained as nsfwjs is: top class, last spatial layer', async () => {
    copyFileSync(NSFW, file('mynet.onnx'));
    const named = await cli('explain', '--model', NSFW, '--image', CAT, '--json');
    const renamed = await cli('explain', '--model', file('mynet.onnx'), '--image', CAT, '--json');
    expect(renamed.err).toBe('');
    const [a, b] = [JSON.parse(named.out), JSON.parse(renamed.out)];
    // Before: class null at block_16_depthwise_relu (the largest element of 'dense_3', at the layer feeding the head).
    expect(b.class).toBe(2);
    expect(b.layers).toEqual([{ name: 'out_relu', shape: [1, 1280, 7, 7] }]);
    // Both presets (nsfwjs by name, plain for mynet) stretch to 224 and divide by 255: the same explanation.
    expect(b).toMatchObject({ class: a.class, layers: a.layers });
    expect(b.score).toBeCloseTo(a.score, 5);
  });

  test('a one-conv classifier is explained at its conv output with its top class, not at its input', async () => {
    writeFileSync(file('oneconv.onnx'), oneConvClassifier());
    writeFileSync(file('x.npy'), writeNpy(seeded(192, 1), [1, 3, 8, 8]));
    const r = await cli('explain', '--model', file('oneconv.onnx'), '--input', file('x.npy'), '--json');
    expect(r.err).toBe('');
    const json = JSON.parse(r.out);
    expect(json.layers).toEqual([{ name: 'c', shape: [1, 4, 8, 8] }]);
    expect(json.class).toEqual(expect.any(Number));
    // detect says what it is and what to run instead; following that works.
    const detect = await cli('detect', '--model', file('oneconv.onnx'), '--input', file('x.npy'));
    expect(detect.code).toBe(1);
    expect(detect.err).toMatch(/it is a classifier \(class scores 'y' computed from 'c'\); explain its classes with `gradlens explain` without --detection, --score and --meta/);
    expect((await cli('explain', '--model', file('oneconv.onnx'), '--input', file('x.npy'), '--out', file('o.png'))).code).toBe(0);
  });

  test('a one-conv model with a map output is explained at its conv output, never its input', async () => {
    writeFileSync(file('conv.onnx'), oneConvMap());
    writeFileSync(file('x.npy'), writeNpy(seeded(192, 1), [1, 3, 8, 8]));
    const r = await cli('explain', '--model', file('conv.onnx'), '--input', file('x.npy'), '--json');
    expect(r.err).toBe('');
    const json = JSON.parse(r.out);
    expect(json.layers).toEqual([{ name: 'y', shape: [1, 2, 8, 8] }]);
    expect(json.class).toBeNull(); // the largest element of 'y'
  });

  test.skipIf(!modelPath('yolov5n_320.onnx'))('a YOLOv5 export named like the nsfwjs classifier still detects', async () => {
    copyFileSync(modelPath('yolov5n_320.onnx')!, file('nsfwjs_mobilenet_v2.onnx'));
    const r = await cli('explain', '--model', file('nsfwjs_mobilenet_v2.onnx'), '--image', 'explainers/assets/dog.jpg', '--json');
    expect(r.err).toBe('');
    const json = JSON.parse(r.out);
    expect(json.scoreKind).toBe('logit');
    expect(json.detection.className).toEqual(expect.any(String));
  });
});

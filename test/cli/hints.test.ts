// The CLI speaks CLI: its messages name flags and commands (never the
// library's `inputShapes`, `model.layers()` or `size`), every hint it prints
// works when followed (each test here follows it), numbers are parsed
// strictly, a batch in --input is explained item by item, and the library's
// warnings reach stderr and --json.

import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, test, vi } from 'vitest';
import { cli } from '../helpers/cli.js';
import { readNpy, writeNpy } from '../../importers/onnx/npy.js';
import { modelPath } from '../fixtures/onnx/models.js';
import { seeded } from '../fixtures/onnx/synthetic.js';
import { oneConvClassifier, rank3Classifier, symbolicClassifier, twoBranches } from './tiny-models.js';

const dir = mkdtempSync(join(tmpdir(), 'gradlens-hints-'));
const file = (name: string) => join(dir, name);
const MODEL = 'explainers/assets/yolo_fastest_1.1_coco.onnx';
const DOG = 'explainers/assets/dog.jpg';
const SIDECAR = 'test/fixtures/onnx/yolo_fastest_1.1_coco.json';
const CAT = 'test/fixtures/explain/chelsea.png';

beforeAll(() => {
  writeFileSync(file('cls.onnx'), oneConvClassifier());
  writeFileSync(file('zero.onnx'), oneConvClassifier({ zero: true }));
  writeFileSync(file('sym.onnx'), symbolicClassifier());
  writeFileSync(file('rank3.onnx'), rank3Classifier());
  writeFileSync(file('two.onnx'), twoBranches());
  writeFileSync(file('x.npy'), writeNpy(seeded(192, 1), [1, 3, 8, 8]));
  writeFileSync(file('x1.npy'), writeNpy(seeded(192, 2), [1, 3, 8, 8]));
  writeFileSync(file('batch.npy'), writeNpy([...seeded(192, 1), ...seeded(192, 2)], [2, 3, 8, 8]));
  writeFileSync(file('r3.npy'), writeNpy(seeded(64, 3), [1, 8, 8]));
  // Raw darknet heads under a name no preset lists, and no sidecar beside them.
  copyFileSync(MODEL, file('heads.onnx'));
});
afterEach(() => vi.restoreAllMocks());
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The first line of stderr: the message (a UsageError adds the usage after it). */
const message = (r: { err: string }) => r.err.split('\n')[0];

/** The flag a hint says to pass (its last `--name value` in the message), to run it as printed. */
function hinted(text: string, flag: string): string[] {
  const m = [...text.split('\n')[0].matchAll(new RegExp(`(--${flag}) ([^\\s<]\\S*)`, 'g'))].at(-1);
  expect(m, `no --${flag} hint in: ${text}`).toBeDefined();
  return [m![1], m![2]];
}

describe('messages in CLI words, hints that work', () => {
  test('layers: symbolic input dimensions ask for --input-shape with a shape that runs', async () => {
    const r = await cli('layers', file('sym.onnx'));
    expect(r.code).toBe(1);
    expect(message(r)).toBe("gradlens: the model's input 'x' [N, 3, H, W] has symbolic dimensions; pass --input-shape x=1x3x224x224 (with your sizes)");
    expect(r.err).not.toMatch(/inputShapes/);
    const followed = await cli('layers', file('sym.onnx'), ...hinted(r.err, 'input-shape'));
    expect(followed.code).toBe(0);
    expect(followed.out).toMatch(/\n1 +c +Conv +\[1, 3, 224, 224\]\n/);
  });

  test('explain: symbolic input dimensions with a photo ask for --input-shape, which then runs', async () => {
    const r = await cli('explain', '--model', file('sym.onnx'), '--image', CAT, '--json');
    expect(message(r)).toMatch(/pass --input-shape x=1x3x224x224 \(with your sizes\)$/);
    const followed = await cli('explain', '--model', file('sym.onnx'), '--image', CAT, '--json', ...hinted(r.err, 'input-shape'));
    expect(followed.err).toBe('');
    expect(JSON.parse(followed.out).layers).toEqual([{ name: 'r', shape: [1, 3, 224, 224] }]);
  });

  test('an unknown layer names the flag and `gradlens layers <model>`, whose list and suggestion work', async () => {
    const run = await cli('run', '--model', file('cls.onnx'), '--input', file('x.npy'), '--out', file('y.npy'), '--output', 'C');
    expect(run.code).toBe(1);
    expect(run.err).toBe(`gradlens: --output: layer 'C' not found in the model. Did you mean: 'c', 'g', 'x', 'y'? (\`gradlens layers ${file('cls.onnx')}\` lists every tensor name)`);
    const ex = await cli('explain', '--model', file('cls.onnx'), '--input', file('x.npy'), '--layer', 'C');
    expect(ex.err).toMatch(/^gradlens: --layer: layer 'C' not found in the model\. Did you mean: 'c'.*`gradlens layers .*cls\.onnx` lists every tensor name\)$/);
    expect(ex.err).not.toMatch(/model\.layers\(\)/);
    // Followed: the command it names lists 'c', and the suggestion runs.
    const command = /`gradlens (layers \S+)`/.exec(ex.err)![1].split(' ');
    const listed = await cli(...command, '--json');
    expect(JSON.parse(listed.out).map((l: { name: string }) => l.name)).toContain('c');
    expect((await cli('run', '--model', file('cls.onnx'), '--input', file('x.npy'), '--out', file('y.npy'), '--output', 'c')).code).toBe(0);
    expect((await cli('explain', '--model', file('cls.onnx'), '--input', file('x.npy'), '--layer', 'c', '--json')).code).toBe(0);
  });

  test('a layer the score does not depend on: the message says --layer, and a layer of that output works', async () => {
    const r = await cli('explain', '--model', file('two.onnx'), '--input', file('x.npy'), '--output', 'y1', '--layer', 'b');
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/^gradlens: --layer 'b': the explained score \(class \d score[^)]*\) does not depend on this layer\. Pick a --layer the explained output is computed from/);
    expect((await cli('explain', '--model', file('two.onnx'), '--input', file('x.npy'), '--output', 'y1', '--layer', 'a', '--json')).code).toBe(0);
    const bad = await cli('explain', '--model', file('two.onnx'), '--input', file('x.npy'), '--output', 'y3');
    expect(message(bad)).toBe("gradlens: --output 'y3' is neither a graph output nor a tensor of the model. Did you mean 'y1', 'y2', 'a'? Outputs: y1, y2");
  });

  test('a rank-3 .npy: the shapes, in --input words (no `size`)', async () => {
    const r = await cli('explain', '--model', file('cls.onnx'), '--input', file('r3.npy'));
    expect(r.err).toBe(`gradlens: --input '${file('r3.npy')}' has shape [1, 8, 8]; the model's input 'x' is [1, 3, 8, 8] (only the batch, dimension 0, may differ)`);
    // A model whose input itself is rank 3: refused in explain's words, with no hint that cannot work.
    const rank3 = await cli('explain', '--model', file('rank3.onnx'), '--input', file('r3.npy'));
    expect(rank3.err).toBe("gradlens: explain draws its maps over an image input of rank 4; the model's input 'x' has shape [1, 8, 8]");
  });

  test('--class on raw darknet heads (no anchors): each hint it gives works', async () => {
    // Before: "expects class scores of shape [N, K] ...; pass a function target", and "--preset plain" led there.
    for (const args of [['--model', file('heads.onnx'), '--image', DOG], ['--preset', 'plain']]) {
      const r = await cli('explain', ...args, '--class', '16');
      expect(r.code).toBe(1);
      expect(r.err).toMatch(
        /^gradlens: --class 16: output 'yolo0_stride32' \[1, 255, 10, 10\] holds no class scores \(\[N, K\] or \[N, K, 1, 1\]\); without --class, the largest element of 'yolo0_stride32' is explained; if these are raw darknet heads, pass --meta <sidecar\.json> .* or --preset yolo-fastest: --class then picks the detection of that class$/,
      );
      expect(r.err).not.toMatch(/function target/);
    }
    const base = ['explain', '--model', file('heads.onnx'), '--image', DOG, '--json'];
    const largest = await cli(...base);
    expect(JSON.parse(largest.out).class).toBeNull();
    for (const fix of [['--preset', 'yolo-fastest'], ['--meta', SIDECAR]]) {
      const r = await cli(...base, '--class', '16', ...fix);
      expect(r.err).toBe('');
      expect(JSON.parse(r.out).detection.className).toBe('dog');
    }
  });

  test('detect on raw heads without anchors, and explain --detection on a classifier: the hints work', async () => {
    const r = await cli('detect', '--model', file('heads.onnx'), '--image', DOG);
    expect(r.err).toMatch(/need their anchors: pass --meta <sidecar\.json> \(anchors per output, in the format of yolo_fastest_1\.1_coco\.json\) or --preset yolo-fastest$/);
    for (const fix of [['--preset', 'yolo-fastest'], ['--meta', SIDECAR]]) {
      const d = await cli('detect', '--model', file('heads.onnx'), '--image', DOG, '--json', ...fix);
      expect(d.err).toBe('');
      expect(JSON.parse(d.out)[0].className).toBe('car');
    }
    const cls = await cli('explain', '--model', file('cls.onnx'), '--input', file('x.npy'), '--detection', '0');
    expect(cls.err).toMatch(/^gradlens: --detection, --score and --meta apply to detectors; .*it is a classifier .*explain its classes with `gradlens explain` without --detection, --score and --meta$/);
    expect((await cli('explain', '--model', file('cls.onnx'), '--input', file('x.npy'), '--out', file('o.png'))).code).toBe(0);
  });

  test.skipIf(!modelPath('yolov5n_320.onnx'))('--preset naming another detector format says which one fits, and it does', async () => {
    const v5 = modelPath('yolov5n_320.onnx')!;
    const r = await cli('detect', '--model', v5, '--image', DOG, '--preset', 'yolo-fastest');
    expect(r.err).toBe("gradlens: --preset yolo-fastest names a darknet detector, but its outputs 'output' [1, 6300, 85] are a yolov5 export: use --preset yolov5");
    const followed = await cli('detect', '--model', v5, '--image', DOG, '--json', ...hinted(r.err, 'preset'));
    expect(followed.err).toBe('');
    expect(JSON.parse(followed.out).length).toBeGreaterThan(0);
  });

  test('no detection above --conf: the error names a --conf that finds one', async () => {
    writeFileSync(file('grey.npy'), writeNpy(new Float32Array(3 * 320 * 320).fill(0.5), [1, 3, 320, 320]));
    const r = await cli('explain', '--input', file('grey.npy'), '--model', MODEL, '--json');
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/^gradlens: no detection above confidence 0\.25 to explain; the best prediction \(.+\) scores [\d.e-]+: pass --conf [\d.e-]+ or lower$/);
    const followed = await cli('explain', '--input', file('grey.npy'), '--model', MODEL, '--json', ...hinted(r.err, 'conf'));
    expect(followed.err).toBe('');
    expect(JSON.parse(followed.out).detection.index).toBe(0);
  });

  test('unknown names suggest the close ones, which work', async () => {
    const method = await cli('explain', '--model', file('cls.onnx'), '--input', file('x.npy'), '--method', 'gradkam');
    expect(message(method)).toMatch(/^gradlens: unknown method 'gradkam'\. Did you mean 'gradcam', .*\? Methods: gradcam, /);
    const near = /Did you mean '([^']+)'/.exec(method.err)![1];
    expect((await cli('explain', '--model', file('cls.onnx'), '--input', file('x.npy'), '--method', near, '--out', file('o.png'))).code).toBe(0);
    const preset = await cli('explain', '--model', file('cls.onnx'), '--image', CAT, '--preset', 'imagenett', '--json');
    expect(message(preset)).toMatch(/^gradlens: unknown preset 'imagenett'\. Did you mean 'imagenet'\? Presets: /);
    const followed = await cli('explain', '--model', file('cls.onnx'), '--image', CAT, '--preset', /Did you mean '([^']+)'/.exec(preset.err)![1], '--json');
    expect(followed.code).toBe(0);
    const command = await cli('layer', file('cls.onnx'));
    expect(command.code).toBe(1);
    expect((await cli(/Did you mean '([^']+)'/.exec(command.err)![1], file('cls.onnx'))).code).toBe(0);
  });
});

describe('numbers are parsed strictly', () => {
  test("--class ' ', 0x2, 1e0, +1 and the like are refused (before: read as 0, 2, 1)", async () => {
    for (const v of [' ', '0x2', '1e0', '+1', '1.0', '-1']) {
      const r = await cli('explain', '--model', file('cls.onnx'), '--input', file('x.npy'), '--class', v);
      expect(r.code, `--class '${v}'`).toBe(1);
      expect(message(r)).toBe(`gradlens: --class '${v}' must be a non-negative integer`);
    }
    expect(message(await cli('explain', '--detection', '0x1'))).toBe("gradlens: --detection '0x1' must be an index in the detection list (0 = highest score) or 'all'");
    expect(message(await cli('explain', '--batch-size', '1e1'))).toBe("gradlens: --batch-size '1e1' must be a positive integer");
    expect(message(await cli('explain', '--conf', ' '))).toBe("gradlens: --conf ' ' must be a number from 0 to 1");
    expect(message(await cli('detect', '--iou', '0x0'))).toBe("gradlens: --iou '0x0' must be a number from 0 to 1");
    expect(message(await cli('layers', file('sym.onnx'), '--input-shape', 'x=1x3x 8x8'))).toBe("gradlens: --input-shape 'x=1x3x 8x8' must look like name=1x3x224x224");
    // The forms that are numbers still work.
    const ok = await cli('explain', '--model', file('cls.onnx'), '--input', file('x.npy'), '--class', '3', '--alpha', '.5', '--json');
    expect(JSON.parse(ok.out).class).toBe(3);
  });
});

describe('a batch in --input', () => {
  test('every item is explained: [N, ...] files, one JSON entry per item, each as explained alone', async () => {
    const r = await cli('explain', '--model', file('cls.onnx'), '--input', file('batch.npy'), '--json', '--map', file('map.npy'), '--raw', file('raw.npy'), '--grad', file('grad.npy'), '--out', file('grid.png'));
    expect(r.err).toBe('');
    const json = JSON.parse(r.out);
    expect(json.batch).toBe(2);
    expect(json.items.map((i: { item: number }) => i.item)).toEqual([0, 1]);
    expect(json.layers).toEqual([{ name: 'c', shape: [1, 4, 8, 8] }]);
    expect(readNpy(readFileSync(file('map.npy'))).shape).toEqual([2, 8, 8]);
    expect(readNpy(readFileSync(file('raw.npy'))).shape).toEqual([2, 8, 8]);
    expect(readNpy(readFileSync(file('grad.npy'))).shape).toEqual([2, 4, 8, 8]);
    // Item 1 as if it were the only image.
    const alone = await cli('explain', '--model', file('cls.onnx'), '--input', file('x1.npy'), '--json', '--map', file('map1.npy'));
    const one = JSON.parse(alone.out);
    expect(json.items[1].class).toBe(one.class);
    expect(json.items[1].score).toBeCloseTo(one.score, 6);
    const batchMap = readNpy(readFileSync(file('map.npy'))).data as Float32Array;
    const aloneMap = readNpy(readFileSync(file('map1.npy'))).data as Float32Array;
    expect(Array.from(batchMap.subarray(64, 128))).toEqual(Array.from(aloneMap));
    // Text: one line per item.
    const text = await cli('explain', '--model', file('cls.onnx'), '--input', file('batch.npy'), '--out', file('grid.png'));
    expect(text.out).toMatch(/^gradcam: item 0: class \d score, score -?\d.*\ngradcam: item 1: class \d score/);
  });

  test('detectors take one image: a batch is refused, and the one-image .npy it asks for works', async () => {
    writeFileSync(file('grey2.npy'), writeNpy(new Float32Array(2 * 3 * 320 * 320).fill(0.5), [2, 3, 320, 320]));
    for (const command of ['explain', 'detect']) {
      const r = await cli(command, '--model', MODEL, '--input', file('grey2.npy'), '--conf', '0.0001');
      expect(r.err).toBe('gradlens: --input holds a batch of 2 ([2, 3, 320, 320]); detectors take one image: pass one [1, 3, 320, 320] .npy per image');
    }
    writeFileSync(file('grey1.npy'), writeNpy(new Float32Array(3 * 320 * 320).fill(0.5), [1, 3, 320, 320]));
    expect((await cli('detect', '--model', MODEL, '--input', file('grey1.npy'), '--conf', '0.0001')).code).toBe(0);
  });
});

describe('non-finite inputs', () => {
  test('run, explain and detect refuse a .npy holding NaN or an infinity, naming the flag, the file and the element', async () => {
    const bad = seeded(192, 1);
    bad[70] = NaN;
    writeFileSync(file('nan.npy'), writeNpy(bad, [1, 3, 8, 8]));
    bad[70] = -Infinity;
    writeFileSync(file('inf.npy'), writeNpy(bad, [1, 3, 8, 8]));
    for (const [npy, value] of [['nan.npy', 'NaN'], ['inf.npy', '-Infinity']]) {
      const expected = `--input '${file(npy)}' holds ${value} at index 70 (element [0, 1, 0, 6] of [1, 3, 8, 8]): gradlens refuses non-finite values`;
      for (const argv of [['run', '--model', file('cls.onnx'), '--input', file(npy), '--out', file('y.npy')], ['explain', '--model', file('cls.onnx'), '--input', file(npy)]]) {
        const r = await cli(...argv);
        expect(r.code, argv[0]).not.toBe(0);
        expect(message(r)).toBe(`gradlens: ${expected}`);
      }
    }
    const grey = writeNpy(new Float32Array(3 * 320 * 320).fill(NaN), [1, 3, 320, 320]);
    writeFileSync(file('nan320.npy'), grey);
    expect(message(await cli('detect', '--model', MODEL, '--input', file('nan320.npy')))).toMatch(/holds NaN at index 0 /);
  });
});

describe('warnings', () => {
  test("the explanation's warnings go to stderr as `warning: ...` and into --json (always there, [] when none)", async () => {
    const clean = await cli('explain', '--model', file('cls.onnx'), '--input', file('x.npy'), '--json');
    expect(clean.err).toBe('');
    expect(JSON.parse(clean.out).warnings).toEqual([]);
    // All-zero weights: an all-zero map, which explain() warns about.
    const zero = await cli('explain', '--model', file('zero.onnx'), '--input', file('x.npy'), '--json');
    expect(zero.code).toBe(0);
    const warnings: string[] = JSON.parse(zero.out).warnings;
    expect(warnings.length).toBeGreaterThan(0);
    expect(zero.err.split('\n')).toEqual(warnings.map((w) => `warning: ${w}`));
    const text = await cli('explain', '--model', file('zero.onnx'), '--input', file('x.npy'), '--out', file('o.png'));
    expect(text.err.split('\n')).toEqual(warnings.map((w) => `warning: ${w}`));
    // The zero model's activations are all zero: no method helps, and the warning says to pick another layer.
    expect(warnings.join('\n')).toMatch(/activations at .* are all zero .* Try another --layer/);
  });

  const ppocr = modelPath('ch_PP-OCRv4_det_infer.onnx');
  test.skipIf(!ppocr)("PP-OCRv4's saturated sigmoid: the warning's --output works when followed", async () => {
    const args = ['explain', '--model', ppocr!, '--image', 'test/fixtures/images/page.png', '--input-shape', 'x=1x3x128x128', '--json'];
    const saturated = await cli(...args);
    expect(saturated.code).toBe(0);
    const [warning] = JSON.parse(saturated.out).warnings as string[];
    expect(warning).toMatch(/is saturated, so its derivative rounds to 0/);
    const followed = await cli(...args, ...hinted(warning, 'output'));
    expect(followed.code, followed.err).toBe(0);
    expect(JSON.parse(followed.out).warnings).toEqual([]);
    expect(followed.err).toBe('');
  });
});

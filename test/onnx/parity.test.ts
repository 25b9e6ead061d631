// End to end: every real model against onnxruntime-node (CPU) on the same
// input. First prepared by the importer and run node by node (the test
// executor, synthetic inputs, small sizes); then through loadOnnx (fusions on)
// on real photos at the models' own sizes, with their detections and classes.

import { InferenceSession, Tensor as OrtTensor } from 'onnxruntime-node';
import { describe, expect, test } from 'vitest';
import { scopeAsync, tensor } from '../../engine/index.js';
import type { RgbaImage } from '../../explainers/image.js';
import { decodeDarknet, decodeYolov5, scaleBoxes, unletterbox } from '../../explainers/yolo/decode.js';
import { iou, nms, type Detection } from '../../explainers/yolo/nms.js';
import { prepareGraph } from '../../importers/onnx/graph.js';
import { loadOnnx } from '../../importers/onnx/index.js';
import { decodeModel } from '../../importers/onnx/proto.js';
import { execute } from '../fixtures/onnx/execute.js';
import { MODELS, readModel } from '../fixtures/onnx/models.js';
import {
  blazeFaceInput,
  darknetAnchors,
  darknetInput,
  expectedDetections,
  faceInput,
  readPhoto,
  rgbInput,
  textLineInput,
  textPageInput,
  yolov5Input,
  type ExpectedDetection,
  type Prepared,
} from '../fixtures/onnx/photos.js';

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

// ---- real photos through loadOnnx (fused plan, the models' own input sizes) ----------------

interface PhotoCase {
  file: string;
  photo: string;
  input(img: RgbaImage): Prepared;
  inputShapes?: Record<string, number[]>;
  /** Checks on our outputs (with onnxruntime's, on the same input, and the prepared input). */
  check?(ours: Record<string, Float32Array>, ort: Record<string, Float32Array>, prepared: Prepared, img: RgbaImage): void;
}

/** Our detections match onnxruntime's on the same input, and the stored ones (from Python's preprocessing) within JPEG/resize noise. */
function checkDetections(label: string, ours: Detection[], ort: Detection[], expected: ExpectedDetection[] | undefined): void {
  const show = (ds: { cls: number; score: number; box: number[] }[]) => ds.map((d) => `${d.cls}:${d.score.toFixed(3)}@[${d.box.map((v) => v.toFixed(0)).join(',')}]`).join(' ');
  console.log(`[detections] ${label}\n  ours        ${show(ours)}\n  onnxruntime ${show(ort)}\n  expected    ${expected ? show(expected) : '(absent)'}`);
  expect(ours.map((d) => d.cls)).toEqual(ort.map((d) => d.cls));
  ours.forEach((d, i) => {
    expect(Math.abs(d.score - ort[i].score)).toBeLessThan(1e-3);
    expect(iou(d.box, ort[i].box)).toBeGreaterThan(0.99);
  });
  if (!expected) return;
  // Same objects: for each expected detection, one of ours of the same class on (almost) the same box.
  expect(ours.length, 'number of detections').toBe(expected.length);
  for (const e of expected) {
    const match = ours.find((d) => d.cls === e.cls && iou(d.box, e.box) > 0.85);
    expect(match, `expected ${e.name} ${e.score} at [${e.box}]`).toBeDefined();
    expect(Math.abs(match!.score - e.score), `${e.name} score`).toBeLessThan(0.05);
    expect(Math.max(...match!.box.map((v, k) => Math.abs(v - e.box[k]))), `${e.name} box`).toBeLessThan(12);
  }
}

function yolov5Case(file: string, size: number): PhotoCase {
  return {
    file,
    photo: 'dog.jpg',
    input: (img) => yolov5Input(img, size),
    check(ours, ort, prepared, img) {
      const detect = (rows: Float32Array) => nms(decodeYolov5(rows, 85, 0.25)).map((d) => unletterbox(d, prepared.letterbox!, [img.width, img.height]));
      checkDetections(`${file} dog.jpg`, detect(ours.output), detect(ort.output), expectedDetections('yolov5n_detections.json', file, 'dog.jpg'));
    },
  };
}

const topClass = (v: Float32Array) => v.indexOf(Math.max(...v));

const PHOTO_CASES: PhotoCase[] = [
  {
    file: 'yolo_fastest_1.1_coco.onnx',
    photo: 'dog.jpg',
    input: (img) => darknetInput(img, 320),
    check(ours, ort, _prepared, img) {
      const anchors = darknetAnchors()!;
      const detect = (out: Record<string, Float32Array>) =>
        nms(
          ['yolo0_stride32', 'yolo1_stride16'].flatMap((name) =>
            decodeDarknet({ output: name, values: out[name], shape: [1, 255, name.endsWith('32') ? 10 : 20, name.endsWith('32') ? 10 : 20], anchors: anchors[name] }, [320, 320]),
          ),
        ).map((d) => scaleBoxes(d, [320, 320], [img.width, img.height]));
      checkDetections('yolo_fastest_1.1_coco.onnx dog.jpg', detect(ours), detect(ort), expectedDetections('yolo_fastest_detections.json', undefined, 'dog.jpg'));
    },
  },
  yolov5Case('yolov5n_640.onnx', 640),
  yolov5Case('yolov5n_320.onnx', 320),
  yolov5Case('yolov5n_640_bn.onnx', 640),
  {
    file: 'tiny_face_detector_416.onnx',
    photo: 'astronaut.png',
    input: (img) => faceInput(img, 416),
    check(ours) {
      // 5 anchors x [x, y, w, h, score] per cell of a 13 x 13 grid: the best cell lies on the face (README: box [163, 76, 279, 187]).
      const grid = ours.grid;
      let best = { score: -Infinity, cell: 0 };
      for (let a = 0; a < 5; a++) for (let cell = 0; cell < 169; cell++) if (grid[(a * 5 + 4) * 169 + cell] > best.score) best = { score: grid[(a * 5 + 4) * 169 + cell], cell };
      const [cx, cy] = [((best.cell % 13) + 0.5) * (512 / 13), (Math.floor(best.cell / 13) + 0.5) * (512 / 13)];
      expect(1 / (1 + Math.exp(-best.score))).toBeGreaterThan(0.9);
      expect(cx > 163 && cx < 279 && cy > 76 && cy < 187, `best cell centre (${cx}, ${cy})`).toBe(true);
    },
  },
  {
    file: 'nsfwjs_mobilenet_v2.onnx',
    photo: 'chelsea.png',
    input: (img) => rgbInput(img, 224, 224),
    check: (ours, ort) => expect(topClass(ours.dense_3)).toBe(topClass(ort.dense_3)),
  },
  {
    file: 'ch_ppocr_mobile_v2.0_cls_infer.onnx',
    photo: 'text.png',
    inputShapes: { x: [1, 3, 48, 192] },
    input: textLineInput,
    check: (ours, ort) => expect(topClass(ours['softmax_0.tmp_0'])).toBe(topClass(ort['softmax_0.tmp_0'])),
  },
  {
    file: 'ch_PP-OCRv4_det_infer.onnx',
    photo: 'page.png',
    inputShapes: { x: [1, 3, 192, 384] },
    input: (img) => textPageInput(img, 384, 192),
    // The page has text: the probability map fires somewhere.
    check: (ours) => expect(Math.max(...ours['sigmoid_0.tmp_0'])).toBeGreaterThan(0.5),
  },
  { file: 'face_detection_front_128x128_barracuda.onnx', photo: 'astronaut.png', input: (img) => blazeFaceInput(img, 128) },
];

describe('loadOnnx on real photos vs onnxruntime (CPU)', () => {
  for (const c of PHOTO_CASES) {
    const bytes = readModel(c.file);
    const img = readPhoto(c.photo);
    test.skipIf(!bytes || !img)(`${c.file} on ${c.photo}`, async () => {
      const prepared = c.input(img!);
      const model = await loadOnnx(bytes!, { inputShapes: c.inputShapes });
      const name = model.inputs[0].name;
      const forward = () =>
        scopeAsync(async () => {
          const started = performance.now();
          const { outputs } = model.run({ [name]: tensor(prepared.data, prepared.shape) });
          const values = Object.fromEntries(await Promise.all(Object.entries(outputs).map(async ([k, t]) => [k, await t.data()] as const)));
          return { values, ms: performance.now() - started };
        });
      const cold = await forward(); // compiles the pipelines this model needs
      const warm = await forward();
      const warmMs = Math.min(warm.ms, (await forward()).ms); // the machine is shared: the better of two
      model.dispose();
      const session = await InferenceSession.create(bytes!, { executionProviders: ['cpu'] });
      const started = performance.now();
      const result = await session.run({ [name]: new OrtTensor('float32', prepared.data, prepared.shape) });
      const ortMs = performance.now() - started;
      await session.release();
      const ort = Object.fromEntries(Object.entries(result).map(([k, t]) => [k, t.data as Float32Array]));
      const errors: string[] = [];
      for (const [k, want] of Object.entries(ort)) {
        const got = warm.values[k];
        expect(got.length, k).toBe(want.length);
        let [lo, hi, worst] = [Infinity, -Infinity, 0];
        for (let i = 0; i < want.length; i++) {
          lo = Math.min(lo, want[i]);
          hi = Math.max(hi, want[i]);
          worst = Math.max(worst, Math.abs(got[i] - want[i]));
        }
        const relative = worst / (hi - lo);
        errors.push(`${k} ${(relative).toExponential(1)}`);
        expect(relative, `${k}: max |ours - onnxruntime| = ${worst}, output range [${lo}, ${hi}]`).toBeLessThanOrEqual(1e-3);
        expect(maxDiffOf(cold.values[k], got), `${k}: two runs agree`).toBe(0);
      }
      console.log(`[photo parity] ${c.file} on ${c.photo}: max error / output range: ${errors.join(', ')}; forward on the GPU ${cold.ms.toFixed(0)} ms cold (pipeline compiles), ${warmMs.toFixed(0)} ms warm; onnxruntime CPU ${ortMs.toFixed(0)} ms`);
      c.check?.(warm.values, ort, prepared, img!);
    });
  }
});

function maxDiffOf(a: Float32Array, b: Float32Array): number {
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
  return worst;
}

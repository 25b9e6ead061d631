// The pointing game for detections, on the photos of ../shared/images: for
// every detection scoring >= 0.4, where does the peak of its Grad-CAM and of
// its LayerCAM map fall (default layer: the last activation output feeding the
// head that made the detection; default score, the class logit)? Two
// criteria, both reported per model and method:
//   strict    the peak lies inside the detection's own box (what issue 9 asked);
//   standard  Zhang et al.'s (ECCV 2016, "Top-down neural attention by
//             excitation backprop", sec. 5.1): a hit when the peak lies within
//             15 photo pixels of an instance of the cued class; the photos
//             have no annotations, so the instances are the detections of
//             that class scoring >= 0.4.
// Everything is in model-input pixels: the map is the input's H x W, a box is
// a detection's inputBox, a pixel (x, y) lies at its centre (x + 0.5, y + 0.5),
// the 15 px tolerance is converted with the photo-to-input scale of the
// letterbox. The peak is the first maximum in row-major order. All detections
// of a photo are explained by one explainDetections call per method: one
// forward, one backward per detection. Without ../shared/images (or without
// YOLOv5n, AGPL, not committed) the test is skipped with a message.
// GRADLENS_POINTING_VERBOSE=1 prints every peak.
//
// Measured (lavapipe; 12 photos; 17 detections >= 0.4 for YOLOv5n-320, 20 for Yolo-Fastest):
//                 strict                     standard
//   YOLOv5n 320   Grad-CAM 14/17, LayerCAM 17/17   Grad-CAM 16/17, LayerCAM 17/17
//   Yolo-Fastest  Grad-CAM 16/20, LayerCAM 20/20   Grad-CAM 19/20, LayerCAM 20/20
// LayerCAM meets 90% under both. Grad-CAM meets it only under the standard
// criterion, and the reason is the method, not the code: a detection's score
// reads one cell of a 1x1 head convolution, so its gradient at the head's
// input is that convolution's weights at one cell; Grad-CAM averages the
// gradient over the grid, so its map is a weighted channel sum over the WHOLE
// grid: the class's map for that anchor, not the instance's (the finding
// behind ODAM, Zhao et al., ICLR 2023, which keeps the gradient per position,
// as LayerCAM does). Grad-CAM's strict misses peak on another object of the
// same class (another horse, the other cow, car or zebra) or just below the
// box. Its standard misses: YOLOv5n, a horse in horses.jpg, peak 10 input
// pixels (more than 15 photo pixels) below the box; Yolo-Fastest, a cow in
// horses.jpg, an all-zero map: the weighted channel sum is negative
// everywhere and the ReLU clears it.
// So the test holds LayerCAM to 90% strict, Grad-CAM to 90% standard and to
// its measured strict level (80%) as a regression guard.
// (Before the default layer moved past Yolo-Fastest's linear depthwise conv
// to the LeakyReLU output before it, LayerCAM scored 14/20 strict: its signed
// activations cancelled into all-zero maps.)

import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { detect, explainDetections, type DarknetSidecar, type Detection, type DetectorHead } from '../../explainers/index.js';
import { decodeModel, OnnxGraphModel } from '../../importers/onnx/index.js';
import { readModel } from '../fixtures/onnx/models.js';
import { readPhoto, SHARED_IMAGES } from '../fixtures/onnx/photos.js';

const MIN_SCORE = 0.4;
const METHODS = ['gradcam', 'layercam'] as const;
const CRITERIA = ['strict', 'standard'] as const;
type Criterion = (typeof CRITERIA)[number];
/** Share of hits required per method and criterion (see the header for Grad-CAM's strict level). */
const REQUIRED: Record<(typeof METHODS)[number], Record<Criterion, number>> = {
  gradcam: { strict: 0.8, standard: 0.9 },
  layercam: { strict: 0.9, standard: 0.9 },
};
/** Zhang et al.'s tolerance, in photo pixels. */
const TOLERANCE_PX = 15;
const VERBOSE = Boolean(process.env.GRADLENS_POINTING_VERBOSE);

const photos = existsSync(SHARED_IMAGES) ? readdirSync(SHARED_IMAGES).filter((f) => /\.(jpe?g|png)$/i.test(f)).sort() : [];
if (!photos.length) console.warn(`[pointing game] ${SHARED_IMAGES} is absent or holds no photos: the pointing-game tests are skipped`);

const sidecar = JSON.parse(readFileSync(resolve(import.meta.dirname, '../fixtures/onnx/yolo_fastest_1.1_coco.json'), 'utf8')) as DarknetSidecar;

interface Case {
  label: string;
  file: string;
  preset: string;
  meta?: DarknetSidecar;
}

const CASES: Case[] = [
  { label: 'YOLOv5n 320', file: 'yolov5n_320.onnx', preset: 'yolov5' },
  { label: 'Yolo-Fastest 1.1', file: 'yolo_fastest_1.1_coco.onnx', preset: 'yolo-fastest', meta: sidecar },
];

/** The first maximum of a [height, width] map: [x, y]. */
function peakOf(map: Float32Array, height: number, width: number): [number, number] {
  let best = 0;
  for (let i = 1; i < height * width; i++) if (map[i] > map[best]) best = i;
  return [best % width, Math.floor(best / width)];
}

/** Whether pixel (x, y)'s centre lies in the box [x1, y1, x2, y2] grown by `margin` on every side. */
function inBox([x, y]: readonly [number, number], box: readonly number[], margin = 0): boolean {
  return x + 0.5 >= box[0] - margin && x + 0.5 <= box[2] + margin && y + 0.5 >= box[1] - margin && y + 0.5 <= box[3] + margin;
}

/** Input pixels per photo pixel, from a detection's two boxes (the letterbox scales both axes alike). */
function inputPerPhotoPixel(d: Detection): number {
  return (d.inputBox[2] - d.inputBox[0]) / (d.box[2] - d.box[0]);
}

const rows: string[] = [];
afterAll(() => {
  if (rows.length) console.log(['[pointing game] detections scoring >= 0.4, peak inside the box (input pixels):', ...rows].join('\n'));
});

describe.skipIf(!photos.length)(`pointing game on ${SHARED_IMAGES}`, () => {
  for (const c of CASES) {
    const bytes = readModel(c.file);
    test.skipIf(!bytes)(`${c.label}: LayerCAM peaks in the detection's box >= 90%; Grad-CAM's within 15 px of an instance of the class >= 90%, in the box >= 80%`, async () => {
      const started = performance.now();
      const model = new OnnxGraphModel(decodeModel(bytes!));
      const key = (method: string, criterion: Criterion) => `${method} ${criterion}`;
      const keys = METHODS.flatMap((m) => CRITERIA.map((k) => key(m, k)));
      const hits: Record<string, number> = Object.fromEntries(keys.map((k) => [k, 0]));
      const misses: Record<string, string[]> = Object.fromEntries(keys.map((k) => [k, []]));
      let total = 0;
      let head: DetectorHead | undefined;
      try {
        for (const photo of photos) {
          const image = readPhoto(photo)!;
          const result = await detect(model, image, { preset: c.preset, meta: c.meta, head });
          head = result.head;
          const detections: Detection[] = result.detections.filter((d) => d.score >= MIN_SCORE);
          if (!detections.length) continue;
          total += detections.length;
          for (const method of METHODS) {
            const { results, height, width } = await explainDetections(model, result.input, detections, method, { head });
            results.forEach((r, j) => {
              const d = detections[j];
              expect(r.layers).toEqual([head!.layer({ cls: d.classId, score: d.score, box: d.inputBox, source: d.source })]);
              const peak = peakOf(r.map, height, width);
              const margin = TOLERANCE_PX * inputPerPhotoPixel(d);
              const hit: Record<Criterion, boolean> = {
                strict: inBox(peak, d.inputBox),
                standard: detections.some((o) => o.classId === d.classId && inBox(peak, o.inputBox, margin)),
              };
              const what = `${photo} #${d.index} ${d.className} ${d.score.toFixed(2)} head ${d.head} box [${d.inputBox.map((v) => v.toFixed(0))}] peak [${peak}]`;
              for (const criterion of CRITERIA) {
                if (hit[criterion]) hits[key(method, criterion)]++;
                else misses[key(method, criterion)].push(what);
              }
              if (VERBOSE) console.log(`[pointing game] ${c.label} ${method} strict ${hit.strict ? 'hit ' : 'MISS'} standard ${hit.standard ? 'hit ' : 'MISS'} ${what}`);
            });
          }
        }
      } finally {
        model.dispose();
      }
      const seconds = (performance.now() - started) / 1000;
      for (const method of METHODS)
        for (const criterion of CRITERIA) {
          const k = key(method, criterion);
          const pct = total ? (100 * hits[k]) / total : 0;
          rows.push(`  ${c.label.padEnd(18)} ${method.padEnd(9)} ${criterion.padEnd(8)} ${String(hits[k]).padStart(3)} / ${String(total).padEnd(3)} ${pct.toFixed(1).padStart(5)}%  (${photos.length} photos, ${seconds.toFixed(1)} s for the model)`);
          if (misses[k].length) rows.push(...misses[k].map((m) => `      miss: ${m}`));
        }
      expect(total, 'detections scoring >= 0.4 on the photos').toBeGreaterThanOrEqual(10);
      // Soft: a shortfall of one method or criterion does not hide another's.
      for (const method of METHODS)
        for (const criterion of CRITERIA) {
          const k = key(method, criterion);
          expect.soft(hits[k] / total, `${c.label} ${k}: ${hits[k]} / ${total} hits`).toBeGreaterThanOrEqual(REQUIRED[method][criterion]);
        }
    }, 300_000); // 30-45 s alone on lavapipe; room for a loaded machine
  }
});

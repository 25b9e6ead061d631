// gradlens metrics: how faithful a map is to a classifier. Explains the input
// (like `gradlens explain --method`), then scores the map with Average Drop /
// Increase in Confidence and ROAD (explainers/metrics.ts), on the class's
// softmax probability; draws the ROAD MoRF and LeRF curves as a PNG plot.

import { tensor } from '../../engine/index.js';
import { confidenceChange, explain, methods, road, softmaxTarget, classTarget, type RoadResult } from '../../explainers/index.js';
import { blank } from '../../explainers/image.js';
import type { RgbaImage } from '../../explainers/image.js';
import { encodePng } from '../../explainers/node-image.js';
import { drawText, textSize } from '../../explainers/render.js';
import { decimal, didYouMean, integerFlag, parseArgs, UsageError } from '../args.js';
import { CliError } from '../errors.js';
import { writeFile } from '../files.js';
import { defaultViewLayer, noPositionals, openSource, outPath, progress, SOURCE_HELP, VIEW_FLAGS, viewWording } from '../views.js';

const DEFAULT_OUT = 'gradlens-metrics.png';
export const PLOT_SIZE = [480, 320] as const;

export const usage = `usage: gradlens metrics --model <m.onnx> (--image <photo> | --input <x.npy>) [--method gradcam] [--layer <name>] [--class <k>] [--percentages 10,20,...,90] [--batch-size 16] [--seed 1] [--out <road.png>] [--json]
  Explains one image of a classifier, then measures the map on the class's softmax probability:
  Average Drop and Increase in Confidence (the image multiplied by the map; Grad-CAM++ §6.1.1) and
  ROAD (the most / least relevant p% of pixels removed and imputed; Rong et al. 2022).
${SOURCE_HELP}
  --method       the explainer (${Object.keys(methods).join(', ')}; default gradcam)
  --layer        its target layer; default the layer \`gradlens explain\` picks
  --class        the class explained and scored; default the top class
  --percentages  ROAD removal percentages, comma separated, each in [0, 100) (default 10,20,...,90)
  --batch-size   imputed copies scored per forward pass (default 16)
  --seed         imputation noise seed (default 1)
  --out          the ROAD curves (score against % removed; MoRF red, LeRF blue, the unmodified score grey),
                 PNG ${PLOT_SIZE.join('x')} (default ${DEFAULT_OUT} unless --json alone)
  --json         print {method, layer, class, target, score, maskedScore, averageDrop,
                 increaseInConfidence, road: {percentages, morf, lerf, morfMean, lerfMean, combined}}`;

export async function run(argv: string[]): Promise<number> {
  const { flags, positionals } = parseArgs(argv, {
    ...VIEW_FLAGS,
    method: { type: 'string' },
    class: { type: 'string' },
    percentages: { type: 'string' },
    'batch-size': { type: 'string' },
    seed: { type: 'string' },
  });
  noPositionals(positionals);
  const method = flags.method ?? 'gradcam';
  if (!Object.hasOwn(methods, method)) throw new UsageError(`unknown method '${method}'.${didYouMean(method, Object.keys(methods))} Methods: ${Object.keys(methods).join(', ')}`);
  const classIndex = flags.class === undefined ? undefined : integerFlag(flags.class, 'class', 0, 'a non-negative integer');
  const batchSize = flags['batch-size'] === undefined ? 16 : integerFlag(flags['batch-size'], 'batch-size', 1, 'a positive integer');
  const seed = flags.seed === undefined ? 1 : integerFlag(flags.seed, 'seed', 0, 'a non-negative integer');
  const percentages = flags.percentages?.split(',').map((p) => {
    const v = decimal(p.trim());
    if (!(v >= 0 && v < 100)) throw new UsageError(`--percentages '${flags.percentages}': each must be a number in [0, 100)`);
    return v;
  });
  const out = outPath(flags, DEFAULT_OUT);
  const src = await openSource(flags);
  const { model, kind } = src;
  const x = tensor(src.input.data, src.input.shape);
  try {
    return await viewWording(src.modelPath, async () => {
      if (kind.kind !== 'classifier') {
        const what = kind.kind === 'detector' ? `a detector (${kind.head.describe()})` : `not one: its outputs ${model.outputs.map((o) => `'${o.name}' [${o.shape.join(', ')}]`).join(', ')} hold no class scores computed from spatial features`;
        throw new CliError(`metrics scores a classifier's class probability; this model is ${what}`);
      }
      if (src.preset.layout !== 'nchw' || x.shape.length !== 4) throw new CliError(`metrics perturbs an NCHW image input; the model's input '${model.inputs[0].name}' is [${model.inputs[0].shape.join(', ')}]`);
      if (x.shape[0] !== 1) throw new CliError(`--input holds a batch of ${x.shape[0]}; metrics takes one image: pass a [1, ${x.shape.slice(1).join(', ')}] .npy`);
      const output = kind.head.output;
      if (classIndex !== undefined && classIndex >= kind.head.classes) throw new UsageError(`--class ${classIndex} is out of range: '${output}' has ${kind.head.classes} classes`);
      const layer = flags.layer ?? defaultViewLayer(model, kind);
      const explainBar = progress(method, flags.json);
      const result = await explain(model, x, method, {
        layers: [layer],
        target: classIndex === undefined ? undefined : classTarget(classIndex, { output }),
        onProgress: explainBar.onProgress,
        batchSize,
      });
      explainBar.end();
      const k = classIndex ?? result.category![0];
      const target = softmaxTarget(k, { output });
      const change = await confidenceChange(model, x, result.map, target);
      const roadBar = progress('ROAD', flags.json);
      const r = await road(model, x, result.map, target, { percentages, batchSize, seed, onProgress: roadBar.onProgress });
      roadBar.end();
      if (out) writeFile(out, encodePng(plotRoad(r, `ROAD ${method} class ${k}`)), 'plot');
      const numbers = {
        method,
        layer: result.layers[0],
        class: k,
        target: `class ${k} softmax probability`,
        score: change.scores[0],
        maskedScore: change.maskedScores[0],
        averageDrop: change.averageDrop,
        increaseInConfidence: change.increaseInConfidence,
        road: { percentages: r.percentages, morf: r.morf, lerf: r.lerf, morfMean: r.morfMean, lerfMean: r.lerfMean, combined: r.combined },
      };
      if (flags.json) console.log(JSON.stringify(numbers));
      else {
        const f = (v: number) => v.toFixed(4);
        console.log(`${method} at '${numbers.layer}', class ${k}: probability ${f(numbers.score)}, ${f(numbers.maskedScore)} on the image x map`);
        console.log(`Average Drop ${change.averageDrop.toFixed(2)}%, Increase in Confidence ${change.increaseInConfidence.toFixed(0)}%`);
        console.log(`ROAD: MoRF mean ${f(r.morfMean)}, LeRF mean ${f(r.lerfMean)}, combined ${f(r.combined)} (higher is more faithful)`);
        if (out) console.log(`wrote ${out}`);
      }
      return 0;
    });
  } finally {
    x.dispose();
    model.dispose();
  }
}

const RED = [214, 39, 40] as const;
const BLUE = [31, 119, 180] as const;
const GREY = [150, 150, 150] as const;
const BLACK = [0, 0, 0] as const;

/** ROAD's scores against the percentage removed: axes, the MoRF and LeRF polylines, the unmodified score. */
export function plotRoad(r: RoadResult, title: string): RgbaImage {
  const [width, height] = PLOT_SIZE;
  const img = blank(width, height, 255);
  const [left, right, top, bottom] = [60, width - 20, 40, height - 40];
  const values = [...r.morf, ...r.lerf, r.score];
  const lo = Math.min(0, ...values);
  let hi = Math.max(...values);
  if (!(hi > lo)) hi = lo + 1;
  const px = (p: number) => left + (p / 100) * (right - left);
  const py = (v: number) => bottom - ((v - lo) / (hi - lo)) * (bottom - top);
  line(img, left, bottom, right, bottom, BLACK);
  line(img, left, top, left, bottom, BLACK);
  for (const p of [0, 25, 50, 75, 100]) {
    line(img, px(p), bottom, px(p), bottom + 4, BLACK);
    const label = String(p);
    drawText(img, label, px(p) - textSize(label)[0] / 2, bottom + 7, { color: BLACK });
  }
  for (const v of [lo, (lo + hi) / 2, hi]) {
    line(img, left - 4, py(v), left, py(v), BLACK);
    const label = v.toPrecision(3);
    drawText(img, label, left - 7 - textSize(label)[0], py(v) - 3, { color: BLACK });
  }
  drawText(img, '% PIXELS REMOVED', (left + right) / 2 - textSize('% PIXELS REMOVED')[0] / 2, bottom + 20, { color: BLACK });
  drawText(img, title, left, 10, { color: BLACK });
  for (let x = left; x < right; x += 8) line(img, x, py(r.score), Math.min(x + 4, right), py(r.score), GREY);
  for (const [scores, color, name, at] of [[r.morf, RED, 'MORF', 0], [r.lerf, BLUE, 'LERF', 1]] as const) {
    for (let i = 0; i < scores.length; i++) {
      const [x, y] = [px(r.percentages[i]), py(scores[i])];
      if (i) line(img, px(r.percentages[i - 1]), py(scores[i - 1]), x, y, color);
      square(img, x, y, 2, color);
    }
    drawText(img, name, right - 60, 10 + at * 12, { color });
  }
  return img;
}

function square(img: RgbaImage, cx: number, cy: number, r: number, color: readonly number[]): void {
  for (let y = Math.round(cy) - r; y <= Math.round(cy) + r; y++) {
    for (let x = Math.round(cx) - r; x <= Math.round(cx) + r; x++) {
      if (x >= 0 && y >= 0 && x < img.width && y < img.height) img.data.set([color[0], color[1], color[2], 255], (y * img.width + x) * 4);
    }
  }
}

/** A 3 px line from (x1, y1) to (x2, y2). */
function line(img: RgbaImage, x1: number, y1: number, x2: number, y2: number, color: readonly number[]): void {
  const n = Math.max(1, Math.ceil(Math.max(Math.abs(x2 - x1), Math.abs(y2 - y1))));
  for (let i = 0; i <= n; i++) square(img, x1 + ((x2 - x1) * i) / n, y1 + ((y2 - y1) * i) / n, 1, color);
}

// Wall time of each explanation method on the real classifiers, map readback
// included: one warm-up run (pipeline compilation), then the median of `runs`.
// Also the forward pass alone and forward + backward, as baselines.
//
//   node scripts/run-ts.mjs tools/explain-timing.ts [runs]
//
// Models: the committed PaddleOCR classifier (1x3x48x192) and, when
// ../shared/models has it, nsfwjs MobileNetV2 (1x3x224x224).

import { existsSync, readFileSync } from 'node:fs';
import { describeAdapter, getDevice, init, reshape, sum, tape, tensor, type Tensor } from '../engine/index.js';
import { explain } from '../explainers/index.js';
import { decodeModel, OnnxGraphModel } from '../importers/onnx/index.js';

const runs = Number(process.argv[2] ?? 3);
const GRADIENT_METHODS = ['gradcam', 'gradcam++', 'xgradcam', 'hirescam', 'gradcamelementwise', 'layercam', 'eigengradcam', 'fullgrad', 'cam'];
const SHARED = process.env.GRADLENS_MODELS ?? '../shared/models';

interface Case {
  name: string;
  file: string;
  shape: number[];
  inputShapes?: Record<string, number[]>;
  output: string;
  skip?: string[];
}

const cases: Case[] = [
  {
    name: 'PaddleOCR cls (MobileNetV3-small, 1x3x48x192)',
    file: 'test/fixtures/onnx/ch_ppocr_mobile_v2.0_cls_infer.onnx',
    shape: [1, 3, 48, 192],
    inputShapes: { x: [1, 3, 48, 192] },
    output: 'softmax_0.tmp_0',
  },
  {
    name: 'nsfwjs MobileNetV2 (1x3x224x224)',
    file: `${SHARED}/nsfwjs_mobilenet_v2.onnx`,
    shape: [1, 3, 224, 224],
    output: 'dense_3_pre',
    skip: ['cam'], // three dense layers after the pooling: CAM does not apply
  },
];

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

async function time(fn: () => Promise<unknown>): Promise<number> {
  await fn(); // warm-up: pipelines compile on first use
  const ms: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    await fn();
    ms.push(performance.now() - t0);
  }
  return median(ms);
}

await init();
const handle = await getDevice();
console.log(`adapter: ${describeAdapter(handle)}; ${new Date().toISOString().slice(0, 10)}; median of ${runs} after one warm-up, readback included\n`);
for (const c of cases) {
  if (!existsSync(c.file)) {
    console.log(`${c.name}: ${c.file} not found, skipped\n`);
    continue;
  }
  const model = new OnnxGraphModel(decodeModel(new Uint8Array(readFileSync(c.file))), { inputShapes: c.inputShapes });
  let seed = 1;
  const data = Array.from({ length: c.shape.reduce((a, b) => a * b) }, () => ((seed = (seed * 16807) % 2147483647) / 2147483647) * 2 - 1);
  const x: Tensor = tensor(data, c.shape);
  const inputName = model.inputs[0].name;
  const rows: [string, number][] = [];
  rows.push([
    'forward only',
    await time(async () => {
      const { outputs } = model.run({ [inputName]: x });
      await outputs[c.output].data();
      for (const t of Object.values(outputs)) t.dispose();
    }),
  ]);
  rows.push([
    'forward + backward to the input',
    await time(async () => {
      const feed = x.view(x.shape);
      const { outputs } = model.run({ [inputName]: feed }, { requireGrad: [inputName] });
      tape.backward(reshape(sum(outputs[c.output]), []));
      await feed.grad!.data();
      tape.clear();
      feed.dispose();
      for (const t of Object.values(outputs)) t.dispose();
    }),
  ]);
  for (const name of GRADIENT_METHODS) {
    if (c.skip?.includes(name)) continue;
    rows.push([name, await time(() => explain(model, x, name, { target: 0, output: c.output }))]);
  }
  console.log(`${c.name}\n| method | ms |\n|---|---|`);
  for (const [name, ms] of rows) console.log(`| ${name} | ${ms.toFixed(0)} |`);
  console.log('');
  x.dispose();
  model.dispose();
}
process.exit(0);

// gradlens actmax: the input that most excites a unit, by gradient ascent with
// TV, L2 and jitter (explainers/activation-max.ts activationMax), written as
// an image (each channel of the result min-max scaled together).

import { scopeAsync, tensor, type ExplainableModel, type Tensor } from '../../engine/index.js';
import { activationMax, classTarget, featureMapGrid, type Objective } from '../../explainers/index.js';
import { magnify } from '../../explainers/feature-maps.js';
import { encodePng } from '../../explainers/node-image.js';
import type { RgbaImage } from '../../explainers/image.js';
import { decimal, integerFlag, parseArgs, UsageError } from '../args.js';
import { CliError } from '../errors.js';
import { writeFile } from '../files.js';
import { defaultViewLayer, noPositionals, openSource, outPath, progress, SOURCE_HELP, VIEW_FLAGS, viewWording } from '../views.js';

const DEFAULT_OUT = 'gradlens-actmax.png';

export const usage = `usage: gradlens actmax --model <m.onnx> (--image <photo> | --input <x.npy>) [--class <k> | --layer <name> [--channel c]] [--steps 100] [--lr 0.05] [--tv 0.5] [--l2 0.01] [--jitter 2] [--seed 1] [--out <image.png>] [--json]
  Gradient ascent from noise on the model's input for a class score or a channel's mean activation,
  with total variation, L2 decay and random jitter. The input fixes the size and picks the defaults.
${SOURCE_HELP}
  --class        maximize this class's score (logit); default for classifiers: the input's top class
  --layer        maximize a channel's mean activation at this rank-4 layer; default for other models: the
                 layer \`gradlens explain\` picks
  --channel      with --layer: the channel (default: the one most active on the input)
  --steps        ascent steps (default 100)
  --lr           step size in input units (default 0.05)
  --tv           total-variation weight (default 0.5)
  --l2           L2 decay weight (default 0.01)
  --jitter       largest random roll in pixels before each step (default 2; 0 for none)
  --seed         noise seed (default 1)
  --out          the image, PNG, magnified to at least 128 px (default ${DEFAULT_OUT} unless --json alone)
  --json         print {objective, shape: [C, H, W], history (the objective before each step and after
                 the last), width, height}`;

export async function run(argv: string[]): Promise<number> {
  const { flags, positionals } = parseArgs(argv, {
    ...VIEW_FLAGS,
    class: { type: 'string' },
    channel: { type: 'string' },
    steps: { type: 'string' },
    lr: { type: 'string' },
    tv: { type: 'string' },
    l2: { type: 'string' },
    jitter: { type: 'string' },
    seed: { type: 'string' },
  });
  noPositionals(positionals);
  if (flags.class !== undefined && flags.layer !== undefined) throw new UsageError('give --class or --layer, not both');
  if (flags.channel !== undefined && flags.layer === undefined) throw new UsageError('--channel needs --layer');
  const classIndex = flags.class === undefined ? undefined : integerFlag(flags.class, 'class', 0, 'a non-negative integer');
  const channelFlag = flags.channel === undefined ? undefined : integerFlag(flags.channel, 'channel', 0, 'a non-negative integer');
  const steps = flags.steps === undefined ? 100 : integerFlag(flags.steps, 'steps', 1, 'a positive integer');
  const jitter = flags.jitter === undefined ? 2 : integerFlag(flags.jitter, 'jitter', 0, 'a non-negative integer (pixels)');
  const seed = flags.seed === undefined ? 1 : integerFlag(flags.seed, 'seed', 0, 'a non-negative integer');
  const number = (name: 'lr' | 'tv' | 'l2', fallback: number, positive: boolean) => {
    const value = flags[name];
    if (value === undefined) return fallback;
    const v = decimal(value);
    if (!(positive ? v > 0 : v >= 0)) throw new UsageError(`--${name} '${value}' must be a number ${positive ? '> 0' : '>= 0'}`);
    return v;
  };
  const learningRate = number('lr', 0.05, true);
  const tv = number('tv', 0.5, false);
  const l2 = number('l2', 0.01, false);
  const out = outPath(flags, DEFAULT_OUT);
  const src = await openSource(flags);
  const { model, kind } = src;
  const x = tensor(src.input.data, src.input.shape);
  try {
    return await viewWording(src.modelPath, async () => {
      if (src.preset.layout !== 'nchw' || src.input.shape.length !== 4) throw new CliError(`actmax ascends on an NCHW image input; the model's input '${model.inputs[0].name}' is [${model.inputs[0].shape.join(', ')}]`);
      let objective: Objective;
      let described: Record<string, unknown>;
      if (classIndex !== undefined || (flags.layer === undefined && kind.kind === 'classifier')) {
        if (kind.kind !== 'classifier') throw new CliError(`--class needs a classifier (class scores [N, K] computed from spatial features); maximize a channel instead: --layer <name> [--channel c]`);
        const output = kind.head.output;
        const k = classIndex ?? (await topClass(model, x, output));
        if (k >= kind.head.classes) throw new UsageError(`--class ${k} is out of range: '${output}' has ${kind.head.classes} classes`);
        objective = { target: classTarget(k, { output }), output };
        described = { class: k, output };
      } else {
        const layer = flags.layer ?? defaultViewLayer(model, kind);
        const info = model.layers().find((l) => l.name === layer);
        if (info && info.shape.length === 4 && channelFlag !== undefined && channelFlag >= info.shape[1]) {
          throw new UsageError(`--channel ${channelFlag} is out of range: layer '${layer}' has ${info.shape[1]} channels`);
        }
        // The default channel: the most active on the input (the first tile `gradlens features` shows).
        const channel = channelFlag ?? (await featureMapGrid(model, x, layer, { count: 1 })).channels[0];
        objective = { layer, channel };
        described = { layer, channel };
      }
      const bar = progress('actmax', flags.json);
      const r = await activationMax(model, objective, { steps, learningRate, tv, l2, jitter, seed, onProgress: bar.onProgress });
      bar.end();
      const picture = toImage(r.image, r.shape);
      if (out) writeFile(out, encodePng(picture), 'picture');
      if (flags.json) console.log(JSON.stringify({ objective: described, shape: r.shape, history: r.history, width: picture.width, height: picture.height }));
      else {
        const what = 'class' in described ? `class ${described.class} of '${described.output}'` : `channel ${described.channel} of '${described.layer}'`;
        console.log(`${what}: objective ${r.history[0].toFixed(4)} -> ${r.history[r.history.length - 1].toFixed(4)} in ${steps} steps${out ? `; wrote ${out}` : ''}`);
      }
      return 0;
    });
  } finally {
    x.dispose();
    model.dispose();
  }
}

/** The top class of the first input row of `output`. */
async function topClass(model: ExplainableModel, x: Tensor, output: string): Promise<number> {
  const scores = await scopeAsync(async () => model.run({ [model.inputs[0].name]: x }).outputs[output].data());
  const k = model.outputs.find((o) => o.name === output)!.shape[1];
  let best = 0;
  for (let i = 1; i < k; i++) if (scores[i] > scores[best]) best = i;
  return best;
}

/** [C, H, W] as RGB (3 channels) or grey (the first channel), all channels min-max scaled together, magnified to >= 128 px. */
function toImage(data: Float32Array, [c, h, w]: readonly number[]): RgbaImage {
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of data) {
    lo = Math.min(lo, v);
    hi = Math.max(hi, v);
  }
  const level = (v: number) => (hi > lo ? Math.round(((v - lo) / (hi - lo)) * 255) : 128);
  const img = new Uint8ClampedArray(h * w * 4);
  for (let i = 0; i < h * w; i++) {
    for (let k = 0; k < 3; k++) img[i * 4 + k] = level(data[(c >= 3 ? k : 0) * h * w + i]);
    img[i * 4 + 3] = 255;
  }
  return magnify({ width: w, height: h, data: img }, Math.max(1, Math.ceil(128 / Math.min(w, h))));
}

// gradlens filters: a convolution's kernels as tiles (explainers/feature-maps.ts
// convFilters): a first layer's filters in RGB, deeper ones one grey tile per
// input channel. Reads the weights from the graph: no input needed.

import { init } from '../../engine/index.js';
import { convFilters } from '../../explainers/index.js';
import { encodePng } from '../../explainers/node-image.js';
import { feedInputs } from '../../importers/onnx/graph.js';
import { OnnxGraphModel } from '../../importers/onnx/model.js';
import { decodeModel } from '../../importers/onnx/proto.js';
import { integerFlag, parseArgs, parseShapeFlag, UsageError } from '../args.js';
import { symbolicInputMessage } from '../detector.js';
import { CliError } from '../errors.js';
import { readFile, writeFile } from '../files.js';
import { noPositionals, outPath, viewWording } from '../views.js';

const DEFAULT_OUT = 'gradlens-filters.png';

export const usage = `usage: gradlens filters --model <m.onnx> [--layer <conv output or node name>] [--count n] [--columns n] [--bgr] [--out <filters.png>] [--json]
  A Conv's weights as tiles, grey = 0, scaled by the largest |weight| shown: a filter over 3 input channels
  as one RGB tile, else a row per filter, a grey tile per input channel (at most 16).
  --model        the ONNX model (weights as the file stores them, before any BatchNormalization folding)
  --layer        the Conv: its output tensor or node name; default the first Conv (the filters over the image)
  --count        filters shown, the first ones (default 32 RGB, 8 rows per channel)
  --columns      grid columns for RGB tiles
  --bgr          the model's first layer takes BGR: show tiles as RGB
  --out          the tiles, PNG (default ${DEFAULT_OUT} unless --json alone)
  --json         print {layer, node, weight, shape: [out, in / groups, kh, kw], mode, filters, range, width, height}
  --input-shape  name=1x3xHxW for models with symbolic input dimensions`;

export async function run(argv: string[]): Promise<number> {
  const { flags, positionals } = parseArgs(argv, {
    model: { type: 'string', required: true },
    layer: { type: 'string' },
    count: { type: 'string' },
    columns: { type: 'string' },
    bgr: { type: 'boolean' },
    out: { type: 'string' },
    json: { type: 'boolean' },
    'input-shape': { type: 'string' },
  });
  noPositionals(positionals);
  const count = flags.count === undefined ? undefined : integerFlag(flags.count, 'count', 1, 'a positive integer');
  const columns = flags.columns === undefined ? undefined : integerFlag(flags.columns, 'columns', 1, 'a positive integer');
  const out = outPath(flags, DEFAULT_OUT);
  const decoded = decodeModel(readFile(flags.model, 'model'));
  const shape = flags['input-shape'] ? parseShapeFlag(flags['input-shape']) : undefined;
  const input = feedInputs(decoded)[0];
  if (!shape && input && !input.shape?.every((d) => typeof d === 'number' && d > 0)) throw new UsageError(symbolicInputMessage(input.name, input.shape));
  await init();
  const model = new OnnxGraphModel(decoded, { inputShapes: shape ? { [shape[0]]: shape[1] } : undefined });
  try {
    return await viewWording(flags.model, async () => {
      const first = model.nodes?.().find((n) => n.op === 'Conv');
      if (!first) throw new CliError(`the model '${flags.model}' has no Conv layer`);
      const layer = flags.layer ?? first.outputs[0];
      const f = convFilters(model, layer, { count, columns, bgr: flags.bgr });
      if (out) writeFile(out, encodePng(f.image), 'picture');
      const { node, weight, mode, filters, range } = f;
      if (flags.json) console.log(JSON.stringify({ layer, node, weight, shape: f.shape, mode, filters, range, width: f.image.width, height: f.image.height }));
      else console.log(`Conv '${node}' (weight '${weight}' [${f.shape.join('x')}]): ${filters.length} filters as ${mode === 'rgb' ? 'RGB tiles' : 'rows of per-channel tiles'}${out ? `; wrote ${out}` : ''}`);
      return 0;
    });
  } finally {
    model.dispose();
  }
}

// gradlens features: a layer's channels as a grid of images, the most active
// first (explainers/feature-maps.ts featureMapGrid). The helpers it shares
// with the other view commands (filters, actmax, metrics) are in cli/views.ts.

import { tensor } from '../../engine/index.js';
import { featureMapGrid } from '../../explainers/index.js';
import { encodePng } from '../../explainers/node-image.js';
import { integerFlag, parseArgs } from '../args.js';
import { writeFile } from '../files.js';
import { colormapFlag, defaultViewLayer, noPositionals, openSource, outPath, SOURCE_HELP, VIEW_FLAGS, viewWording } from '../views.js';

const DEFAULT_OUT = 'gradlens-features.png';

export const usage = `usage: gradlens features --model <m.onnx> (--image <photo> | --input <x.npy>) [--layer <name>] [--count 16] [--columns n] [--colormap viridis|jet] [--out <grid.png>] [--json]
  A layer's channels for the (first) input as a grid of tiles, the most active (mean activation) first,
  each min-max scaled on its own.
${SOURCE_HELP}
  --layer        a rank-4 tensor (see \`gradlens layers\`); default the layer \`gradlens explain\` picks
  --count        channels shown (default 16)
  --columns      grid columns (default ceil(sqrt(count)))
  --colormap     viridis (default) or jet
  --out          the grid, PNG (default ${DEFAULT_OUT} unless --json alone)
  --json         print {layer, shape, channels, means, width, height}: the channels shown, in grid order, and
                 their mean activations`;

export async function run(argv: string[]): Promise<number> {
  const { flags, positionals } = parseArgs(argv, { ...VIEW_FLAGS, count: { type: 'string' }, columns: { type: 'string' }, colormap: { type: 'string' } });
  noPositionals(positionals);
  const count = flags.count === undefined ? 16 : integerFlag(flags.count, 'count', 1, 'a positive integer');
  const columns = flags.columns === undefined ? undefined : integerFlag(flags.columns, 'columns', 1, 'a positive integer');
  const colormap = colormapFlag(flags.colormap, 'viridis');
  const out = outPath(flags, DEFAULT_OUT);
  const src = await openSource(flags);
  const x = tensor(src.input.data, src.input.shape);
  try {
    return await viewWording(src.modelPath, async () => {
      const layer = flags.layer ?? defaultViewLayer(src.model, src.kind);
      const g = await featureMapGrid(src.model, x, layer, { count, columns, colormap });
      if (out) writeFile(out, encodePng(g.image), 'picture');
      const shape = src.model.layers().find((l) => l.name === layer)!.shape;
      if (flags.json) console.log(JSON.stringify({ layer, shape, channels: g.channels, means: g.means, width: g.image.width, height: g.image.height }));
      else console.log(`${layer} [${shape.join('x')}]: channels ${g.channels.join(', ')} (most active first)${out ? `; wrote ${out}` : ''}`);
      return 0;
    });
  } finally {
    x.dispose();
    src.model.dispose();
  }
}

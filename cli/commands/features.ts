// gradlens features: a layer's channels as a grid of images, the most active
// first (explainers/feature-maps.ts featureMapGrid). Also the helpers the
// other view commands (filters, actmax, metrics) share: flags, the input, the
// default layer, progress bars.

import { tensor, type ExplainableModel } from '../../engine/index.js';
import { featureMapGrid, NotASpatialLayer } from '../../explainers/index.js';
import { encodePng } from '../../explainers/node-image.js';
import type { Preset } from '../../explainers/presets.js';
import type { Colormap } from '../../explainers/render.js';
import { headLayers } from '../../explainers/yolo/targets.js';
import { integerFlag, parseArgs, UsageError, type FlagSpec } from '../args.js';
import { loadInput, presetFlag, readSidecar, sourcePaths, type LoadedInput } from '../detector.js';
import { CliError, withCliWording } from '../errors.js';
import { writeFile } from '../files.js';
import { modelKind, type ModelKind } from '../kind.js';

/** The flags every view command takes. */
export const VIEW_FLAGS = {
  model: { type: 'string', required: true },
  image: { type: 'string' },
  input: { type: 'string' },
  preset: { type: 'string' },
  'input-shape': { type: 'string' },
  layer: { type: 'string' },
  out: { type: 'string' },
  json: { type: 'boolean' },
} satisfies Record<string, FlagSpec>;

export const SOURCE_HELP = `  --model        the ONNX model
  --image        a photo (JPEG or PNG), prepared as --preset says; or --input <x.npy>, a prepared input
  --preset       preprocessing: a name from explainers/presets.ts (default picked by model file name)
  --input-shape  name=1x3xHxW for models with symbolic input dimensions`;

export interface Source extends LoadedInput {
  modelPath: string;
  preset: Preset;
  kind: ModelKind;
}

/** Reads --model and --image / --input (cli/detector.ts) and decides the model's kind. The caller disposes `model`. */
export async function openSource(flags: { model: string; image?: string; input?: string; preset?: string; 'input-shape'?: string }): Promise<Source> {
  if (!flags.image && !flags.input) throw new UsageError('give an --image or an --input');
  const { modelPath, imagePath } = sourcePaths(flags);
  const preset = presetFlag(modelPath, flags.preset);
  const meta = readSidecar(modelPath, undefined);
  const loaded = await loadInput(modelPath, preset, { image: imagePath, input: flags.input, inputShape: flags['input-shape'] });
  try {
    const kind = modelKind(loaded.model, { preset, presetNamed: flags.preset !== undefined, meta });
    return { ...loaded, modelPath, preset, kind };
  } catch (e) {
    loaded.model.dispose();
    throw e;
  }
}

/**
 * The layer `gradlens explain` defaults to: a classifier's last spatial layer
 * before its head, a generic model's layer feeding its output, a detector's
 * layer feeding its first head (explain takes the head of the explained detection).
 */
export function defaultViewLayer(model: ExplainableModel, kind: ModelKind): string {
  const layer = kind.kind === 'classifier' ? kind.head.layer : kind.kind === 'generic' ? kind.layers[0] : headLayers(model, [kind.head.scales[0].output])[0];
  if (!layer) throw new CliError('the model has no spatial layer (rank 4, more than 1x1) to show: pass --layer (`gradlens layers <model>` lists them)');
  return layer;
}

/** withCliWording (cli/errors.ts), and a non-spatial --layer in flag words. */
export async function viewWording<T>(modelPath: string, body: () => Promise<T>): Promise<T> {
  try {
    return await withCliWording({ model: modelPath, layerFlag: '--layer' }, body);
  } catch (e) {
    if (!(e instanceof NotASpatialLayer)) throw e;
    throw new CliError(`--layer '${e.layer}' has shape [${e.shape.join(', ')}]: pick a rank-4 (NCHW) layer (\`gradlens layers ${modelPath}\` lists every tensor with its shape)`, e);
  }
}

/** A one-line progress bar on stderr (a terminal only, and not under --json); `end()` finishes its line. */
export function progress(label: string, json: boolean): { onProgress?: (done: number, total: number) => void; end(): void } {
  if (!process.stderr.isTTY || json) return { end() {} };
  let drawn = false;
  return {
    onProgress(done, total) {
      const width = 30;
      const filled = Math.round((done / Math.max(total, 1)) * width);
      process.stderr.write(`\r${label} [${'#'.repeat(filled)}${' '.repeat(width - filled)}] ${done}/${total}`);
      drawn = true;
    },
    end() {
      if (drawn) process.stderr.write('\n');
    },
  };
}

/** --out, else `fallback` unless --json alone was asked for. */
export function outPath(flags: { out?: string; json: boolean }, fallback: string): string | undefined {
  return flags.out ?? (flags.json ? undefined : fallback);
}

export function noPositionals(positionals: string[]): void {
  if (positionals.length) throw new UsageError(`unexpected argument '${positionals[0]}'`);
}

export function colormapFlag(value: string | undefined, fallback: Colormap): Colormap {
  const c = (value ?? fallback) as Colormap;
  if (c !== 'jet' && c !== 'viridis') throw new UsageError(`--colormap '${value}' must be jet or viridis`);
  return c;
}

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

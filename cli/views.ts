// The helpers the view commands (features, filters, actmax, metrics) share:
// their flags and help for the source, the model and input they read, the
// layer they default to, their error wording, progress bars (cli/progress.ts)
// and --out.

import type { ExplainableModel } from '../engine/index.js';
import { NotASpatialLayer } from '../explainers/index.js';
import type { Preset } from '../explainers/presets.js';
import type { Colormap } from '../explainers/render.js';
import { headLayers } from '../explainers/yolo/targets.js';
import { UsageError, type FlagSpec } from './args.js';
import { F16_HELP, loadInput, presetFlag, readSidecar, sourcePaths, type LoadedInput } from './detector.js';
import { CliError, withCliWording } from './errors.js';
import { modelKind, type ModelKind } from './kind.js';
import { progressBar, type ProgressBar } from './progress.js';

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
  f16: { type: 'boolean' },
} satisfies Record<string, FlagSpec>;

export const SOURCE_HELP = `  --model        the ONNX model
  --image        a photo (JPEG or PNG), prepared as --preset says; or --input <x.npy>, a prepared input
  --preset       preprocessing: a name from explainers/presets.ts (default picked by model file name)
  --input-shape  name=1x3xHxW for models with symbolic input dimensions
${F16_HELP}`;

export interface Source extends LoadedInput {
  modelPath: string;
  preset: Preset;
  kind: ModelKind;
}

/** Reads --model and --image / --input (cli/detector.ts) and decides the model's kind. The caller disposes `model`. */
export async function openSource(flags: { model: string; image?: string; input?: string; preset?: string; 'input-shape'?: string; f16?: boolean }): Promise<Source> {
  if (!flags.image && !flags.input) throw new UsageError('give an --image or an --input');
  const { modelPath, imagePath } = sourcePaths(flags);
  const preset = presetFlag(modelPath, flags.preset);
  const meta = readSidecar(modelPath, undefined);
  const loaded = await loadInput(modelPath, preset, { image: imagePath, input: flags.input, inputShape: flags['input-shape'], f16: flags.f16 });
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

/** A one-line progress bar on stderr (a terminal only, and not under --json); `end()` finishes its line. One bar for every command: cli/progress.ts. */
export function progress(label: string, json: boolean): ProgressBar {
  return progressBar(label, json);
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

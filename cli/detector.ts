// What `gradlens detect` and `gradlens explain` share: the embedded default's
// files, loading a model with static input shapes, reading a darknet sidecar,
// preparing the input, and printing detections. Detection itself is the
// library's (explainers/yolo/).

import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { assertFinite, init } from '../engine/index.js';
import { decodeImage } from '../explainers/node-image.js';
import type { RgbaImage } from '../explainers/image.js';
import { prepareImage, presetFor, presets, type Preset, type PreparedInput } from '../explainers/presets.js';
import { className, type DarknetSidecar, type Detection, type DetectorHead } from '../explainers/index.js';
import { feedInputs } from '../importers/onnx/graph.js';
import { toFloat32 } from '../importers/onnx/host-tensor.js';
import { OnnxGraphModel } from '../importers/onnx/model.js';
import { readNpy } from '../importers/onnx/npy.js';
import { decodeModel, type Dim, type OnnxModel } from '../importers/onnx/proto.js';
import { decimal, didYouMean, parseShapeFlag, UsageError, type FlagSpec } from './args.js';
import { CliError } from './errors.js';
import { CliFileError, readFile } from './files.js';

const here = dirname(fileURLToPath(import.meta.url));

/**
 * The embedded default: explainers/assets/<file> in the nearest folder above
 * this module that has it, i.e. the repo or the installed package's root, from
 * source (cli/) or from a bundled chunk (dist/, dist/chunks/).
 */
export function assetPath(file: string): string {
  for (let dir = here; ; dir = dirname(dir)) {
    const path = resolve(dir, 'explainers/assets', file);
    if (existsSync(path)) return path;
    if (dirname(dir) === dir) return resolve(process.cwd(), 'explainers/assets', file); // not found: the error names this path
  }
}

export const DEFAULT_MODEL = 'yolo_fastest_1.1_coco.onnx';
export const DEFAULT_IMAGE = 'dog.jpg';

/** The help line of --f16, the same in every command that loads a model (SOURCE_FLAGS, the views). */
export const F16_HELP = `  --f16          f16 storage (arithmetic stays f32): half the memory traffic, on adapters with shader-f16;
                 maps differ from f32's by about 1e-3 to 1e-2 (bench/RESULTS.md, f16 section)`;

/** The flags of the commands that read a model and a photo or a .npy (detect, explain). */
export const SOURCE_FLAGS = {
  model: { type: 'string' },
  image: { type: 'string' },
  input: { type: 'string' },
  preset: { type: 'string' },
  meta: { type: 'string' },
  conf: { type: 'string' },
  iou: { type: 'string' },
  json: { type: 'boolean' },
  out: { type: 'string' },
  'input-shape': { type: 'string' },
  f16: { type: 'boolean' },
} satisfies Record<string, FlagSpec>;

/**
 * The model and photo the source flags name, checked: --image or --input, not
 * both; a --model needs one of them; neither names the embedded default.
 */
export function sourcePaths(flags: { model?: string; image?: string; input?: string }): { modelPath: string; imagePath?: string } {
  if (flags.image && flags.input) throw new UsageError('give --image or --input, not both');
  if (flags.model && !flags.image && !flags.input) throw new UsageError('--model needs an --image or an --input');
  return { modelPath: flags.model ?? assetPath(DEFAULT_MODEL), imagePath: flags.image ?? (flags.input ? undefined : assetPath(DEFAULT_IMAGE)) };
}

/**
 * The darknet sidecar: `--meta <file>`, else `<model>.json` beside the model
 * when there is one and it describes outputs (another JSON file is ignored).
 */
export function readSidecar(modelPath: string, metaPath: string | undefined): DarknetSidecar | undefined {
  const path = metaPath ?? modelPath.replace(/\.onnx$/i, '') + '.json';
  if (!metaPath && !existsSync(path)) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder().decode(readFile(path, 'sidecar')));
  } catch (e) {
    if (e instanceof CliFileError) throw e;
    throw new CliFileError(`cannot read the sidecar '${path}': not JSON (${(e as Error).message})`);
  }
  const isSidecar = typeof parsed === 'object' && parsed !== null && Array.isArray((parsed as { outputs?: unknown }).outputs);
  if (!isSidecar) {
    if (metaPath) throw new CliFileError(`the sidecar '${path}' has no \`outputs\` list (expected the format of yolo_fastest_1.1_coco.json)`);
    return undefined;
  }
  return parsed as DarknetSidecar;
}

export interface LoadedInput {
  model: OnnxGraphModel;
  /** The model input to run: the prepared photo or the .npy. */
  input: { data: Float32Array; shape: number[] };
  photo?: RgbaImage;
  prepared?: PreparedInput;
}

/**
 * Reads the model (static shapes from --input-shape, the .npy or the preset)
 * and its input (the photo prepared as the preset says, or the .npy), on an
 * initialized engine. The caller disposes the model.
 */
export async function loadInput(modelPath: string, preset: Preset, source: { image?: string; input?: string; inputShape?: string; f16?: boolean }): Promise<LoadedInput> {
  const bytes = readFile(modelPath, 'model');
  const npy = source.input ? readNpy(readFile(source.input, 'input')) : undefined;
  if (npy) assertFinite(`--input '${source.input}'`, toFloat32(npy), npy.shape);
  const photo = source.image ? decodeImage(readFile(source.image, 'image'), source.image) : undefined;
  const model = await loadModel(bytes, preset, { inputShape: source.inputShape, npyShape: npy?.shape, f16: source.f16 });
  if (!photo) {
    // Checked here, before a library call reads a wrong shape its own way (a rank-3 array is "not NCHW: pass `size`").
    const want = model.inputs[0].shape;
    const shape = npy!.shape;
    if (shape.length !== want.length || shape.some((d, i) => i > 0 && d !== want[i])) {
      model.dispose();
      throw new CliError(`--input '${source.input}' has shape [${shape.join(', ')}]; the model's input '${model.inputs[0].name}' is [${want.join(', ')}] (only the batch, dimension 0, may differ)`);
    }
    return { model, input: { data: toFloat32(npy!), shape: [...shape] } };
  }
  return preparePhoto(model, preset, photo);
}

/**
 * The model alone, with static input shapes (--input-shape, the .npy's, else
 * the preset's), on an initialized engine; with `f16` (--f16), in f16 storage.
 */
export async function loadModel(
  model: string | Uint8Array,
  preset: Preset,
  { inputShape: inputShapeFlag, npyShape, f16 = false }: { inputShape?: string; npyShape?: readonly number[]; f16?: boolean } = {},
): Promise<OnnxGraphModel> {
  const bytes = typeof model === 'string' ? readFile(model, 'model') : model;
  const inputShape = inputShapeFlag ? parseShapeFlag(inputShapeFlag) : undefined;
  const decoded = decodeModel(bytes);
  await init();
  return new OnnxGraphModel(decoded, { inputShapes: staticInputShape(decoded, inputShape, npyShape, preset.inputShape), precision: f16 ? 'f16' : 'f32' });
}

/** A decoded photo prepared as the preset says for an already loaded model (folder mode loads the model once). */
export function preparePhoto(model: OnnxGraphModel, preset: Preset, photo: RgbaImage): LoadedInput {
  const shape = model.inputs[0].shape;
  const [h, w] = preset.layout === 'nhwc' ? [shape[1], shape[2]] : [shape[2], shape[3]];
  const prepared = prepareImage(photo, preset, h, w);
  return { model, input: prepared, photo, prepared };
}

/** Static shapes for a model whose single input has symbolic dimensions; undefined when it has none. */
function staticInputShape(
  decoded: OnnxModel,
  flag: [string, number[]] | undefined,
  npyShape: readonly number[] | undefined,
  presetShape: readonly number[] | undefined,
): Record<string, readonly number[]> | undefined {
  if (flag) return { [flag[0]]: flag[1] };
  const input = feedInputs(decoded)[0];
  if (!input || input.shape?.every((d) => typeof d === 'number' && d > 0)) return undefined;
  const shape = npyShape ?? presetShape;
  if (!shape) throw new UsageError(symbolicInputMessage(input.name, input.shape));
  return { [input.name]: shape };
}

/**
 * A concrete shape for declared dimensions, the symbolic ones filled (batch
 * 1, NCHW channels 3, sides 224), so that an --input-shape hint runs as printed.
 */
export function exampleShape(dims: readonly Dim[]): number[] {
  const fixed = (d: Dim): d is number => typeof d === 'number' && d > 0;
  return dims.map((d, i) => (fixed(d) ? d : i === 0 ? 1 : i === 1 && dims.length === 4 && !fixed(dims[3]) ? 3 : 224));
}

/** The error for an input with symbolic dimensions and no --input-shape: an example that works. */
export function symbolicInputMessage(name: string, dims: readonly Dim[] | undefined): string {
  const declared = dims ? ` [${dims.map((d) => (typeof d === 'number' && d > 0 ? d : typeof d === 'string' && d ? d : '?')).join(', ')}]` : '';
  const example = dims ? exampleShape(dims).join('x') : '1x3x224x224';
  return `the model's input '${name}'${declared} has symbolic dimensions; pass --input-shape ${name}=${example} (with your sizes)`;
}

/** The preset --preset names (with a close match for a misspelt one), else the one for the model file. */
export function presetFlag(modelPath: string, name: string | undefined): Preset {
  if (name !== undefined && !Object.hasOwn(presets, name)) {
    throw new UsageError(`unknown preset '${name}'.${didYouMean(name, Object.keys(presets))} Presets: ${Object.keys(presets).join(', ')}`);
  }
  return presetFor(modelPath, name);
}

/** Detectors explain one image: a batch in --input is refused rather than explained at item 0 only. */
export function oneImage(shape: readonly number[]): void {
  if (shape[0] === 1) return;
  const one = [1, ...shape.slice(1)].join(', ');
  throw new CliError(`--input holds a batch of ${shape[0]} ([${shape.join(', ')}]); detectors take one image: pass one [${one}] .npy per image`);
}

/** A number flag in [0, 1] (--conf, --iou), or its default. */
export function unitFlag(value: string | undefined, flag: string, fallback: number): number {
  if (value === undefined) return fallback;
  const v = decimal(value);
  if (!(v >= 0 && v <= 1)) throw new UsageError(`--${flag} '${value}' must be a number from 0 to 1`);
  return v;
}

/** The detections as a table, one line each. */
export function formatDetections(detections: readonly Detection[], head: DetectorHead, conf: number, iou: number): string {
  const lines = [`${detections.length} detection${detections.length === 1 ? '' : 's'} (${head.describe()}; conf ${conf}, iou ${iou}):`];
  const width = Math.max(5, ...detections.map((d) => d.className.length));
  for (const d of detections) {
    const box = d.box.map((v) => Math.round(v)).join(', ');
    const anchor = d.anchor === undefined ? '' : ` anchor ${d.anchor}`;
    lines.push(`  ${String(d.index).padStart(2)}  ${d.className.padEnd(width)}  ${d.score.toFixed(3)}  [${box}]  head ${d.head} (stride ${d.stride})${anchor} cell ${d.cell[0]},${d.cell[1]}`);
  }
  return lines.join('\n');
}

/** A detection's label on pictures: "car 0.88". */
export function detectionLabel(d: Detection, head: DetectorHead): string {
  return `${d.className || className(head, d.classId)} ${d.score.toFixed(2)}`;
}

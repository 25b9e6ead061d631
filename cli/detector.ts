// What `gradlens detect` and `gradlens explain` share: the embedded default's
// files, loading a model with static input shapes, reading a darknet sidecar,
// preparing the input, and printing detections. Detection itself is the
// library's (explainers/yolo/).

import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { init } from '../engine/index.js';
import { decodeImage } from '../explainers/node-image.js';
import type { RgbaImage } from '../explainers/image.js';
import { prepareImage, type Preset, type PreparedInput } from '../explainers/presets.js';
import { className, type DarknetSidecar, type Detection, type DetectorHead } from '../explainers/index.js';
import { feedInputs } from '../importers/onnx/graph.js';
import { toFloat32 } from '../importers/onnx/host-tensor.js';
import { OnnxGraphModel } from '../importers/onnx/model.js';
import { readNpy } from '../importers/onnx/npy.js';
import { decodeModel, type OnnxModel } from '../importers/onnx/proto.js';
import { parseShapeFlag, UsageError, type FlagSpec } from './args.js';
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
export async function loadInput(modelPath: string, preset: Preset, source: { image?: string; input?: string; inputShape?: string }): Promise<LoadedInput> {
  const bytes = readFile(modelPath, 'model');
  const npy = source.input ? readNpy(readFile(source.input, 'input')) : undefined;
  const photo = source.image ? decodeImage(readFile(source.image, 'image'), source.image) : undefined;
  const inputShape = source.inputShape ? parseShapeFlag(source.inputShape) : undefined;
  const decoded = decodeModel(bytes);
  await init();
  const model = new OnnxGraphModel(decoded, { inputShapes: staticInputShape(decoded, inputShape, npy?.shape, preset.inputShape) });
  if (!photo) return { model, input: { data: toFloat32(npy!), shape: [...npy!.shape] } };
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
  if (!shape) throw new UsageError(`the model's input '${input.name}' has symbolic dimensions; pass --input-shape ${input.name}=1x3xHxW`);
  return { [input.name]: shape };
}

/** A number flag in [0, 1] (--conf, --iou), or its default. */
export function unitFlag(value: string | undefined, flag: string, fallback: number): number {
  if (value === undefined) return fallback;
  const v = Number(value);
  if (!(v >= 0 && v <= 1)) throw new UsageError(`--${flag} '${value}' must be a number from 0 to 1`);
  return v;
}

const round2 = (v: number) => Math.round(v * 100) / 100;

/** A detection as `detect --json` prints it. */
export function detectionJson(d: Detection) {
  return {
    index: d.index,
    classId: d.classId,
    className: d.className,
    score: Math.round(d.score * 1e5) / 1e5,
    box: d.box.map(round2),
    inputBox: d.inputBox.map(round2),
    head: d.head,
    anchor: d.anchor ?? null,
    cell: [...d.cell],
    output: d.source.output,
  };
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

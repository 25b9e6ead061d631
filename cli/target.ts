// `gradlens explain --target <form>`: one syntax for what is explained.
// parseTarget reads the flag (a UsageError naming the flag, the bad part and
// the accepted forms); resolveTarget turns a parsed form into a library target
// (explainers/targets.ts) once the model is loaded, reading the files a form
// names (a mask, a reference embedding) and, for `similar:<photo>`, running
// the model on that photo. Detections are not resolved here: explain's
// detector path takes `detection:J|all` and `class:K` as --detection and --class.

import type { OnnxGraphModel } from '../importers/onnx/model.js';
import { keep, scopeAsync, tensor } from '../engine/index.js';
import { decodeImage } from '../explainers/node-image.js';
import type { Preset } from '../explainers/presets.js';
import { binaryTarget, classTarget, counterfactualTarget, maskTarget, maxTarget, similarityTarget, softmaxTarget, type Target } from '../explainers/targets.js';
import { toFloat32 } from '../importers/onnx/host-tensor.js';
import { readNpy } from '../importers/onnx/npy.js';
import { UsageError } from './args.js';
import { preparePhoto } from './detector.js';
import { CliError } from './errors.js';
import { readFile } from './files.js';

export type TargetForm =
  | { kind: 'class'; index: number }
  | { kind: 'softmax'; index: number }
  | { kind: 'binary'; index: 0 | 1 }
  | { kind: 'counterfactual'; inner: TargetForm }
  | { kind: 'mask'; index: number; file: string }
  | { kind: 'similar'; file: string }
  | { kind: 'detection'; index: number | 'all' }
  | { kind: 'max' };

/** The accepted forms, as --help and the errors list them. */
export const TARGET_FORMS = [
  'class:K',
  'softmax:K',
  'binary:0|1',
  'counterfactual:<target>',
  'mask:K:<mask.npy|mask.png>',
  'similar:<ref.npy|ref.png>',
  'detection:J|all',
  'max',
] as const;

const KINDS = ['class', 'softmax', 'binary', 'counterfactual', 'mask', 'similar', 'detection', 'max'];

function bad(value: string, part: string, why: string): UsageError {
  return new UsageError(`--target '${value}': ${why} ('${part}'). Accepted forms: ${TARGET_FORMS.join(', ')}`);
}

/** A non-negative integer in decimal digits. */
function index(value: string, part: string, what: string): number {
  const v = /^\d+$/.test(part) ? Number(part) : NaN;
  if (!Number.isSafeInteger(v)) throw bad(value, part, `${what} must be a non-negative integer`);
  return v;
}

function file(value: string, part: string, what: string): string {
  if (!part) throw bad(value, part, `${what} needs a file`);
  if (!/\.(npy|png)$/i.test(part)) throw bad(value, part, `${what} reads a .npy or a .png file`);
  return part;
}

/** Parses a --target value (see TARGET_FORMS). */
export function parseTarget(value: string): TargetForm {
  return parseForm(value, value);
}

function parseForm(value: string, text: string): TargetForm {
  const colon = text.indexOf(':');
  const kind = colon < 0 ? text : text.slice(0, colon);
  const rest = colon < 0 ? undefined : text.slice(colon + 1);
  if (!KINDS.includes(kind)) throw bad(value, kind, `unknown target kind`);
  if (kind === 'max') {
    if (rest !== undefined) throw bad(value, rest, 'max takes no argument');
    return { kind: 'max' };
  }
  if (rest === undefined || rest === '') throw bad(value, text, `${kind} needs an argument after '${kind}:'`);
  switch (kind) {
    case 'class':
    case 'softmax':
      return { kind, index: index(value, rest, 'the class') };
    case 'binary':
      if (rest !== '0' && rest !== '1') throw bad(value, rest, 'binary takes class 0 or 1');
      return { kind: 'binary', index: rest === '1' ? 1 : 0 };
    case 'detection':
      return { kind: 'detection', index: rest === 'all' ? 'all' : index(value, rest, "the detection (an index, or 'all')") };
    case 'counterfactual': {
      const inner = parseForm(value, rest);
      if (inner.kind === 'counterfactual') throw bad(value, rest, 'a counterfactual of a counterfactual is the target itself');
      if (inner.kind === 'detection') throw bad(value, rest, 'counterfactual explanations of detections are not supported (their scores are not a class score of one output): explain the detection itself');
      return { kind: 'counterfactual', inner };
    }
    case 'mask': {
      const at = rest.indexOf(':');
      if (at < 0) throw bad(value, rest, 'mask needs a class and a file: mask:K:<mask.npy|mask.png>');
      return { kind: 'mask', index: index(value, rest.slice(0, at), 'the class'), file: file(value, rest.slice(at + 1), 'mask') };
    }
    default:
      return { kind: 'similar', file: file(value, rest, 'similar') };
  }
}

/** What a form says about detectors: `detection:J|all` and `class:K` are --detection and --class. */
export function shorthandOf(form: TargetForm | undefined): { classIndex?: number; detection?: number | 'all' } {
  if (form?.kind === 'class') return { classIndex: form.index };
  if (form?.kind === 'detection') return { detection: form.index };
  return {};
}

export interface TargetContext {
  model: OnnxGraphModel;
  preset: Preset;
  /** The tensor the target reads (a graph output or an inner tensor; default the first output). */
  output?: string;
}

/** The 2-D mask of a .npy (leading axes of size 1 dropped) or of a .png (its nonzero pixels, RGB). */
function readMask(path: string): { data: Float32Array; height: number; width: number } {
  if (/\.png$/i.test(path)) {
    const img = decodeImage(readFile(path, 'mask'), path);
    const data = new Float32Array(img.width * img.height);
    for (let p = 0; p < data.length; p++) data[p] = img.data[4 * p] || img.data[4 * p + 1] || img.data[4 * p + 2] ? 1 : 0;
    return { data, height: img.height, width: img.width };
  }
  const npy = readNpy(readFile(path, 'mask'));
  const shape = [...npy.shape];
  while (shape.length > 2 && shape[0] === 1) shape.shift();
  if (shape.length !== 2) throw new CliError(`--target mask: '${path}' has shape [${npy.shape.join(', ')}]; a mask is [H, W] (the output's H x W)`);
  return { data: toFloat32(npy), height: shape[0], width: shape[1] };
}

/** `mask` resized to h x w, nearest neighbour (pixel centres). */
export function nearestResize(mask: { data: Float32Array; height: number; width: number }, h: number, w: number): Float32Array {
  if (mask.height === h && mask.width === w) return mask.data;
  const out = new Float32Array(h * w);
  for (let y = 0; y < h; y++) {
    const sy = Math.min(mask.height - 1, Math.floor(((y + 0.5) * mask.height) / h));
    for (let x = 0; x < w; x++) out[y * w + x] = mask.data[sy * mask.width + Math.min(mask.width - 1, Math.floor(((x + 0.5) * mask.width) / w))];
  }
  return out;
}

/**
 * A .png mask: resized (nearest) to the output's H x W when the target is
 * scored; a .npy mask is used as given and must be that size (TargetError naming both shapes).
 */
function maskForm(index: number, path: string, output: string | undefined): Target {
  const mask = readMask(path);
  const fixed = maskTarget(index, mask.data, { shape: [mask.height, mask.width], output });
  if (!/\.png$/i.test(path)) return fixed;
  return {
    ...fixed,
    label: `${fixed.label} '${path}'`,
    score: (values, first) => {
      const out = values[output ?? first];
      const [h, w] = out ? out.shape.slice(-2) : [mask.height, mask.width];
      return maskTarget(index, nearestResize(mask, h, w), { shape: [h, w], output }).score(values, first);
    },
  };
}

/** The reference embedding: a .npy, or the output (the one the target reads) of the model on a photo prepared by the same preset. */
async function referenceOf(path: string, ctx: TargetContext): Promise<Float32Array> {
  if (!/\.png$/i.test(path)) return toFloat32(readNpy(readFile(path, 'reference embedding')));
  const { input } = preparePhoto(ctx.model, ctx.preset, decodeImage(readFile(path, 'reference image'), path));
  const name = ctx.output ?? ctx.model.outputs[0].name;
  const inner = !ctx.model.outputs.some((o) => o.name === name);
  return scopeAsync(async () => {
    const { outputs, kept } = ctx.model.run({ [ctx.model.inputs[0].name]: tensor(input.data, input.shape) }, { keep: inner ? [name] : [] });
    const t = keep((inner ? kept : outputs)[name]);
    try {
      return await t.data();
    } finally {
      t.dispose();
    }
  });
}

/** The library target of a form (not `detection`: explain's detector path takes it). */
export async function resolveTarget(form: TargetForm, ctx: TargetContext): Promise<Target> {
  const output = ctx.output;
  switch (form.kind) {
    case 'class':
      return classTarget(form.index, { output });
    case 'softmax':
      return softmaxTarget(form.index, { output });
    case 'binary':
      return binaryTarget(form.index, { output });
    case 'counterfactual':
      return counterfactualTarget(await resolveTarget(form.inner, ctx));
    case 'mask':
      return maskForm(form.index, form.file, output);
    case 'similar': {
      const t = similarityTarget(await referenceOf(form.file, ctx), { output });
      return { ...t, label: `${t.label} of '${form.file}'` };
    }
    case 'max':
      return maxTarget({ output });
    case 'detection':
      throw new CliError(`--target detection:${form.index} applies to detectors`);
  }
}

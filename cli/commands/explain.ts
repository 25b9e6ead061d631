// gradlens explain: a CAM (or ZF-Net) map for one model and one photo or .npy
// input, as an overlay PNG and/or .npy files. With no model and no image it
// explains the embedded default: Yolo-Fastest's top detection on dog.jpg.

import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { init, max, reshape, Tensor, tensor, scopeAsync } from '../../engine/index.js';
import { explain, methods } from '../../explainers/index.js';
import { TargetError } from '../../explainers/errors.js';
import { decodeDarknet, decodeYolov5, scaleBoxes, unletterbox } from '../../explainers/yolo/decode.js';
import { nms, type Detection } from '../../explainers/yolo/nms.js';
import { darknetDetectionTarget, headLayers, yolov5DetectionTarget, yolov5HeadOf } from '../../explainers/yolo/targets.js';
import { classTarget, functionTarget, type TargetSpec } from '../../explainers/targets.js';
import { mapOntoPhoto, prepareImage, presetFor, type Preset } from '../../explainers/presets.js';
import { decodeImage, encodePng } from '../../explainers/node-image.js';
import { colorize, drawBox, grid, overlay, type Colormap } from '../../explainers/render.js';
import type { ExplainableModel } from '../../engine/index.js';
import { OnnxGraphModel } from '../../importers/onnx/model.js';
import { feedInputs } from '../../importers/onnx/graph.js';
import { readNpy, writeNpy } from '../../importers/onnx/npy.js';
import { toFloat32 } from '../../importers/onnx/host-tensor.js';
import { parseArgs, parseShapeFlag, UsageError } from '../args.js';
import { decodeModel, type OnnxModel } from '../../importers/onnx/proto.js';
import { readFile, writeFile } from '../files.js';

const here = dirname(fileURLToPath(import.meta.url));
/**
 * The embedded default: explainers/assets/<file> in the nearest folder above
 * this module that has it, i.e. the repo or the installed package's root, from
 * source (cli/commands/) or from a bundled chunk (dist/, dist/chunks/).
 */
function assetPath(file: string): string {
  for (let dir = here; ; dir = dirname(dir)) {
    const path = resolve(dir, 'explainers/assets', file);
    if (existsSync(path)) return path;
    if (dirname(dir) === dir) return resolve(process.cwd(), 'explainers/assets', file); // not found: the error names this path
  }
}
const DEFAULT_MODEL = 'yolo_fastest_1.1_coco.onnx';
const DEFAULT_IMAGE = 'dog.jpg';
const DEFAULT_OUT = 'gradlens-explain.png';

export const usage = `usage: gradlens explain --model <m.onnx> (--image <photo.jpg|png> [--preset <name>] | --input <x.npy>) --method <name> --layer <name>[,<name>...] [--class <k>] [--out <overlay.png>] [--map <map.npy>] [--raw <map.npy>] [--grad <g.npy>] [--json]
  With no model and no image: the embedded default (Yolo-Fastest, dog.jpg, gradcam) -> ${DEFAULT_OUT}.
  --method       ${Object.keys(methods).join(', ')} (default gradcam);
                 several, comma separated, make a grid of overlays
  --layer        target tensor name(s), comma separated (see \`gradlens layers\`); default: the last
                 spatial layer before global pooling (classifiers) or the head-feeding layers (detectors)
  --class        class to explain; default the top class (classifiers) or the top detection (detectors,
                 whose class this then selects)
  --preset       preprocessing: a name from explainers/presets.ts; default picked by model file name
  --out          overlay PNG (default ${DEFAULT_OUT} when no other output is asked for)
  --map          final map at the input's H x W, in [0, 1], float32 .npy
  --raw          the first layer's map after ReLU, before upsampling and scaling, float32 .npy
  --grad         d score / d activation at the first layer, [C, H, W] float32 .npy
  --json         print {score, class, layers: [{name, shape}], ms}
  --output       graph output the class refers to (default: the first)
  --batch-size   masked/ablated copies per forward pass (scorecam, ablationcam, occlusion; default 16)
  --aug-smooth, --eigen-smooth   pytorch-grad-cam's smoothing options
  --input-shape  name=1x3xHxW for models with symbolic input dimensions (default: the .npy's or the preset's)
  --alpha        overlay opacity (default 0.5); --colormap jet|viridis`;

export async function run(argv: string[]): Promise<number> {
  const { flags, positionals } = parseArgs(argv, {
    model: { type: 'string' },
    image: { type: 'string' },
    input: { type: 'string' },
    preset: { type: 'string' },
    method: { type: 'string' },
    layer: { type: 'string' },
    class: { type: 'string' },
    out: { type: 'string' },
    map: { type: 'string' },
    raw: { type: 'string' },
    grad: { type: 'string' },
    json: { type: 'boolean' },
    output: { type: 'string' },
    'batch-size': { type: 'string' },
    'aug-smooth': { type: 'boolean' },
    'eigen-smooth': { type: 'boolean' },
    alpha: { type: 'string' },
    colormap: { type: 'string' },
    'input-shape': { type: 'string' },
  });
  if (positionals.length) throw new UsageError(`unexpected argument '${positionals[0]}'`);
  if (flags.image && flags.input) throw new UsageError('give --image or --input, not both');
  if (flags.model && !flags.image && !flags.input) throw new UsageError('--model needs an --image or an --input');
  const modelPath = flags.model ?? assetPath(DEFAULT_MODEL);
  const imagePath = flags.image ?? (flags.input ? undefined : assetPath(DEFAULT_IMAGE));
  // Several comma-separated methods make a grid of overlays (the file outputs use the first).
  const methodList = (flags.method ?? 'gradcam').split(',').map((m) => m.trim()).filter(Boolean);
  for (const m of methodList) {
    if (!Object.hasOwn(methods, m)) throw new UsageError(`unknown method '${m}' (methods: ${Object.keys(methods).join(', ')})`);
  }
  const method = methodList[0];
  const classIndex = flags.class === undefined ? undefined : Number(flags.class);
  if (classIndex !== undefined && (!Number.isInteger(classIndex) || classIndex < 0)) throw new UsageError(`--class '${flags.class}' must be a non-negative integer`);
  const colormap = (flags.colormap ?? 'jet') as Colormap;
  if (colormap !== 'jet' && colormap !== 'viridis') throw new UsageError(`--colormap must be jet or viridis`);
  const alpha = flags.alpha === undefined ? 0.5 : Number(flags.alpha);
  if (!(alpha >= 0 && alpha <= 1)) throw new UsageError(`--alpha '${flags.alpha}' must be a number from 0 to 1`);
  const batchSize = flags['batch-size'] === undefined ? 16 : Number(flags['batch-size']);
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new UsageError(`--batch-size '${flags['batch-size']}' must be a positive integer`);
  if (flags.grad && !methods[method].usesGradients) throw new UsageError(`--grad: method '${method}' computes no gradient`);
  const wantsFile = flags.out || flags.map || flags.raw || flags.grad || flags.json;
  const outPath = flags.out ?? (wantsFile ? undefined : DEFAULT_OUT);

  const preset = presetFor(modelPath, flags.preset);
  if (preset.layout === 'nhwc') {
    // Input-space methods perturb or differentiate the input image and assume NCHW.
    const refused = methodList.filter((m) => methods[m].inputSpace);
    if (refused.length || flags['aug-smooth']) {
      throw new UsageError(`preset '${preset.name}' feeds a channels-last (NHWC) input: ${[...refused, ...(flags['aug-smooth'] ? ['--aug-smooth'] : [])].join(', ')} need NCHW; use a layer method such as gradcam`);
    }
  }
  const bytes = readFile(modelPath, 'model');
  const npy = flags.input ? readNpy(readFile(flags.input, 'input')) : undefined;
  // Symbolic input dimensions take --input-shape, else the .npy's shape, else the preset's.
  const inputShape = flags['input-shape'] ? parseShapeFlag(flags['input-shape']) : undefined;
  const decoded = decodeModel(bytes);
  await init();
  const model = new OnnxGraphModel(decoded, { inputShapes: staticInputShape(decoded, inputShape, npy?.shape, preset.inputShape) });
  try {
    const input = model.inputs[0];
    const photo = imagePath ? decodeImage(readFile(imagePath, 'image'), imagePath) : undefined;
    let x: { data: Float32Array; shape: number[] };
    let prepared: ReturnType<typeof prepareImage> | undefined;
    if (photo) {
      const [h, w] = preset.layout === 'nhwc' ? [input.shape[1], input.shape[2]] : [input.shape[2], input.shape[3]];
      prepared = prepareImage(photo, preset, h, w);
      x = prepared;
    } else {
      x = { data: toFloat32(npy!), shape: [...npy!.shape] };
    }
    const started = performance.now();
    const picked = await pickTarget(model, preset, x, classIndex, flags.output, prepared && photo ? { photo, prepared } : undefined);
    const layers = flags.layer ? flags.layer.split(',').map((s) => s.trim()).filter(Boolean) : picked.layers;
    const results = [];
    for (const m of methodList) {
      const progress = process.stderr.isTTY && !flags.json ? progressBar(m) : undefined;
      results.push(
        await scopeAsync(async () =>
          explain(model, tensor(x.data, x.shape), m, {
            layers,
            // The map has the image's H x W: NCHW dims 2, 3, or NHWC dims 1, 2.
            size: preset.layout === 'nhwc' && photo ? [x.shape[1], x.shape[2]] : undefined,
            target: picked.target,
            output: flags.output,
            augSmooth: flags['aug-smooth'],
            eigenSmooth: flags['eigen-smooth'],
            batchSize,
            onProgress: progress,
          }),
        ),
      );
      if (progress) process.stderr.write('\n');
    }
    const result = results[0];
    const ms = performance.now() - started;
    const [H, W] = [result.height, result.width];
    const map = result.map.subarray(0, H * W);

    if (flags.map) writeFile(flags.map, writeNpy(map, [H, W]), 'map');
    if (flags.raw) {
      const raw = result.raw[0];
      const [, h, w] = raw.shape;
      // After ReLU, as the contract says (occlusion's raw map is the signed score drop).
      writeFile(flags.raw, writeNpy(raw.data.subarray(0, h * w).map((v) => Math.max(v, 0)), [h, w]), 'raw map');
    }
    if (flags.grad) {
      if (!result.gradient) throw new UsageError(`--grad: method '${method}' computes no layer gradient`);
      const g = result.gradient;
      const shape = g.shape.length === 4 ? g.shape.slice(1) : g.shape;
      writeFile(flags.grad, writeNpy(g.data.subarray(0, shape.reduce((a, b) => a * b, 1)), shape), 'gradient');
    }
    if (outPath) {
      const pictures = results.map((r) => {
        const m = r.map.subarray(0, H * W);
        if (!photo || !prepared) return colorize(m, W, H, colormap);
        const png = overlay(photo, mapOntoPhoto(m, H, W, photo, prepared.mapping), photo.width, photo.height, { alpha, colormap });
        if (picked.detection) drawBox(png, picked.detection.box);
        return png;
      });
      const png = pictures.length === 1 ? pictures[0] : grid(pictures, Math.min(4, pictures.length));
      writeFile(outPath, encodePng(png), 'overlay');
    }
    const cls = result.category?.[0] ?? picked.detection?.cls ?? classIndex ?? null;
    const layerInfo = model.layers();
    const shapes = result.layers.map((name) => ({ name, shape: [...(layerInfo.find((l) => l.name === name)?.shape ?? [])] }));
    if (flags.json) {
      console.log(JSON.stringify({ score: result.score[0], class: cls, layers: shapes, ms: Math.round(ms) }));
    } else {
      const names = preset.model.kind !== 'generic' ? preset.model.classNames : undefined;
      const label = cls !== null && names?.[cls] ? ` (${names[cls]})` : '';
      console.log(`${methodList.join(', ')}: ${result.target}${label}, score ${result.score[0].toFixed(4)}`);
      if (methodList.length > 1) console.log(`grid: ${methodList.join(', ')} (left to right, top to bottom)`);
      console.log(`layers: ${shapes.map((s) => `${s.name} [${s.shape.join('x')}]`).join(', ')}`);
      const written = [outPath, flags.map, flags.raw, flags.grad].filter(Boolean);
      console.log(`${written.length ? `wrote ${written.join(', ')} ` : ''}in ${(ms / 1000).toFixed(2)} s`);
    }
    return 0;
  } finally {
    model.dispose();
  }
}

interface PickedTarget {
  target?: TargetSpec;
  layers?: string[];
  detection?: Detection;
}

/**
 * Classifiers: the given class (else explain()'s default, the top class).
 * Detectors: decode and NMS the outputs once, then the top detection (of the
 * given class, if any) becomes a detection target over the head-feeding layers.
 * Anything else: the given class of the first output, else its largest element.
 */
async function pickTarget(
  model: ExplainableModel,
  preset: Preset,
  x: { data: Float32Array; shape: number[] },
  classIndex: number | undefined,
  output: string | undefined,
  view: { photo: { width: number; height: number }; prepared: ReturnType<typeof prepareImage> } | undefined,
): Promise<PickedTarget> {
  const kind = preset.model.kind;
  if (kind === 'classifier') return { target: classIndex === undefined ? undefined : classTarget(classIndex, { output }) };
  if (kind === 'generic') {
    const name = output ?? model.outputs[0].name;
    // The layer(s) feeding the head of the explained output (a detector-like graph has several heads).
    const heads = headLayers(model, [name]);
    const layers = heads.length ? heads : undefined;
    if (classIndex !== undefined) return { target: classTarget(classIndex, { output }), layers };
    return { target: functionTarget((v) => max(reshape(v[name], [v[name].size])), `largest element of '${name}'`), layers };
  }
  const inputName = model.inputs[0].name;
  const outs = await scopeAsync(async () => {
    const { outputs } = model.run({ [inputName]: Tensor.fromData(x.data, x.shape) });
    const read: Record<string, { values: Float32Array; shape: readonly number[] }> = {};
    for (const [name, t] of Object.entries(outputs)) read[name] = { values: await t.data(), shape: t.shape };
    return read;
  });
  const [, , h, w] = x.shape;
  let detections: Detection[];
  let toTarget: (d: Detection) => TargetSpec;
  if (kind === 'yolov5') {
    const name = model.outputs[0].name;
    const rowWidth = outs[name].shape[2];
    detections = decodeYolov5(outs[name].values, rowWidth, 0.25, name);
    toTarget = (d) => yolov5DetectionTarget(d, name, rowWidth);
  } else {
    const anchors = preset.model.anchors;
    detections = Object.entries(anchors).flatMap(([name, a]) =>
      outs[name] ? decodeDarknet({ output: name, values: outs[name].values, shape: outs[name].shape, anchors: a }, [w, h]) : [],
    );
    toTarget = (d) => darknetDetectionTarget(d, outs[d.source!.output].shape, anchors[d.source!.output].length);
  }
  const kept = nms(detections, 0.45);
  const chosen = classIndex === undefined ? kept[0] : kept.find((d) => d.cls === classIndex);
  if (!chosen) {
    const found = [...new Set(kept.map((d) => d.cls))];
    throw new TargetError(
      classIndex === undefined
        ? 'no detection above confidence 0.25 to explain; pass --class with --preset plain to explain a raw output instead'
        : `no detection of class ${classIndex} above confidence 0.25 (detected classes: ${found.join(', ') || 'none'})`,
    );
  }
  let onPhoto = chosen;
  if (view) {
    const size = [view.photo.width, view.photo.height] as const;
    onPhoto = preset.resize === 'letterbox'
      ? unletterbox(chosen, { scale: view.prepared.mapping.scaleX, padX: view.prepared.mapping.offsetX, padY: view.prepared.mapping.offsetY }, size)
      : scaleBoxes(chosen, [w, h], size);
  }
  // The layer feeding the head that made this detection (the other heads' layers do not see its score).
  let layers: string[];
  if (kind === 'yolov5') {
    const all = headLayers(model);
    const head = all[yolov5HeadOf(chosen.source!.index, h, w)];
    layers = head ? [head] : all;
  } else layers = headLayers(model, [chosen.source!.output]);
  return { target: toTarget(chosen), layers: layers.length ? layers : undefined, detection: onPhoto };
}

/** A one-line progress bar on stderr for the batched methods. */
function progressBar(label: string): (done: number, total: number) => void {
  return (done, total) => {
    const width = 30;
    const filled = Math.round((done / Math.max(total, 1)) * width);
    process.stderr.write(`\r${label} [${'#'.repeat(filled)}${' '.repeat(width - filled)}] ${done}/${total}`);
  };
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

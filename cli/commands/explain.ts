// gradlens explain: a CAM (or ZF-Net) map for one model and one photo or .npy
// input, as an overlay PNG and/or .npy files. With no model and no image it
// explains the embedded default: Yolo-Fastest's top detection on dog.jpg.
// Detectors go through the library (explainers/yolo: detect, then explain one
// detection or all of them); this file only parses flags and writes files.

import { max, reshape, scopeAsync, tensor } from '../../engine/index.js';
import type { ExplainableModel } from '../../engine/index.js';
import {
  detectInput,
  detectionAt,
  detectorHead,
  DetectorFormatError,
  explain,
  explainDetection,
  explainDetections,
  methods,
  SCORE_KINDS,
  type DarknetSidecar,
  type Detection,
  type DetectionExplanation,
  type DetectionsExplanation,
  type DetectorHead,
  type ExplainResult,
  type ScoreKind,
} from '../../explainers/index.js';
import { TargetError } from '../../explainers/errors.js';

import { headLayers } from '../../explainers/yolo/targets.js';
import { classTarget as classScore, functionTarget, type TargetSpec } from '../../explainers/targets.js';
import { mapOntoPhoto, presetFor, type Preset } from '../../explainers/presets.js';
import { encodePng } from '../../explainers/node-image.js';
import { colorize, drawDetections, grid, overlay, type Colormap } from '../../explainers/render.js';
import { writeNpy } from '../../importers/onnx/npy.js';
import { parseArgs, UsageError } from '../args.js';
import { detectionJson, detectionLabel, formatDetections, loadInput, readSidecar, SOURCE_FLAGS, sourcePaths, unitFlag } from '../detector.js';
import { writeFile } from '../files.js';

const DEFAULT_OUT = 'gradlens-explain.png';

export const usage = `usage: gradlens explain --model <m.onnx> (--image <photo.jpg|png> [--preset <name>] | --input <x.npy>) --method <name> --layer <name>[,<name>...] [--class <k>] [--detection <j|all>] [--score <kind>] [--out <overlay.png>] [--map <map.npy>] [--raw <map.npy>] [--grad <g.npy>] [--json]
  With no model and no image: the embedded default (Yolo-Fastest, dog.jpg, gradcam) -> ${DEFAULT_OUT}.
  --method       ${Object.keys(methods).join(', ')} (default gradcam);
                 several, comma separated, make a grid of overlays
  --layer        target tensor name(s), comma separated (see \`gradlens layers\`); default: the last
                 spatial layer before global pooling (classifiers) or the layer feeding the head that
                 made the explained detection (detectors)
  --class        class to explain; default the top class (classifiers) or the top detection (detectors,
                 whose class this then selects)
  --detection    detectors: the detection to explain, by index in the printed list (0 = highest score),
                 or 'all': a grid of the composite (each map renormalized inside its box) and one overlay
                 per detection (--map then writes the composite; --raw, --grad the first detection's)
  --score        detectors: logit (pre-sigmoid class logit; the default where the graph shows it), prob
                 (objectness x class probability), obj (objectness), box (class scores of the
                 predictions matching the box)
  --conf, --iou  detectors: confidence threshold (default 0.25) and NMS IoU (default 0.45)
  --meta         darknet sidecar (anchors, strides, names); default <model>.json beside the model
  --preset       preprocessing: a name from explainers/presets.ts; default picked by model file name
  --out          overlay PNG (default ${DEFAULT_OUT} when no other output is asked for)
  --map          final map at the input's H x W, in [0, 1], float32 .npy
  --raw          the first layer's map after ReLU, before upsampling and scaling, float32 .npy
  --grad         d score / d activation at the first layer, [C, H, W] float32 .npy
  --json         print {score, class, layers: [{name, shape}], detection, ms}
  --output       graph output the class refers to (default: the first)
  --batch-size   masked/ablated copies per forward pass (scorecam, ablationcam, occlusion; default 16;
                 1 for YOLOv5/v8 exports, whose decode usually fixes the batch)
  --aug-smooth, --eigen-smooth   pytorch-grad-cam's smoothing options
  --input-shape  name=1x3xHxW for models with symbolic input dimensions (default: the .npy's or the preset's)
  --alpha        overlay opacity (default 0.5); --colormap jet|viridis`;

export async function run(argv: string[]): Promise<number> {
  const { flags, positionals } = parseArgs(argv, {
    ...SOURCE_FLAGS,
    method: { type: 'string' },
    layer: { type: 'string' },
    class: { type: 'string' },
    detection: { type: 'string' },
    score: { type: 'string' },
    map: { type: 'string' },
    raw: { type: 'string' },
    grad: { type: 'string' },
    output: { type: 'string' },
    'batch-size': { type: 'string' },
    'aug-smooth': { type: 'boolean' },
    'eigen-smooth': { type: 'boolean' },
    alpha: { type: 'string' },
    colormap: { type: 'string' },
  });
  if (positionals.length) throw new UsageError(`unexpected argument '${positionals[0]}'`);
  const { modelPath, imagePath } = sourcePaths(flags);
  // Several comma-separated methods make a grid of overlays (the file outputs use the first).
  const methodList = (flags.method ?? 'gradcam').split(',').map((m) => m.trim()).filter(Boolean);
  for (const m of methodList) {
    if (!Object.hasOwn(methods, m)) throw new UsageError(`unknown method '${m}' (methods: ${Object.keys(methods).join(', ')})`);
  }
  const method = methodList[0];
  const classIndex = flags.class === undefined ? undefined : Number(flags.class);
  if (classIndex !== undefined && (!Number.isInteger(classIndex) || classIndex < 0)) throw new UsageError(`--class '${flags.class}' must be a non-negative integer`);
  const detectionFlag = flags.detection === undefined ? undefined : flags.detection === 'all' ? ('all' as const) : Number(flags.detection);
  if (detectionFlag !== undefined && detectionFlag !== 'all' && (!Number.isInteger(detectionFlag) || detectionFlag < 0)) {
    throw new UsageError(`--detection '${flags.detection}' must be an index in the detection list (0 = highest score) or 'all'`);
  }
  if (detectionFlag !== undefined && classIndex !== undefined) throw new UsageError('give --class or --detection, not both');
  if (detectionFlag === 'all' && methodList.length > 1) throw new UsageError('--detection all makes a grid of detections: give one --method');
  const score = flags.score as ScoreKind | undefined;
  if (score !== undefined && !SCORE_KINDS.includes(score)) throw new UsageError(`--score '${flags.score}' must be one of ${SCORE_KINDS.join(', ')}`);
  const conf = unitFlag(flags.conf, 'conf', 0.25);
  const iou = unitFlag(flags.iou, 'iou', 0.45);
  const colormap = (flags.colormap ?? 'jet') as Colormap;
  if (colormap !== 'jet' && colormap !== 'viridis') throw new UsageError(`--colormap must be jet or viridis`);
  const alpha = unitFlag(flags.alpha, 'alpha', 0.5);
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
  const meta = readSidecar(modelPath, flags.meta);
  const { model, input: x, photo, prepared } = await loadInput(modelPath, preset, { image: imagePath, input: flags.input, inputShape: flags['input-shape'] });
  try {
    const started = performance.now();
    const asked = detectionFlag !== undefined || score !== undefined || flags.meta !== undefined;
    const head = findDetector(model, preset, meta, asked);
    const layers = flags.layer ? flags.layer.split(',').map((s) => s.trim()).filter(Boolean) : undefined;
    const common = (m: string) => ({
      // The map has the image's H x W: NCHW dims 2, 3, or NHWC dims 1, 2.
      size: preset.layout === 'nhwc' && photo ? ([x.shape[1], x.shape[2]] as const) : undefined,
      output: flags.output,
      augSmooth: flags['aug-smooth'],
      eigenSmooth: flags['eigen-smooth'],
      // Unset for a detector: the library's default (1 for exports whose decode fixes the batch).
      batchSize: flags['batch-size'] === undefined && head ? undefined : batchSize,
      onProgress: process.stderr.isTTY && !flags.json ? progressBar(m) : undefined,
    });
    const onPhoto = photo && prepared ? { mapping: prepared.mapping, size: [photo.width, photo.height] as const } : undefined;

    // What is explained: detections (library: explainers/yolo), or a class / the largest output element.
    let results: ExplainResult[];
    let shown: Detection[] = [];
    let all: DetectionsExplanation | undefined;
    if (head) {
      const { detections } = await detectInput(model, x, { head, conf, iou, photo: onPhoto });
      if (!flags.json) console.log(formatDetections(detections, head, conf, iou));
      const options = { head, score, layers };
      if (detectionFlag === 'all') {
        if (!detections.length) throw new TargetError(`no detection above confidence ${conf} to explain (lower --conf)`);
        all = await explainDetections(model, x, detections, method, { ...common(method), ...options });
        if (process.stderr.isTTY && !flags.json) process.stderr.write('\n');
        results = all.results;
        shown = detections;
      } else {
        const chosen = chooseDetection(detections, detectionFlag, classIndex, conf);
        results = [];
        for (const m of methodList) {
          results.push(await explainDetection(model, x, chosen, m, { ...common(m), ...options }));
          if (process.stderr.isTTY && !flags.json) process.stderr.write('\n');
        }
        shown = [chosen];
      }
    } else {
      if (asked) throw new UsageError('--detection, --score and --meta apply to detectors');
      const picked = classTarget(model, preset, classIndex, flags.output);
      results = [];
      for (const m of methodList) {
        results.push(await scopeAsync(async () => explain(model, tensor(x.data, x.shape), m, { ...common(m), layers: layers ?? picked.layers, target: picked.target })));
        if (process.stderr.isTTY && !flags.json) process.stderr.write('\n');
      }
    }
    const result = results[0];
    const ms = performance.now() - started;
    const [H, W] = [result.height, result.width];
    const map = all ? all.composite : result.map.subarray(0, H * W);

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
      // One picture per map: the photo with the map and the boxes, or the colored map (boxes in input pixels) for an .npy input.
      const picture = (m: Float32Array, boxes: readonly Detection[]) => {
        const png = photo && prepared ? overlay(photo, mapOntoPhoto(m, H, W, photo, prepared.mapping), photo.width, photo.height, { alpha, colormap }) : colorize(m, W, H, colormap);
        drawDetections(png, boxes.map((d) => ({ box: onPhoto ? d.box : d.inputBox, label: detectionLabel(d, head!), classId: d.classId })));
        return png;
      };
      let png;
      if (all) {
        const tiles = [picture(all.composite, shown), ...results.map((r, j) => picture(r.map.subarray(0, H * W), [shown[j]]))];
        const captions = ['all: per-box maps', ...shown.map((d) => `#${d.index}`)];
        png = grid(tiles, Math.min(4, tiles.length), 4, captions);
      } else {
        const pictures = results.map((r) => picture(r.map.subarray(0, H * W), shown));
        png = pictures.length === 1 ? pictures[0] : grid(pictures, Math.min(4, pictures.length), 4, methodList.length > 1 ? methodList : undefined);
      }
      writeFile(outPath, encodePng(png), 'overlay');
    }
    const layerInfo = model.layers();
    const shapesOf = (r: ExplainResult) => r.layers.map((name) => ({ name, shape: [...(layerInfo.find((l) => l.name === name)?.shape ?? [])] }));
    const written = [outPath, flags.map, flags.raw, flags.grad].filter(Boolean);
    const scoreKind = (r: ExplainResult) => (r as DetectionExplanation).scoreKind;
    if (flags.json && all) {
      const explained = results.map((r, j) => ({ detection: detectionJson(shown[j]), score: r.score[0], layers: shapesOf(r) }));
      console.log(JSON.stringify({ method, scoreKind: scoreKind(result), results: explained, ms: Math.round(ms) }));
    } else if (flags.json) {
      const cls = result.category?.[0] ?? shown[0]?.classId ?? classIndex ?? null;
      const detection = shown[0] ? { detection: detectionJson(shown[0]), scoreKind: scoreKind(result) } : {};
      console.log(JSON.stringify({ score: result.score[0], class: cls, layers: shapesOf(result), ...detection, ms: Math.round(ms) }));
    } else if (all) {
      console.log(`${method}: ${results.length} detections, ${scoreKind(result)} scores`);
      for (const [j, r] of results.entries()) console.log(`  #${shown[j].index} ${r.target}, score ${r.score[0].toFixed(4)}, at ${shapesOf(r).map((s) => `${s.name} [${s.shape.join('x')}]`).join(', ')}`);
      console.log(`grid: the composite (each map renormalized inside its box), then detections ${shown.map((d) => d.index).join(', ')}`);
      console.log(`${written.length ? `wrote ${written.join(', ')} ` : ''}in ${(ms / 1000).toFixed(2)} s`);
    } else {
      const cls = result.category?.[0] ?? classIndex ?? null;
      const names = !head && preset.model.kind !== 'generic' ? preset.model.classNames : undefined;
      const label = cls !== null && names?.[cls] ? ` (${names[cls]})` : '';
      console.log(`${methodList.join(', ')}: ${result.target}${label}, score ${result.score[0].toFixed(4)}`);
      if (methodList.length > 1) console.log(`grid: ${methodList.join(', ')} (left to right, top to bottom)`);
      console.log(`layers: ${shapesOf(result).map((s) => `${s.name} [${s.shape.join('x')}]`).join(', ')}`);
      console.log(`${written.length ? `wrote ${written.join(', ')} ` : ''}in ${(ms / 1000).toFixed(2)} s`);
    }
    return 0;
  } finally {
    model.dispose();
  }
}

/**
 * The detector head when the model is one: a sidecar's or a detector
 * preset's format (errors propagate), else the layout of its outputs for
 * generic presets (none found: not a detector, unless detection flags ask for one).
 */
function findDetector(model: ExplainableModel, preset: Preset, meta: DarknetSidecar | undefined, asked: boolean): DetectorHead | undefined {
  const kind = preset.model.kind;
  if (!meta && kind === 'classifier') return undefined;
  try {
    return detectorHead(model, { preset, meta });
  } catch (e) {
    if (e instanceof DetectorFormatError && !meta && kind === 'generic' && !asked) return undefined;
    throw e;
  }
}

/** The detection `--detection` names, else the top one (of class `--class` when given). */
function chooseDetection(detections: readonly Detection[], index: number | undefined, classIndex: number | undefined, conf: number): Detection {
  if (index !== undefined) return detectionAt(detections, index);
  const chosen = classIndex === undefined ? detections[0] : detections.find((d) => d.classId === classIndex);
  if (!chosen) {
    const found = [...new Set(detections.map((d) => d.classId))];
    throw new TargetError(
      classIndex === undefined
        ? `no detection above confidence ${conf} to explain (lower --conf)`
        : `no detection of class ${classIndex} above confidence ${conf} (detected classes: ${found.join(', ') || 'none'})`,
    );
  }
  return chosen;
}

/**
 * Models that are not detectors. Classifiers: the given class (else
 * explain()'s default, the top class). Anything else: the given class of the
 * output, else its largest element, at the layer(s) feeding its head.
 */
function classTarget(model: ExplainableModel, preset: Preset, classIndex: number | undefined, output: string | undefined): { target?: TargetSpec; layers?: string[] } {
  if (preset.model.kind === 'classifier') return { target: classIndex === undefined ? undefined : classScore(classIndex, { output }) };
  const name = output ?? model.outputs[0].name;
  const heads = headLayers(model, [name]);
  const layers = heads.length ? heads : undefined;
  if (classIndex !== undefined) return { target: classScore(classIndex, { output }), layers };
  return { target: functionTarget((v) => max(reshape(v[name], [v[name].size])), `largest element of '${name}'`), layers };
}

/** A one-line progress bar on stderr for the batched methods. */
function progressBar(label: string): (done: number, total: number) => void {
  return (done, total) => {
    const width = 30;
    const filled = Math.round((done / Math.max(total, 1)) * width);
    process.stderr.write(`\r${label} [${'#'.repeat(filled)}${' '.repeat(width - filled)}] ${done}/${total}`);
  };
}

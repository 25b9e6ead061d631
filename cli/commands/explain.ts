// gradlens explain: a CAM (or ZF-Net) map for one model and one photo or .npy
// input, as an overlay PNG and/or .npy files. With no model and no image it
// explains the embedded default: Yolo-Fastest's top detection on dog.jpg.
// Detectors go through the library (explainers/yolo: detect, then explain one
// detection or all of them); this file only parses flags and writes files.

import { assertFinite, keep, max, reshape, scopeAsync, tensor, type Tensor } from '../../engine/index.js';
import type { ExplainableModel } from '../../engine/index.js';
import {
  detectionJson,
  className,
  detectInput,
  detectionAt,
  explain,
  explainDetection,
  explainDetections,
  methods,
  SCORE_KINDS,
  SMOOTH_TYPES,
  type Detection,
  type DetectionExplanation,
  type DetectionsExplanation,
  type DetectorHead,
  type ExplainResult,
  type ScoreKind,
  type SmoothType,
} from '../../explainers/index.js';
import { TargetError } from '../../explainers/errors.js';
import type { DffConcepts } from '../../explainers/dff.js';
import { classTarget as classScore, functionTarget, type TargetSpec } from '../../explainers/targets.js';
import { mapOntoPhoto, type PhotoMapping } from '../../explainers/presets.js';
import { encodePng } from '../../explainers/node-image.js';
import { colorize, conceptOverlay, drawDetections, grid, overlay, type Colormap } from '../../explainers/render.js';
import type { RgbaImage } from '../../explainers/image.js';
import { toFloat32 } from '../../importers/onnx/host-tensor.js';
import { readNpy, writeNpy } from '../../importers/onnx/npy.js';
import { decimal, didYouMean, integerFlag, parseArgs, UsageError, type FlagSpec } from '../args.js';
import { detectionLabel, F16_HELP, formatDetections, loadInput, oneImage, presetFlag, readSidecar, SOURCE_FLAGS, sourcePaths, unitFlag } from '../detector.js';
import { CliError, withCliWording } from '../errors.js';
import { readFile, writeFile } from '../files.js';
import { checkClassOutput, mismatch, modelKind } from '../kind.js';
import { progressBar, type ProgressBar } from '../progress.js';
import { parseTarget, resolveTarget, shorthandOf, TARGET_FORMS } from '../target.js';

const DEFAULT_OUT = 'gradlens-explain.png';

export const usage = `usage: gradlens explain --model <m.onnx> (--image <photo.jpg|png> [--preset <name>] | --input <x.npy> | --images <dir|list.txt> --out-dir <dir> [--shard i/n]) --method <name> --layer <name>[,<name>...] [--target <form> | --class <k> | --detection <j|all>] [--score <kind>] [--out <overlay.png>] [--map <map.npy>] [--raw <map.npy>] [--grad <g.npy>] [--json]
  With no model and no image: the embedded default (Yolo-Fastest, dog.jpg, gradcam) -> ${DEFAULT_OUT}.
  What the model is comes from its outputs: a classifier (class scores [N, K] computed from spatial
  features), a detector (YOLO layouts; raw heads given anchors by --meta or a preset), else its first
  output (or --output), whose largest element is explained.
  --method       ${Object.keys(methods).join(', ')} (default gradcam);
                 several, comma separated, make a grid of overlays
  --layer        target tensor name(s), comma separated (see \`gradlens layers\`); default: the last
                 spatial layer before global pooling (classifiers) or the layer feeding the head that
                 made the explained detection (detectors), else the layer feeding the output
  --target       what is explained (explainers/targets.ts); one of ${TARGET_FORMS.join(', ')}:
                   class:K         class K's score (logit) of the output (--output)
                   softmax:K       class K's softmax probability
                   binary:0|1      a single-logit output: the logit for class 1, its negation for class 0
                   counterfactual:<target>  the negated score of another form (e.g. counterfactual:class:3):
                                   what lowers it (Grad-CAM paper, sec. 4); not for detections
                   mask:K:<f>      class K's logits summed over a mask, for segmentation outputs [N, K, H, W]
                                   or maps [N, H, W]: a .npy [H, W] of the output's H x W (weights), or a
                                   .png whose nonzero pixels are the mask, resized (nearest) to that H x W
                   similar:<f>     cosine similarity of the output with a reference embedding: a .npy, or
                                   a .png whose embedding the same model and --preset compute
                   detection:J|all detectors: the same as --detection
                   max             the output's largest element (per item)
                 default: the top class (classifiers), the top detection (detectors), else max
  --class        the shorthand of --target class:K; for detectors the top detection of class K
  --detection    detectors: the detection to explain, by index in the printed list (0 = highest score),
                 or 'all': a grid of the composite (each map renormalized inside its box) and one overlay
                 per detection (--map then writes the composite; --raw, --grad the first detection's)
  --score        detectors: logit (pre-sigmoid class logit; the default where the graph shows it), prob
                 (objectness x class probability), obj (objectness), box (class scores of the
                 predictions matching the box)
  --conf, --iou  detectors: confidence threshold (default 0.25) and NMS IoU (default 0.45)
  --meta         darknet sidecar (anchors, strides, names); default <model>.json beside the model
  --preset       preprocessing (and anchors for raw heads): a name from explainers/presets.ts; default
                 picked by model file name
  --out          overlay PNG (default ${DEFAULT_OUT} when no other output is asked for)
  --map          final map at the input's H x W, in [0, 1], float32 .npy
  --raw          the first layer's map after ReLU, before upsampling and scaling, float32 .npy
  --grad         d score / d activation at the first layer, [C, H, W] float32 .npy (saliency,
                 inputxgradient, integratedgradients: the attribution at the input: |g|, x g, IG)
                 (a batch in --input: every item, one more leading axis [N, ...] in each file)
  --json         print {score, class, layers: [{name, shape}], detection, warnings, ms}; a batch:
                 {batch, items: [{item, score, class}], layers, warnings, ms}; integratedgradients
                 adds completenessGap and baselineScore (to the item, in a batch)
  --output       graph output the class refers to (default: the first)
  --batch-size   masked/ablated copies per forward pass (scorecam, ablationcam, occlusion), inputs per
                 forward and backward pass (integratedgradients' points, --smooth copies); default 16;
                 1 for YOLOv5/v8 exports, whose decode usually fixes the batch
  --aug-smooth, --eigen-smooth   pytorch-grad-cam's smoothing options
  --top-n        scorecam: Faster-Score-CAM, masks only the N channels of highest activation variance
  --concepts     dff: concepts k of the factorization (default 5); prints each concept's top classes
  --steps        integratedgradients: integration points, both ends included (default 50); --json
                 then reports completenessGap = |sum(IG) - (score - baselineScore)|
  --baseline     integratedgradients: black (zeros of the input, the default), blur (Gaussian,
                 sigma a tenth of the larger side), or a .npy of the input's shape
  --smooth       SmoothGrad over n noisy copies of the input, for any method: the input-gradient methods
                 (saliency, inputxgradient, integratedgradients) smooth their attribution, the others
                 their final maps (--batch-size copies per pass; score, --raw and --grad: the clean input's)
  --noise        SmoothGrad noise sigma, relative to the input's max - min (default 0.15)
  --smooth-type  smoothgrad (mean, the default), smoothgrad_sq (mean of squares), vargrad (variance)
  --seed         SmoothGrad noise seed (default 1)
  --input-shape  name=1x3xHxW for models with symbolic input dimensions (default: the .npy's or the preset's)
${F16_HELP}
  --alpha        overlay opacity (default 0.5); --colormap jet|viridis
  --images       a folder (its .jpg/.png files, recursively) or a list file (a path a line, relative to
                 the list): each image explained with the model loaded once, into --out-dir as
                 <name>.png and <name>.npy (the map), plus results.csv and results.json (image, status,
                 target, class, score, ms, overlay, map, error). A rerun skips the images done; a bad
                 image is a row with its error (exit 1 only when no image is explained)
  --shard        i/n with --images: only the images at positions i, i+n, ... of the sorted list, into
                 results-i-of-n.csv/.json (one shard per machine or job array task)`;

/** How folder mode (cli/folder.ts) runs this command per image: its loaded model, and the --json result handed over. */
export interface ExplainHooks {
  load: typeof loadInput;
  onResult: (json: Record<string, unknown>, target: string) => void;
}

export const EXPLAIN_FLAGS = {
  ...SOURCE_FLAGS,
  images: { type: 'string' },
  'out-dir': { type: 'string' },
  shard: { type: 'string' },
    method: { type: 'string' },
    layer: { type: 'string' },
    class: { type: 'string' },
    detection: { type: 'string' },
    target: { type: 'string' },
    score: { type: 'string' },
    map: { type: 'string' },
    raw: { type: 'string' },
    grad: { type: 'string' },
    output: { type: 'string' },
    'batch-size': { type: 'string' },
    'top-n': { type: 'string' },
    concepts: { type: 'string' },
    'aug-smooth': { type: 'boolean' },
    'eigen-smooth': { type: 'boolean' },
    steps: { type: 'string' },
    baseline: { type: 'string' },
    smooth: { type: 'string' },
    noise: { type: 'string' },
    'smooth-type': { type: 'string' },
    seed: { type: 'string' },
    alpha: { type: 'string' },
    colormap: { type: 'string' },
} satisfies Record<string, FlagSpec>;

export async function run(argv: string[], hooks?: ExplainHooks): Promise<number> {
  const { flags, positionals } = parseArgs(argv, EXPLAIN_FLAGS);
  // A folder or list of images: cli/folder.ts calls back here per image, with hooks.
  if (!hooks && (flags.images !== undefined || flags['out-dir'] !== undefined || flags.shard !== undefined)) {
    return (await import('../folder.js')).runFolder(flags, positionals);
  }
  if (positionals.length) throw new UsageError(`unexpected argument '${positionals[0]}'`);
  const { modelPath, imagePath } = sourcePaths(flags);
  // Several comma-separated methods make a grid of overlays (the file outputs use the first).
  const methodList = (flags.method ?? 'gradcam').split(',').map((m) => m.trim()).filter(Boolean);
  for (const m of methodList) {
    if (!Object.hasOwn(methods, m)) throw new UsageError(`unknown method '${m}'.${didYouMean(m, Object.keys(methods))} Methods: ${Object.keys(methods).join(', ')}`);
  }
  if (!methodList.length) throw new UsageError('--method names no method');
  const method = methodList[0];
  // --target (cli/target.ts), or its shorthands --class and --detection.
  const targetForm = flags.target === undefined ? undefined : parseTarget(flags.target);
  const shorthand = flags.class !== undefined ? 'class' : flags.detection !== undefined ? 'detection' : undefined;
  if (targetForm && shorthand) throw new UsageError(`give --target or its shorthand --${shorthand}, not both (--${shorthand} ${flags[shorthand]} is --target ${shorthand}:${flags[shorthand]})`);
  const short = shorthandOf(targetForm);
  const classIndex = flags.class === undefined ? short.classIndex : integerFlag(flags.class, 'class', 0, 'a non-negative integer');
  const detectionFlag =
    flags.detection === undefined
      ? short.detection
      : flags.detection === 'all'
        ? ('all' as const)
        : integerFlag(flags.detection, 'detection', 0, "an index in the detection list (0 = highest score) or 'all'");
  if (detectionFlag !== undefined && classIndex !== undefined) throw new UsageError('give --class or --detection, not both');
  if (detectionFlag === 'all' && methodList.length > 1) throw new UsageError('--detection all makes a grid of detections: give one --method');
  const score = flags.score as ScoreKind | undefined;
  if (score !== undefined && !SCORE_KINDS.includes(score)) {
    const near = didYouMean(score, SCORE_KINDS);
    throw new UsageError(`--score '${flags.score}' must be one of ${SCORE_KINDS.join(', ')}${near ? `.${near}` : ''}`);
  }
  const conf = unitFlag(flags.conf, 'conf', 0.25);
  const iou = unitFlag(flags.iou, 'iou', 0.45);
  const colormap = (flags.colormap ?? 'jet') as Colormap;
  if (colormap !== 'jet' && colormap !== 'viridis') throw new UsageError(`--colormap must be jet or viridis`);
  const alpha = unitFlag(flags.alpha, 'alpha', 0.5);
  const batchSize = flags['batch-size'] === undefined ? 16 : integerFlag(flags['batch-size'], 'batch-size', 1, 'a positive integer');
  if (flags.grad && !methods[method].usesGradients) throw new UsageError(`--grad: method '${method}' computes no gradient`);
  const topN = flags['top-n'] === undefined ? undefined : integerFlag(flags['top-n'], 'top-n', 1, 'a positive integer (channels)');
  if (topN !== undefined && !methodList.includes('scorecam')) throw new UsageError('--top-n applies to --method scorecam (Faster-Score-CAM)');
  const concepts = flags.concepts === undefined ? undefined : integerFlag(flags.concepts, 'concepts', 1, 'a positive integer');
  if (concepts !== undefined && !methodList.includes('dff')) throw new UsageError('--concepts applies to --method dff');
  const attribution = attributionFlags(flags, methodList);
  const layers = flags.layer === undefined ? undefined : flags.layer.split(',').map((l) => l.trim()).filter(Boolean);
  if (layers && !layers.length) throw new UsageError(`--layer '${flags.layer}' names no layer`);
  const wantsFile = flags.out || flags.map || flags.raw || flags.grad || flags.json;
  const outPath = flags.out ?? (wantsFile ? undefined : DEFAULT_OUT);

  const preset = presetFlag(modelPath, flags.preset);
  if (preset.layout === 'nhwc') {
    // Input-space methods perturb or differentiate the input image and assume NCHW.
    const refused = methodList.filter((m) => methods[m].inputSpace);
    if (refused.length || flags['aug-smooth']) {
      throw new UsageError(`preset '${preset.name}' feeds a channels-last (NHWC) input: ${[...refused, ...(flags['aug-smooth'] ? ['--aug-smooth'] : [])].join(', ')} need NCHW; use a layer method such as gradcam`);
    }
  }
  const meta = readSidecar(modelPath, flags.meta);
  const { model, input: x, photo, prepared } = await (hooks?.load ?? loadInput)(modelPath, preset, { image: imagePath, input: flags.input, inputShape: flags['input-shape'], f16: flags.f16 });
  try {
    return await withCliWording({ model: modelPath, layerFlag: '--layer' }, async () => {
      // A graph output, or any tensor of the model (a pre-sigmoid tensor: what a saturation warning advises).
      if (flags.output !== undefined && !model.outputs.some((o) => o.name === flags.output) && !model.layers().some((l) => l.name === flags.output)) {
        const names = model.outputs.map((o) => o.name);
        throw new UsageError(`--output '${flags.output}' is neither a graph output nor a tensor of the model.${didYouMean(flags.output, model.layers().map((l) => l.name))} Outputs: ${names.join(', ')}`);
      }
      const started = performance.now();
      const asked = detectionFlag !== undefined || score !== undefined || flags.meta !== undefined;
      const kind = modelKind(model, { preset, presetNamed: flags.preset !== undefined, meta, output: flags.output });
      const head = kind.kind === 'detector' ? kind.head : undefined;
      if (kind.kind === 'detector' && targetForm && targetForm.kind !== 'class' && targetForm.kind !== 'detection') {
        throw new CliError(
          `--target ${flags.target}: a detector explains a detection's score (--score): give --target detection:J|all or class:K (the top detection of class K)` +
            (targetForm.kind === 'counterfactual' ? '; counterfactual explanations of detections are not supported' : ''),
        );
      }
      if (!head && asked) throw new CliError(`--detection, --score and --meta apply to detectors; ${mismatch(model, kind)}`);
      if (head) oneImage(x.shape);
      const nhwc = preset.layout === 'nhwc';
      if (!head && x.shape.length !== 4) {
        throw new CliError(`explain draws its maps over an image input of rank 4; the model's input '${model.inputs[0].name}' has shape [${x.shape.join(', ')}]`);
      }
      // dff: each concept's top classes, printed as they are found.
      const conceptNames = kind.kind === 'classifier' && preset.model.kind === 'classifier' ? preset.model.classNames : undefined;
      let lastConcepts: DffConcepts | undefined;
      const printConcepts = (c: DffConcepts) => {
        lastConcepts = c;
        if (!flags.json) console.log(formatConcepts(c, conceptNames));
      };
      // One bar per method run (cli/progress.ts): drawn in a terminal only, not under --json.
      let bar: ProgressBar = { end() {} };
      const common = (m: string) => ({
        // The map has the image's H x W: NCHW dims 2, 3, or NHWC dims 1, 2.
        size: nhwc ? ([x.shape[1], x.shape[2]] as const) : undefined,
        // The library's default output is a graph output; an inner --output is read by the target itself.
        output: model.outputs.some((o) => o.name === flags.output) ? flags.output : undefined,
        augSmooth: flags['aug-smooth'],
        eigenSmooth: flags['eigen-smooth'],
        // Unset for a detector: the library's default (1 for exports whose decode fixes the batch).
        batchSize: flags['batch-size'] === undefined && head ? undefined : batchSize,
        onProgress: (bar = progressBar(m, flags.json)).onProgress,
        ...(m === 'scorecam' && topN !== undefined ? { topN } : {}),
        ...(m === 'dff' ? { concepts, onConcepts: printConcepts } : {}),
      });
      const onPhoto = photo && prepared ? { mapping: prepared.mapping, size: [photo.width, photo.height] as const } : undefined;
      const endBar = () => bar.end();

      // What is explained: detections (library: explainers/yolo), or per batch item a class / the largest output element.
      // runs[i][k]: item i (one for detectors), method k (or detection k for --detection all).
      const runs: ExplainResult[][] = [];
      let shown: Detection[] = [];
      let all: DetectionsExplanation | undefined;
      if (kind.kind === 'detector') {
        const head = kind.head;
        const { detections } = await detectInput(model, x, { head, conf, iou, photo: onPhoto });
        if (!flags.json) console.log(formatDetections(detections, head, conf, iou));
        if (!detections.length) throw await noDetection(model, x, head, conf);
        const options = { head, score, layers };
        if (detectionFlag === 'all') {
          // One bar over the detections (a method's own batches are not drawn here).
          const shared = common(method);
          all = await explainDetections(model, x, detections, method, { ...shared, onProgress: undefined, onDetection: shared.onProgress, ...options, ...attribution.options(method) });
          endBar();
          runs.push(all.results);
          shown = detections;
        } else {
          const chosen = chooseDetection(detections, detectionFlag, classIndex, conf);
          const results: ExplainResult[] = [];
          for (const m of methodList) {
            results.push(await explainDetection(model, x, chosen, m, { ...common(m), ...options, ...attribution.options(m) }));
            endBar();
          }
          runs.push(results);
          shown = [chosen];
        }
      } else {
        // A classifier: the class given, else explain()'s default (the top class), at its last spatial layer.
        // --target's other forms read the classifier's output (or --output), else the generic model's.
        const custom =
          targetForm && targetForm.kind !== 'class'
            ? await resolveTarget(targetForm, { model, preset, output: kind.kind === 'classifier' ? flags.output : kind.output })
            : undefined;
        const { target, layers: defaults } =
          kind.kind === 'classifier'
            ? { target: custom ?? (classIndex === undefined ? undefined : classScore(classIndex, { output: flags.output })), layers: [kind.head.layer] }
            : genericTarget(model, kind, classIndex, custom);
        // Each item of a batch on its own: every item gets its maps, score and class (the batched
        // methods refuse one class per item), and a model exported for batch 1 runs as exported.
        const n = x.shape[0];
        const per = x.data.length / n;
        for (let i = 0; i < n; i++) {
          const item = { data: x.data.subarray(i * per, (i + 1) * per), shape: [1, ...x.shape.slice(1)] };
          const results: ExplainResult[] = [];
          for (const m of methodList) {
            const options = { ...common(m), layers: layers ?? defaults, target };
            results.push(await explain(model, item, m, { ...options, ...attribution.options(m, i, n) })); // host values: checked before upload
            endBar();
          }
          runs.push(results);
        }
      }
      const result = runs[0][0];
      const ms = performance.now() - started;
      const [H, W] = [result.height, result.width];
      const plane = H * W;
      const batch = all ? 1 : runs.length;
      // Per item, the first method's results: what the file outputs hold.
      const firsts = runs.map((r) => r[0]);
      const stack = (parts: Float32Array[]) => {
        const out = new Float32Array(parts.reduce((a, p) => a + p.length, 0));
        parts.reduce((at, p) => (out.set(p, at), at + p.length), 0);
        return out;
      };
      // One image: [H, W] (and [h, w], [C, h, w]) as before; a batch: one more leading axis [N, ...].
      const lead = batch > 1 ? [batch] : [];

      if (flags.map) writeFile(flags.map, writeNpy(all ? all.composite : stack(firsts.map((r) => r.map.subarray(0, plane))), [...lead, H, W]), 'map');
      if (flags.raw) {
        const [, h, w] = result.raw[0].shape;
        // After ReLU, as the contract says (occlusion's raw map is the signed score drop).
        const raw = stack(firsts.map((r) => r.raw[0].data.subarray(0, h * w).map((v) => Math.max(v, 0))));
        writeFile(flags.raw, writeNpy(raw, [...lead, h, w]), 'raw map');
      }
      if (flags.grad) {
        if (!result.gradient) throw new UsageError(`--grad: method '${method}' computes no layer gradient`);
        const g = result.gradient;
        const shape = g.shape.length === 4 ? g.shape.slice(1) : g.shape;
        const size = shape.reduce((a, b) => a * b, 1);
        writeFile(flags.grad, writeNpy(stack(firsts.map((r) => r.gradient!.data.subarray(0, size))), [...lead, ...shape]), 'gradient');
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
          const tiles = [picture(all.composite, shown), ...all.results.map((r, j) => picture(r.map.subarray(0, plane), [shown[j]]))];
          const captions = ['all: per-box maps', ...shown.map((d) => `#${d.index}`)];
          png = grid(tiles, Math.min(4, tiles.length), 4, captions);
        } else {
          // Item by item, one column per method.
          const pictures = runs.flatMap((r) => r.map((x) => picture(x.map.subarray(0, plane), shown)));
          const captions = runs.flatMap((_, i) => methodList.map((m) => [methodList.length > 1 ? m : '', batch > 1 ? `#${i}` : ''].filter(Boolean).join(' ')));
          const columns = methodList.length > 1 ? methodList.length : Math.min(4, pictures.length);
          png = pictures.length === 1 ? pictures[0] : grid(pictures, columns, 4, captions.some(Boolean) ? captions : undefined);
          // dff on one photo: every concept in its color, with a legend of its top classes.
          if (methodList.length === 1 && method === 'dff' && lastConcepts && photo && prepared && batch === 1) png = conceptPicture(lastConcepts, photo, prepared.mapping, H, W, conceptNames);
        }
        writeFile(outPath, encodePng(png), 'overlay');
      }
      const layerInfo = model.layers();
      const shapesOf = (r: ExplainResult) => r.layers.map((name) => ({ name, shape: [...(layerInfo.find((l) => l.name === name)?.shape ?? [])] }));
      const written = [outPath, flags.map, flags.raw, flags.grad].filter(Boolean);
      const scoreKind = (r: ExplainResult) => (r as DetectionExplanation).scoreKind;
      // The library's warnings (saturated scores, all-zero gradients or maps), once each, naming the item,
      // method or detection when there are several.
      const warnings = [
        ...new Set(
          runs.flatMap((r, i) =>
            r.flatMap((res, k) => {
              const where = all ? `detection ${shown[k].index}` : [batch > 1 ? `item ${i}` : '', methodList.length > 1 ? methodList[k] : ''].filter(Boolean).join(', ');
              return warningsOf(res).map((w) => (where ? `${where}: ${w}` : w));
            }),
          ),
        ),
      ];
      for (const w of warnings) console.error(`warning: ${w}`);
      const classOf = (r: ExplainResult) => r.category?.[0] ?? shown[0]?.classId ?? classIndex ?? null;
      const names = kind.kind === 'classifier' && preset.model.kind === 'classifier' && preset.model.classNames?.length === kind.head.classes ? preset.model.classNames : undefined;
      const label = (r: ExplainResult) => {
        const cls = r.category?.[0] ?? classIndex ?? null;
        return cls !== null && names?.[cls] ? ` (${names[cls]})` : '';
      };
      // Integrated gradients: how far sum(IG) is from f(x) - f(baseline) (the quadrature's error; more --steps shrink it).
      const gapOf = (r: ExplainResult) => {
        const c = r.completeness;
        return c ? { completenessGap: c.gap[0], baselineScore: c.baselineScore[0] } : {};
      };
      if (flags.json && all) {
        const explained = all.results.map((r, j) => ({ detection: detectionJson(shown[j]), score: r.score[0], target: r.target, layers: shapesOf(r) }));
        const json = { method, scoreKind: scoreKind(result), results: explained, warnings, ms: Math.round(ms) };
        // Folder mode (cli/folder.ts) makes a row per detection of it.
        if (hooks) hooks.onResult(json, result.target);
        else console.log(JSON.stringify(json));
      } else if (flags.json && batch > 1) {
        const items = firsts.map((r, i) => ({ item: i, score: r.score[0], class: classOf(r), ...gapOf(r) }));
        console.log(JSON.stringify({ batch, items, layers: shapesOf(result), warnings, ms: Math.round(ms) }));
      } else if (flags.json) {
        const detection = shown[0] ? { detection: detectionJson(shown[0]), scoreKind: scoreKind(result) } : {};
        // dff: the concept drawn and each concept's top classes.
        const concepts = lastConcepts ? { concepts: { layer: lastConcepts.layer, count: lastConcepts.concepts, drawn: lastConcepts.chosen[0], topClasses: lastConcepts.topClasses ?? null } } : {};
        const json = { score: result.score[0], class: classOf(result), layers: shapesOf(result), ...detection, ...gapOf(result), ...concepts, warnings, ms: Math.round(ms) };
        if (hooks) hooks.onResult(json, result.target);
        else console.log(JSON.stringify(json));
      } else if (all) {
        console.log(`${method}: ${all.results.length} detections, ${scoreKind(result)} scores`);
        for (const [j, r] of all.results.entries()) console.log(`  #${shown[j].index} ${r.target}, score ${r.score[0].toFixed(4)}, at ${shapesOf(r).map((s) => `${s.name} [${s.shape.join('x')}]`).join(', ')}`);
        console.log(`grid: the composite (each map renormalized inside its box), then detections ${shown.map((d) => d.index).join(', ')}`);
        console.log(`${written.length ? `wrote ${written.join(', ')} ` : ''}in ${(ms / 1000).toFixed(2)} s`);
      } else {
        for (const [i, r] of firsts.entries()) {
          console.log(`${methodList.join(', ')}: ${batch > 1 ? `item ${i}: ` : ''}${r.target}${label(r)}, score ${r.score[0].toFixed(4)}`);
          const c = r.completeness;
          if (c) {
            const share = c.delta[0] === 0 ? '' : ` (${(c.relativeGap[0] * 100).toPrecision(2)}% of ${c.delta[0].toFixed(4)})`;
            console.log(`  completeness gap |sum(IG) - (score - baseline score)| = ${c.gap[0].toPrecision(3)}${share}; baseline score ${c.baselineScore[0].toFixed(4)}, ${c.steps} steps`);
          }
        }
        if (methodList.length > 1 || batch > 1) console.log(`grid: ${batch > 1 ? 'item by item, ' : ''}${methodList.join(', ')} (left to right, top to bottom)`);
        console.log(`layers: ${shapesOf(result).map((s) => `${s.name} [${s.shape.join('x')}]`).join(', ')}`);
        console.log(`${written.length ? `wrote ${written.join(', ')} ` : ''}in ${(ms / 1000).toFixed(2)} s`);
      }
      return 0;
    });
  } finally {
    attribution.dispose();
    if (!hooks) model.dispose(); // folder mode's model serves every image
  }
}

/** ExplainResult.warnings in CLI words: the library's sentence, its advice given as flags. */
function warningsOf(r: ExplainResult): string[] {
  const quoted = (names: readonly string[]) => names.map((l) => `'${l}'`).join(', ');
  return (r.warnings ?? []).map((w) => {
    switch (w.code) {
      case 'dead-gradient':
        return w.tensor
          ? `${w.message.replace(/ explain the .*$/, '')} Explain the tensor before the activation instead: --output ${w.tensor}`
          : `the gradient of ${r.target} is all zero at ${quoted(w.layers)}: the map shows no evidence, not evidence of nothing (saturated or inactive paths). Try another --layer (\`gradlens layers\` lists them) or --output on a tensor before the final activation.`;
      case 'zero-activations':
        return `the activations at ${quoted(w.layers)} are all zero for this input: no method can draw a map there. Try another --layer (\`gradlens layers\` lists them).`;
      case 'negative-map':
        return `the map at ${quoted(w.layers)} is all zero: the weighted channel sum is negative everywhere. Try --method layercam, or another --layer.`;
      case 'flat-map':
        return `the map at ${quoted(w.layers)} is constant: that layer has no spatial extent to point at. Pick a spatial --layer (\`gradlens layers\` lists them).`;
    }
  });
}

/**
 * A model that is neither a detector nor a classifier: the given class of
 * its output (when the output holds class scores), else the output's
 * largest element, at the layers modelKind found.
 */
function genericTarget(
  model: ExplainableModel,
  kind: { output: string; layers: string[] },
  classIndex: number | undefined,
  custom?: TargetSpec,
): { target: TargetSpec; layers: string[] } {
  const name = kind.output;
  if (!kind.layers.length) throw new CliError(`the model has no spatial layer (rank 4, more than 1x1) that output '${name}' is computed from: CAM maps need one`);
  if (custom) return { target: custom, layers: kind.layers };
  if (classIndex !== undefined) {
    checkClassOutput(model, kind, classIndex);
    return { target: classScore(classIndex, { output: name }), layers: kind.layers };
  }
  const inner = model.outputs.some((o) => o.name === name) ? [] : [name];
  return { target: functionTarget((v) => max(reshape(v[name], [v[name].size])), `largest element of '${name}'`, inner), layers: kind.layers };
}

/** The detection `--detection` names, else the top one (of class `--class` when given). */
function chooseDetection(detections: readonly Detection[], index: number | undefined, classIndex: number | undefined, conf: number): Detection {
  if (index !== undefined) return detectionAt(detections, index);
  const chosen = classIndex === undefined ? detections[0] : detections.find((d) => d.classId === classIndex);
  if (!chosen) {
    const found = [...new Set(detections.map((d) => d.classId))];
    throw new TargetError(`no detection of class ${classIndex} above confidence ${conf} (detected classes: ${found.join(', ')})`);
  }
  return chosen;
}

/**
 * No detection above --conf: the error names a --conf that finds one (the
 * best prediction's score, rounded down), as "lower --conf" alone can lead
 * to another empty list.
 */
async function noDetection(model: ExplainableModel, x: { data: Float32Array; shape: readonly number[] }, head: DetectorHead, conf: number): Promise<TargetError> {
  // The decoded predictions at confidence 0, without NMS (its cost grows with the square of their count).
  const outputs = await scopeAsync(async () => {
    const { outputs: out } = model.run({ [model.inputs[0].name]: tensor(x.data, x.shape) });
    const names = [...new Set(head.scales.map((s) => s.output))];
    return Object.fromEntries(await Promise.all(names.map(async (n) => [n, { values: await out[n].data(), shape: out[n].shape }] as const)));
  });
  const best = head.decode(outputs, 0).reduce<{ cls: number; score: number } | undefined>((b, p) => (!b || p.score > b.score ? p : b), undefined);
  if (!best) return new TargetError(`no detection to explain: the model predicts no box on this input, at any confidence`);
  const step = best.score > 0 ? 10 ** (Math.floor(Math.log10(best.score)) - 1) : 0;
  const below = step ? Number((Math.floor(best.score / step) * step).toPrecision(2)) : 0;
  return new TargetError(`no detection above confidence ${conf} to explain; the best prediction (${className(head, best.cls)}) scores ${best.score.toPrecision(3)}: pass --conf ${below} or lower`);
}

/** The input-gradient methods: SmoothGrad smooths their attribution (the other methods' final maps). */
const INPUT_GRADIENT_METHODS = ['saliency', 'inputxgradient', 'integratedgradients'];

interface AttributionFlags {
  'aug-smooth'?: boolean;
  steps?: string;
  baseline?: string;
  smooth?: string;
  noise?: string;
  'smooth-type'?: string;
  seed?: string;
}

/**
 * --steps, --baseline (integratedgradients) and --smooth, --noise,
 * --smooth-type, --seed (SmoothGrad, over any method), checked
 * against the methods asked for. `options(m)` gives method m its own, the
 * baseline .npy as a tensor made in the caller's scope; `completeness(r)` is
 * the check reported by the integrated-gradients run that gave `r`.
 */
function attributionFlags(flags: AttributionFlags, methodList: readonly string[]) {
  const ig = methodList.includes('integratedgradients');
  for (const f of ['steps', 'baseline'] as const) {
    if (flags[f] !== undefined && !ig) throw new UsageError(`--${f} applies to --method integratedgradients`);
  }
  const given = (['smooth', 'noise', 'smooth-type', 'seed'] as const).filter((f) => flags[f] !== undefined);
  // SmoothGrad applies to every method (the CAM family through the driver's map smoothing), but not on top of --aug-smooth.
  if (flags.smooth !== undefined && flags['aug-smooth']) throw new UsageError('give --smooth (SmoothGrad) or --aug-smooth, not both');
  if (given.length && flags.smooth === undefined) throw new UsageError(`--${given[0]} needs --smooth <n>, the number of noisy copies`);
  const steps = flags.steps === undefined ? undefined : integerFlag(flags.steps, 'steps', 2, 'an integer >= 2');
  const smooth = flags.smooth === undefined ? undefined : integerFlag(flags.smooth, 'smooth', 1, 'a positive integer (noisy copies)');
  const seed = flags.seed === undefined ? undefined : integerFlag(flags.seed, 'seed', 0, 'a non-negative integer');
  const noise = flags.noise === undefined ? undefined : decimal(flags.noise);
  if (noise !== undefined && !(noise >= 0)) throw new UsageError(`--noise '${flags.noise}' must be a number >= 0 (relative to the input's max - min)`);
  const smoothType = flags['smooth-type'] as SmoothType | undefined;
  if (smoothType !== undefined && !SMOOTH_TYPES.includes(smoothType)) {
    const near = didYouMean(smoothType, SMOOTH_TYPES);
    throw new UsageError(`--smooth-type '${smoothType}' must be one of ${SMOOTH_TYPES.join(', ')}${near ? `.${near}` : ''}`);
  }
  const baselineFlag = flags.baseline;
  const named = baselineFlag === 'black' || baselineFlag === 'blur' ? baselineFlag : undefined;
  const npy = baselineFlag !== undefined && !named ? readNpy(readFile(baselineFlag, 'baseline')) : undefined;
  const baselineData = npy ? toFloat32(npy) : undefined;
  if (npy) assertFinite(`--baseline '${baselineFlag}'`, baselineData!, npy.shape);
  // The .npy baseline as tensors (one per batch item when it has a row per item), made once, freed by dispose().
  const baselines = new Map<number, Tensor>();
  const baselineTensor = (i: number, items: number): Tensor => {
    const per = npy!.shape.length === 4 && items > 1 && npy!.shape[0] === items ? baselineData!.length / items : 0;
    const key = per ? i : -1;
    if (!baselines.has(key)) baselines.set(key, keep(per ? tensor(baselineData!.subarray(i * per, (i + 1) * per), [1, ...npy!.shape.slice(1)]) : tensor(baselineData!, npy!.shape)));
    return baselines.get(key)!;
  };
  return {
    /** Method m's options; item `i` of `items` picks its row of an [N, C, H, W] baseline. */
    options(m: string, i = 0, items = 1): { steps?: number; baseline?: 'black' | 'blur' | Tensor; smooth?: number; noise?: number; smoothType?: SmoothType; seed?: number } {
      const smoothing = smooth === undefined ? {} : { smooth, noise, smoothType, seed };
      if (!INPUT_GRADIENT_METHODS.includes(m)) return smoothing;
      if (m !== 'integratedgradients') return smoothing;
      const baseline = npy ? baselineTensor(i, items) : named;
      return { ...smoothing, steps, baseline };
    },
    dispose: () => baselines.forEach((t) => t.dispose()),
  };
}

/**
 * dff's picture: each concept's map (first image) brought onto the photo, each
 * pixel colored by its strongest concept, and a legend naming each concept's
 * top classes (pytorch-grad-cam's show_factorization_on_image).
 */
function conceptPicture(c: DffConcepts, photo: RgbaImage, mapping: PhotoMapping, height: number, width: number, names?: readonly string[]): RgbaImage {
  const [, k, h, w] = c.maps.shape;
  // The layer's h x w grid spans the input's H x W: scale the photo -> input mapping to it.
  const toLayer = { ...mapping, scaleX: (mapping.scaleX * w) / width, offsetX: (mapping.offsetX * w) / width, scaleY: (mapping.scaleY * h) / height, offsetY: (mapping.offsetY * h) / height };
  const size = photo.width * photo.height;
  const maps = new Float32Array(k * size);
  for (let j = 0; j < k; j++) maps.set(mapOntoPhoto(c.maps.data.subarray(j * h * w, (j + 1) * h * w), h, w, photo, toLayer), j * size);
  const labels = Array.from({ length: k }, (_, j) => {
    const top = c.topClasses?.[j]?.map((t) => `${names?.[t.classId] ?? t.classId} ${t.probability.toFixed(2)}`).join(', ');
    return `concept ${j}${top ? `: ${top}` : ''}`;
  });
  return conceptOverlay(photo, maps, photo.width, photo.height, labels);
}

/** dff's concepts: which was drawn, and each one's top classes (a classifier's GAP + linear head only). */
export function formatConcepts(c: DffConcepts, names?: readonly string[]): string {
  const why = c.rule === 'class' ? 'the concept the classifier gives the class the highest probability' : 'the concept carrying the most activation';
  const lines = [`dff at '${c.layer}': ${c.concepts} concepts; drawn: concept ${[...new Set(c.chosen)].join(', ')} (${why})`];
  c.topClasses?.forEach((top, j) => {
    const classes = top.map((t) => `${t.classId}${names?.[t.classId] ? ` (${names[t.classId]})` : ''} ${t.probability.toFixed(3)}`);
    lines.push(`  concept ${j}: ${classes.join(', ')}`);
  });
  return lines.join('\n');
}

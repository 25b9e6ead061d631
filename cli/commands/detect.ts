// gradlens detect: the detections of a YOLO model on a photo (or a prepared
// .npy input), printed as a table or as JSON, optionally drawn on the photo.
// With no model and no image: the embedded default (Yolo-Fastest, dog.jpg).

import { detectInput, detectionJson, DetectorFormatError } from '../../explainers/index.js';
import { encodePng } from '../../explainers/node-image.js';
import { drawDetections } from '../../explainers/render.js';
import { parseArgs, UsageError } from '../args.js';
import { detectionLabel, F16_HELP, formatDetections, loadInput, oneImage, presetFlag, readSidecar, SOURCE_FLAGS, sourcePaths, unitFlag } from '../detector.js';
import { CliError } from '../errors.js';
import { writeFile } from '../files.js';
import { mismatch, modelKind } from '../kind.js';

export const usage = `usage: gradlens detect --model <m.onnx> (--image <photo.jpg|png> [--preset <name>] | --input <x.npy>) [--meta <sidecar.json>] [--conf 0.25] [--iou 0.45] [--json] [--out <boxes.png>]
  With no model and no image: the embedded default (Yolo-Fastest, dog.jpg).
  --preset       preprocessing (and anchors for raw heads): a name from explainers/presets.ts; default picked by
                 model file name. The format comes from the model's outputs
  --meta         darknet sidecar (anchors, strides, names; format of yolo_fastest_1.1_coco.json);
                 default <model>.json beside the model when it exists
  --conf         confidence threshold on objectness and score (default 0.25)
  --iou          class-wise NMS IoU threshold (default 0.45)
  --json         print [{index, classId, className, score, box: [x1, y1, x2, y2] (photo pixels),
                 inputBox (model-input pixels), head, anchor, cell, output}]
  --out          the photo with the boxes drawn, PNG
  --input-shape  name=1x3xHxW for models with symbolic input dimensions
${F16_HELP}`;

export async function run(argv: string[]): Promise<number> {
  const { flags, positionals } = parseArgs(argv, SOURCE_FLAGS);
  if (positionals.length) throw new UsageError(`unexpected argument '${positionals[0]}'`);
  const { modelPath, imagePath } = sourcePaths(flags);
  if (flags.out && flags.input) throw new UsageError('--out draws on the photo: it needs --image');
  const conf = unitFlag(flags.conf, 'conf', 0.25);
  const iou = unitFlag(flags.iou, 'iou', 0.45);
  const preset = presetFlag(modelPath, flags.preset);
  const meta = readSidecar(modelPath, flags.meta);
  const { model, input, photo, prepared } = await loadInput(modelPath, preset, { image: imagePath, input: flags.input, inputShape: flags['input-shape'], f16: flags.f16 });
  try {
    // The graph says whether this is a detector (cli/kind.ts); a classifier or other model gets hints that work for it.
    const kind = modelKind(model, { preset, presetNamed: flags.preset !== undefined, meta });
    if (kind.kind !== 'detector') throw new CliError(mismatch(model, kind));
    const head = kind.head;
    if (preset.layout !== 'nchw') throw new DetectorFormatError(`preset '${preset.name}' feeds a channels-last input; the YOLO formats take NCHW`);
    oneImage(input.shape);
    const { detections } = await detectInput(model, input, {
      head,
      conf,
      iou,
      photo: photo && prepared ? { mapping: prepared.mapping, size: [photo.width, photo.height] } : undefined,
    });
    if (flags.json) console.log(JSON.stringify(detections.map(detectionJson)));
    else console.log(formatDetections(detections, head, conf, iou));
    if (flags.out && photo) {
      const picture = { ...photo, data: Uint8ClampedArray.from(photo.data) };
      drawDetections(picture, detections.map((d) => ({ box: d.box, label: detectionLabel(d, head), classId: d.classId })));
      writeFile(flags.out, encodePng(picture), 'picture');
      if (!flags.json) console.log(`wrote ${flags.out}`);
    }
    return 0;
  } finally {
    model.dispose();
  }
}

// Preprocessing presets: how each known model wants its photo (size, resize
// policy, normalization, layout), what its outputs mean (classifier, or a
// detector format: explainers/yolo/format.ts), and how a map at the model
// input maps back onto the photo.
// The presets of the models in ../shared/models follow its README.

import { blank, letterbox, paste, resizeImage, toNchw, type Normalization, type RgbaImage } from './image.js';

export type Resize =
  /** Stretch the whole photo to W x H. */
  | 'stretch'
  /** Stretch as darknet's resize_image: bilinear with aligned corners, in float (no rounding to bytes). */
  | 'darknet'
  /** Keep aspect ratio, pad centered with grey `fill` (ultralytics). */
  | 'letterbox'
  /** Pad to a square at the bottom/right with `fill`, then stretch (face-api). */
  | 'pad-square'
  /** Resize to height H keeping aspect ratio (width at most W), pad right with 0 after normalization (PaddleOCR cls). */
  | 'height-pad-right'
  /** Shorter side to 256/224 of the crop, center crop W x H (torchvision classifiers). */
  | 'center-crop';

export type ModelKind =
  | { kind: 'classifier'; classNames?: readonly string[] }
  /** YOLOv5 export with the decode in the graph: [1, boxes, 5 + C]. */
  | { kind: 'yolov5'; classNames?: readonly string[] }
  /** YOLOv8 / YOLO11 anchor-free export with the decode (DFL) in the graph: [1, 4 + C, boxes]. */
  | { kind: 'yolov8'; classNames?: readonly string[] }
  /** Darknet-style raw heads [1, A * (5 + C), gh, gw], anchors in input pixels per output. */
  | { kind: 'darknet'; anchors: Record<string, readonly (readonly [number, number])[]>; classNames?: readonly string[] }
  /** Tiny-YOLOv2's region head: one raw output [1, A * (5 + C), gh, gw], anchors in grid cells, softmax class probabilities. */
  | { kind: 'tiny-yolov2'; output?: string; anchors: readonly (readonly [number, number])[]; classNames?: readonly string[] }
  /** Anything else: the explained score is the largest element of the first output. */
  | { kind: 'generic' };

export interface Preset {
  name: string;
  description: string;
  resize: Resize;
  fill?: number;
  norm: Normalization;
  layout: 'nchw' | 'nhwc';
  model: ModelKind;
  /** Model file names this preset is picked for automatically. */
  files?: readonly string[];
  /** The input shape for models whose file leaves dimensions symbolic. */
  inputShape?: readonly number[];
}

const UNIT: Normalization = { mean: [0, 0, 0], std: [1, 1, 1], divisor: 255, order: 'rgb' };
const IMAGENET: Normalization = { mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225], divisor: 255, order: 'rgb' };

export const COCO_DARKNET_NAMES = [
  'person', 'bicycle', 'car', 'motorbike', 'aeroplane', 'bus', 'train', 'truck', 'boat', 'traffic light', 'fire hydrant',
  'stop sign', 'parking meter', 'bench', 'bird', 'cat', 'dog', 'horse', 'sheep', 'cow', 'elephant', 'bear', 'zebra',
  'giraffe', 'backpack', 'umbrella', 'handbag', 'tie', 'suitcase', 'frisbee', 'skis', 'snowboard', 'sports ball', 'kite',
  'baseball bat', 'baseball glove', 'skateboard', 'surfboard', 'tennis racket', 'bottle', 'wine glass', 'cup', 'fork',
  'knife', 'spoon', 'bowl', 'banana', 'apple', 'sandwich', 'orange', 'broccoli', 'carrot', 'hot dog', 'pizza', 'donut',
  'cake', 'chair', 'sofa', 'pottedplant', 'bed', 'diningtable', 'toilet', 'tvmonitor', 'laptop', 'mouse', 'remote',
  'keyboard', 'cell phone', 'microwave', 'oven', 'toaster', 'sink', 'refrigerator', 'book', 'clock', 'vase', 'scissors',
  'teddy bear', 'hair drier', 'toothbrush',
];

export const presets: Record<string, Preset> = {
  'yolo-fastest': {
    name: 'yolo-fastest',
    description: "Yolo-Fastest 1.1 COCO: darknet's plain resize to 320x320, RGB / 255; darknet heads",
    resize: 'darknet',
    norm: UNIT,
    layout: 'nchw',
    model: {
      kind: 'darknet',
      anchors: {
        yolo0_stride32: [[115, 73], [119, 199], [242, 238]],
        yolo1_stride16: [[12, 18], [37, 49], [52, 132]],
      },
      classNames: COCO_DARKNET_NAMES,
    },
    files: ['yolo_fastest_1.1_coco.onnx'],
  },
  yolov5: {
    name: 'yolov5',
    description: 'ultralytics YOLOv5: letterbox with grey 114, RGB / 255; decode inside the graph',
    resize: 'letterbox',
    fill: 114,
    norm: UNIT,
    layout: 'nchw',
    model: { kind: 'yolov5', classNames: COCO_DARKNET_NAMES },
    files: ['yolov5n_640.onnx', 'yolov5n_320.onnx', 'yolov5n_640_bn.onnx'],
  },
  yolov8: {
    name: 'yolov8',
    description: 'ultralytics YOLOv8 / YOLO11: letterbox with grey 114, RGB / 255; anchor-free, decode (DFL) inside the graph',
    resize: 'letterbox',
    fill: 114,
    norm: UNIT,
    layout: 'nchw',
    model: { kind: 'yolov8' },
    files: ['yolov8n_seeded_320.onnx'],
  },
  'tiny-face': {
    name: 'tiny-face',
    description: 'face-api tiny face detector: pad to square bottom/right, resize to 416, (RGB - [117.001, 114.697, 97.404]) / 255',
    resize: 'pad-square',
    fill: 0,
    norm: { mean: [117.001 / 255, 114.697 / 255, 97.404 / 255], std: [1, 1, 1], divisor: 255, order: 'rgb' },
    layout: 'nchw',
    // Tiny-YOLOv2 head, 5 anchors x (x, y, w, h, objectness) on a 13x13 grid; face-api's anchors, in grid cells.
    model: {
      kind: 'tiny-yolov2',
      output: 'grid',
      anchors: [[1.603231, 2.094468], [6.041143, 7.080126], [2.882459, 3.518061], [4.266906, 5.178857], [9.041765, 10.66308]],
      classNames: ['face'],
    },
    files: ['tiny_face_detector_416.onnx'],
  },
  nsfwjs: {
    name: 'nsfwjs',
    description: 'nsfwjs MobileNetV2: resize to 224x224, RGB / 255',
    resize: 'stretch',
    norm: UNIT,
    layout: 'nchw',
    model: { kind: 'classifier', classNames: ['Drawing', 'Hentai', 'Neutral', 'Porn', 'Sexy'] },
    files: ['nsfwjs_mobilenet_v2.onnx'],
  },
  'ppocr-cls': {
    name: 'ppocr-cls',
    description: 'PaddleOCR text-orientation classifier: height 48 keeping ratio (width <= 192, pad right), (x / 255 - 0.5) / 0.5',
    resize: 'height-pad-right',
    norm: { mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5], divisor: 255, order: 'rgb' },
    layout: 'nchw',
    model: { kind: 'classifier', classNames: ['0 degrees', '180 degrees'] },
    files: ['ch_ppocr_mobile_v2.0_cls_infer.onnx'],
    inputShape: [1, 3, 48, 192],
  },
  'ppocr-det': {
    name: 'ppocr-det',
    description: 'PP-OCRv4 text detector: resize to the input size (multiples of 32), ImageNet mean/std',
    resize: 'stretch',
    norm: IMAGENET,
    layout: 'nchw',
    model: { kind: 'generic' },
    files: ['ch_PP-OCRv4_det_infer.onnx'],
    inputShape: [1, 3, 640, 640],
  },
  blazeface: {
    name: 'blazeface',
    description: 'BlazeFace front: 128x128 NHWC, RGB / 127.5 - 1',
    resize: 'stretch',
    norm: { mean: [1, 1, 1], std: [1, 1, 1], divisor: 127.5, order: 'rgb' },
    layout: 'nhwc',
    model: { kind: 'generic' },
    files: ['face_detection_front_128x128_barracuda.onnx'],
  },
  imagenet: {
    name: 'imagenet',
    description: 'torchvision classifiers: shorter side to 256/224 of the input, center crop, ImageNet mean/std',
    resize: 'center-crop',
    norm: IMAGENET,
    layout: 'nchw',
    model: { kind: 'classifier' },
  },
  plain: {
    name: 'plain',
    description: 'resize to the input size, RGB / 255 (the fallback)',
    resize: 'stretch',
    norm: UNIT,
    layout: 'nchw',
    model: { kind: 'generic' },
  },
};

/** The preset named, or the one that lists this model file, or 'plain'. */
export function presetFor(modelPath: string, name?: string): Preset {
  if (name) {
    const p = presets[name];
    if (!p) throw new Error(`unknown preset '${name}' (presets: ${Object.keys(presets).join(', ')})`);
    return p;
  }
  const file = modelPath.split(/[\\/]/).pop() ?? '';
  return Object.values(presets).find((p) => p.files?.includes(file)) ?? presets.plain;
}

/** Where a model-input pixel lies on the photo: input = photo * scale + offset, per axis. */
export interface PhotoMapping {
  scaleX: number;
  scaleY: number;
  offsetX: number;
  offsetY: number;
}

export interface PreparedInput {
  /** The model input, [1, 3, H, W] (or [1, H, W, 3] for NHWC presets). */
  data: Float32Array;
  shape: number[];
  /** The RGB image the model sees (before normalization), for overlays in input space. */
  view: RgbaImage;
  mapping: PhotoMapping;
}

/** Photo -> model input as the preset says; `height` and `width` are the model input's. */
export function prepareImage(photo: RgbaImage, preset: Preset, height: number, width: number): PreparedInput {
  let view: RgbaImage;
  let mapping: PhotoMapping;
  switch (preset.resize) {
    case 'letterbox': {
      const lb = letterbox(photo, width, height, preset.fill ?? 114);
      view = lb.image;
      mapping = { scaleX: lb.scale, scaleY: lb.scale, offsetX: lb.padX, offsetY: lb.padY };
      break;
    }
    case 'pad-square': {
      const side = Math.max(photo.width, photo.height);
      const square = blank(side, side, preset.fill ?? 0);
      paste(square, photo, 0, 0);
      view = resizeImage(square, width, height);
      mapping = { scaleX: width / side, scaleY: height / side, offsetX: 0, offsetY: 0 };
      break;
    }
    case 'height-pad-right': {
      const w = Math.min(width, Math.ceil((height * photo.width) / photo.height));
      const resized = resizeImage(photo, w, height);
      view = blank(width, height);
      paste(view, resized, 0, 0);
      mapping = { scaleX: w / photo.width, scaleY: height / photo.height, offsetX: 0, offsetY: 0 };
      const input = toNchw(view, preset.norm);
      // The padding is 0 after normalization (PaddleOCR pads the normalized image).
      for (let c = 0; c < 3; c++) for (let y = 0; y < height; y++) input.fill(0, c * width * height + y * width + w, c * width * height + (y + 1) * width);
      return { data: input, shape: [1, 3, height, width], view, mapping };
    }
    case 'center-crop': {
      const scale = Math.max((width * 256) / 224 / photo.width, (height * 256) / 224 / photo.height);
      const rw = Math.round(photo.width * scale);
      const rh = Math.round(photo.height * scale);
      const resized = resizeImage(photo, rw, rh);
      const x0 = Math.floor((rw - width) / 2);
      const y0 = Math.floor((rh - height) / 2);
      view = blank(width, height);
      paste(view, resized, -x0, -y0);
      mapping = { scaleX: scale, scaleY: scale, offsetX: -x0, offsetY: -y0 };
      break;
    }
    case 'darknet': {
      view = resizeImage(photo, width, height);
      mapping = { scaleX: width / photo.width, scaleY: height / photo.height, offsetX: 0, offsetY: 0 };
      const data = darknetResize(photo, width, height, preset.norm);
      return { data, shape: [1, 3, height, width], view, mapping };
    }
    default:
      view = resizeImage(photo, width, height);
      mapping = { scaleX: width / photo.width, scaleY: height / photo.height, offsetX: 0, offsetY: 0 };
  }
  const nchw = toNchw(view, preset.norm);
  if (preset.layout === 'nchw') return { data: nchw, shape: [1, 3, height, width], view, mapping };
  const nhwc = new Float32Array(nchw.length);
  const plane = width * height;
  for (let i = 0; i < plane; i++) for (let c = 0; c < 3; c++) nhwc[i * 3 + c] = nchw[c * plane + i];
  return { data: nhwc, shape: [1, height, width, 3], view, mapping };
}

/**
 * darknet's resize_image (src/image.c) straight to normalized NCHW float:
 * bilinear with aligned corners (x_src = x * (w_src - 1) / (w - 1)), first
 * along rows then columns, on float pixels, so nothing is rounded to bytes
 * (the last column and row copy the source's). Expected detections computed
 * with darknet's preprocessing are then matched to float precision.
 */
function darknetResize(photo: RgbaImage, width: number, height: number, norm: Normalization): Float32Array {
  const out = new Float32Array(3 * width * height);
  const sx = width > 1 ? (photo.width - 1) / (width - 1) : 0;
  const sy = height > 1 ? (photo.height - 1) / (height - 1) : 0;
  const rows = new Float32Array(photo.height * width);
  for (let c = 0; c < 3; c++) {
    const src = norm.order === 'rgb' ? c : 2 - c;
    const px = (x: number, y: number) => photo.data[(y * photo.width + x) * 4 + src];
    for (let y = 0; y < photo.height; y++) {
      for (let x = 0; x < width; x++) {
        const fx = x * sx;
        const ix = Math.floor(fx);
        rows[y * width + x] = x === width - 1 || photo.width === 1 ? px(photo.width - 1, y) : (1 - (fx - ix)) * px(ix, y) + (fx - ix) * px(ix + 1, y);
      }
    }
    for (let y = 0; y < height; y++) {
      const fy = y * sy;
      const iy = Math.floor(fy);
      const dy = fy - iy;
      const last = y === height - 1 || photo.height === 1;
      for (let x = 0; x < width; x++) {
        const v = (1 - dy) * rows[iy * width + x] + (last ? 0 : dy * rows[(iy + 1) * width + x]);
        out[c * width * height + y * width + x] = (v / norm.divisor - norm.mean[c]) / norm.std[c];
      }
    }
  }
  return out;
}

/** Resamples a [H, W] map at the model input onto the photo (bilinear; outside the input reads 0). */
export function mapOntoPhoto(map: Float32Array, height: number, width: number, photo: { width: number; height: number }, m: PhotoMapping): Float32Array {
  const out = new Float32Array(photo.width * photo.height);
  for (let py = 0; py < photo.height; py++) {
    const y = (py + 0.5) * m.scaleY + m.offsetY - 0.5;
    for (let px = 0; px < photo.width; px++) {
      const x = (px + 0.5) * m.scaleX + m.offsetX - 0.5;
      if (x < -0.5 || y < -0.5 || x > width - 0.5 || y > height - 0.5) continue;
      const xc = Math.min(Math.max(x, 0), width - 1);
      const yc = Math.min(Math.max(y, 0), height - 1);
      const x0 = Math.floor(xc);
      const y0 = Math.floor(yc);
      const x1 = Math.min(x0 + 1, width - 1);
      const y1 = Math.min(y0 + 1, height - 1);
      const fx = xc - x0;
      const fy = yc - y0;
      const top = map[y0 * width + x0] * (1 - fx) + map[y0 * width + x1] * fx;
      const bottom = map[y1 * width + x0] * (1 - fx) + map[y1 * width + x1] * fx;
      out[py * photo.width + px] = top * (1 - fy) + bottom * fy;
    }
  }
  return out;
}

// Conv layer shapes benchmarked by `npm run bench -- conv`.
// YOLOv5n at 640: every distinct Conv of ../shared/models/yolov5n_640.onnx,
// listed by bench/tools/yolov5n_conv_shapes.py (count = how often it occurs).
// ResNet-18 at 224: the torchvision architecture's distinct convs.

export interface ConvLayer {
  layer: string;
  count: number;
  /** Input channels and spatial size (per image). */
  c: number;
  h: number;
  w: number;
  /** Output channels, kernel, stride, pads [top, left, bottom, right], groups. */
  o: number;
  k: [number, number];
  stride: [number, number];
  pads: [number, number, number, number];
  groups: number;
  dilation?: [number, number];
}

export const yolov5n640: ConvLayer[] = [
  { layer: '/model.0/conv/Conv', count: 1, c: 3, h: 640, w: 640, o: 16, k: [6, 6], stride: [2, 2], pads: [2, 2, 2, 2], groups: 1 },
  { layer: '/model.1/conv/Conv', count: 1, c: 16, h: 320, w: 320, o: 32, k: [3, 3], stride: [2, 2], pads: [1, 1, 1, 1], groups: 1 },
  { layer: '/model.2/cv1/conv/Conv', count: 2, c: 32, h: 160, w: 160, o: 16, k: [1, 1], stride: [1, 1], pads: [0, 0, 0, 0], groups: 1 },
  { layer: '/model.2/m/m.0/cv1/conv/Conv', count: 1, c: 16, h: 160, w: 160, o: 16, k: [1, 1], stride: [1, 1], pads: [0, 0, 0, 0], groups: 1 },
  { layer: '/model.2/m/m.0/cv2/conv/Conv', count: 1, c: 16, h: 160, w: 160, o: 16, k: [3, 3], stride: [1, 1], pads: [1, 1, 1, 1], groups: 1 },
  { layer: '/model.2/cv3/conv/Conv', count: 1, c: 32, h: 160, w: 160, o: 32, k: [1, 1], stride: [1, 1], pads: [0, 0, 0, 0], groups: 1 },
  { layer: '/model.3/conv/Conv', count: 1, c: 32, h: 160, w: 160, o: 64, k: [3, 3], stride: [2, 2], pads: [1, 1, 1, 1], groups: 1 },
  { layer: '/model.4/cv1/conv/Conv', count: 2, c: 64, h: 80, w: 80, o: 32, k: [1, 1], stride: [1, 1], pads: [0, 0, 0, 0], groups: 1 },
  { layer: '/model.4/m/m.0/cv1/conv/Conv', count: 3, c: 32, h: 80, w: 80, o: 32, k: [1, 1], stride: [1, 1], pads: [0, 0, 0, 0], groups: 1 },
  { layer: '/model.4/m/m.0/cv2/conv/Conv', count: 3, c: 32, h: 80, w: 80, o: 32, k: [3, 3], stride: [1, 1], pads: [1, 1, 1, 1], groups: 1 },
  { layer: '/model.4/cv3/conv/Conv', count: 2, c: 64, h: 80, w: 80, o: 64, k: [1, 1], stride: [1, 1], pads: [0, 0, 0, 0], groups: 1 },
  { layer: '/model.5/conv/Conv', count: 1, c: 64, h: 80, w: 80, o: 128, k: [3, 3], stride: [2, 2], pads: [1, 1, 1, 1], groups: 1 },
  { layer: '/model.6/cv1/conv/Conv', count: 5, c: 128, h: 40, w: 40, o: 64, k: [1, 1], stride: [1, 1], pads: [0, 0, 0, 0], groups: 1 },
  { layer: '/model.6/m/m.0/cv1/conv/Conv', count: 5, c: 64, h: 40, w: 40, o: 64, k: [1, 1], stride: [1, 1], pads: [0, 0, 0, 0], groups: 1 },
  { layer: '/model.6/m/m.0/cv2/conv/Conv', count: 5, c: 64, h: 40, w: 40, o: 64, k: [3, 3], stride: [1, 1], pads: [1, 1, 1, 1], groups: 1 },
  { layer: '/model.6/cv3/conv/Conv', count: 3, c: 128, h: 40, w: 40, o: 128, k: [1, 1], stride: [1, 1], pads: [0, 0, 0, 0], groups: 1 },
  { layer: '/model.7/conv/Conv', count: 1, c: 128, h: 40, w: 40, o: 256, k: [3, 3], stride: [2, 2], pads: [1, 1, 1, 1], groups: 1 },
  { layer: '/model.8/cv1/conv/Conv', count: 6, c: 256, h: 20, w: 20, o: 128, k: [1, 1], stride: [1, 1], pads: [0, 0, 0, 0], groups: 1 },
  { layer: '/model.8/m/m.0/cv1/conv/Conv', count: 2, c: 128, h: 20, w: 20, o: 128, k: [1, 1], stride: [1, 1], pads: [0, 0, 0, 0], groups: 1 },
  { layer: '/model.8/m/m.0/cv2/conv/Conv', count: 2, c: 128, h: 20, w: 20, o: 128, k: [3, 3], stride: [1, 1], pads: [1, 1, 1, 1], groups: 1 },
  { layer: '/model.8/cv3/conv/Conv', count: 2, c: 256, h: 20, w: 20, o: 256, k: [1, 1], stride: [1, 1], pads: [0, 0, 0, 0], groups: 1 },
  { layer: '/model.9/cv2/conv/Conv', count: 1, c: 512, h: 20, w: 20, o: 256, k: [1, 1], stride: [1, 1], pads: [0, 0, 0, 0], groups: 1 },
  { layer: '/model.13/cv1/conv/Conv', count: 2, c: 256, h: 40, w: 40, o: 64, k: [1, 1], stride: [1, 1], pads: [0, 0, 0, 0], groups: 1 },
  { layer: '/model.17/cv1/conv/Conv', count: 2, c: 128, h: 80, w: 80, o: 32, k: [1, 1], stride: [1, 1], pads: [0, 0, 0, 0], groups: 1 },
  { layer: '/model.18/conv/Conv', count: 1, c: 64, h: 80, w: 80, o: 64, k: [3, 3], stride: [2, 2], pads: [1, 1, 1, 1], groups: 1 },
  { layer: '/model.21/conv/Conv', count: 1, c: 128, h: 40, w: 40, o: 128, k: [3, 3], stride: [2, 2], pads: [1, 1, 1, 1], groups: 1 },
  { layer: '/model.24/m.0/Conv', count: 1, c: 64, h: 80, w: 80, o: 255, k: [1, 1], stride: [1, 1], pads: [0, 0, 0, 0], groups: 1 },
  { layer: '/model.24/m.1/Conv', count: 1, c: 128, h: 40, w: 40, o: 255, k: [1, 1], stride: [1, 1], pads: [0, 0, 0, 0], groups: 1 },
  { layer: '/model.24/m.2/Conv', count: 1, c: 256, h: 20, w: 20, o: 255, k: [1, 1], stride: [1, 1], pads: [0, 0, 0, 0], groups: 1 },
];

const r = (layer: string, c: number, h: number, o: number, k: number, s: number, count = 1): ConvLayer => {
  const p = Math.floor(k / 2);
  return { layer, count, c, h, w: h, o, k: [k, k], stride: [s, s], pads: [p, p, p, p], groups: 1 };
};

export const resnet18224: ConvLayer[] = [
  r('conv1', 3, 224, 64, 7, 2),
  r('layer1.conv', 64, 56, 64, 3, 1, 4),
  r('layer2.0.conv1', 64, 56, 128, 3, 2),
  r('layer2.conv', 128, 28, 128, 3, 1, 3),
  r('layer2.0.downsample', 64, 56, 128, 1, 2),
  r('layer3.0.conv1', 128, 28, 256, 3, 2),
  r('layer3.conv', 256, 14, 256, 3, 1, 3),
  r('layer3.0.downsample', 128, 28, 256, 1, 2),
  r('layer4.0.conv1', 256, 14, 512, 3, 2),
  r('layer4.conv', 512, 7, 512, 3, 1, 3),
  r('layer4.0.downsample', 256, 14, 512, 1, 2),
];

export const convModels: Record<string, ConvLayer[]> = { yolov5n640, resnet18224 };

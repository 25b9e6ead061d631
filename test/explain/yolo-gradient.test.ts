// Detection-score gradients against the float64 reference and finite
// differences (test/helpers/yolo-gradient.ts says how): darknet, Tiny-YOLOv2
// and YOLOv5 here, YOLOv8 in yolo-gradient-v8.test.ts.
import { gradientChecks } from '../helpers/yolo-gradient.js';

gradientChecks(['darknet', 'tiny-yolov2', 'yolov5']);

// Detection-score gradients of the seeded YOLOv8 export against the float64
// reference and finite differences (test/helpers/yolo-gradient.ts says how); a
// file of its own so the two test workers share the float64 work.
import { gradientChecks } from '../helpers/yolo-gradient.js';

gradientChecks(['yolov8']);

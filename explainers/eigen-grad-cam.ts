// Eigen-Grad-CAM (pytorch-grad-cam's EigenGradCAM): the first principal
// component of the gradient-weighted activations, after Eigen-CAM (Muhammad,
// Yeasin, "Eigen-CAM: Class Activation Map using Principal Components", IJCNN
// 2020, eq. 6: L = A V_1, the projection on the first right singular vector).
// Here A is replaced by (d y^c / d A) (.) A, which makes the map class-specific.
// See project2d for how the SVD is done on the GPU and how its sign is fixed.

import { mul } from '../engine/index.js';
import { project2d } from './cam-math.js';
import { gradientsOf, type CamMethod } from './method.js';

export const eigenGradCam: CamMethod = {
  name: 'eigengradcam',
  title: 'Eigen-Grad-CAM',
  paper: 'Muhammad & Yeasin, Eigen-CAM, IJCNN 2020, eq. 6, on gradient x activations (pytorch-grad-cam EigenGradCAM)',
  usesGradients: true,
  inputSpace: false,
  camImage: (layer) => project2d(mul(gradientsOf(layer), layer.activations)),
};

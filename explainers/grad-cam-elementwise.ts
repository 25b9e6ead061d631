// Grad-CAM element-wise (pytorch-grad-cam's GradCAMElementWise; no paper of its
// own): HiResCAM's per-position product with a ReLU before the channel sum,
//   L^c = sum_k ReLU((d y^c / d A^k) (.) A^k),
// so channels that argue against the class cannot cancel the ones that argue for it.
// Related to the element-wise Grad-CAM variants of Draelos & Carin 2020 (HiResCAM, eq. 5).

import { mul, relu } from '../engine/index.js';
import { gradientsOf, type CamMethod } from './method.js';

export const gradCamElementWise: CamMethod = {
  name: 'gradcamelementwise',
  title: 'Grad-CAM element-wise',
  paper: 'pytorch-grad-cam GradCAMElementWise: sum_k ReLU(grad (.) A^k) (after Draelos & Carin 2020, eq. 5)',
  usesGradients: true,
  inputSpace: false,
  weightedActivations: (layer) => relu(mul(gradientsOf(layer), layer.activations)),
};

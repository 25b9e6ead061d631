// HiResCAM. Draelos, Carin, "Use HiResCAM instead of Grad-CAM for faithful
// explanations of convolutional neural networks", arXiv:2011.08891 (2020).
// Eq. 5: L^c = sum_k (d y^c / d A^k) (.) A^k: the gradient multiplies the
// activation at each position instead of being averaged first, so for a model
// ending in conv -> flatten -> linear the map is exactly the score's
// decomposition over positions.

import { mul } from '../engine/index.js';
import { gradientsOf, type CamMethod } from './method.js';

export const hiResCam: CamMethod = {
  name: 'hirescam',
  title: 'HiResCAM',
  paper: 'Draelos & Carin, HiResCAM, arXiv:2011.08891 (2020), eq. 5',
  usesGradients: true,
  inputSpace: false,
  weightedActivations: (layer) => mul(gradientsOf(layer), layer.activations),
};

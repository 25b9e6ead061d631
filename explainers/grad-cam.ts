// Grad-CAM. Selvaraju, Cogswell, Das, Vedantam, Parikh, Batra, "Grad-CAM: Visual
// Explanations from Deep Networks via Gradient-based Localization", ICCV 2017.
// Eq. 1: alpha_k^c = 1/Z sum_i sum_j d y^c / d A^k_ij (global-average-pooled gradients);
// Eq. 2: L^c = ReLU(sum_k alpha_k^c A^k) (the ReLU and sum are the base's).

import { mean } from '../engine/index.js';
import { gradientsOf, type CamMethod } from './method.js';

export const gradCam: CamMethod = {
  name: 'gradcam',
  title: 'Grad-CAM',
  paper: 'Selvaraju et al., Grad-CAM, ICCV 2017, eq. 1-2',
  usesGradients: true,
  inputSpace: false,
  weights: (layer) => mean(gradientsOf(layer), [2, 3]),
};

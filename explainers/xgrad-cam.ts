// XGrad-CAM. Fu, Hu, Dong, Liu, Liu, Zhou, "Axiom-based Grad-CAM: Towards
// Accurate Visualization and Explanation of CNNs", BMVC 2020.
// Eq. 9: alpha_k^c = sum_ij (A^k_ij / sum_ab A^k_ab) * d y^c / d A^k_ij, the
// weights that satisfy the sensitivity and conservation axioms (for ReLU
// networks with homogeneous heads). eps = 1e-7 as in pytorch-grad-cam.

import { add, div, mul, sum } from '../engine/index.js';
import { scalar } from './cam-math.js';
import { gradientsOf, type CamMethod } from './method.js';

const EPS = 1e-7;

export const xGradCam: CamMethod = {
  name: 'xgradcam',
  title: 'XGrad-CAM',
  paper: 'Fu et al., Axiom-based Grad-CAM, BMVC 2020, eq. 9',
  usesGradients: true,
  inputSpace: false,
  weights(layer) {
    const a = layer.activations;
    const activationSum = add(sum(a, [2, 3], true), scalar(EPS));
    return sum(div(mul(gradientsOf(layer), a), activationSum), [2, 3]);
  },
};

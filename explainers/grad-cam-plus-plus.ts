// Grad-CAM++. Chattopadhay, Sarkar, Howlader, Balasubramanian, "Grad-CAM++:
// Improved Visual Explanations for Deep Convolutional Networks", WACV 2018.
// Eq. 19, with the exponential output's higher derivatives written as powers of
// the first (eq. 18), as pytorch-grad-cam does:
//   a_ij^kc = g^2 / (2 g^2 + sum_ab A^k_ab * g^3)        g = d y^c / d A^k_ij
//   w_k^c   = sum_ij a_ij^kc * ReLU(g)                    (eq. 7 with the ReLU)
// pytorch-grad-cam adds eps = 1e-6 to the denominator. Its extra
// `where(grads != 0, aij, 0)` changes nothing (g = 0 gives 0 / eps = 0), so it
// is left out.

import { add, div, mul, relu, sum } from '../engine/index.js';
import { scalar } from './cam-math.js';
import { gradientsOf, type CamMethod } from './method.js';

const EPS = 1e-6;

export const gradCamPlusPlus: CamMethod = {
  name: 'gradcam++',
  title: 'Grad-CAM++',
  paper: 'Chattopadhay et al., Grad-CAM++, WACV 2018, eq. 19 (closed form of pytorch-grad-cam)',
  usesGradients: true,
  inputSpace: false,
  weights(layer) {
    const g = gradientsOf(layer);
    const g2 = mul(g, g);
    const g3 = mul(g2, g);
    const activationSum = sum(layer.activations, [2, 3], true); // [N, C, 1, 1]
    const denominator = add(add(mul(g2, scalar(2)), mul(activationSum, g3)), scalar(EPS));
    const alpha = div(g2, denominator);
    return sum(mul(relu(g), alpha), [2, 3]);
  },
};

// ShapleyCAM. Cai, Zhang, Li, Yang, Wang, "CAMs as Shapley Value-based Explainers",
// The Visual Computer 2025 (arXiv 2501.06261). The score's second-order Taylor
// expansion around the layer gives each channel's Shapley value; averaged over
// positions (as pytorch-grad-cam's ShapleyCAM):
//   w_k = 1/Z sum_ij (d y / d A - 1/2 H A)_kij,   map = ReLU(sum_k w_k A_k),
// with H A the Hessian of the score with respect to the layer applied to the
// activations themselves (a Hessian-vector product: the engine's double
// backward, pass.ts). On a piecewise-linear head (ReLU, max pooling, linear) with
// a class-logit target H A = 0 almost everywhere, and ShapleyCAM is Grad-CAM.

import { fill, mean, mul, sub } from '../engine/index.js';
import { ExplainError } from './errors.js';
import { gradientsOf, type CamMethod } from './method.js';

export const shapleyCam: CamMethod = {
  name: 'shapleycam',
  title: 'ShapleyCAM',
  paper: 'Cai et al., CAMs as Shapley Value-based Explainers, The Visual Computer 2025: w = mean_ij(dy/dA - 1/2 H A)',
  usesGradients: true,
  usesHessian: true,
  inputSpace: false,
  weights(layer) {
    const ha = layer.hessianActivations;
    if (!ha) throw new ExplainError(`layer '${layer.layer}' has no Hessian-vector product: the method must set usesHessian`);
    const half = fill([], 0.5);
    const halfHa = mul(ha, half);
    const w = sub(gradientsOf(layer), halfHa);
    const weights = mean(w, [2, 3]);
    for (const t of [half, halfHa, w]) t.dispose();
    return weights;
  },
};

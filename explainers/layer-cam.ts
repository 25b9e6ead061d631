// LayerCAM. Jiang, Zhang, Hou, Cheng, Wei, "LayerCAM: Exploring Hierarchical
// Class Activation Maps for Localization", IEEE TIP 30, 2021.
// Eq. 5: w_ij^kc = ReLU(d y^c / d A^k_ij); eq. 6: A_hat^k_ij = w_ij^kc * A^k_ij;
// eq. 7: M^c = ReLU(sum_k A_hat^k) (sum and ReLU are the base's). Positive
// gradients weight each position, which keeps detail at shallow layers.

import { mul, relu } from '../engine/index.js';
import { gradientsOf, type CamMethod } from './method.js';

export const layerCam: CamMethod = {
  name: 'layercam',
  title: 'LayerCAM',
  paper: 'Jiang et al., LayerCAM, IEEE TIP 2021, eq. 5-7',
  usesGradients: true,
  inputSpace: false,
  weightedActivations: (layer) => mul(relu(gradientsOf(layer)), layer.activations),
};

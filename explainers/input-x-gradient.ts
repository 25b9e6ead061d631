// Input x Gradient. Shrikumar, Greenside, Shcherbina, Kundaje, "Not Just a
// Black Box: Learning Important Features Through Propagating Activation
// Differences", arXiv:1605.01713, 2016 (gradient * input; Captum's InputXGradient):
//
//   A = x * d S_c / d x             per element, signed
//   M_ij = sum_c A_cij              the map (Captum's visualization sums the channels)
//
// `gradient` holds A [N, C, H, W], `raw` the signed channel sum, `map` its
// positive part scaled to [0, 1]. SmoothGrad averages A over noisy copies
// (each copy's own x), as Captum's NoiseTunnel(InputXGradient).

import { mul } from '../engine/index.js';
import { inputGradientPass, type InputGradientOptions } from './input-gradients.js';
import type { CamMethod } from './method.js';

export const inputXGradient: CamMethod<InputGradientOptions> = {
  name: 'inputxgradient',
  title: 'Input x Gradient',
  paper: 'Shrikumar et al., Not Just a Black Box, arXiv:1605.01713, 2016 (x * d score / d x, summed over channels)',
  usesGradients: true,
  inputSpace: true,
  ownSmoothGrad: true,
  pass: (ctx) =>
    inputGradientPass(
      {
        name: 'inputxgradient',
        reduce: 'sum',
        points: () => 1,
        prepare: () => ({ attribute: (x, g) => mul(x, g) }),
      },
      ctx,
    ),
};

// Saliency (vanilla gradient). Simonyan, Vedaldi, Zisserman, "Deep Inside
// Convolutional Networks: Visualising Image Classification Models and
// Saliency Maps", ICLR Workshop 2014, §3.1, eq. (2)-(3):
//
//   A = |d S_c / d x|               per element (Captum's Saliency, abs=True)
//   M_ij = max_c |d S_c / d x|_cij  the map: the largest magnitude over the colour channels
//
// `gradient` holds A [N, C, H, W]; SmoothGrad (smooth, noise, smoothType)
// averages A over noisy copies before the max, as Captum's NoiseTunnel(Saliency).

import { abs } from './cam-math.js';
import { inputGradientPass, type InputGradientOptions } from './input-gradients.js';
import type { CamMethod } from './method.js';

export const saliency: CamMethod<InputGradientOptions> = {
  name: 'saliency',
  title: 'Saliency',
  paper: 'Simonyan et al., Deep Inside Convolutional Networks, ICLR-W 2014, §3.1 eq. 2-3 (max_c |d score / d x|)',
  usesGradients: true,
  inputSpace: true,
  ownSmoothGrad: true,
  pass: (ctx) =>
    inputGradientPass(
      {
        name: 'saliency',
        reduce: 'max',
        points: () => 1,
        prepare: () => ({ attribute: (_x, g) => abs(g) }),
      },
      ctx,
    ),
};

// Guided backpropagation. Springenberg, Dosovitskiy, Brox, Riedmiller,
// "Striving for Simplicity: The All Convolutional Net", ICLR Workshop 2015,
// §3.4 and Fig. 1: at each ReLU the backward signal is masked by both the
// forward activation and its own sign, dx = g * [x > 0] * [g > 0], so only
// positive evidence flows back (backprop-rules.ts: also LeakyRelu, ReLU6 and
// Conv-fused activations). As pytorch-grad-cam's GuidedBackpropReLUModel.
// Output: `gradient` [3, H, W] (render with gradientImage) and the saliency
// map max_c |g| in `map`.

import type { CamMethod } from './method.js';
import { modifiedBackpropPass } from './backprop-rules.js';

export const guidedBackprop: CamMethod = {
  name: 'guidedbackprop',
  title: 'Guided Backprop',
  paper: 'Springenberg et al., Striving for Simplicity, ICLR-W 2015, §3.4 (ReLU backward: g [x > 0] [g > 0])',
  usesGradients: true,
  inputSpace: true,
  pass: (ctx) => modifiedBackpropPass('guided', ctx),
};

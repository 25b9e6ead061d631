// Deconvnet. Zeiler, Fergus, "Visualizing and Understanding Convolutional
// Networks", ECCV 2014, §2.1: the score is projected back to pixel space
// through the transposed filters, with the ReLUs "rectifying" the backward
// signal instead of masking it by the forward pass: at each ReLU,
// dx = relu(g) (backprop-rules.ts, which also covers LeakyRelu, ReLU6 and
// Conv-fused activations). The switches of max pooling are those of the
// forward pass, which is what the pooling gradient does.
// Output: `gradient` [3, H, W] (render with gradientImage) and the saliency
// map max_c |g| in `map`.

import type { CamMethod } from './method.js';
import { modifiedBackpropPass } from './backprop-rules.js';

export const deconvnet: CamMethod = {
  name: 'deconvnet',
  title: 'Deconvnet',
  paper: 'Zeiler & Fergus, Visualizing and Understanding Convolutional Networks, ECCV 2014, §2.1 (ReLU backward: relu(g))',
  usesGradients: true,
  inputSpace: true,
  pass: (ctx) => modifiedBackpropPass('deconvnet', ctx),
};

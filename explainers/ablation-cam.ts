// Ablation-CAM. Desai, Ramaswamy, "Ablation-CAM: Visual Explanations for Deep
// Convolutional Network via Gradient-free Localization", WACV 2020, eq. 3:
// channel k's weight is the relative drop of the class score when the
// channel is removed, w_k = (y^c - y^c_k) / y^c, where y^c_k is the score with
// the k-th activation map of the target layer set to zero (§3); the map is
// ReLU(sum_k w_k A^k) (eq. 4, the base's sum and ReLU).
//
// Ablation by swapping the layer's activation while the model runs
// (RunOptions.replace): one batch holds the unablated copy (for y^c) and one
// copy per ablated channel, A * (1 - e_k), so the whole ablation set is a few
// batched forward passes with no readback. The ONNX executor reruns the whole
// graph for each batch (it has no entry point after an inner tensor), so the
// part before the layer is recomputed per batch; the input is expanded to the
// batch for that.
//
// pytorch-grad-cam (ablation_layer.py) deviates from the paper when the layer
// has negative values: it then writes min(A) - 1e7 instead of 0. We follow the
// paper: 0. Options: batchSize, onProgress, channels (ablate only these; the
// others weigh 0, as pytorch-grad-cam's ratio_channels_to_ablate).

import { div, expand, mul, slice, sub, tensor, type Tensor } from '../engine/index.js';
import type { CamMethod } from './method.js';
import { scoreCopies, sweepChannels, type BatchedCamOptions } from './batched.js';
import { MethodNotApplicable } from './errors.js';

/**
 * The per-copy channel keep mask [b, C, 1, 1]: copy j of the batch starting at
 * copy `start` ablates channels[start + j - 1]; copy 0 of the whole set ablates nothing.
 */
export function ablationMask(channels: readonly number[], count: number, start: number, end: number): Tensor {
  const keep = new Float32Array((end - start) * count).fill(1);
  for (let copy = start; copy < end; copy++) if (copy > 0) keep[(copy - start) * count + channels[copy - 1]] = 0;
  return tensor(keep, [end - start, count, 1, 1]);
}

export const ablationCam: CamMethod<BatchedCamOptions> = {
  name: 'ablationcam',
  title: 'Ablation-CAM',
  paper: 'Desai & Ramaswamy, Ablation-CAM, WACV 2020, eq. 3-4: w_k = (y - y_k) / y',
  usesGradients: false,
  inputSpace: false,
  weights(layer, ctx) {
    const name = 'ablationcam';
    const c = layer.activations.shape[1];
    return sweepChannels(layer, ctx, name, async (x, _i, { channels, options, onProgress }) => {
      let swapped = false;
      const scores = await scoreCopies(
        ctx.model,
        ctx.target!,
        channels.length + 1,
        (start, end) => ({
          input: expand(x, [end - start, ...x.shape.slice(1)]),
          replace: {
            [layer.layer]: (a: Tensor) => {
              swapped = true;
              return mul(a, ablationMask(channels, c, start, end));
            },
          },
        }),
        { batchSize: options.batchSize ?? 32, signal: options.signal, onProgress },
      );
      if (!swapped) {
        throw new MethodNotApplicable(name, `the model did not apply RunOptions.replace to layer '${layer.layer}'; Ablation-CAM needs a model that can swap an inner activation`);
      }
      const k = channels.length;
      const y = slice(scores, [0], [1]);
      const ablated = slice(scores, [1], [k + 1]);
      return div(sub(y, ablated), y);
    });
  },
};

// Score-CAM. Wang, Wang, Du, Yang, Zhang, Ding, Mardziel, Hu, "Score-CAM:
// Score-Weighted Visual Explanations for Convolutional Neural Networks",
// CVPR Workshops 2020. Gradient-free: each activation channel, upsampled to the
// input and min-max normalized (eq. 3: s(.)), masks the input, and the
// target's score on the masked input weighs the channel (eq. 4-6, "channel-wise
// increase of confidence"); L = ReLU(sum_k alpha_k A^k) (eq. 7, the base's sum
// and ReLU).
//
// As pytorch-grad-cam (score_cam.py): the upsampling is bilinear with aligned
// corners (torch.nn.UpsamplingBilinear2d), s(A) = (A - min) / (max - min + 1e-8),
// the score is the target on the masked input itself (not its increase over a
// baseline: the baseline is the same for every channel, and the softmax below
// cancels it), and alpha = softmax over the channels of those scores.
//
// On the GPU: the masked copies are built batch by batch with engine ops
// (gather the batch's channels, resize, min/max, multiply the image) and run as
// one model batch; scores stay on the GPU until the base reads the final map.

import { add, div, gather, max, min, mul, reshape, resize, softmax, sub, type Tensor } from '../engine/index.js';
import { scalar } from './cam-math.js';
import type { CamMethod } from './method.js';
import { item, scoreCopies, sweepChannels, type BatchedCamOptions } from './batched.js';

/**
 * Copies of the image x [1, C_in, H, W] masked by the normalized, upsampled
 * channels `channels` of the activations a [1, C, h, w]: [k, C_in, H, W].
 */
export function scoreCamMasks(x: Tensor, a: Tensor, channels: readonly number[]): Tensor {
  const [, cin, height, width] = x.shape;
  const k = channels.length;
  const picked = gather(a, [...channels], 1); // [1, k, h, w]
  const up = resize(picked, { mode: 'linear', coordinateTransformationMode: 'align_corners', sizes: [height, width] });
  const lo = min(up, [2, 3], true);
  const hi = max(up, [2, 3], true);
  const mask = div(sub(up, lo), add(sub(hi, lo), scalar(1e-8))); // [1, k, H, W]
  return mul(reshape(mask, [k, 1, height, width]), reshape(x, [1, cin, height, width]));
}

export const scoreCam: CamMethod<BatchedCamOptions> = {
  name: 'scorecam',
  title: 'Score-CAM',
  paper: 'Wang et al., Score-CAM, CVPR Workshops 2020, eq. 3-7 (alpha = softmax of the masked scores, as pytorch-grad-cam)',
  usesGradients: false,
  inputSpace: true,
  weights(layer, ctx) {
    return sweepChannels(layer, ctx, 'scorecam', async (x, i, { channels, options, onProgress }) => {
      const a = item(layer.activations, i);
      const scores = await scoreCopies(ctx.model, ctx.target!, channels.length, (start, end) => scoreCamMasks(x, a, channels.slice(start, end)), {
        batchSize: options.batchSize,
        signal: options.signal,
        onProgress,
      });
      return softmax(scores, 0);
    });
  },
};

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
//
// Faster-Score-CAM (option topN; tf-keras-vis' ScoreCAM max_N, after
// tabayashi0117's Score-CAM notes): only the N channels whose activation maps
// have the highest variance over the positions (population variance; ties to
// the lower index) get masks; alpha is the softmax over those N scores, and the
// other channels weigh 0. The ranking is read back once per image (it picks
// which copies to build). topN = C is plain Score-CAM.

import { add, div, gather, max, mean, min, mul, reshape, resize, scope, softmax, sub, type Tensor } from '../engine/index.js';
import { scalar } from './cam-math.js';
import type { CamMethod } from './method.js';
import { item, scatterChannels, scoreCopies, sweepChannels, type BatchedCamOptions } from './batched.js';
import { MethodNotApplicable } from './errors.js';

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

export interface ScoreCamOptions extends BatchedCamOptions {
  /** Faster-Score-CAM: mask only the N channels (of `channels`, default all) with the highest activation variance; the others weigh 0. */
  topN?: number;
}

/**
 * Positions in `channels` of the `n` channels of a [1, C, h, w] whose maps
 * have the highest population variance (ties to the lower index), ascending.
 * One readback: the ranking decides which masked copies are built.
 */
export async function highestVariance(a: Tensor, channels: readonly number[], n: number): Promise<number[]> {
  const variance = scope(() => {
    const centered = sub(a, mean(a, [2, 3], true));
    return gather(reshape(mean(mul(centered, centered), [2, 3]), [a.shape[1]]), [...channels]);
  });
  const v = await variance.data();
  variance.dispose();
  const order = Array.from({ length: channels.length }, (_, j) => j).sort((p, q) => v[q] - v[p] || p - q);
  return order.slice(0, n).sort((p, q) => p - q);
}

export const scoreCam: CamMethod<ScoreCamOptions> = {
  name: 'scorecam',
  title: 'Score-CAM',
  paper: 'Wang et al., Score-CAM, CVPR Workshops 2020, eq. 3-7 (alpha = softmax of the masked scores, as pytorch-grad-cam); topN: Faster-Score-CAM (tf-keras-vis max_N)',
  usesGradients: false,
  inputSpace: true,
  weights(layer, ctx) {
    const topN = ctx.options.topN;
    if (topN !== undefined && (!Number.isInteger(topN) || topN < 1)) throw new MethodNotApplicable('scorecam', `topN must be a positive integer, got ${String(topN)}`);
    return sweepChannels(layer, ctx, 'scorecam', async (x, i, { channels, options, onProgress }) => {
      const a = item(layer.activations, i);
      if (topN !== undefined && topN > channels.length) {
        throw new MethodNotApplicable('scorecam', `topN ${topN} is more than the ${channels.length} channels to choose from at '${layer.layer}'`);
      }
      // Positions in `channels` that get masks: all, or Faster-Score-CAM's top N by variance.
      const picked = topN === undefined || topN === channels.length ? null : await highestVariance(a, channels, topN);
      const masked = picked ? picked.map((j) => channels[j]) : channels;
      const scores = await scoreCopies(ctx.model, ctx.target!, masked.length, (start, end) => scoreCamMasks(x, a, masked.slice(start, end)), {
        batchSize: options.batchSize,
        signal: options.signal,
        onProgress,
      });
      return picked ? scatterChannels(softmax(scores, 0), picked, channels.length) : softmax(scores, 0);
    });
  },
};

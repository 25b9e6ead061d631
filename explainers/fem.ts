// FEM, the Feature Explanation Method. Fuad, Martin, Giot, Bourqui,
// Benois-Pineau, Zemmari, "Features Understanding in 3D CNNs for Actions
// Recognition in Video", IPTA 2020 (hal-02963298), §III: each channel A^k is
// binarized by the k-sigma rule, B^k = [A^k > mean(A^k) + K std(A^k)] (mean and
// population std over the positions), and the map is the sum of the binary maps
// weighted by the channel means, L = sum_k mean(A^k) B^k (strict >, as
// pytorch-grad-cam; Xplique writes >=, which differs only on ties). No gradients: it
// shows where the strongest (outlying) responses of the important channels are.
//
// pytorch-grad-cam's fem.py differs: it weighs the activations, not the binary
// maps, by the fraction of positions above threshold. We implement the paper.
// Option `k` (K of the k-sigma rule), default 2 as pytorch-grad-cam.

import { clip, mean, mul, sqrt, sub, sum, type Tensor } from '../engine/index.js';
import { scalar } from './cam-math.js';
import type { CamMethod } from './method.js';
import { MethodNotApplicable } from './errors.js';

/** [x > 0] as 0 / 1 (exact for |x| >= 1e-30; the engine has no comparison op). */
export function step(x: Tensor): Tensor {
  return clip(mul(x, scalar(1e30)), 0, 1);
}

export interface FemOptions {
  /** K of the k-sigma rule (default 2). */
  k?: number;
}

export const fem: CamMethod<FemOptions> = {
  name: 'fem',
  title: 'FEM',
  paper: 'Fuad et al., Features Understanding in 3D CNNs (FEM), IPTA 2020, §III: L = sum_k mean(A^k) [A^k > mu_k + K sigma_k]',
  usesGradients: false,
  inputSpace: false,
  camImage(layer, ctx) {
    const k = ctx.options.k ?? 2;
    if (typeof k !== 'number' || !Number.isFinite(k)) throw new MethodNotApplicable('fem', `k must be a number, got ${String(k)}`);
    const a = layer.activations; // [N, C, h, w]
    const mu = mean(a, [2, 3], true);
    const centered = sub(a, mu);
    const sigma = sqrt(mean(mul(centered, centered), [2, 3], true));
    const binary = step(sub(centered, mul(sigma, scalar(k))));
    return sum(mul(binary, mu), [1]); // [N, h, w]
  },
};

// FullGrad. Srinivas, Fleuret, "Full-Gradient Representation for Neural Network
// Visualization", NeurIPS 2019. Eq. 2 (full-gradient decomposition, exact for
// piecewise-linear networks): f(x) = grad_x f . x + sum_layers sum_c grad_b f . b;
// eq. 5 (FullGrad saliency): S(x) = psi(|grad_x f (.) x|) + sum_l sum_c psi(|grad_b f (.) b|),
// psi = abs, min-max scale per channel, bilinear upsample. Computed as
// pytorch-grad-cam's FullGrad does (after the paper's code, idiap/fullgrad-saliency):
//  - bias layers: every Conv with a bias and every BatchNormalization, whose
//    effective bias is beta - running_mean * gamma / sqrt(running_var + eps);
//    grad_b f (.) b is the gradient at the layer's output times its bias;
//  - input term: |grad_x f (.) x|, each of its channels min-max scaled, summed;
//  - layer term: |b (.) grad|, each channel min-max scaled, upsampled, summed
//    over channels (upsampling is linear, so we sum first and upsample once);
//  - the sum of all terms, min-max scaled (its own "aggregate_multi_layers").
// Target layers are ignored: the bias layers are found in the graph. Bias
// layers the target does not depend on (other outputs' branches) add nothing.
//
// BN-folded models (BN merged into the preceding Conv at export) carry the BN's
// effective bias as the Conv's bias, at the same tensor (Conv output = BN output),
// so their map equals the unfolded model's; the tests check that. Convolutions
// followed by an unfolded BN contribute their own bias too, as in pytorch-grad-cam.

import { add, mul, reshape, sum, tape, tensor, type Tensor } from '../engine/index.js';
import { abs, scaleMap, upsample } from './cam-math.js';
import type { CamContext, CamMethod, PassOutput } from './method.js';
import { forwardPass } from './pass.js';
import { MethodNotApplicable } from './errors.js';
import { modelGraph } from './graph.js';

interface BiasLayer {
  /** The output tensor the bias is added to. */
  layer: string;
  bias: Float32Array;
}

/** Every Conv bias and BatchNormalization effective bias, by the tensor it is added to. */
export function biasLayers(ctx: CamContext): BiasLayer[] {
  const g = modelGraph(ctx.model, 'fullgrad');
  const shapes = new Map(ctx.model.layers().map((l) => [l.name, l.shape]));
  const found: BiasLayer[] = [];
  for (const n of g.nodes) {
    const out = n.outputs[0];
    if (shapes.get(out)?.length !== 4) continue;
    if (n.op === 'Conv' && n.inputs[2]) {
      const b = g.constant(n.inputs[2]);
      if (b) found.push({ layer: out, bias: b.data });
    } else if (n.op === 'BatchNormalization') {
      const [gamma, beta, mean, variance] = n.inputs.slice(1, 5).map((name) => g.constant(name));
      if (!gamma || !beta || !mean || !variance) continue; // training-mode statistics: no constant bias
      const eps = (n.attributes.epsilon as number | undefined) ?? 1e-5;
      const bias = beta.data.map((bt, c) => bt - (mean.data[c] * gamma.data[c]) / Math.sqrt(variance.data[c] + eps));
      found.push({ layer: out, bias });
    }
  }
  if (!found.length) throw new MethodNotApplicable('fullgrad', 'the model has no Conv with a bias and no BatchNormalization: there are no bias gradients to add');
  return found;
}

/** Per-(item, channel) min-max scaling of [N, C, h, w], then the sum over channels: [N, h, w]. */
function scaledChannelSum(x: Tensor): Tensor {
  const [n, c, h, w] = x.shape;
  return sum(reshape(scaleMap(reshape(x, [n * c, h, w])), [n, c, h, w]), [1]);
}

async function fullGradPass(ctx: CamContext): Promise<PassOutput> {
  if (ctx.eigenSmooth) throw new MethodNotApplicable('fullgrad', 'eigenSmooth is not supported (its map is a sum over all bias layers, not a weighted activation)');
  const layers = biasLayers(ctx);
  const state = await forwardPass(
    ctx,
    layers.map((l) => l.layer),
    { gradients: true, inputGradient: true, allowUnreached: true },
  );
  return tape.noGrad(() => {
    const x = ctx.inputs[ctx.inputName];
    let total = scaledChannelSum(abs(mul(state.inputGradient!, x)));
    state.layers.forEach((s, i) => {
      if (!s.gradients) return; // a branch the target does not depend on (an auxiliary output): no contribution
      const c = s.activations.shape[1];
      const bias = tensor(layers[i].bias, [1, c, 1, 1]);
      total = add(total, upsample(scaledChannelSum(abs(mul(s.gradients!, bias))), ctx.size));
    });
    return {
      map: scaleMap(total),
      raw: [{ layer: ctx.inputName, map: total }],
      gradient: { layer: ctx.inputName, tensor: state.inputGradient! },
      score: state.score,
      states: state.layers,
    };
  });
}

export const fullGrad: CamMethod = {
  name: 'fullgrad',
  title: 'FullGrad',
  paper: 'Srinivas & Fleuret, Full-Gradient Representation for Neural Network Visualization, NeurIPS 2019, eq. 2 and 5',
  usesGradients: true,
  inputSpace: true,
  pass: fullGradPass,
};

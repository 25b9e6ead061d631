// Guided Grad-CAM. Selvaraju et al., "Grad-CAM: Visual Explanations from Deep
// Networks via Gradient-based Localization", ICCV 2017, §3 ("Guided Grad-CAM"):
// the guided-backpropagation gradient multiplied pointwise by the Grad-CAM map
// upsampled to the input, G (.) L^c, which is both high-resolution and
// class-discriminative. pytorch-grad-cam computes it the same way
// (cam_mask * guided_backprop gradient).
// The Grad-CAM map comes from the base's explain with the gradcam method (same
// layers and target); `gradient` is the product [3, H, W], `map` its saliency max_c |.|.

import { max, mul, tape, tensor } from '../engine/index.js';
import { abs, scaleMap, upsample } from './cam-math.js';
import { explainNow } from './explain.js';
import type { CamContext, CamMethod, PassOutput } from './method.js';
import { modifiedBackpropPass } from './backprop-rules.js';
import { gradCam } from './grad-cam.js';

async function guidedGradCamPass(ctx: CamContext): Promise<PassOutput> {
  // Guided backprop first: it resolves the default target (the predicted class) for both.
  const guided = await modifiedBackpropPass('guided', ctx);
  const g = guided.gradient!.tensor; // [N, C, H, W]
  const [n, , height, width] = g.shape;
  const cam = await explainNow(ctx.model, ctx.inputs, gradCam, {
    layers: ctx.options.layers,
    target: ctx.target!,
    output: ctx.options.output,
    size: [height, width],
  }, { inputChecked: true }); // the outer explanation checks the input
  return tape.noGrad(() => {
    const product = mul(g, tensor(cam.map, [n, 1, height, width]));
    const saliency = max(abs(product), [1]);
    return {
      map: scaleMap(upsample(saliency, ctx.size)),
      raw: [{ layer: ctx.inputName, map: saliency }],
      gradient: { layer: ctx.inputName, tensor: product },
      score: guided.score,
      states: [],
    };
  });
}

export const guidedGradCam: CamMethod = {
  name: 'guidedgradcam',
  title: 'Guided Grad-CAM',
  paper: 'Selvaraju et al., Grad-CAM, ICCV 2017, §3 Guided Grad-CAM: guided backprop (.) upsampled Grad-CAM',
  usesGradients: true,
  inputSpace: true,
  pass: guidedGradCamPass,
};

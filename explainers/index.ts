// gradlens explainers: the method registry and `explain()`.
//
//   const result = await explain(model, input, 'gradcam', { target: classTarget(243) });
//   result.map        // Float32Array [batch, H, W] in [0, 1]
//   result.raw[0]     // the layer's map after ReLU, before upsampling and scaling
//
// Each method is one file on base-cam.ts; `methods` is keyed by the CLI name.

import type { Tensor } from '../engine/index.js';
import { explainWith, type CamMethod, type ExplainOptions, type ExplainResult } from './base-cam.js';
import { ablationCam } from './ablation-cam.js';
import { cam } from './cam.js';
import { deconvnet } from './deconvnet.js';
import { eigenCam } from './eigen-cam.js';
import { eigenGradCam } from './eigen-grad-cam.js';
import { UnknownMethod } from './errors.js';
import { fem } from './fem.js';
import { fullGrad } from './full-grad.js';
import { gradCamElementWise } from './grad-cam-elementwise.js';
import { gradCamPlusPlus } from './grad-cam-plus-plus.js';
import { gradCam } from './grad-cam.js';
import { guidedBackprop } from './guided-backprop.js';
import { guidedGradCam } from './guided-grad-cam.js';
import { hiResCam } from './hires-cam.js';
import { layerCam } from './layer-cam.js';
import type { ExplainableModel } from '../engine/index.js';
import { occlusion } from './occlusion.js';
import { scoreCam } from './score-cam.js';
import { xGradCam } from './xgrad-cam.js';

// ShapleyCAM (Cai, Zhang, Li, Yang, Wang, "CAMs as Shapley Value-based
// Explainers", 2024; pytorch-grad-cam: weights = mean_ij(grad - 1/2 H A)) is not
// offered: it needs the Hessian-vector product H A, and the engine has no
// double backward (the tape runs backward rules unrecorded, and there is no
// forward-mode AD for forward-over-reverse). A finite-difference H A from two
// extra gradient passes with the layer scaled by 1 +- eps (RunOptions.replace)
// would be a different, approximate estimator. For piecewise-linear heads
// (ReLU, max pooling, linear) with a class-logit target, H A = 0 almost
// everywhere, so ShapleyCAM equals Grad-CAM there anyway.

/** Every method by CLI name. */
export const methods: Readonly<Record<string, CamMethod>> = Object.fromEntries(
  [
    // gradient-based
    gradCam,
    gradCamPlusPlus,
    xGradCam,
    hiResCam,
    gradCamElementWise,
    layerCam,
    eigenGradCam,
    fullGrad,
    // from the graph's classifier weights
    cam,
    // gradient-free
    scoreCam,
    ablationCam,
    eigenCam,
    fem,
    // input-space (Zeiler & Fergus and successors)
    deconvnet,
    guidedBackprop,
    guidedGradCam,
    occlusion,
  ].map((m) => [m.name, m]),
);

/** The method registered under `name`; UnknownMethod listing the known ones otherwise. */
export function getMethod(name: string): CamMethod {
  const m = methods[name];
  if (!m) throw new UnknownMethod(name, Object.keys(methods));
  return m;
}

/**
 * Explains `input` (a tensor for the model's first input, or feeds by name)
 * with `method` (a registry name or a CamMethod). See ExplainOptions and ExplainResult.
 */
export async function explain(
  model: ExplainableModel,
  input: Tensor | Readonly<Record<string, Tensor>>,
  method: string | CamMethod,
  options: ExplainOptions = {},
): Promise<ExplainResult> {
  return explainWith(model, input, typeof method === 'string' ? getMethod(method) : method, options);
}

export * from './base-cam.js';
export * from './targets.js';
export * from './errors.js';
export type { ExplainableModel, LayerInfo, RunOptions, RunResult, GraphNode, ConstantValue } from '../engine/index.js';
// Visualization and evaluation tools beside the CAM registry.
export { gradientImage } from './backprop-rules.js';
export { convFilters, featureMapGrid, type FeatureMapGrid, type FeatureMapOptions, type FilterGrid, type FilterOptions } from './feature-maps.js';
export { activationMax, type ActivationMaxOptions, type ActivationMaxResult, type Objective } from './activation-max.js';
export { confidenceChange, road, type ConfidenceChange, type RoadOptions, type RoadResult } from './metrics.js';
export type { ProgressCallback } from './batched.js';

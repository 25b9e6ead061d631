// The method registry, keyed by CLI name, and `explain`, which runs a method
// by name. The options `explain` accepts depend on the method: a registered
// name takes ExplainOptions plus that method's own (OptionsOf), so a misspelt
// or foreign option does not compile; a name known only at run time takes
// any registered method's options.

import type { ExplainableModel } from '../engine/index.js';
import { ablationCam } from './ablation-cam.js';
import { cam } from './cam.js';
import { deconvnet } from './deconvnet.js';
import { dff } from './dff.js';
import { eigenCam } from './eigen-cam.js';
import { eigenGradCam } from './eigen-grad-cam.js';
import { UnknownMethod } from './errors.js';
import { explainWith, type ExplainInput, type ExplainResult } from './explain.js';
import { fem } from './fem.js';
import { finerCam } from './finer-cam.js';
import { fullGrad } from './full-grad.js';
import { gradCamElementWise } from './grad-cam-elementwise.js';
import { gradCamPlusPlus } from './grad-cam-plus-plus.js';
import { gradCam } from './grad-cam.js';
import { guidedBackprop } from './guided-backprop.js';
import { guidedGradCam } from './guided-grad-cam.js';
import { hiResCam } from './hires-cam.js';
import { inputXGradient } from './input-x-gradient.js';
import { integratedGradients } from './integrated-gradients.js';
import { kpcaCam } from './kpca-cam.js';
import { layerCam } from './layer-cam.js';
import type { CamMethod, ExplainOptions, OptionsOf } from './method.js';
import { occlusion } from './occlusion.js';
import { saliency } from './saliency.js';
import { scoreCam } from './score-cam.js';
import { shapleyCam } from './shapley-cam.js';
import { xGradCam } from './xgrad-cam.js';

/** Every method by CLI name (each key is its method's `name`; test/explain/methods.test.ts checks it). */
const registered = {
  // gradient-based
  gradcam: gradCam,
  'gradcam++': gradCamPlusPlus,
  xgradcam: xGradCam,
  hirescam: hiResCam,
  gradcamelementwise: gradCamElementWise,
  layercam: layerCam,
  eigengradcam: eigenGradCam,
  fullgrad: fullGrad,
  // gradient and Hessian-vector product (the engine's double backward)
  shapleycam: shapleyCam,
  finercam: finerCam,
  // from the graph's classifier weights
  cam,
  // gradient-free
  scorecam: scoreCam,
  ablationcam: ablationCam,
  eigencam: eigenCam,
  fem,
  kpcacam: kpcaCam,
  dff,
  // input-space (Zeiler & Fergus and successors)
  deconvnet,
  guidedbackprop: guidedBackprop,
  guidedgradcam: guidedGradCam,
  occlusion,
  // input gradients (Captum's attribution family); SmoothGrad is their smooth / noise / smoothType options
  saliency,
  inputxgradient: inputXGradient,
  integratedgradients: integratedGradients,
};

/** A registered method's CLI name. */
export type MethodName = keyof typeof registered;

/** Every method by CLI name. */
export const methods: Readonly<Record<string, CamMethod>> = registered;

/** The options `explain` takes for the registered method M: the shared ones and M's own. */
export type OptionsFor<M extends MethodName> = ExplainOptions & OptionsOf<(typeof registered)[M]>;

/** A | B | C -> A & B & C. */
type Intersection<U> = (U extends unknown ? (u: U) => void : never) extends (i: infer I) => void ? I : never;

/** The shared options and every registered method's own: for a method chosen at run time. */
export type AnyMethodOptions = ExplainOptions & Intersection<OptionsOf<(typeof registered)[MethodName]>>;

/** The method registered under `name`; UnknownMethod listing the known ones otherwise. */
export function getMethod(name: string): CamMethod {
  const m = methods[name];
  if (!m) throw new UnknownMethod(name, Object.keys(methods));
  return m;
}

/** A tensor or host values ({ data, shape }: checked before upload) for the model's first input, or tensors by input name. */
type Input = ExplainInput;

/**
 * Explains `input` (a tensor for the model's first input, or feeds by name)
 * with `method` (a registry name or a CamMethod). See ExplainOptions and ExplainResult.
 */
export function explain<M extends MethodName>(model: ExplainableModel, input: Input, method: M, options?: OptionsFor<M>): Promise<ExplainResult>;
export function explain<Options extends object>(model: ExplainableModel, input: Input, method: CamMethod<Options>, options?: ExplainOptions & Options): Promise<ExplainResult>;
/** A name known only at run time (a registered name written out takes its own options only); UnknownMethod if it is not registered. */
export function explain<Name extends string>(model: ExplainableModel, input: Input, method: Name extends MethodName ? never : Name, options?: AnyMethodOptions): Promise<ExplainResult>;
export async function explain(model: ExplainableModel, input: Input, method: string | CamMethod, options: ExplainOptions = {}): Promise<ExplainResult> {
  return explainWith(model, input, typeof method === 'string' ? getMethod(method) : method, options);
}

// gradlens explainers: the method registry and `explain()`.
//
//   const result = await explain(model, input, 'gradcam', { target: classTarget(243) });
//   result.map        // Float32Array [batch, H, W] in [0, 1]
//   result.raw[0]     // the layer's map after ReLU, before upsampling and scaling
//
// Each method is one file implementing method.ts's CamMethod; explain.ts
// drives it (pass.ts, cam-math.ts, target-layers.ts); registry.ts keys the
// methods by CLI name. This file only lists what is public, by name.

// The registry and the drivers.
export { explain, getMethod, methods, type AnyMethodOptions, type MethodName, type OptionsFor } from './registry.js';
export { explainWith, type ExplainInput, type ExplainResult, type HostInput, type RawMap } from './explain.js';
export type { ExplainWarning } from './diagnose.js';

// Writing a method: the contract and the base's building blocks.
export { gradientsOf, type CamContext, type CamMethod, type ExplainOptions, type LayerState, type OptionsOf, type PassOutput } from './method.js';
export { forwardPass, standardPass, type ForwardState } from './pass.js';
export { abs, channelSum, combineLayers, flip, mapAtLayer, project2d, scalar, scaleMap, upsample } from './cam-math.js';
export { defaultLayer, resolveLayers } from './target-layers.js';

// The methods, and their own options.
export { ablationCam } from './ablation-cam.js';
export { cam } from './cam.js';
export { deconvnet } from './deconvnet.js';
export { deepFeatureFactorization, dff, factorize, nmf, nmfStart, type ConceptClass, type DffConcepts, type DffMethodOptions, type DffOptions, type DffResult, type NmfOptions } from './dff.js';
export { eigenCam } from './eigen-cam.js';
export { eigenGradCam } from './eigen-grad-cam.js';
export { fem, type FemOptions } from './fem.js';
export { finerCam, finerTarget, similarClasses, type FinerCamOptions, type FinerComparison } from './finer-cam.js';
export { fullGrad } from './full-grad.js';
export { gradCamElementWise } from './grad-cam-elementwise.js';
export { gradCamPlusPlus } from './grad-cam-plus-plus.js';
export { gradCam } from './grad-cam.js';
export { guidedBackprop } from './guided-backprop.js';
export { guidedGradCam } from './guided-grad-cam.js';
export { hiResCam } from './hires-cam.js';
export { inputXGradient } from './input-x-gradient.js';
export { integratedGradients, gaussianBlur, trapezoidWeights, type Completeness, type IntegratedGradientsOptions } from './integrated-gradients.js';
export { kernelProjection, kpcaCam, KPCA_KERNELS, type KpcaCamOptions, type KpcaKernel } from './kpca-cam.js';
export { inputGradientPass, type Attribution, type InputGradientOptions, type InputGradientSpec } from './input-gradients.js';
export { layerCam } from './layer-cam.js';
export { occlusion, type OcclusionOptions } from './occlusion.js';
export { saliency } from './saliency.js';
export { SMOOTH_TYPES, type SmoothGradOptions, type SmoothType } from './smooth-grad.js';
export { scoreCam, type ScoreCamOptions } from './score-cam.js';
export { shapleyCam } from './shapley-cam.js';
export { xGradCam } from './xgrad-cam.js';
export type { BatchedCamOptions, BatchOptions, ProgressCallback } from './batched.js';

// Targets and errors.
export {
  argmaxRows,
  binaryTarget,
  classTarget,
  counterfactualTarget,
  functionTarget,
  maskTarget,
  maxTarget,
  scalarScore,
  similarityTarget,
  softmaxTarget,
  toTarget,
  type ClassTargetOptions,
  type MaskTargetOptions,
  type TargetData,
  type Target,
  type TargetSpec,
  type TargetValues,
} from './targets.js';
export { closeMatches, ExplainError, LayerNotFound, MethodNotApplicable, NoGradientPath, NotASpatialLayer, TargetError, UnknownMethod } from './errors.js';
export type { ExplainableModel, LayerInfo, RunOptions, RunResult, GraphNode, ConstantValue } from '../engine/index.js';

// Detectors (YOLO formats): detect, then explain one detection or all of them.
export { detect, detectInput, detectionAt, detectionJson, boxToPhoto, type Detection, type DetectOptions, type DetectResult, type ModelInput } from './yolo/detect.js';
export { explainDetection, explainDetections, boxComposite, type DetectionExplainOptions, type DetectionExplanation, type DetectionsExplanation } from './yolo/explain.js';
export { className, detectorHead, SCORE_KINDS, type DetectorHead, type DetectorOptions, type HeadScale, type HostOutputs, type ScoreKind } from './yolo/heads.js';
export { DetectorFormatError, parseNames, type DarknetSidecar, type DetectorFormat } from './yolo/format.js';
export { iou, nms, type Box, type Prediction, type PredictionSource } from './yolo/nms.js';

// Visualization and evaluation tools beside the CAM registry.
export { gradientImage } from './backprop-rules.js';
export { convFilters, featureMapGrid, type FeatureMapGrid, type FeatureMapOptions, type FilterGrid, type FilterOptions } from './feature-maps.js';
export { activationMax, type ActivationMaxOptions, type ActivationMaxResult, type Objective } from './activation-max.js';
export { confidenceChange, road, type ConfidenceChange, type RoadOptions, type RoadResult } from './metrics.js';

// Options for running every registered method on resnet_mini (32x32): one
// case per method, typed so a method added to the registry without a case
// does not compile. `batch` sets the gradient-free methods' batch sizes
// (small batches: short runs, and many awaits for the concurrency test).

import type { MethodName, OptionsFor } from '../../explainers/index.js';

/** resnet_mini's last block: [1, 16, 8, 8]. */
export const LAYER = '/layer3/relu2/Relu_output_0';

export function methodCases(batch: { scorecam: number; ablationcam: number; occlusion: number }): { [M in MethodName]: OptionsFor<M> } {
  return {
    gradcam: { layers: LAYER },
    'gradcam++': { layers: LAYER },
    xgradcam: { layers: LAYER },
    hirescam: { layers: LAYER },
    gradcamelementwise: { layers: LAYER },
    layercam: { layers: LAYER },
    eigengradcam: { layers: LAYER },
    fullgrad: {},
    shapleycam: { layers: LAYER },
    finercam: { layers: LAYER },
    cam: { layers: LAYER },
    scorecam: { layers: LAYER, batchSize: batch.scorecam },
    ablationcam: { layers: LAYER, batchSize: batch.ablationcam },
    eigencam: { layers: LAYER },
    fem: { layers: LAYER, k: 1 },
    kpcacam: { layers: LAYER },
    dff: { layers: LAYER, concepts: 3, iterations: 50 },
    deconvnet: {},
    guidedbackprop: {},
    guidedgradcam: { layers: LAYER },
    occlusion: { patch: 8, stride: 8, batchSize: batch.occlusion },
    saliency: {},
    inputxgradient: {},
    integratedgradients: { steps: 8, batchSize: 4 },
  };
}

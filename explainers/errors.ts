// Typed errors of the explainers. Each message names the layer, method or
// target involved and, when there is one, the fix.

import { GradlensError } from '../engine/index.js';

// LayerNotFound and closeMatches belong to the model contract (engine/model.ts):
// importers raise it too. Re-exported here so explainers' users find every error in one place.
export { LayerNotFound, closeMatches } from '../engine/index.js';

/** Base class of every error an explainer throws on bad arguments or an unsuitable model. */
export class ExplainError extends GradlensError {}

/** A target layer whose tensor is not NCHW: CAM methods weight channels of a spatial map. */
export class NotASpatialLayer extends ExplainError {
  constructor(
    readonly layer: string,
    readonly shape: readonly number[],
  ) {
    super(`layer '${layer}' has shape [${shape.join(', ')}]: CAM methods need an NCHW (rank-4) activation; pick a convolutional layer`);
  }
}

/** The target score does not depend on a target layer, so its gradient there is undefined (not zero). */
export class NoGradientPath extends ExplainError {
  constructor(
    readonly layer: string,
    readonly target: string,
  ) {
    super(
      `no gradient path from layer '${layer}' to the target (${target}): the score does not depend on this layer. ` +
        'Pick a layer upstream of the output the target reads, or a target on an output this layer feeds.',
    );
  }
}

/** A target that cannot be built or evaluated on this model's outputs. */
export class TargetError extends ExplainError {}

/** A method name not in the registry. */
export class UnknownMethod extends ExplainError {
  constructor(
    readonly method: string,
    readonly known: readonly string[],
  ) {
    super(`unknown explanation method '${method}'. Known methods: ${known.join(', ')}`);
  }
}

/** A method that does not apply to this model or these options (CAM on a model without GAP + linear...). */
export class MethodNotApplicable extends ExplainError {
  constructor(
    readonly method: string,
    detail: string,
  ) {
    super(`${method}: ${detail}`);
  }
}

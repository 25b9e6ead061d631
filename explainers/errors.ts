// Typed errors of the explainers. Each message names the layer, method or
// target involved and, when there is one, the fix.

import { GradlensError } from '../engine/errors.js';

/** Base class of every error an explainer throws on bad arguments or an unsuitable model. */
export class ExplainError extends GradlensError {}

/** A layer name the model does not have; lists the closest names. */
export class LayerNotFound extends ExplainError {
  constructor(
    readonly layer: string,
    /** The model's layer names closest to `layer`, best first. */
    readonly suggestions: readonly string[],
  ) {
    const hint = suggestions.length ? ` Did you mean: ${suggestions.map((s) => `'${s}'`).join(', ')}?` : '';
    super(`layer '${layer}' not found in the model.${hint} (model.layers() lists every tensor name)`);
  }
}

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

/** Up to `count` names closest to `name`: substring matches first, then by edit distance. */
export function closeMatches(name: string, names: readonly string[], count = 5): string[] {
  const lower = name.toLowerCase();
  const scored = names.map((n) => {
    const l = n.toLowerCase();
    const contains = l.includes(lower) || lower.includes(l) ? 0 : 1;
    return { n, contains, d: editDistance(lower, l) };
  });
  const limit = Math.max(3, Math.ceil(name.length / 2));
  return scored
    .filter((s) => s.contains === 0 || s.d <= limit)
    .sort((a, b) => a.contains - b.contains || a.d - b.d || a.n.localeCompare(b.n))
    .slice(0, count)
    .map((s) => s.n);
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = cur;
  }
  return prev[b.length];
}

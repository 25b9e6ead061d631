// One explanation pass, as pytorch-grad-cam's BaseCAM.forward: run the model
// keeping the target layers (tape leaves when the method needs gradients),
// build the target score, backpropagate, and read the gradients at the layers
// (forwardPass; for ShapleyCAM also H A, by a createGraph backward and a
// second one); then the standard pass lets the method turn each layer's
// (activations, gradients) into a map and combines the maps (cam-math.ts).
// Everything stays on the GPU; the only readback here is the predicted class
// when no target is given.

import { keep, relu, reshape, sum, tape, zeros, type Tensor } from '../engine/index.js';
import { combineLayers, mapAtLayer, scaleMap, upsample } from './cam-math.js';
import { closeMatches, LayerNotFound, NoGradientPath, NotASpatialLayer, TargetError } from './errors.js';
import type { CamContext, CamMethod, LayerState, PassOutput } from './method.js';
import { argmaxRows, classTarget, type Target } from './targets.js';

export interface ForwardState {
  outputs: Record<string, Tensor>;
  layers: LayerState[];
  /** The target's score tensor (per item for class targets). */
  score: Tensor;
  /** d score / d input when asked for. */
  inputGradient: Tensor | null;
}

/**
 * Runs the model on ctx.inputs keeping `layers`; with gradients, makes them
 * tape leaves (retaining the gradient of those the tape reaches through an
 * earlier one), scores the target and backpropagates. Resolves the default
 * target on the first call. NoGradientPath when a layer's gradient is missing.
 */
export async function forwardPass(
  ctx: CamContext,
  layers: readonly string[],
  options: {
    gradients: boolean;
    inputGradient?: boolean;
    /** Give layers the score does not depend on a null gradient instead of throwing NoGradientPath. */
    allowUnreached?: boolean;
    /** Also H A per layer (the score's Hessian wrt the layer times its activations): backward with createGraph, then a second one. */
    hessian?: boolean;
  },
): Promise<ForwardState> {
  const targetTensors = ctx.target?.tensors ?? [];
  const requireGrad = options.gradients ? [...layers, ...(options.inputGradient ? [ctx.inputName] : [])] : [];
  const liveBefore = tape.liveNodes;
  try {
    const { outputs, kept } = ctx.model.run(ctx.inputs, { keep: [...new Set([...layers, ...targetTensors])], requireGrad });
    const values = { ...outputs, ...kept };
    if (!ctx.target) ctx.target = await defaultTarget(ctx, values);
    const target = ctx.target;
    for (const name of target.tensors ?? []) {
      if (!values[name]) throw new TargetError(`the target reads '${name}', which the model did not return; pass it in the target's \`tensors\``);
    }
    const states = layers.map((layer) => {
      const t = kept[layer];
      if (!t) throw new LayerNotFound(layer, closeMatches(layer, Object.keys(kept)));
      if (t.shape.length !== 4) throw new NotASpatialLayer(layer, t.shape);
      return t;
    });
    const input = ctx.inputs[ctx.inputName];
    if (!options.gradients) {
      const score = tape.noGrad(() => target.score(values, ctx.defaultOutput));
      return { outputs, layers: states.map((t, i) => ({ layer: layers[i], activations: t, gradients: null })), score, inputGradient: null };
    }
    // For models that only mark requireGrad tensors: a layer the tape reaches
    // through an earlier target layer is no leaf, so retain its gradient.
    for (const t of states) if (t.node) tape.retainGrad(t);
    if (options.inputGradient && input.node) tape.retainGrad(input);
    const score = target.score(values, ctx.defaultOutput);
    const scalar = score.size === 1 ? reshape(score, []) : sum(score);
    if (!scalar.requiresGrad) throw new NoGradientPath(layers[0] ?? ctx.inputName, target.label);
    tape.backward(scalar, { createGraph: options.hessian });
    states.forEach((t, i) => {
      if (!t.grad && !options.allowUnreached) throw new NoGradientPath(layers[i], target.label);
    });
    const hessian = options.hessian ? states.map(hessianTimesActivations) : null;
    if (options.inputGradient && !input.grad) throw new NoGradientPath(ctx.inputName, target.label);
    // Detach: what methods compute from these must not be recorded (noGrad
    // cannot span their awaits).
    for (const t of [...states, input]) t.requiresGrad = false;
    return {
      outputs,
      layers: states.map((t, i) => ({ layer: layers[i], activations: t, gradients: t.grad, ...(hessian ? { hessianActivations: hessian[i] } : {}) })),
      score,
      inputGradient: options.inputGradient ? input.grad : null,
    };
  } finally {
    // Nodes off the score's path (other outputs), or the whole forward graph
    // after an error, keep saved tensors: when the tape held nothing before
    // this pass, everything left on it is ours.
    if (liveBefore === 0) tape.clear();
  }
}

/**
 * H A at a layer A whose gradient g = d score / d A was recorded (createGraph):
 * d(g . A)/dA with the A in the product held constant, the Hessian-vector
 * product with v = A (pytorch-grad-cam's autograd.grad(grads, activations,
 * grad_outputs=activations)). Zero when g does not depend on A (a piecewise-
 * linear path, where H A = 0 almost everywhere). Leaves t.grad detached.
 */
function hessianTimesActivations(t: Tensor): Tensor {
  const g = t.grad;
  if (!g) return zeros(t.shape); // a layer the score does not reach (allowUnreached)
  let ha: Tensor | null = null;
  if (g.requiresGrad) {
    const v = t.view(t.shape); // a plain view is detached: the constant A of the product
    [ha] = tape.grad([g], [t], { gradOutputs: [v], retainGraph: true });
    v.dispose();
  }
  t.grad = keep(g.view(g.shape)); // detached: what methods compute from it is not recorded
  g.dispose();
  return ha ?? zeros(t.shape);
}

/** The predicted class of each item (argmax of the default output), as pytorch-grad-cam does without targets. */
async function defaultTarget(ctx: CamContext, values: Record<string, Tensor>): Promise<Target> {
  const out = values[ctx.defaultOutput];
  const n = out.shape[0] ?? 1;
  if (out.shape.length < 1 || out.shape.slice(2).some((d) => d !== 1)) {
    throw new TargetError(`no target given and output '${ctx.defaultOutput}' of shape [${out.shape.join(', ')}] is not class scores; pass \`target\``);
  }
  return classTarget(argmaxRows(await out.data(), out.shape.length === 1 ? 1 : n));
}

/** The pass of every method without its own: forward (+ backward), per-layer maps, ReLU, upsampling, scaling, multi-layer average. */
export async function standardPass<Options extends object>(method: CamMethod<Options>, ctx: CamContext<Options>): Promise<PassOutput> {
  const state = await forwardPass(ctx, ctx.layers, { gradients: method.usesGradients || Boolean(method.usesHessian), hessian: method.usesHessian });
  const raw: PassOutput['raw'] = [];
  const scaled: Tensor[] = [];
  for (const layer of state.layers) {
    const map = relu(await mapAtLayer(method, layer, ctx));
    raw.push({ layer: layer.layer, map });
    scaled.push(scaleMap(upsample(map, ctx.size)));
  }
  const first = state.layers[0];
  return {
    map: combineLayers(scaled),
    raw,
    gradient: first.gradients ? { layer: first.layer, tensor: first.gradients } : undefined,
    score: state.score,
    states: state.layers,
  };
}

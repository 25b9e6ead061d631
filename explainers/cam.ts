// CAM. Zhou, Khosla, Lapedriza, Oliva, Torralba, "Learning Deep Features for
// Discriminative Localization", CVPR 2016. For a network ending in
// global average pooling and a linear classifier, S_c = sum_k w_k^c GAP(f_k), and
// eq. 2 defines M_c(x, y) = sum_k w_k^c f_k(x, y): the class's classifier weights
// are the channel weights. No gradients: the weights are read from the graph.
//
// The head is found by walking forward from the target layer:
//   layer -> GlobalAveragePool (or ReduceMean over H, W, or an unpadded AveragePool whose window is the whole map)
//         -> [Flatten | Reshape | Squeeze | Dropout | Identity]*
//         -> Gemm (B, transB, alpha) | MatMul (B) [-> Add bias]
// and the target's class index must refer to that linear layer's output, or to
// something computed from it class-wise (Softmax, LogSoftmax, reshapes).
// Grad-CAM's section 3.1 shows Grad-CAM reduces to this map divided by h*w.

import { tensor } from '../engine/index.js';
import type { CamContext, CamMethod, LayerState } from './method.js';
import { MethodNotApplicable } from './errors.js';
import { modelGraph, type ModelGraph } from './graph.js';
import type { GraphNode } from '../engine/index.js';

const PASS_THROUGH = new Set(['Flatten', 'Reshape', 'Squeeze', 'Dropout', 'Identity']);
const CLASS_WISE = new Set(['Softmax', 'LogSoftmax', 'Flatten', 'Reshape', 'Squeeze', 'Identity', 'Dropout']);

/** The classifier's weights as [classes, channels] (row c: w^c), and the tensor holding the class scores. */
export interface ClassifierHead {
  weights: Float32Array;
  classes: number;
  channels: number;
  /** Tensors holding the class scores (the linear output and class-wise functions of it). */
  scoreTensors: Set<string>;
}

function soleConsumer(g: ModelGraph, name: string, what: string): GraphNode {
  const users = g.consumers(name);
  if (users.length !== 1) {
    throw new MethodNotApplicable('cam', `${what} '${name}' feeds ${users.length} nodes (${users.map((u) => u.op).join(', ') || 'none'}); CAM needs a plain GAP -> linear head`);
  }
  return users[0];
}

function isGlobalAverage(n: GraphNode, g: ModelGraph, spatial: readonly number[]): boolean {
  if (n.op === 'GlobalAveragePool') return true;
  if (n.op === 'AveragePool') {
    // A window covering the whole map without padding is a global average (Keras/TF exports, MobileNetV2).
    const kernel = n.attributes.kernel_shape as readonly number[] | undefined;
    const pads = (n.attributes.pads as readonly number[] | undefined) ?? [];
    return !!kernel && kernel.length === 2 && kernel[0] === spatial[0] && kernel[1] === spatial[1] && pads.every((p) => p === 0);
  }
  if (n.op === 'ReduceMean') {
    const axes = (n.attributes.axes as readonly number[] | undefined) ?? [...(g.constant(n.inputs[1] ?? '')?.data ?? [])];
    return axes.length === 2 && axes.every((a) => a === 2 || a === 3 || a === -1 || a === -2);
  }
  return false;
}

/** Walks layer -> GAP -> reshapes -> linear; MethodNotApplicable naming what was found instead. */
export function findClassifierHead(g: ModelGraph, layer: string, channels: number, spatial: readonly number[] = []): ClassifierHead {
  const pool = soleConsumer(g, layer, 'layer');
  if (!isGlobalAverage(pool, g, spatial)) {
    throw new MethodNotApplicable('cam', `layer '${layer}' feeds ${pool.op} '${pool.name}', not a global average pooling; choose the layer that enters the GAP (or use gradcam)`);
  }
  let t = pool.outputs[0];
  let n = soleConsumer(g, t, 'pooled tensor');
  while (PASS_THROUGH.has(n.op)) {
    t = n.outputs[0];
    n = soleConsumer(g, t, `${n.op} output`);
  }
  let weights: Float32Array;
  let classes: number;
  if (n.op === 'Gemm' || n.op === 'MatMul') {
    const b = g.constant(n.inputs[1]);
    if (!b || b.shape.length !== 2) throw new MethodNotApplicable('cam', `${n.op} '${n.name}' has no constant 2-D weight matrix`);
    if (n.op === 'Gemm' && n.attributes.transA) throw new MethodNotApplicable('cam', `Gemm '${n.name}' with transA is not a linear classifier over pooled features`);
    const transB = n.op === 'Gemm' && Boolean(n.attributes.transB);
    const alpha = n.op === 'Gemm' ? ((n.attributes.alpha as number | undefined) ?? 1) : 1;
    const [rows, cols] = b.shape;
    classes = transB ? rows : cols;
    const inner = transB ? cols : rows;
    if (inner !== channels) throw new MethodNotApplicable('cam', `${n.op} '${n.name}' reads ${inner} features but the layer has ${channels} channels`);
    weights = new Float32Array(classes * channels);
    for (let c = 0; c < classes; c++) {
      for (let k = 0; k < channels; k++) weights[c * channels + k] = alpha * (transB ? b.data[c * cols + k] : b.data[k * cols + c]);
    }
  } else {
    throw new MethodNotApplicable('cam', `after the global average pooling comes ${n.op} '${n.name}', not a linear layer (Gemm or MatMul)`);
  }
  // The class scores, and what is computed from them class by class.
  const scoreTensors = new Set<string>();
  let out = n.outputs[0];
  scoreTensors.add(out);
  for (;;) {
    const users = g.consumers(out);
    if (users.length !== 1) break;
    const next = users[0];
    const addsBias = next.op === 'Add' && next.inputs.some((i) => i !== out && g.constant(i));
    if (!addsBias && !CLASS_WISE.has(next.op)) break;
    out = next.outputs[0];
    scoreTensors.add(out);
  }
  return { weights, classes, channels, scoreTensors };
}

export const cam: CamMethod = {
  name: 'cam',
  title: 'CAM',
  paper: 'Zhou et al., Learning Deep Features for Discriminative Localization, CVPR 2016, eq. 2',
  usesGradients: false,
  inputSpace: false,
  weights(layer: LayerState, ctx: CamContext) {
    const [n, channels, height, width] = layer.activations.shape;
    const head = findClassifierHead(modelGraph(ctx.model, 'cam'), layer.layer, channels, [height, width]);
    const target = ctx.target!;
    const reads = target.output ?? ctx.defaultOutput;
    if (!target.category) throw new MethodNotApplicable('cam', `the target (${target.label}) is not a class score; CAM explains one class of a GAP + linear classifier`);
    if (!head.scoreTensors.has(reads)) {
      throw new MethodNotApplicable('cam', `the target reads '${reads}', which is not the class scores of the linear layer after '${layer.layer}' (${[...head.scoreTensors].join(', ')})`);
    }
    const cats = target.category.length === 1 ? Array<number>(n).fill(target.category[0]) : target.category;
    const w = new Float32Array(n * channels);
    cats.forEach((c, i) => w.set(head.weights.subarray(c * channels, (c + 1) * channels), i * channels));
    return tensor(w, [n, channels]);
  },
};

// What an executor runs for one prepared graph: the steps in order, and the
// last step that reads each intermediate (so it can be freed right after).
//
// Optional fusions rewrite a Conv chain into one engine conv2d:
//   Conv -> BatchNormalization     folded into the weights: with s = gamma / sqrt(var + eps),
//                                  w' = w * s and b' = (b - mean) * s + beta per output channel
//   Conv [-> BN] -> activation     Relu, LeakyRelu, Sigmoid or Clip in conv2d's epilogue
//   Conv [-> BN] -> Sigmoid, Mul   x * sigmoid(x) (YOLOv5's SiLU) in the epilogue
//   Pad -> Conv [-> ...]           a constant-zero Pad of H and W only (Keras/TF exports
//                                  pad before stride-2 convs) added to the Conv's own pads,
//                                  when every reader of the padded tensor is such a Conv
// A fused chain does not produce the tensors inside it, so a chain ends at a
// graph output or at a tensor the caller asked for (keep / requireGrad), and
// a Pad's output that is asked for is computed, not folded.

import { Conv2dAttrs, numel, resolvePad } from '../../engine/host.js';
import { nodeInferContext, type PreparedGraph, type PreparedNode } from './graph.js';
import { fromNumbers, toNumbers, type HostTensor } from './host-tensor.js';
import { convAttrs } from './ops/conv.js';
import { padArgs } from './ops/shape-ops.js';

/** A node run through its handler. */
export interface NodeStep {
  readonly kind: 'node';
  readonly node: PreparedNode;
  /** Computed tensors it reads (constants are not listed). */
  readonly reads: readonly string[];
  readonly writes: readonly string[];
}

/** A fused Conv chain: one conv2d with (possibly folded) weights and an epilogue activation. */
export interface ConvStep {
  readonly kind: 'conv';
  /** The fused nodes: the Conv first, then a folded Pad before it, then BN and activation nodes after it. */
  readonly nodes: readonly PreparedNode[];
  readonly reads: readonly [string];
  readonly writes: readonly [string];
  readonly weight: HostTensor;
  readonly bias?: HostTensor;
  readonly attrs: Conv2dAttrs;
}

export type Step = NodeStep | ConvStep;

export interface Fusion {
  readonly step: ConvStep;
  /** Tensors of the unfused graph that the fused step does not produce. */
  readonly hidden: readonly string[];
}

export interface FusionOptions {
  /** Fold BatchNormalization into the preceding Conv. */
  batchNorm: boolean;
  /** Apply the activation after a Conv in its epilogue. */
  activations: boolean;
  /** Fold a constant-zero Pad of the spatial axes into the pads of the Conv(s) reading it. */
  pads: boolean;
}

export interface Plan {
  readonly graph: PreparedGraph;
  readonly steps: readonly Step[];
  /** Index of the last step that reads each computed tensor (absent: never read). */
  readonly lastUse: ReadonlyMap<string, number>;
}

/** Folded weights by Conv (and BatchNormalization) node index: the same for every input shape. */
export type FoldCache = Map<string, { weight: HostTensor; bias?: HostTensor }>;

/** The fusions a graph allows when the tensors in `visible` (and the graph outputs) must be produced. */
export function findFusions(graph: PreparedGraph, options: FusionOptions, visible: ReadonlySet<string> = new Set(), cache: FoldCache = new Map()): Fusion[] {
  if (!options.batchNorm && !options.activations && !options.pads) return [];
  const mustExist = new Set([...graph.outputs.map((o) => o.name), ...visible]);
  const consumers = new Map<string, Set<PreparedNode>>();
  for (const p of graph.nodes) {
    for (const name of p.node.inputs) {
      if (!name || graph.tensors.get(name)?.value) continue;
      if (!consumers.has(name)) consumers.set(name, new Set());
      consumers.get(name)!.add(p);
    }
  }
  // A chain may only continue past a tensor that nothing else needs.
  const users = (name: string) => (mustExist.has(name) ? [] : [...(consumers.get(name) ?? [])]);
  const sole = (name: string) => {
    const u = users(name);
    return u.length === 1 ? u[0] : undefined;
  };
  const value = (name: string | undefined) => (name ? graph.tensors.get(name)?.value : undefined);
  /** A Conv this pass rewrites: computed input, constant weights and bias. */
  const fusable = (p: PreparedNode) => {
    const [x, w, b] = p.node.inputs;
    return p.node.opType === 'Conv' && !value(x) && !!value(w) && !(b && !value(b));
  };
  const producer = new Map(graph.nodes.flatMap((p) => p.node.outputs.map((name) => [name, p] as const)));
  /** The Pad producing `x` and its [top, left, bottom, right], when every reader of x is a Conv that takes them over. */
  const foldedPad = (x: string) => {
    const pad = producer.get(x);
    if (!options.pads || pad?.node.opType !== 'Pad' || value(pad.node.inputs[0])) return undefined;
    const readers = users(x);
    if (!readers.length || !readers.every((c) => fusable(c) && c.node.inputs[0] === x && !c.node.inputs.slice(1).includes(x))) return undefined;
    const pads = spatialZeroPads(graph, pad);
    return pads && { pad, pads };
  };

  const fusions: Fusion[] = [];
  for (const conv of graph.nodes) {
    if (!fusable(conv)) continue;
    const [x, w, b] = conv.node.inputs;
    const nodes = [conv];
    const hidden: string[] = [];
    const padded = foldedPad(x);
    if (padded) {
      nodes.push(padded.pad);
      hidden.push(x);
    }
    let out = conv.node.outputs[0];
    let weights: { weight: HostTensor; bias?: HostTensor } = { weight: value(w)!, bias: value(b) };

    const bn = options.batchNorm ? sole(out) : undefined;
    const params = bn?.node.inputs.slice(1, 5).map(value);
    if (bn?.node.opType === 'BatchNormalization' && bn.node.inputs[0] === out && params?.every(Boolean)) {
      const key = `${conv.index}/${bn.index}`;
      if (!cache.has(key)) cache.set(key, foldBatchNorm(weights.weight, weights.bias, params as HostTensor[], bn.attrs.float('epsilon', 1e-5)));
      weights = cache.get(key)!;
      hidden.push(out);
      nodes.push(bn);
      out = bn.node.outputs[0];
    }

    let activation: Conv2dAttrs['activation'];
    if (options.activations) {
      const next = sole(out);
      const u = users(out);
      const sigmoid = u.length === 2 ? u.find((n) => n.node.opType === 'Sigmoid') : undefined;
      const mul = u.length === 2 ? u.find((n) => n.node.opType === 'Mul') : undefined;
      if (next?.handler.epilogue && next.node.inputs[0] === out) {
        activation = next.handler.epilogue(nodeInferContext(graph, next));
        hidden.push(out);
        nodes.push(next);
        out = next.node.outputs[0];
      } else if (sigmoid && mul && sole(sigmoid.node.outputs[0]) === mul && sameSet(mul.node.inputs, [out, sigmoid.node.outputs[0]])) {
        activation = { kind: 'silu' };
        hidden.push(out, sigmoid.node.outputs[0]);
        nodes.push(sigmoid, mul);
        out = mul.node.outputs[0];
      }
    }
    if (nodes.length === 1) continue;
    const attrs: Conv2dAttrs = { ...convAttrs(nodeInferContext(graph, conv)), activation };
    if (padded) {
      const [t, l, b, r] = attrs.pads!;
      const [pt, pl, pb, pr] = padded.pads;
      attrs.pads = [t + pt, l + pl, b + pb, r + pr];
    }
    const input = padded ? padded.pad.node.inputs[0] : x;
    fusions.push({ step: { kind: 'conv', nodes, reads: [input], writes: [out], ...weights, attrs }, hidden });
  }
  return fusions;
}

/** Orders the steps: each fusion runs where its Conv was (the chain's other nodes read only the chain). */
export function planGraph(graph: PreparedGraph, fusions: readonly Fusion[] = []): Plan {
  const byConv = new Map(fusions.map((f) => [f.step.nodes[0], f.step]));
  const absorbed = new Set(fusions.flatMap((f) => f.step.nodes.slice(1)));
  const steps: Step[] = [];
  for (const p of graph.nodes) {
    if (absorbed.has(p)) continue;
    const reads = p.node.inputs.filter((n) => n && !graph.tensors.get(n)?.value);
    steps.push(byConv.get(p) ?? { kind: 'node', node: p, reads, writes: p.node.outputs.filter(Boolean) });
  }
  const lastUse = new Map<string, number>();
  steps.forEach((s, i) => s.reads.forEach((name) => lastUse.set(name, i)));
  return { graph, steps, lastUse };
}

/**
 * [top, left, bottom, right] of a Pad that only adds zeros around H and W of an
 * NCHW tensor (mode constant, value 0 or none, pads >= 0, none on N or C; as
 * attributes before opset 11, constant inputs after); undefined for any other Pad.
 * Zeros added in front of a Conv are exactly what its own zero padding adds.
 */
function spatialZeroPads(graph: PreparedGraph, pad: PreparedNode): [number, number, number, number] | undefined {
  const ctx = nodeInferContext(graph, pad);
  const x = ctx.input(0).shape;
  const args = padArgs(ctx);
  if (x.length !== 4 || args.mode !== 'constant' || args.value !== 0) return undefined;
  const { crop, begin, end } = resolvePad(x, args);
  if (crop.some((c) => c !== 0) || begin[0] || begin[1] || end[0] || end[1]) return undefined;
  return [begin[2], begin[3], end[2], end[3]];
}

/** w' = w * s, b' = (b - mean) * s + beta with s = gamma / sqrt(var + eps), per output channel (float64, stored float32). */
function foldBatchNorm(w: HostTensor, b: HostTensor | undefined, [gamma, beta, mean, variance]: HostTensor[], eps: number): { weight: HostTensor; bias: HostTensor } {
  const [g, bt, m, v] = [gamma, beta, mean, variance].map(toNumbers);
  const outC = w.shape[0];
  const perChannel = numel(w.shape) / outC;
  const wv = toNumbers(w);
  const bv = b ? toNumbers(b) : new Array<number>(outC).fill(0);
  const scale = g.map((gi, o) => gi / Math.sqrt(v[o] + eps));
  const weight = wv.map((x, i) => x * scale[Math.floor(i / perChannel)]);
  const bias = bv.map((x, o) => (x - m[o]) * scale[o] + bt[o]);
  return { weight: fromNumbers('float32', w.shape, weight), bias: fromNumbers('float32', [outC], bias) };
}

function sameSet(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x) => b.includes(x)) && b.every((x) => a.includes(x));
}

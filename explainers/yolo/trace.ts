// Following one element of a detector's output back through its decode, to
// the convolution that computed it. Exports that decode inside the graph
// (YOLOv5/v7, YOLOv8/11) move each prediction's numbers through index-only ops
// (Reshape, Transpose, Split, Slice, Concat) and one Sigmoid; walking those
// backwards gives, for one output element,
//   - the Sigmoid's input element: the pre-sigmoid logit, which a target can
//     read directly so its gradient never passes through a saturated sigmoid;
//   - the head convolution's output element: channel and grid cell (anchor
//     slot = channel / (5 + C) for anchor-based heads), and the tensor
//     feeding that convolution, the layer a detection is explained at.
// Any other op ends the walk (box coordinates, which pass through arithmetic,
// are never traced).

import type { ExplainableModel, GraphNode } from '../../engine/index.js';

export interface ElementTrace {
  /** The input of the first Sigmoid on the way, and the element there. */
  logit?: { tensor: string; index: number };
  /** The convolution that computed the element: its output, data input, and the element's channel and cell. */
  conv?: { node: GraphNode; output: string; input: string; shape: readonly number[]; channel: number; y: number; x: number };
}

/** Ops that only move elements: the flat index is unchanged. */
const SAME_INDEX = new Set(['Reshape', 'Flatten', 'Squeeze', 'Unsqueeze', 'Identity', 'Dropout']);

/** The model's graph, indexed for tracing: producers, consumers, shapes, constants. */
export class GraphIndex {
  readonly nodes: readonly GraphNode[];
  private readonly producers = new Map<string, GraphNode>();
  private readonly consumerLists = new Map<string, GraphNode[]>();
  private readonly shapes: Map<string, readonly number[]>;

  constructor(private readonly model: ExplainableModel) {
    this.nodes = model.nodes?.() ?? [];
    for (const n of this.nodes) {
      for (const o of n.outputs) this.producers.set(o, n);
      for (const i of n.inputs) if (i) this.consumerLists.set(i, [...(this.consumerLists.get(i) ?? []), n]);
    }
    this.shapes = new Map(model.layers().map((l) => [l.name, l.shape]));
  }

  get hasGraph(): boolean {
    return this.nodes.length > 0;
  }

  producer(name: string): GraphNode | undefined {
    return this.producers.get(name);
  }

  consumers(name: string): GraphNode[] {
    return this.consumerLists.get(name) ?? [];
  }

  shape(name: string): readonly number[] | undefined {
    return this.shapes.get(name) ?? this.model.constant?.(name)?.shape;
  }

  constantValues(name: string): number[] | undefined {
    const c = name ? this.model.constant?.(name) : undefined;
    return c ? Array.from(c.data) : undefined;
  }

  /** Follows element `index` of `tensor` back to its convolution (see the file's header). */
  trace(tensor: string, index: number): ElementTrace {
    const found: ElementTrace = {};
    let name = tensor;
    let flat = index;
    for (let step = 0; step < 64; step++) {
      const node = this.producer(name);
      const shape = this.shape(name);
      if (!node || !shape) return found;
      if (node.op === 'Conv') {
        if (shape.length !== 4) return found;
        const [c, y, x] = unflatten(flat, shape).slice(1);
        found.conv = { node, output: name, input: node.inputs[0], shape, channel: c, y, x };
        return found;
      }
      if (node.op === 'Sigmoid') {
        found.logit ??= { tensor: node.inputs[0], index: flat };
        name = node.inputs[0];
        continue;
      }
      const back = this.stepBack(node, name, shape, flat);
      if (!back) return found;
      [name, flat] = back;
    }
    return found;
  }

  /** Where element `flat` of output `name` of `node` comes from, for the index-only ops. */
  private stepBack(node: GraphNode, name: string, shape: readonly number[], flat: number): [string, number] | undefined {
    if (SAME_INDEX.has(node.op)) return [node.inputs[0], flat];
    const coords = unflatten(flat, shape);
    const rank = shape.length;
    const axisOf = (a: number | readonly number[] | undefined) => {
      const v = typeof a === 'number' ? a : 0;
      return v < 0 ? v + rank : v;
    };
    switch (node.op) {
      case 'Transpose': {
        const perm = (node.attributes.perm as readonly number[] | undefined) ?? shape.map((_, i) => rank - 1 - i);
        const inShape = this.shape(node.inputs[0]);
        if (!inShape) return undefined;
        const inCoords = new Array<number>(rank);
        perm.forEach((p, k) => (inCoords[p] = coords[k]));
        return [node.inputs[0], flatten(inCoords, inShape)];
      }
      case 'Concat': {
        const axis = axisOf(node.attributes.axis);
        let offset = coords[axis];
        for (const input of node.inputs) {
          const s = this.shape(input);
          if (!s) return undefined;
          if (offset < s[axis]) {
            const c = [...coords];
            c[axis] = offset;
            return [input, flatten(c, s)];
          }
          offset -= s[axis];
        }
        return undefined;
      }
      case 'Split': {
        const axis = axisOf(node.attributes.axis);
        const inShape = this.shape(node.inputs[0]);
        if (!inShape) return undefined;
        const part = node.outputs.indexOf(name);
        let start = 0;
        for (let j = 0; j < part; j++) start += this.shape(node.outputs[j])?.[axis] ?? NaN;
        if (!Number.isFinite(start)) return undefined;
        const c = [...coords];
        c[axis] += start;
        return [node.inputs[0], flatten(c, inShape)];
      }
      case 'Slice': {
        const inShape = this.shape(node.inputs[0]);
        if (!inShape) return undefined;
        // Opset >= 10: starts, ends, axes, steps are inputs; before, attributes.
        const starts = this.constantValues(node.inputs[1]) ?? (node.attributes.starts as readonly number[] | undefined);
        const axes = this.constantValues(node.inputs[3]) ?? (node.attributes.axes as readonly number[] | undefined) ?? starts?.map((_, i) => i);
        const steps = this.constantValues(node.inputs[4]);
        if (!starts || !axes) return undefined;
        const c = [...coords];
        axes.forEach((a0, k) => {
          const a = a0 < 0 ? a0 + rank : a0;
          const step = steps?.[k] ?? 1;
          const dim = inShape[a];
          let s = starts[k] < 0 ? starts[k] + dim : starts[k];
          s = step > 0 ? Math.min(Math.max(s, 0), dim) : Math.min(Math.max(s, -1), dim - 1);
          c[a] = s + coords[a] * step;
        });
        return [node.inputs[0], flatten(c, inShape)];
      }
      default:
        return undefined;
    }
  }
}

/** Row-major coordinates of a flat index. */
export function unflatten(flat: number, shape: readonly number[]): number[] {
  const coords = new Array<number>(shape.length);
  for (let k = shape.length - 1; k >= 0; k--) {
    coords[k] = flat % shape[k];
    flat = Math.floor(flat / shape[k]);
  }
  return coords;
}

/** Flat row-major index of coordinates. */
export function flatten(coords: readonly number[], shape: readonly number[]): number {
  let flat = 0;
  for (let k = 0; k < shape.length; k++) flat = flat * shape[k] + coords[k];
  return flat;
}

/** What a conv block applies after its convolution (SiLU appears as Sigmoid + Mul). */
const ACTIVATIONS = new Set(['Relu', 'LeakyRelu', 'Sigmoid', 'Mul', 'HardSwish', 'Clip', 'Elu', 'Tanh', 'BatchNormalization']);

/**
 * The tensor feeding a multi-conv head branch (YOLOv8's cv3[i]: Conv-act,
 * Conv-act, Conv): from the branch's last convolution's input, walk back over
 * the branch's conv blocks while each tensor feeds a single convolution; stop
 * at the first tensor that feeds several (the neck's output P_i, read by both
 * the box and the class branch). At most `limit` blocks; the conv's own input
 * when no branch point is found.
 */
export function branchInput(graph: GraphIndex, convInput: string, limit = 6): string {
  const convConsumers = (t: string) => graph.consumers(t).filter((n) => n.op === 'Conv' && n.inputs[0] === t).length;
  let t = convInput;
  for (let i = 0; i < limit; i++) {
    if (convConsumers(t) >= 2) return t;
    // Back over the activation to the block's convolution.
    let node = graph.producer(t);
    for (let hops = 0; node && ACTIVATIONS.has(node.op) && hops < 3; hops++) {
      const from = node.inputs.find((n) => n && graph.producer(n)?.op === 'Conv') ?? node.inputs.find((n) => n && graph.producer(n));
      node = from ? graph.producer(from) : undefined;
    }
    if (!node || node.op !== 'Conv') break;
    t = node.inputs[0];
  }
  return convConsumers(t) >= 2 ? t : convInput;
}

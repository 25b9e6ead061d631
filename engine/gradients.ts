// Gradient bookkeeping for the tape (tape.ts holds the algorithm itself):
//   GradientMap  the running gradient of each tensor during one backward pass:
//                accumulation (+=), un-broadcasting, and ownership, so every
//                gradient tensor is disposed exactly once;
//   GradHooks    retainGrad(t) and onGrad(t, hook): reading (or replacing) the
//                gradient of an inner tensor, which is what CAM methods need;
//   describeGraph a readable listing of a recorded graph.
// Under createGraph (higher-order gradients) the same bookkeeping is recorded:
// accumulation is the add op, un-broadcasting the sum op, and a view handed
// out (a pass-through gradient, a retained one, a rule's saved tensor) is a
// connected view: it carries the node of the tensor it stands for, and the
// gradients that reach it are summed into that tensor's (standsFor below).

import { ShapeError } from './errors.js';
import { binaryOps, fill } from './ops/elementwise.js';
import { reshape as reshapeOp } from './ops/movement.js';
import { sum as sumOp, sumTo } from './ops/reduce.js';
import { broadcastAxes, broadcastShapes, formatShape, sameShape, type Shape } from './shape.js';
import type { BackwardRule, TapeNode } from './tape.js';
import { keep, scope, type Tensor } from './tensor.js';

// ---- connected views (createGraph) -------------------------------------------------

/** View -> the tensor it stands for in gradient bookkeeping. */
const standsFor = new WeakMap<Tensor, Tensor>();

/** The tensor whose gradient `t` adds to: itself, or the one a connected view stands for. */
function origin(t: Tensor): Tensor {
  let o = t;
  for (let next = standsFor.get(o); next; next = standsFor.get(o)) o = next;
  return o;
}

/**
 * A view of `storage` (a tensor or a view of `source`) that is `source` for
 * the tape: same node, same requiresGrad, its gradient summed into source's.
 * What lets a rule's ops on saved tensors (views the node owns) connect to
 * the forward graph. A plain t.view() is detached (no node, no requiresGrad).
 */
export function connectedView(storage: Tensor, source: Tensor): Tensor {
  const v = storage.view(storage.shape);
  const o = origin(source);
  v.requiresGrad = o.requiresGrad;
  v.node = o.node;
  standsFor.set(v, o);
  return v;
}

/**
 * Runs a differentiable rule (recording) on connected views of the node's
 * saved tensors, in a scope: the rule's intermediates and the views are freed
 * (their nodes keep what a later backward needs), its gradients returned.
 */
export function runRecorded(node: TapeNode, rule: BackwardRule, gradOutputs: readonly Tensor[]): (Tensor | null)[] {
  return scope(() => {
    const saved = node.ctx.saved.map((t, i) => connectedView(t, node.savedFrom[i]));
    return rule({ ...node.ctx, saved }, gradOutputs);
  });
}

export type GradHook = (grad: Tensor) => Tensor | void;

export class GradHooks {
  private retained = new WeakSet<Tensor>();
  private hooks = new WeakMap<Tensor, GradHook[]>();

  retain(t: Tensor): void {
    this.retained.add(t);
  }

  add(t: Tensor, hook: GradHook): void {
    const list = this.hooks.get(t) ?? [];
    list.push(hook);
    this.hooks.set(t, list);
  }

  /**
   * Runs t's hooks on its complete gradient `g` and stores a retained inner
   * gradient in t.grad (unless `!store`: grad() touches no .grad); returns
   * the (maybe replaced) gradient.
   */
  finish(t: Tensor, g: Tensor, record = false, store = true): Tensor {
    for (const hook of this.hooks.get(t) ?? []) {
      const replaced = hook(g);
      if (replaced && replaced !== g) {
        g.dispose();
        g = replaced;
      }
    }
    if (store && this.retained.has(t) && t.node) {
      t.grad?.dispose();
      t.grad = keep(record ? connectedView(g, g) : g.view(g.shape));
    }
    return g;
  }
}

const add = (a: Tensor, b: Tensor) => binaryOps.add([a, b], {})[0];

/** Each tensor's gradient so far in one backward pass; owns every tensor it holds. */
export class GradientMap {
  private grads = new Map<Tensor, Tensor>();
  /** grad(): the gradients of the asked-for tensors, by tensor. */
  private taken = new Map<Tensor, Tensor>();
  private readonly record: boolean;
  private readonly capture: ReadonlySet<Tensor> | null;

  constructor(
    private readonly hooks: GradHooks,
    /** record: createGraph (see the file comment); capture: grad()'s inputs, whose gradients are returned instead of stored in .grad. */
    options: { record?: boolean; capture?: ReadonlySet<Tensor> } = {},
  ) {
    this.record = options.record ?? false;
    this.capture = options.capture ? new Set([...options.capture].map(origin)) : null;
  }

  /** grad(t) += g, after summing g over the axes along which t was broadcast. Takes ownership of g. */
  add(t: Tensor, g: Tensor | null | undefined, op = 'backward'): void {
    if (!g) return;
    t = origin(t);
    if (!t.requiresGrad && !this.capture?.has(t)) return g.dispose();
    const reduced = unbroadcast(op, g, t.shape, this.record);
    const prev = this.grads.get(t);
    if (prev) {
      this.grads.set(t, add(prev, reduced));
      prev.dispose();
      reduced.dispose();
    } else this.grads.set(t, reduced);
  }

  /** A second handle on g, disposable on its own (connected under createGraph). */
  private alias(g: Tensor): Tensor {
    return this.record ? connectedView(g, g) : g.view(g.shape);
  }

  /**
   * Removes and returns the complete gradients of a node's outputs (zeros for
   * an output the loss does not reach), or null when none is reached. Hooks
   * run here, once per tensor.
   */
  takeOutputs(node: TapeNode): Tensor[] | null {
    if (!node.outputs.some((out) => this.grads.has(out))) return null;
    return node.outputs.map((out) => {
      const g = this.grads.get(out);
      this.grads.delete(out);
      if (!g) return fill(out.shape, 0); // the tape runs this in the node's precision
      const done = this.hooks.finish(out, g, this.record, !this.capture);
      if (this.capture?.has(out)) this.taken.set(out, this.alias(done));
      return done;
    });
  }

  /**
   * grad(input) += its gradient from `node`'s rule, for every input; then frees
   * the output gradients the rule consumed. A rule may pass a gradient through
   * (add returns gy for both inputs): each input gets its own view, so every
   * held gradient can be disposed on its own.
   */
  addInputs(node: TapeNode, gradInputs: readonly (Tensor | null)[], gradOutputs: readonly Tensor[]): void {
    const seen = new Set<Tensor>(gradOutputs);
    node.inputs.forEach((input, j) => {
      let g = gradInputs[j];
      if (!g) return;
      if (seen.has(g)) g = this.alias(g);
      else seen.add(g);
      this.add(input, g, node.op);
    });
    for (const g of gradOutputs) g.dispose();
  }

  /** Frees every gradient held (a walk that failed). */
  discard(): void {
    for (const g of [...this.grads.values(), ...this.taken.values()]) g.dispose();
    this.grads.clear();
    this.taken.clear();
  }

  /** grad(): the captured gradient of each of `inputs` (null where none arrived), owned by the caller (and its scope, as op results). */
  captured(inputs: readonly Tensor[]): (Tensor | null)[] {
    for (const [t, g] of this.grads) {
      const done = this.hooks.finish(t, g, this.record, false);
      if (this.capture?.has(t) && !this.taken.has(t)) this.taken.set(t, done);
      else done.dispose();
    }
    this.grads.clear();
    const out = inputs.map((t) => {
      const g = this.taken.get(origin(t));
      this.taken.delete(origin(t));
      return g ?? null;
    });
    for (const g of this.taken.values()) g.dispose(); // an input listed twice gets one gradient
    this.taken.clear();
    return out;
  }

  /** At the end of the walk only leaves (and unreached inner tensors) are left: leaves accumulate into .grad. */
  storeLeafGrads(): void {
    for (const [t, g] of this.grads) {
      const done = this.hooks.finish(t, g, this.record);
      if (t.node) done.dispose();
      else if (t.grad && t.grad !== done) {
        const total = keep(add(t.grad, done));
        t.grad.dispose();
        done.dispose();
        t.grad = total;
      } else t.grad = keep(done);
    }
    this.grads.clear();
  }
}

/**
 * Sums a gradient over the axes along which its input was broadcast
 * (un-broadcasting is done here, once for every op); recorded as sum and
 * reshape ops under createGraph.
 */
function unbroadcast(op: string, g: Tensor, shape: Shape, record = false): Tensor {
  if (sameShape(g.shape, shape)) return g;
  if (g.shape.length < shape.length) {
    throw new ShapeError(op, `backward returned a gradient of rank ${g.shape.length} for an input of rank ${shape.length}`, [g.shape, shape]);
  }
  if (!sameShape(broadcastShapes(op, shape, g.shape), g.shape)) {
    throw new ShapeError(op, `backward returned a gradient of shape ${formatShape(g.shape)} for an input of shape ${formatShape(shape)}`, [g.shape, shape]);
  }
  const axes = broadcastAxes(shape, g.shape);
  let reduced: Tensor;
  if (record) {
    const [kept] = sumOp([g], { axes, keepDims: true });
    [reduced] = reshapeOp([kept], { shape });
    kept.dispose();
  } else reduced = sumTo(g, axes, shape);
  g.dispose();
  return reduced;
}

/** One line per node, in execution order: op, inputs and outputs with shapes, saved tensors, custom rules. */
export function describeGraph(order: readonly TapeNode[], custom: (n: TapeNode) => boolean): string {
  const name = (x: Tensor) => (x.name ? `${x.name}#${x.id}` : `t${x.id}`);
  return order
    .map((n) => {
      const ins = n.inputs.map((x) => `${name(x)}${formatShape(x.shape)}${x.requiresGrad ? '' : ' (no grad)'}`).join(', ');
      const outs = n.outputs.map((x) => `${name(x)}${formatShape(x.shape)}`).join(', ');
      const saved = n.ctx.saved.length ? `  saved: ${n.ctx.saved.map((x) => formatShape(x.shape)).join(', ')}` : '';
      return `#${n.id} ${n.op}(${ins}) -> ${outs}${saved}${custom(n) ? '  [custom backward]' : ''}`;
    })
    .join('\n');
}

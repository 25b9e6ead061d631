// Gradient bookkeeping for the tape (tape.ts holds the algorithm itself):
//   GradientMap  the running gradient of each tensor during one backward pass:
//                accumulation (+=), un-broadcasting, and ownership, so every
//                gradient tensor is disposed exactly once;
//   GradHooks    retainGrad(t) and onGrad(t, hook): reading (or replacing) the
//                gradient of an inner tensor, which is what CAM methods need;
//   describeGraph a readable listing of a recorded graph.

import { ShapeError } from './errors.js';
import { binaryOps, fill } from './ops/elementwise.js';
import { sumTo } from './ops/reduce.js';
import { broadcastAxes, broadcastShapes, formatShape, sameShape, type Shape } from './shape.js';
import type { TapeNode } from './tape.js';
import { keep, type Tensor } from './tensor.js';

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

  /** Runs t's hooks on its complete gradient `g` and stores a retained inner gradient in t.grad; returns the (maybe replaced) gradient. */
  finish(t: Tensor, g: Tensor): Tensor {
    for (const hook of this.hooks.get(t) ?? []) {
      const replaced = hook(g);
      if (replaced && replaced !== g) {
        g.dispose();
        g = replaced;
      }
    }
    if (this.retained.has(t) && t.node) {
      t.grad?.dispose();
      t.grad = keep(g.view(g.shape));
    }
    return g;
  }
}

const add = (a: Tensor, b: Tensor) => binaryOps.add([a, b], {})[0];

/** Each tensor's gradient so far in one backward pass; owns every tensor it holds. */
export class GradientMap {
  private grads = new Map<Tensor, Tensor>();

  constructor(private readonly hooks: GradHooks) {}

  /** grad(t) += g, after summing g over the axes along which t was broadcast. Takes ownership of g. */
  add(t: Tensor, g: Tensor | null | undefined, op = 'backward'): void {
    if (!g) return;
    if (!t.requiresGrad) return g.dispose();
    const reduced = unbroadcast(op, g, t.shape);
    const prev = this.grads.get(t);
    if (prev) {
      this.grads.set(t, add(prev, reduced));
      prev.dispose();
      reduced.dispose();
    } else this.grads.set(t, reduced);
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
      return g ? this.hooks.finish(out, g) : fill(out.shape, 0);
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
      if (seen.has(g)) g = g.view(g.shape);
      else seen.add(g);
      this.add(input, g, node.op);
    });
    for (const g of gradOutputs) g.dispose();
  }

  /** At the end of the walk only leaves (and unreached inner tensors) are left: leaves accumulate into .grad. */
  storeLeafGrads(): void {
    for (const [t, g] of this.grads) {
      const done = this.hooks.finish(t, g);
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

/** Sums a gradient over the axes along which its input was broadcast (un-broadcasting is done here, once for every op). */
function unbroadcast(op: string, g: Tensor, shape: Shape): Tensor {
  if (sameShape(g.shape, shape)) return g;
  if (g.shape.length < shape.length) {
    throw new ShapeError(op, `backward returned a gradient of rank ${g.shape.length} for an input of rank ${shape.length}`, [g.shape, shape]);
  }
  if (!sameShape(broadcastShapes(op, shape, g.shape), g.shape)) {
    throw new ShapeError(op, `backward returned a gradient of shape ${formatShape(g.shape)} for an input of shape ${formatShape(shape)}`, [g.shape, shape]);
  }
  const reduced = sumTo(g, broadcastAxes(shape, g.shape), shape);
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

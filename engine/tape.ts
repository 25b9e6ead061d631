// Reverse-mode autodiff, micrograd-style but on GPU tensors.
//
// Forward: every op whose inputs need gradients records a TapeNode (op name,
// inputs, outputs, saved tensors, backward rule). Backward: one iterative
// topological sort from the loss, then the nodes in reverse order; each rule
// maps output gradients to input gradients, which are un-broadcast here (once,
// centrally) and accumulated (+=) per tensor. Gradients of inner tensors are
// readable with retainGrad(t) or a hook; backward rules can be swapped per op
// name or per node (guided backprop, deconvnet) without touching the op.

import { GradlensError, MissingGradient, ShapeError } from './errors.js';
import { broadcastAxes, broadcastShapes, formatShape, sameShape, type Shape } from './shape.js';
import { keep, Tensor } from './tensor.js';

/** What a backward rule sees. */
export interface BackwardContext<A = unknown> {
  /** Tensors the op chose to save in forward (views the tape owns). */
  saved: readonly Tensor[];
  attrs: A;
  inputShapes: readonly Shape[];
  outputShapes: readonly Shape[];
  /** needsInputGrad[i] is false when input i needs no gradient: skip computing it. */
  needsInputGrad: readonly boolean[];
}

/**
 * A backward rule: output gradients in, input gradients out (null where an
 * input gets none). Returned gradients may have the output's broadcast shape;
 * the tape reduces them to the input's shape.
 */
export type BackwardRule<A = unknown> = (ctx: BackwardContext<A>, gradOutputs: readonly Tensor[]) => (Tensor | null)[];

export interface TapeNode {
  readonly id: number;
  readonly op: string;
  readonly inputs: readonly Tensor[];
  readonly outputs: readonly Tensor[];
  readonly ctx: BackwardContext;
  readonly rule: BackwardRule;
  /** Replaces `rule` for this node only. */
  override?: BackwardRule;
  released: boolean;
}

export type GradHook = (grad: Tensor) => Tensor | void;

/** Ops the tape needs for its bookkeeping; wired by engine/ops to avoid an import cycle. */
export interface TapeKernels {
  add(a: Tensor, b: Tensor): Tensor;
  sumTo(g: Tensor, axes: number[], shape: Shape): Tensor;
  fill(shape: Shape, value: number): Tensor;
}

class Tape {
  private nodes = new Set<TapeNode>();
  private nextNodeId = 0;
  private paused = 0;
  private ruleOverrides = new Map<string, BackwardRule>();
  private retained = new WeakSet<Tensor>();
  private hooks = new WeakMap<Tensor, GradHook[]>();
  kernels: TapeKernels | null = null;

  get recording(): boolean {
    return this.paused === 0;
  }

  /** Called by ops: records a node if any input needs a gradient. */
  record<A>(op: string, inputs: readonly Tensor[], outputs: readonly Tensor[], attrs: A, save: readonly Tensor[], rule: BackwardRule<A>): void {
    if (!this.recording || !inputs.some((t) => t.requiresGrad)) return;
    const node: TapeNode = {
      id: this.nextNodeId++,
      op,
      inputs,
      outputs,
      ctx: {
        saved: save.map((t) => keep(t.view(t.shape))),
        attrs,
        inputShapes: inputs.map((t) => t.shape),
        outputShapes: outputs.map((t) => t.shape),
        needsInputGrad: inputs.map((t) => t.requiresGrad),
      },
      rule: rule as BackwardRule,
      released: false,
    };
    this.nodes.add(node);
    for (const out of outputs) {
      out.requiresGrad = true;
      out.node = node;
    }
  }

  /**
   * Runs `fn` without recording (inference, and inside backward rules). `fn`
   * must be synchronous: recording would resume at its first `await`.
   */
  noGrad<T>(fn: () => T): T {
    this.paused++;
    let result: T;
    try {
      result = fn();
    } finally {
      this.paused--;
    }
    if (result instanceof Promise) {
      throw new GradlensError('tape.noGrad(): fn returned a Promise; recording would resume at its first await. Pass a synchronous function.');
    }
    return result;
  }

  /** Keep the gradient of an inner (non-leaf) tensor in `t.grad` after backward. */
  retainGrad(t: Tensor): void {
    this.retained.add(t);
  }

  /** Call `hook` with t's gradient once it is complete; a returned tensor replaces it. */
  onGrad(t: Tensor, hook: GradHook): void {
    const list = this.hooks.get(t) ?? [];
    list.push(hook);
    this.hooks.set(t, list);
  }

  /**
   * Replaces the backward rule of every node of op `op` until the returned
   * function is called (how guided backprop swaps ReLU's rule).
   */
  overrideBackward(op: string, rule: BackwardRule): () => void {
    const previous = this.ruleOverrides.get(op);
    this.ruleOverrides.set(op, rule);
    return () => {
      if (previous) this.ruleOverrides.set(op, previous);
      else this.ruleOverrides.delete(op);
    };
  }

  /**
   * Backpropagates from `loss`. `grad` defaults to ones (a scalar loss gets
   * d loss/d loss = 1). Leaves that require grad accumulate into `.grad`.
   * Saved tensors are released afterwards unless `retainGraph`.
   */
  backward(loss: Tensor, options: { grad?: Tensor; retainGraph?: boolean } = {}): void {
    const k = this.kernels!;
    if (!loss.requiresGrad) throw new ShapeError('backward', `${loss} does not require grad: nothing on the tape leads to it`);
    if (options.grad && !sameShape(options.grad.shape, loss.shape)) {
      throw new ShapeError('backward', 'the seed gradient must have the shape of the loss', [options.grad.shape, loss.shape]);
    }
    this.noGrad(() => {
      const order = topologicalOrder(loss);
      const grads = new Map<Tensor, Tensor>();
      grads.set(loss, options.grad ? options.grad.view(loss.shape) : k.fill(loss.shape, 1));
      for (let i = order.length - 1; i >= 0; i--) {
        const node = order[i];
        if (node.released) throw new ShapeError('backward', `node #${node.id} (${node.op}) was already released: pass retainGraph to backward twice`);
        // All consumers of this node's outputs have run: their gradients are complete.
        const gradOutputs: Tensor[] = [];
        let any = false;
        for (const out of node.outputs) {
          let g = grads.get(out);
          if (g) {
            any = true;
            g = this.finishGrad(out, g);
            grads.set(out, g);
          }
          gradOutputs.push(g ?? k.fill(out.shape, 0));
        }
        if (!any) continue;
        const rule = node.override ?? this.ruleOverrides.get(node.op) ?? node.rule;
        if (!rule) throw new MissingGradient(node.op);
        const gradInputs = rule(node.ctx, gradOutputs);
        // A rule may pass a gradient through (add returns gy twice): give each
        // input its own view so every map entry can be disposed on its own.
        const seen = new Set<Tensor>(gradOutputs);
        const ownGradInputs = gradInputs.map((g) => {
          if (!g) return g;
          if (seen.has(g)) return g.view(g.shape);
          seen.add(g);
          return g;
        });
        for (const g of gradOutputs) g.dispose();
        for (const out of node.outputs) grads.delete(out);
        node.inputs.forEach((input, j) => {
          const g = ownGradInputs[j];
          if (!g) return;
          if (!input.requiresGrad) return g.dispose();
          const reduced = unbroadcast(k, node.op, g, input.shape);
          const prev = grads.get(input);
          if (prev) {
            grads.set(input, k.add(prev, reduced));
            prev.dispose();
            reduced.dispose();
          } else grads.set(input, reduced);
        });
        if (!options.retainGraph) this.release(node);
      }
      // What is left are the leaves' gradients.
      for (const [t, g] of grads) {
        const done = this.finishGrad(t, g);
        if (t.node) {
          done.dispose();
          continue;
        }
        if (t.grad && t.grad !== done) {
          const sum = keep(k.add(t.grad, done));
          t.grad.dispose();
          done.dispose();
          t.grad = sum;
        } else t.grad = keep(done);
      }
    });
  }

  /** Runs hooks and stores retained gradients for tensor `t`. */
  private finishGrad(t: Tensor, g: Tensor): Tensor {
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

  /** Frees a node's saved tensors. */
  private release(node: TapeNode): void {
    if (node.released) return;
    for (const t of node.ctx.saved) t.dispose();
    node.released = true;
    this.nodes.delete(node);
  }

  /** Frees every saved tensor still held (the graph cannot be backpropagated after). */
  clear(): void {
    for (const node of [...this.nodes]) this.release(node);
  }

  /** Nodes still holding saved tensors. */
  get liveNodes(): number {
    return this.nodes.size;
  }

  /** A readable listing of the graph behind `t`: nodes in execution order, shapes, saved tensors. */
  describe(t: Tensor): string {
    const order = topologicalOrder(t);
    const name = (x: Tensor) => (x.name ? `${x.name}#${x.id}` : `t${x.id}`);
    const lines = order.map((n) => {
      const ins = n.inputs.map((x) => `${name(x)}${formatShape(x.shape)}${x.requiresGrad ? '' : ' (no grad)'}`).join(', ');
      const outs = n.outputs.map((x) => `${name(x)}${formatShape(x.shape)}`).join(', ');
      const saved = n.ctx.saved.length ? `  saved: ${n.ctx.saved.map((x) => formatShape(x.shape)).join(', ')}` : '';
      const custom = n.override || this.ruleOverrides.has(n.op) ? '  [custom backward]' : '';
      return `#${n.id} ${n.op}(${ins}) -> ${outs}${saved}${custom}`;
    });
    return lines.join('\n');
  }
}

/** Nodes reachable from `t`, each after every node it depends on (iterative DFS, no recursion limit). */
function topologicalOrder(t: Tensor): TapeNode[] {
  const order: TapeNode[] = [];
  const visited = new Set<TapeNode>();
  if (!t.node) return order;
  const stack: { node: TapeNode; next: number }[] = [{ node: t.node, next: 0 }];
  visited.add(t.node);
  while (stack.length) {
    const top = stack[stack.length - 1];
    if (top.next < top.node.inputs.length) {
      const parent = top.node.inputs[top.next++].node;
      if (parent && !visited.has(parent)) {
        visited.add(parent);
        stack.push({ node: parent, next: 0 });
      }
    } else {
      order.push(top.node);
      stack.pop();
    }
  }
  return order;
}

/** Sums a gradient over the axes along which its input was broadcast. */
function unbroadcast(k: TapeKernels, op: string, g: Tensor, shape: Shape): Tensor {
  if (sameShape(g.shape, shape)) return g;
  if (g.shape.length < shape.length) {
    throw new ShapeError(op, `backward returned a gradient of rank ${g.shape.length} for an input of rank ${shape.length}`, [g.shape, shape]);
  }
  if (!sameShape(broadcastShapes(op, shape, g.shape), g.shape)) {
    throw new ShapeError(op, `backward returned a gradient of shape ${formatShape(g.shape)} for an input of shape ${formatShape(shape)}`, [g.shape, shape]);
  }
  const axes = broadcastAxes(shape, g.shape);
  const reduced = k.sumTo(g, axes, shape);
  g.dispose();
  return reduced;
}

/** The process-wide tape. */
export const tape = new Tape();
export type { Tape };

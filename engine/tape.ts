// Reverse-mode autodiff, micrograd-style, on GPU tensors.
//
// Forward: an op whose inputs need gradients records a TapeNode (op, inputs,
// outputs, saved tensors, backward rule). Backward: one topological sort from
// the loss, then the nodes in reverse; each rule maps output gradients to
// input gradients, which are summed (+=) per tensor. That is the whole
// algorithm, in `backward()` below. The bookkeeping around it (who owns which
// gradient tensor, un-broadcasting, retainGrad and hooks) is in gradients.ts.
//
// Higher-order gradients (PyTorch's create_graph): with `createGraph`, the
// walk runs each node's differentiable rule (OpDef.backwardOps, written with
// ops) while recording, so the gradients are themselves tensors on the tape
// and a second backward differentiates them (Hessian-vector products).

import { GradlensError, MissingDoubleBackward, MissingGradient, ShapeError } from './errors.js';
import { connectedView, describeGraph, GradientMap, GradHooks, runRecorded } from './gradients.js';
import { fill } from './ops/elementwise.js';
import { sameShape, type Shape } from './shape.js';
import { keep, type Tensor } from './tensor.js';
import { runtime, type Precision } from './runtime.js';

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
  /** The rule written with ops (OpDef.backwardOps), run under createGraph; absent when the op has none. */
  readonly ruleOps?: BackwardRule;
  /** The tensors ctx.saved are views of (in order): what a recorded rule's ops must connect to. */
  readonly savedFrom: readonly Tensor[];
  /** Replaces `rule` for this node only. */
  override?: BackwardRule;
  released: boolean;
}

export type { GradHook } from './gradients.js';

class Tape {
  private live = new Set<TapeNode>();
  private nextNodeId = 0;
  private paused = 0;
  private ruleOverrides = new Map<string, BackwardRule>();
  private hooks = new GradHooks();

  get recording(): boolean {
    return this.paused === 0;
  }

  /** Called by ops: records a node if any input needs a gradient. */
  record<A>(op: string, inputs: readonly Tensor[], outputs: readonly Tensor[], attrs: A, save: readonly Tensor[], rule: BackwardRule<A>, ruleOps?: BackwardRule<A>): void {
    if (!this.recording || !inputs.some((t) => t.requiresGrad)) return;
    const ctx: BackwardContext<A> = {
      saved: save.map((t) => keep(t.view(t.shape))),
      attrs,
      inputShapes: inputs.map((t) => t.shape),
      outputShapes: outputs.map((t) => t.shape),
      needsInputGrad: inputs.map((t) => t.requiresGrad),
    };
    const node: TapeNode = {
      id: this.nextNodeId++,
      op,
      inputs,
      outputs,
      ctx: ctx as BackwardContext,
      rule: rule as BackwardRule,
      ruleOps: ruleOps as BackwardRule | undefined,
      savedFrom: [...save],
      released: false,
    };
    this.live.add(node);
    for (const out of outputs) {
      out.requiresGrad = true;
      out.node = node;
    }
  }

  /**
   * Backpropagates from `loss`. `grad` defaults to ones (a scalar loss gets
   * d loss/d loss = 1). Leaves that require grad accumulate into `.grad`.
   * Saved tensors are released afterwards unless `retainGraph`. With
   * `createGraph` the gradients are recorded (they have nodes: differentiate
   * them with a second backward or grad()); it implies `retainGraph`.
   */
  backward(loss: Tensor, options: { grad?: Tensor; retainGraph?: boolean; createGraph?: boolean } = {}): void {
    if (!loss.requiresGrad) throw new ShapeError('backward', `${loss} does not require grad: nothing on the tape leads to it`);
    const seed = this.seeds('backward', [loss], options.grad ? [options.grad] : undefined, options.createGraph)[0];
    const grads = new GradientMap(this.hooks, { record: Boolean(options.createGraph) });
    this.walk([loss], [seed], grads, options);
    grads.storeLeafGrads(); // what is left are the leaves' gradients
  }

  /**
   * d(sum_i gradOutputs_i . outputs_i) / d inputs, returned (null where an
   * input is not reached) without touching any `.grad` (torch.autograd.grad).
   * `inputs` may be leaves or inner tensors, also ones no longer marked
   * requiresGrad. `gradOutputs` default to ones; with `createGraph` the results
   * are on the tape.
   */
  grad(
    outputs: readonly Tensor[],
    inputs: readonly Tensor[],
    options: { gradOutputs?: readonly Tensor[]; retainGraph?: boolean; createGraph?: boolean } = {},
  ): (Tensor | null)[] {
    for (const y of outputs) if (!y.requiresGrad) throw new ShapeError('grad', `${y} does not require grad: nothing on the tape leads to it`);
    const seeds = this.seeds('grad', outputs, options.gradOutputs, options.createGraph);
    const grads = new GradientMap(this.hooks, { record: Boolean(options.createGraph), capture: new Set(inputs) });
    this.walk(outputs, seeds, grads, options);
    return grads.captured(inputs);
  }

  /** The walk: nodes in reverse topological order, each rule's input gradients summed (+=) per tensor. */
  private walk(roots: readonly Tensor[], seeds: readonly Tensor[], grads: GradientMap, options: { retainGraph?: boolean; createGraph?: boolean }): void {
    const createGraph = Boolean(options.createGraph);
    const retainGraph = options.retainGraph ?? createGraph;
    const run = () => {
      roots.forEach((y, i) => grads.add(y, seeds[i]));
      for (const node of topologicalOrder(roots).reverse()) {
        if (node.released) throw new ShapeError('backward', `node #${node.id} (${node.op}) was already released: pass retainGraph to backward twice`);
        // What the rule (the op's, a swapped one, or the recorded one) creates is in the node's precision.
        const reached = runtime().withPrecision(nodePrecision(node), () => {
          // Every consumer of this node's outputs ran before it: their gradients are complete.
          const gradOutputs = grads.takeOutputs(node);
          if (!gradOutputs) return false; // no path from the loss through this node
          const gradInputs = createGraph ? this.runDifferentiable(node, gradOutputs) : this.ruleOf(node)(node.ctx, gradOutputs);
          grads.addInputs(node, gradInputs, gradOutputs); // += into each input's gradient
          return true;
        });
        if (reached && !retainGraph) this.release(node);
      }
    };
    try {
      if (createGraph) run();
      else this.noGrad(run);
    } catch (e) {
      grads.discard(); // the gradients held so far
      throw e;
    }
  }

  /** The first-order rule: a swapped one, else the op's (GPU kernels, not recorded). */
  private ruleOf(node: TapeNode): BackwardRule {
    const rule = node.override ?? this.ruleOverrides.get(node.op) ?? node.rule;
    if (!rule) throw new MissingGradient(node.op);
    return rule;
  }

  /**
   * Under createGraph: the op's rule written with ops, recorded. A node without
   * one is still exact when nothing its rule reads needs a gradient (a constant
   * output gradient, no saved tensor on the tape): its result is a constant.
   */
  private runDifferentiable(node: TapeNode, gradOutputs: readonly Tensor[]): (Tensor | null)[] {
    const constant = !gradOutputs.some((g) => g.requiresGrad) && !node.savedFrom.some((t) => t.requiresGrad);
    if (constant) return this.noGrad(() => this.ruleOf(node)(node.ctx, gradOutputs));
    if (node.override ?? this.ruleOverrides.get(node.op)) throw new MissingDoubleBackward(node.op, 'its backward rule is swapped (overrideBackward)');
    if (!node.ruleOps) throw new MissingDoubleBackward(node.op);
    return runRecorded(node, node.ruleOps, gradOutputs);
  }

  /** The seed gradients: given ones (checked against the outputs' shapes; on the tape under createGraph) or ones. */
  private seeds(op: string, outputs: readonly Tensor[], given: readonly Tensor[] | undefined, createGraph = false): Tensor[] {
    if (given && given.length !== outputs.length) throw new ShapeError(op, `${given.length} seed gradients for ${outputs.length} outputs`);
    return outputs.map((y, i) => {
      const g = given?.[i];
      if (!g) return runtime().withPrecision(y.dtype as Precision, () => fill(y.shape, 1));
      if (!sameShape(g.shape, y.shape)) throw new ShapeError(op, 'the seed gradient must have the shape of the loss', [g.shape, y.shape]);
      return createGraph && g.requiresGrad ? connectedView(g, g) : g.view(y.shape);
    });
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

  /** Keep the gradient of an inner (non-leaf) tensor in `t.grad` after backward (a no-op for leaves, which always get one). */
  retainGrad(t: Tensor): void {
    this.hooks.retain(t);
  }

  /** Call `hook` with t's gradient once it is complete; a returned tensor replaces it. */
  onGrad(t: Tensor, hook: (grad: Tensor) => Tensor | void): void {
    this.hooks.add(t, hook);
  }

  /** Replaces the backward rule of every node of op `op` until the returned function is called (how guided backprop swaps ReLU's rule). */
  overrideBackward(op: string, rule: BackwardRule): () => void {
    const previous = this.ruleOverrides.get(op);
    this.ruleOverrides.set(op, rule);
    return () => {
      if (previous) this.ruleOverrides.set(op, previous);
      else this.ruleOverrides.delete(op);
    };
  }

  /** Frees a node's saved tensors. */
  private release(node: TapeNode): void {
    if (node.released) return;
    for (const t of node.ctx.saved) t.dispose();
    node.released = true;
    this.live.delete(node);
  }

  /** Frees every saved tensor still held (the graph cannot be backpropagated after). */
  clear(): void {
    for (const node of [...this.live]) this.release(node);
  }

  /** Nodes still holding saved tensors. */
  get liveNodes(): number {
    return this.live.size;
  }

  /** A readable listing of the graph behind `t`: nodes in execution order, shapes, saved tensors. */
  describe(t: Tensor): string {
    return describeGraph(topologicalOrder([t]), (n) => Boolean(n.override || this.ruleOverrides.has(n.op)));
  }
}

/** Nodes reachable from `roots`, each after every node it depends on (iterative DFS, no recursion limit). */
function topologicalOrder(roots: readonly Tensor[]): TapeNode[] {
  const order: TapeNode[] = [];
  const visited = new Set<TapeNode>();
  for (const t of roots) {
    if (!t.node || visited.has(t.node)) continue;
    visited.add(t.node);
    const stack: { node: TapeNode; next: number }[] = [{ node: t.node, next: 0 }];
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
  }
  return order;
}

/** The process-wide tape. */
export const tape = new Tape();
export type { Tape };

/** A node's precision: that of its float outputs (maxPool's indices are u32). */
function nodePrecision(node: TapeNode): Precision {
  return (node.outputs.find((t) => t.dtype !== 'u32')?.dtype ?? runtime().precision) as Precision;
}

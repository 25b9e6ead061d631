import type { RefTensor } from './tensor.js';

/** A float64 CPU implementation of one op: forward, and backward as a vector-Jacobian product. */
export interface RefOp<A> {
  forward(inputs: RefTensor[], attrs: A): RefTensor[];
  /** Gradients w.r.t. each input, with the input's shape (null: not differentiable in that input). */
  backward(inputs: RefTensor[], attrs: A, outputs: RefTensor[], gradOutputs: RefTensor[]): (RefTensor | null)[];
}

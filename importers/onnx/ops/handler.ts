// The handler interface. Each ONNX op type is one OpHandler, exported under the
// op's own name (Conv, Reshape...) from a file of its family. A handler:
//   inferShape  output shapes and element types from the inputs' (static)
//               shapes, element types and, where an input is a constant, its value;
//   fold        optional CPU evaluation, used when every input is a constant
//               (or, with foldFromShapes, when only the input shapes are needed);
//   run         the op through the registry ops of a backend (`ctx.ops`): the
//               GPU engine ops, or the float64 CPU reference (see backend.ts).
// Semantics that changed between opsets (attributes that became inputs) are
// handled inside the handler from ctx.opset.

import { Activation, type Shape } from '../../../engine/host.js';
import type { Tensor } from '../../../engine/index.js';
import type { Attributes } from '../attributes.js';
import type { Backend, BackendOps, BackendTensor } from '../backend.js';
import { OnnxGraphError } from '../errors.js';
import type { HostTensor, OnnxDType } from '../host-tensor.js';
import type { OnnxNode } from '../proto.js';

/** What prepare knows about a tensor: its static shape and element type, and its value when constant. */
export interface TensorInfo {
  readonly shape: Shape;
  readonly dtype: OnnxDType;
  readonly value?: HostTensor;
}

export interface OutputInfo {
  readonly shape: Shape;
  readonly dtype: OnnxDType;
}

export interface NodeContext {
  readonly node: OnnxNode;
  /** How messages name the node. */
  readonly label: string;
  readonly attrs: Attributes;
  /** Version of the default ONNX operator set the model imports. */
  readonly opset: number;
  /** An error naming this node. */
  error(detail: string): OnnxGraphError;
}

export interface InferContext extends NodeContext {
  /** Input infos, undefined where an optional input is omitted ('' or past the end). */
  readonly inputs: readonly (TensorInfo | undefined)[];
  /** Input i, which the op requires. */
  input(i: number): TensorInfo;
  /** The value of input i, which must be known at prepare time (a shape, axes, scales...). */
  constant(i: number, what: string): HostTensor;
}

/**
 * What run sees: everything prepare saw (so handlers parse their arguments
 * with the same functions in inferShape and run), plus the backend's tensors
 * and ops (T is the engine's Tensor on the GPU, a float64 RefTensor on the reference).
 */
export interface RunContext<T extends BackendTensor = Tensor> extends InferContext {
  /** The shapes prepare inferred for the outputs (run's results are checked against them). */
  readonly outputShapes: readonly Shape[];
  /** Input i (constants are uploaded once by the executor). */
  tensor(i: number): T;
  /** The registry ops of the backend: `ctx.ops.conv2d([x, w, b], attrs)`. */
  readonly ops: BackendOps<T>;
  readonly backend: Backend<T>;
}

export interface OpHandler {
  inferShape(ctx: InferContext): OutputInfo[];
  fold?(ctx: InferContext): HostTensor[];
  /** Fold even when inputs are not constant: the result depends only on shapes (Shape, Size). */
  foldFromShapes?: boolean;
  /** Fold whatever the result's size: the value already exists (Constant). */
  alwaysFold?: boolean;
  run<T extends BackendTensor>(ctx: RunContext<T>): T[];
  /**
   * The op as an activation the engine's conv2d can apply in its epilogue
   * (the executor fuses Conv -> activation); absent when it cannot.
   */
  epilogue?(ctx: InferContext): Activation;
}

/** Builds an InferContext; graph.ts uses it for prepare, tests for single ops. */
export function inferContext(base: NodeContext, inputs: readonly (TensorInfo | undefined)[]): InferContext {
  return {
    ...base,
    inputs,
    input(i) {
      const t = inputs[i];
      if (!t) throw base.error(`input ${i} is required`);
      return t;
    },
    constant(i, what) {
      const t = inputs[i];
      if (!t) throw base.error(`input ${i} (${what}) is required`);
      if (!t.value) {
        throw base.error(`input ${i} (${what}, '${base.node.inputs[i]}') must be a constant: it is computed at run time, which is not supported`);
      }
      return t.value;
    },
  };
}

export function nodeContext(node: OnnxNode, label: string, attrs: Attributes, opset: number): NodeContext {
  return { node, label, attrs, opset, error: (detail) => new OnnxGraphError(label, node.opType, detail) };
}

// The handler table: ONNX op type -> handler, for the default ONNX domain.
// Adding an op: write its handler (named like the op) in the file of its
// family and list it here.

import type { OnnxNode } from '../proto.js';
import { BatchNormalization } from './batch-norm.js';
import { Concat, Gather, Pad, Slice, Split } from './shape-ops.js';
import { Conv, ConvTranspose } from './conv.js';
import {
  Add,
  Clip,
  Div,
  Dropout,
  Exp,
  HardSigmoid,
  HardSwish,
  Identity,
  LeakyRelu,
  Log,
  Mul,
  Neg,
  Pow,
  Relu,
  Sigmoid,
  Sqrt,
  Sub,
  Tanh,
} from './elementwise.js';
import { Gemm, MatMul } from './gemm.js';
import type { OpHandler } from './handler.js';
import { Expand, Flatten, Reshape, Squeeze, Transpose, Unsqueeze } from './movement.js';
import { AveragePool, GlobalAveragePool, GlobalMaxPool, MaxPool } from './pool.js';
import { ReduceMax, ReduceMean, ReduceMin, ReduceSum } from './reduce.js';
import { Resize, Upsample } from './resize.js';
import { Cast, Constant, ConstantOfShape, Range, Shape, Size } from './constants.js';
import { LogSoftmax, Softmax } from './softmax.js';

export const handlers: Readonly<Record<string, OpHandler>> = {
  // activations and arithmetic
  Relu, LeakyRelu, Sigmoid, Tanh, Exp, Log, Sqrt, Neg, HardSigmoid, HardSwish, Clip, Identity, Dropout,
  Add, Sub, Mul, Div, Pow,
  // layers
  Conv, ConvTranspose, BatchNormalization, Gemm, MatMul,
  MaxPool, AveragePool, GlobalAveragePool, GlobalMaxPool,
  Softmax, LogSoftmax, Resize, Upsample,
  ReduceSum, ReduceMean, ReduceMax, ReduceMin,
  // movement
  Reshape, Flatten, Squeeze, Unsqueeze, Transpose, Expand,
  Concat, Split, Slice, Gather, Pad,
  // constants and shapes
  Constant, ConstantOfShape, Shape, Size, Range, Cast,
};

/** The handler for a node, or undefined when its op type (or domain) is not supported. */
export function handlerFor(node: OnnxNode): OpHandler | undefined {
  if (node.domain !== '' && node.domain !== 'ai.onnx') return undefined;
  return Object.hasOwn(handlers, node.opType) ? handlers[node.opType] : undefined;
}

/** Supported op types, sorted (for error messages). */
export function supportedOps(): string[] {
  return Object.keys(handlers).sort();
}

// Typed errors of the ONNX importer. Each names what the user can act on: the
// byte offset and message being decoded, the tensor, the node and its op type,
// or the graph input.

import { GradlensError } from '../../engine/host.js';

/** Base class: every error the importer throws on a bad or unsupported model is one of these. */
export class OnnxError extends GradlensError {}

/** The bytes are not a well-formed ONNX protobuf (truncated, corrupt length, bad wire type...). */
export class OnnxDecodeError extends OnnxError {
  constructor(
    /** Byte offset in the file where decoding failed. */
    readonly offset: number,
    /** The message (and name, when known) being decoded, e.g. "TensorProto 'conv1.weight'". */
    readonly context: string,
    detail: string,
  ) {
    super(`ONNX decode error at byte ${offset} in ${context}: ${detail}`);
  }
}

/** A well-formed tensor we cannot use: external data, an unsupported element type, inconsistent sizes. */
export class UnsupportedOnnxTensor extends OnnxError {
  constructor(
    readonly tensor: string,
    detail: string,
  ) {
    super(`ONNX tensor '${tensor}': ${detail}`);
  }
}

/** A node whose op type (in its domain) has no handler. */
export class UnsupportedOnnxOp extends OnnxError {
  constructor(
    readonly opType: string,
    readonly node: string,
    readonly supported: readonly string[],
    readonly domain = '',
    /** Other unsupported op types found in the same model. */
    readonly others: readonly string[] = [],
  ) {
    const op = domain && domain !== 'ai.onnx' ? `${domain}::${opType}` : opType;
    const also = others.length ? ` The model also uses unsupported ops: ${others.join(', ')}.` : '';
    super(`Unsupported ONNX operation: ${op} (node '${node}').${also} Supported: ${supported.join(', ')}`);
  }
}

/**
 * A graph that is structurally wrong or that the importer cannot prepare: a
 * cycle, a missing input, a bad attribute, shapes that do not fit the op.
 */
export class OnnxGraphError extends OnnxError {
  constructor(
    /** The node's name (or its op type and index when unnamed); '' for graph-level problems. */
    readonly node: string,
    readonly opType: string,
    detail: string,
    options?: { cause?: unknown },
  ) {
    super(node || opType ? `ONNX node '${node}' (${opType}): ${detail}` : `ONNX graph: ${detail}`);
    if (options?.cause !== undefined) (this as { cause?: unknown }).cause = options.cause;
  }
}

/** A graph input that was not given, or given with the wrong shape. */
export class OnnxInputError extends OnnxError {
  constructor(
    readonly input: string,
    detail: string,
  ) {
    super(`ONNX input '${input}': ${detail}`);
  }
}

/** A .npy file that is malformed or uses a layout/dtype we do not read. */
export class NpyError extends GradlensError {
  constructor(detail: string) {
    super(`.npy: ${detail}`);
  }
}

/**
 * A batch size the graph cannot take: a node fixes the batch (typically a
 * Reshape whose target shape the exporter wrote as constants).
 */
export class OnnxBatchError extends OnnxInputError {
  constructor(
    input: string,
    readonly batch: number,
    /** The node that pins the batch, and its op type. */
    readonly node: string,
    readonly opType: string,
    detail: string,
  ) {
    super(
      input,
      `batch ${batch} is not possible: node '${node}' (${opType}) fixes the batch size (${detail}). ` +
        'Re-export the model with a dynamic batch axis, or run one image at a time.',
    );
  }
}

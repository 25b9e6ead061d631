// Typed errors. Every message names the culprit (op, kernel, shapes, layer) so a
// user can act on it without reading engine code.

export class GradlensError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** Shapes that an op cannot accept: names the op and every shape involved. */
export class ShapeError extends GradlensError {
  constructor(
    readonly op: string,
    detail: string,
    readonly shapes: readonly (readonly number[])[] = [],
  ) {
    const shown = shapes.length ? ` (shapes: ${shapes.map((s) => `[${s.join(', ')}]`).join(', ')})` : '';
    super(`${op}: ${detail}${shown}`);
  }
}

/** WGSL that failed to parse or compile; names the kernel and the line. */
export class KernelCompileError extends GradlensError {
  constructor(
    readonly kernel: string,
    readonly line: number | undefined,
    detail: string,
  ) {
    super(`kernel '${kernel}'${line !== undefined ? ` line ${line}` : ''}: ${detail}`);
  }
}

/** The GPU device went away; pending and later work fails with this. */
export class DeviceLost extends GradlensError {
  constructor(readonly reason: string) {
    super(`WebGPU device lost: ${reason}`);
  }
}

/** f16 precision asked of an adapter without the shader-f16 feature. */
export class PrecisionUnavailable extends GradlensError {
  constructor(readonly adapter: string) {
    super(`f16 precision needs the WebGPU feature 'shader-f16', which this adapter lacks (${adapter}); run in f32`);
  }
}

/** An op given inputs of two precisions (f32 and f16: cast() converts), or indices where it takes values, or values where it takes indices. */
export class PrecisionMismatch extends GradlensError {
  constructor(
    readonly op: string,
    readonly tensor: string,
    readonly dtype: string,
    readonly expected: string,
    /** The earlier input whose precision the op took. */
    readonly other?: string,
  ) {
    super(
      expected === 'u32'
        ? `${op}: input ${tensor} is stored as ${dtype}; this input takes u32 indices (maxPool's second output)`
        : dtype === 'u32'
          ? `${op}: input ${tensor} holds u32 indices, not ${expected} values`
          : `${op}: input ${tensor} is stored as ${dtype} but ${other ?? 'another input'} as ${expected}; convert one with cast()`,
    );
  }
}

/** No usable WebGPU adapter; the message says how to get one. */
export class NoAdapterError extends GradlensError {}

/** A backward pass reached an op without a backward rule. */
export class MissingGradient extends GradlensError {
  constructor(readonly op: string) {
    super(`no backward rule for op '${op}': register one with defineOp or tape.overrideBackward`);
  }
}

/**
 * Backward with createGraph reached a node whose gradient it cannot record:
 * the op has no differentiable rule (OpDef.backwardOps), or its rule is swapped.
 */
export class MissingDoubleBackward extends GradlensError {
  constructor(
    readonly op: string,
    why = 'its backward rule is GPU kernels only (no OpDef.backwardOps)',
  ) {
    super(`double backward of ${op} is not supported: ${why}, so its gradient cannot be differentiated (backward with createGraph, grad() with createGraph)`);
  }
}

/** Use of a tensor after dispose(). */
export class DisposedTensorError extends GradlensError {
  constructor(what: string) {
    super(`${what}: tensor was already disposed`);
  }
}

/** "132.0 MiB (138,444,800 bytes)" */
function formatBytes(bytes: number): string {
  return `${(bytes / 2 ** 20).toFixed(1)} MiB (${bytes.toLocaleString('en-US')} bytes)`;
}

/**
 * A kernel would bind more bytes than the adapter allows in one storage
 * binding. Thrown before anything is encoded; ops catch it and run in parts
 * (engine/ops/split.ts), so it reaches users only from kernels launched outside an op.
 */
export class BindingTooLarge extends GradlensError {
  constructor(
    readonly kernel: string,
    readonly binding: string,
    readonly bytes: number,
    readonly limit: number,
  ) {
    super(`kernel '${kernel}' binds '${binding}' at ${formatBytes(bytes)}, over this adapter's ${formatBytes(limit)} limit per storage binding (maxStorageBufferBindingSize)`);
  }
}

/** A GPU buffer larger than the adapter can create (maxBufferSize); no split helps, the tensor itself is too big. */
export class BufferTooLarge extends GradlensError {
  constructor(
    readonly bytes: number,
    readonly limit: number,
  ) {
    super(`a buffer of ${formatBytes(bytes)} is over this adapter's ${formatBytes(limit)} limit per buffer (maxBufferSize)`);
  }
}

/**
 * An op that cannot process a tensor within the adapter's limits: too big for
 * one binding and the op cannot run in parts along any axis, or too big for
 * one buffer. Names the op, the tensor, its size and the limit.
 */
export class TensorTooLarge extends GradlensError {
  constructor(
    readonly op: string,
    /** Which tensor: "input 0 'conv_3' [1, 64, 2080, 2080]", "output 0 [...]". */
    readonly tensor: string,
    readonly bytes: number,
    readonly limit: number,
    /** 'binding' (maxStorageBufferBindingSize) or 'buffer' (maxBufferSize). */
    readonly kind: 'binding' | 'buffer',
    readonly detail: string,
    /** For a backward: the tensors the op produced (their names, as labeled), so a caller can find the layer. */
    readonly producing: readonly string[] = [],
  ) {
    const what = kind === 'binding' ? 'limit per storage binding (maxStorageBufferBindingSize)' : 'limit per buffer (maxBufferSize)';
    const of = producing.length ? ` (the gradient of ${producing.map((n) => `'${n}'`).join(', ')})` : '';
    super(`${op}${of}: ${tensor} is ${formatBytes(bytes)}, over this adapter's ${formatBytes(limit)} ${what}; ${detail}`);
  }
}

/**
 * A non-finite value where gradlens needs finite ones (an input, a score, a
 * map): NaN or an infinity would flow through every op and come out as NaN,
 * or worse as a confident number. `what` names the value (e.g. "input
 * 'images'"), `index` is its first non-finite element (flat, row-major) and
 * `value` that element. With the shape, the message also gives the element's
 * coordinates.
 */
export class NonFiniteError extends GradlensError {
  constructor(
    readonly what: string,
    readonly index: number,
    readonly value: number,
    readonly shape?: readonly number[],
  ) {
    const at = shape ? ` (element [${coordinates(index, shape).join(', ')}] of [${shape.join(', ')}])` : '';
    super(`${what} holds ${value} at index ${index}${at}: gradlens refuses non-finite values`);
  }
}

/** Row-major coordinates of flat index i in `shape`. */
function coordinates(i: number, shape: readonly number[]): number[] {
  const c = new Array<number>(shape.length);
  for (let d = shape.length - 1; d >= 0; d--) {
    c[d] = i % shape[d];
    i = Math.floor(i / shape[d]);
  }
  return c;
}

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

/** No usable WebGPU adapter; the message says how to get one. */
export class NoAdapterError extends GradlensError {}

/** A backward pass reached an op without a backward rule. */
export class MissingGradient extends GradlensError {
  constructor(readonly op: string) {
    super(`no backward rule for op '${op}': register one with defineOp or tape.overrideBackward`);
  }
}

/** Use of a tensor after dispose(). */
export class DisposedTensorError extends GradlensError {
  constructor(what: string) {
    super(`${what}: tensor was already disposed`);
  }
}

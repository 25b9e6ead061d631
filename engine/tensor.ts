// A Tensor is a shape plus a reference-counted GPU buffer. No math lives here:
// ops are in engine/ops, gradients in engine/tape.ts. Tensors are always
// row-major contiguous, so a reshape is a free view that shares the storage.

import { DisposedTensorError, GradlensError, ShapeError } from './errors.js';
import { fromHalf, toHalf } from './half.js';
import { runtime, type BufferRef } from './runtime.js';
import { contiguousStrides, formatShape, numel, type Shape } from './shape.js';
import type { TapeNode } from './tape.js';

/**
 * What a tensor's buffer holds. Float tensors are the runtime's precision
 * (runtime().precision: f32, or f16 storage in the opt-in half mode); 'u32'
 * is for index tables that kernels declare `array<u32>`.
 */
export type DType = 'f32' | 'f16' | 'u32';

/** Bytes per element of each dtype. */
export const BYTES: Readonly<Record<DType, number>> = { f32: 4, f16: 2, u32: 4 };

/** A GPU buffer shared by a tensor and its views; freed when the last one lets go. */
class Storage {
  refs = 1;
  /** The runtime that allocated the buffer (a later runtime, after a device loss, must not receive it). */
  private readonly owner = runtime();
  constructor(readonly buffer: GPUBuffer) {}
  retain(): this {
    this.refs++;
    return this;
  }
  release(): void {
    if (--this.refs === 0 && !this.owner.handle.lost) this.owner.releaseStorage(this.buffer);
  }
}

let nextTensorId = 0;

export class Tensor {
  readonly id = nextTensorId++;
  readonly strides: readonly number[];
  readonly size: number;
  /** Leaf tensors with requiresGrad receive `.grad` from backward(). */
  requiresGrad = false;
  grad: Tensor | null = null;
  /** The tape node that produced this tensor (null for leaves and untracked results). */
  node: TapeNode | null = null;
  /** Optional label (ONNX tensor name, layer name) shown by tape.describe(). */
  name?: string;
  private storage: Storage | null;

  private constructor(
    readonly shape: Shape,
    readonly dtype: DType,
    storage: Storage,
  ) {
    this.shape = Object.freeze([...shape]);
    this.strides = Object.freeze(contiguousStrides(shape));
    this.size = numel(shape);
    this.storage = storage;
    trackInScope(this);
  }

  /** A new uninitialized tensor (its contents are whatever the pooled buffer held); float tensors take the runtime's precision. */
  static empty(shape: Shape, dtype: DType = runtime().precision): Tensor {
    checkShape(shape);
    return new Tensor(shape, dtype, new Storage(runtime().createStorage(numel(shape) * BYTES[dtype])));
  }

  /** Uploads `data` (converted to the runtime's precision; a value f16 cannot hold is a PrecisionOverflow naming `name`). */
  static fromData(data: ArrayLike<number>, shape: Shape, name = 'tensor'): Tensor {
    checkShape(shape);
    if (data.length !== numel(shape)) {
      throw new ShapeError('tensor', `${data.length} values do not fill shape ${formatShape(shape)} (${numel(shape)} elements)`, [shape]);
    }
    const dtype = runtime().precision;
    const host = dtype === 'f16' ? toHalf(data, name) : data instanceof Float32Array ? data : Float32Array.from(data);
    const t = Tensor.empty(shape, dtype);
    if (host.length) runtime().upload(t.buffer, host);
    return t;
  }

  /** A view with another shape over the same storage (no copy). */
  view(shape: Shape): Tensor {
    const s = this.live('view');
    checkShape(shape);
    if (numel(shape) !== this.size) {
      throw new ShapeError('view', `${this.size} elements cannot be viewed as ${formatShape(shape)}`, [this.shape, shape]);
    }
    return new Tensor(shape, this.dtype, s.retain());
  }

  get buffer(): GPUBuffer {
    return this.live('buffer').buffer;
  }

  /** What kernels bind: the buffer and the bytes in use. */
  get ref(): BufferRef {
    const s = this.live('ref');
    return { buffer: s.buffer, byteLength: this.size * BYTES[this.dtype] };
  }

  get isDisposed(): boolean {
    return this.storage === null;
  }

  /** Copies the values to the host (the only way to read a tensor); f16 values and u32 indices come back as float32. */
  async data(): Promise<Float32Array> {
    const s = this.live('data()');
    if (this.size === 0) return new Float32Array(0);
    const bytes = await runtime().read(s.buffer, this.size * BYTES[this.dtype]);
    if (this.dtype === 'u32') return Float32Array.from(new Uint32Array(bytes)); // indices (exact below 2^24)
    return this.dtype === 'f16' ? fromHalf(new Uint16Array(bytes)) : new Float32Array(bytes);
  }

  /** Releases this tensor's hold on its GPU buffer. Safe to call twice. */
  dispose(): void {
    if (!this.storage) return;
    this.storage.release();
    this.storage = null;
    this.grad?.dispose();
    this.grad = null;
  }

  toString(): string {
    return `Tensor#${this.id}${this.name ? `(${this.name})` : ''} ${formatShape(this.shape)}${this.dtype === 'f32' ? '' : ` ${this.dtype}`}`;
  }

  private live(what: string): Storage {
    if (!this.storage) throw new DisposedTensorError(`${this.toString()}.${what}`);
    return this.storage;
  }
}

function checkShape(shape: Shape): void {
  if (!Array.isArray(shape) || shape.some((d) => !Number.isInteger(d) || d < 0)) {
    throw new ShapeError('tensor', `invalid shape ${JSON.stringify(shape)}: dimensions must be non-negative integers`);
  }
}

// ---- scopes ------------------------------------------------------------------

const scopes: Set<Tensor>[] = [];

function trackInScope(t: Tensor): void {
  scopes[scopes.length - 1]?.add(t);
}

/**
 * Runs `fn` and disposes every tensor created inside it except those it
 * returns (found in arrays, plain objects and Maps) and those passed to keep().
 * Async functions are supported; the scope closes when the promise settles.
 */
export function scope<T>(fn: () => T): T {
  const created = new Set<Tensor>();
  scopes.push(created);
  let result: T;
  try {
    result = fn();
  } catch (e) {
    scopes.pop();
    for (const t of created) t.dispose();
    throw e;
  }
  scopes.pop();
  if (result instanceof Promise) {
    for (const t of created) t.dispose();
    throw new GradlensError('scope(): fn returned a Promise; use scopeAsync() for async functions');
  }
  closeScope(created, result);
  return result;
}

/**
 * scope() for async functions. Its scope stays open across every await, so
 * a concurrent call would be tracked by it: run async work that creates
 * tensors inside exclusive() (serial.ts), as the library's entry points do.
 */
export async function scopeAsync<T>(fn: () => Promise<T>): Promise<T> {
  const created = new Set<Tensor>();
  scopes.push(created);
  const leave = () => {
    const at = scopes.lastIndexOf(created);
    if (at >= 0) scopes.splice(at, 1);
  };
  try {
    const result = await fn();
    leave(); // before closing, so kept tensors go to the enclosing scope
    closeScope(created, result);
    return result;
  } catch (e) {
    leave();
    for (const t of created) t.dispose();
    throw e;
  }
}

/** Exempts tensors from the enclosing scopes' cleanup. */
export function keep<T extends Tensor | Tensor[]>(t: T): T {
  for (const x of Array.isArray(t) ? t : [t]) for (const s of scopes) s.delete(x);
  return t;
}

function closeScope(created: Set<Tensor>, result: unknown): void {
  const kept = new Set<Tensor>();
  collectTensors(result, kept);
  for (const t of created) {
    if (kept.has(t)) scopes[scopes.length - 1]?.add(t); // hand it to the outer scope
    else t.dispose();
  }
}

function collectTensors(v: unknown, out: Set<Tensor>): void {
  if (v instanceof Tensor) {
    out.add(v);
    if (v.grad) out.add(v.grad);
  } else if (Array.isArray(v)) for (const x of v) collectTensors(x, out);
  else if (v instanceof Map) for (const x of v.values()) collectTensors(x, out);
  else if (v && typeof v === 'object' && Object.getPrototypeOf(v) === Object.prototype) {
    for (const x of Object.values(v)) collectTensors(x, out);
  }
}

// The runtime turns kernel launches into GPU work. Dispatches are synchronous
// and batched: they are recorded into one command encoder (one compute pass)
// and submitted together at flush(). The only awaits are readbacks, sync() and
// profiling results. Uniform values of all dispatches in a batch are packed
// into one 256-byte-aligned arena written once per submit, because
// queue.writeBuffer runs before the batch executes: a shared uniform buffer
// rewritten per dispatch would be read with the last value by every dispatch.
//
// Limits: a dispatch that would bind more than maxBindingBytes to one variable
// throws BindingTooLarge before anything is encoded (ops catch it and run in
// parts, engine/ops/split.ts), and a buffer past maxBufferBytes throws
// BufferTooLarge. dryRun() runs ops with neither GPU work nor allocation, so
// those checks (and the shapes ops produce) are known before a real run.

import { BufferPool, sizeClass } from './device/buffer-pool.js';
import { type DeviceHandle, getDevice, type DeviceOptions, describeAdapter, destroyDevice } from './device/device.js';
import { BindingTooLarge, BufferTooLarge, GradlensError, KernelCompileError, PrecisionUnavailable } from './errors.js';
import { type Kernel, packUniforms, STORAGE_PRELUDE } from './kernels/kernel.js';

/**
 * How float tensors are stored: f32, or f16 (the opt-in half mode: half the
 * memory traffic; every kernel still computes and accumulates in f32).
 */
export type Precision = 'f32' | 'f16';

// WebGPU's flag values, spelled out: the GPUBufferUsage globals only exist in
// Node once the Dawn bindings have loaded.
const USAGE = { MAP_READ: 0x1, COPY_SRC: 0x4, COPY_DST: 0x8, UNIFORM: 0x40, STORAGE: 0x80, QUERY_RESOLVE: 0x200 } as const;
const MAP_READ_MODE = 0x1;
const COMPUTE_STAGE = 0x4;
export const STORAGE_USAGE = USAGE.STORAGE | USAGE.COPY_SRC | USAGE.COPY_DST;

/** A storage buffer region bound to a kernel variable. */
export interface BufferRef {
  buffer: GPUBuffer;
  /** Bytes actually used (the pooled buffer may be larger). */
  byteLength: number;
}

export interface DispatchArgs {
  /** Storage buffers by the WGSL variable names of the kernel. */
  bindings: Record<string, BufferRef>;
  /** Fields of the kernel's uniform struct, by name. */
  uniforms?: Record<string, number | readonly number[]>;
  /**
   * Values of the kernel's `override` constants (a pipeline is compiled per
   * distinct set). Flags that only choose code paths go through
   * ops/epilogue.ts flagArgs, which asks specializeFlags whether to pass them here.
   */
  constants?: Record<string, number>;
  workgroups: readonly [number, number?, number?];
  /** The name profile() reports (default the kernel's): a kernel shared by several ops reports the op. */
  label?: string;
}

export interface KernelTiming {
  kernel: string;
  ms: number;
}

const UNIFORM_ALIGN = 256;
const MAX_BATCH_DISPATCHES = 512;
// Room for one 256-byte uniform block per dispatch of a full batch.
const ARENA_BYTES = MAX_BATCH_DISPATCHES * UNIFORM_ALIGN;

const QUERY_CAPACITY = 4096;

interface PipelineEntry {
  pipeline: GPUComputePipeline;
  layout: GPUBindGroupLayout;
}

interface ProfileState {
  querySet: GPUQuerySet;
  names: string[];
  results: Promise<KernelTiming[]>[];
}

export class Runtime {
  readonly device: GPUDevice;
  readonly pool: BufferPool;
  private encoder: GPUCommandEncoder | null = null;
  private pass: GPUComputePassEncoder | null = null;
  private batched = 0;
  private arena = new ArrayBuffer(ARENA_BYTES);
  private arenaView = new DataView(this.arena);
  private arenaUsed = 0;
  private arenaBuffer: GPUBuffer | null = null;
  private pipelines = new Map<string, PipelineEntry>();
  private errors: Error[] = [];
  private checks: Promise<void>[] = [];
  private profiling: ProfileState | null = null;
  /** Submissions since creation (tests use it to prove batching). */
  submits = 0;
  /**
   * Compute pipelines created since creation, one per kernel and distinct set
   * of override values (tests use it to count compiles; on a software adapter
   * each costs up to seconds at its first dispatch).
   */
  pipelineCount = 0;
  /**
   * Whether kernel flags are override constants (a pipeline per combination,
   * branches folded by the compiler) or read from uniforms (one pipeline for
   * all): the device's choice, handle.specializeFlags (false on a software
   * adapter). Kernel launchers read it per launch; assignable (tests).
   */
  specializeFlags: boolean;
  /**
   * Whether gemm and conv2d run their workgroup-tiled kernels (a GPU) or the
   * direct ones (a CPU-backed adapter): handle.workgroupTiles. Kernel
   * launchers read it per launch; assignable (tests).
   */
  workgroupTiles: boolean;
  /**
   * Most bytes one storage binding may hold: the adapter's
   * maxStorageBufferBindingSize, or less with GRADLENS_MAX_BINDING_BYTES (to
   * exercise the split path with small tensors). Assignable (tests).
   */
  maxBindingBytes: number;
  /** Most bytes one buffer may hold: the adapter's maxBufferSize. Assignable (tests). */
  maxBufferBytes: number;
  /**
   * The storage of the float tensors made now (Tensor.empty, fromData, fill)
   * and of the kernels compiled now: the precision of the op that is running
   * (an op runs in the precision of its float inputs, which must agree, and
   * so does its backward), else f32. Not a global setting: withPrecision()
   * scopes it to a synchronous call; tensor(..., { dtype }) and cast() are
   * how a caller makes f16 tensors.
   */
  get precision(): Precision {
    return this.storagePrecision;
  }
  private storagePrecision: Precision = 'f32';
  /** One entry per dryRun() in progress: whether it checks the limits. */
  private dryRuns: boolean[] = [];
  /** What every allocation returns during a dry run. */
  private placeholder: GPUBuffer | null = null;

  constructor(readonly handle: DeviceHandle) {
    this.device = handle.device;
    this.specializeFlags = handle.specializeFlags;
    this.workgroupTiles = handle.workgroupTiles;
    this.maxBindingBytes = Math.min(handle.limits.maxStorageBufferBindingSize, bindingLimitFromEnv() ?? Infinity);
    this.maxBufferBytes = handle.limits.maxBufferSize;
    this.pool = new BufferPool(this.device);
    this.device.onuncapturederror = (ev: GPUUncapturedErrorEvent) => {
      this.errors.push(new GradlensError(`WebGPU error: ${ev.error.message}`));
    };
  }

  /** Throws unless this adapter can store `precision`: 'f16' needs its shader-f16 feature (PrecisionUnavailable). */
  checkPrecision(precision: Precision): void {
    if (precision !== 'f32' && precision !== 'f16') throw new GradlensError(`precision must be 'f32' or 'f16', not '${String(precision)}'`);
    if (precision === 'f16' && !this.handle.features.has('shader-f16')) throw new PrecisionUnavailable(this.adapterDescription);
  }

  /**
   * Runs the synchronous `fn` with `precision` as the storage of what it makes
   * (how ops and the tape run in their tensors' precision). An async `fn`
   * would leave it set across its awaits, for unrelated code: refused.
   */
  withPrecision<T>(precision: Precision, fn: () => T): T {
    if (precision === this.storagePrecision) return fn();
    this.checkPrecision(precision);
    const saved = this.storagePrecision;
    this.storagePrecision = precision;
    try {
      const result = fn();
      if (result instanceof Promise) throw new GradlensError('withPrecision(): fn returned a Promise; it must be synchronous');
      return result;
    } finally {
      this.storagePrecision = saved;
    }
  }

  get adapterDescription(): string {
    return describeAdapter(this.handle);
  }

  // ---- memory --------------------------------------------------------------

  createStorage(byteLength: number): GPUBuffer {
    this.assertAlive();
    // The pool rounds sizes up to a size class: that is the buffer created.
    const size = sizeClass(Math.max(4, byteLength));
    if (size > this.maxBufferBytes && this.checkingLimits) throw new BufferTooLarge(size, this.maxBufferBytes);
    if (this.dryRuns.length) return (this.placeholder ??= this.device.createBuffer({ size: 256, usage: STORAGE_USAGE }));
    return this.pool.acquire(Math.max(4, byteLength), STORAGE_USAGE);
  }

  releaseStorage(buffer: GPUBuffer): void {
    if (buffer !== this.placeholder) this.pool.release(buffer);
  }

  /** Copies host data into a storage buffer. Flushes first so pending dispatches see the old contents. */
  upload(buffer: GPUBuffer, data: ArrayBufferView, byteOffset = 0): void {
    this.assertAlive();
    if (this.dryRuns.length) return;
    if (this.batched) this.flush();
    const bytes = new Uint8Array(data.buffer as ArrayBuffer, data.byteOffset, data.byteLength);
    const aligned = bytes.byteLength & ~3;
    if (aligned) this.device.queue.writeBuffer(buffer, byteOffset, bytes, 0, aligned);
    if (aligned !== bytes.byteLength) {
      const tail = new Uint8Array(4);
      tail.set(bytes.subarray(aligned));
      this.device.queue.writeBuffer(buffer, byteOffset + aligned, tail);
    }
  }

  /** Reads `byteLength` bytes from a storage buffer (flushes pending work). */
  async read(buffer: GPUBuffer, byteLength: number, byteOffset = 0): Promise<ArrayBuffer> {
    this.assertAlive();
    if (this.dryRuns.length) throw new GradlensError('read(): a dry run has no data to read');
    const size = Math.max(4, Math.ceil(byteLength / 4) * 4);
    const staging = this.pool.acquire(size, USAGE.MAP_READ | USAGE.COPY_DST);
    this.ensureEncoder();
    this.endPass();
    this.encoder!.copyBufferToBuffer(buffer, byteOffset, staging, 0, size);
    this.flush();
    try {
      await staging.mapAsync(MAP_READ_MODE, 0, size);
    } catch (e) {
      this.assertAlive();
      throw new GradlensError(`readback failed: ${(e as Error).message}`);
    }
    const out = staging.getMappedRange(0, size).slice(0, byteLength);
    staging.unmap();
    this.pool.release(staging);
    await this.throwPendingErrors();
    return out;
  }

  // ---- dispatch ------------------------------------------------------------

  dispatch(kernel: Kernel, args: DispatchArgs): void {
    this.assertAlive();
    const [x, y = 1, z = 1] = args.workgroups;
    if (x === 0 || y === 0 || z === 0) return;
    const maxPerDim = this.handle.limits.maxComputeWorkgroupsPerDimension;
    if (x > maxPerDim || y > maxPerDim || z > maxPerDim) {
      throw new GradlensError(`kernel '${kernel.name}': dispatch [${x}, ${y}, ${z}] exceeds ${maxPerDim} workgroups per dimension`);
    }
    if (this.checkingLimits) {
      for (const [name, ref] of Object.entries(args.bindings)) {
        const size = bindingSize(ref);
        if (size > this.maxBindingBytes) throw new BindingTooLarge(kernel.name, name, size, this.maxBindingBytes);
      }
    }
    if (this.dryRuns.length) return;
    const { pipeline, layout } = this.pipeline(kernel, args.constants ?? {});
    const entries: GPUBindGroupEntry[] = [];
    for (const b of kernel.bindings) {
      if (b.kind === 'uniform') {
        const offset = this.reserveUniforms(b.size!);
        packUniforms(kernel, b, args.uniforms ?? {}, this.arenaView, offset);
        entries.push({ binding: b.binding, resource: { buffer: this.arenaBuffer!, offset, size: b.size! } });
      } else {
        const ref = args.bindings[b.name];
        if (!ref) throw new GradlensError(`kernel '${kernel.name}': no buffer bound to '${b.name}'`);
        entries.push({ binding: b.binding, resource: { buffer: ref.buffer, size: bindingSize(ref) } });
      }
    }
    for (const name of Object.keys(args.bindings)) {
      if (!kernel.bindings.some((b) => b.name === name)) {
        throw new GradlensError(`kernel '${kernel.name}': it declares no binding '${name}'`);
      }
    }
    const bindGroup = this.device.createBindGroup({ layout, entries });
    this.ensureEncoder();
    let pass: GPUComputePassEncoder;
    if (this.profiling) {
      // One pass per dispatch so each gets its own begin/end timestamps.
      this.endPass();
      const p = this.profiling;
      const i = p.names.length;
      p.names.push(args.label ?? kernel.name);
      pass = this.encoder!.beginComputePass({
        timestampWrites: { querySet: p.querySet, beginningOfPassWriteIndex: 2 * i, endOfPassWriteIndex: 2 * i + 1 },
      });
      pass.setPipeline(pipeline);
      pass.setBindGroup(0, bindGroup);
      pass.dispatchWorkgroups(x, y, z);
      pass.end();
    } else {
      pass = this.pass ??= this.encoder!.beginComputePass();
      pass.setPipeline(pipeline);
      pass.setBindGroup(0, bindGroup);
      pass.dispatchWorkgroups(x, y, z);
    }
    this.batched++;
    if (this.batched >= MAX_BATCH_DISPATCHES || (this.profiling && this.profiling.names.length * 2 >= QUERY_CAPACITY)) this.flush();
  }

  /**
   * Records a buffer-to-buffer copy (offsets and size multiples of 4) in order
   * with the dispatches around it. Copies have no binding limit: this is how
   * ops move parts of tensors larger than one binding.
   */
  copyBuffer(src: GPUBuffer, srcOffset: number, dst: GPUBuffer, dstOffset: number, byteLength: number): void {
    this.assertAlive();
    if (this.dryRuns.length || byteLength === 0) return;
    this.ensureEncoder();
    this.endPass();
    this.encoder!.copyBufferToBuffer(src, srcOffset, dst, dstOffset, byteLength);
    if (++this.batched >= MAX_BATCH_DISPATCHES) this.flush();
  }

  /** Records zeroing of a buffer range (offset and size multiples of 4), in order with the dispatches around it. */
  clearBuffer(buffer: GPUBuffer, byteOffset: number, byteLength: number): void {
    this.assertAlive();
    if (this.dryRuns.length || byteLength === 0) return;
    this.ensureEncoder();
    this.endPass();
    this.encoder!.clearBuffer(buffer, byteOffset, byteLength);
    if (++this.batched >= MAX_BATCH_DISPATCHES) this.flush();
  }

  /**
   * Runs `fn` (synchronous) without GPU work: allocations return one shared
   * placeholder buffer, uploads, copies and dispatches record nothing, and no
   * pipeline is compiled. Tensors keep their shapes, so ops run their host
   * logic as usual: this is how the ONNX importer checks a graph against the
   * limits before running it, and how ops learn their output shapes.
   * With checkLimits (default) binding and buffer sizes are checked as in a
   * real run; without, they are not (to learn the shapes of an op that is too big).
   */
  dryRun<T>(fn: () => T, options: { checkLimits?: boolean } = {}): T {
    this.dryRuns.push(options.checkLimits ?? true);
    try {
      const result = fn();
      if (result instanceof Promise) throw new GradlensError('dryRun(): fn returned a Promise; pass a synchronous function');
      return result;
    } finally {
      this.dryRuns.pop();
    }
  }

  private get checkingLimits(): boolean {
    return this.dryRuns.length === 0 || this.dryRuns[this.dryRuns.length - 1];
  }

  /** Submits everything recorded so far. */
  flush(): void {
    if (!this.encoder) return;
    this.endPass();
    if (this.arenaBuffer) {
      this.device.queue.writeBuffer(this.arenaBuffer, 0, this.arena, 0, this.arenaUsed);
    }
    const p = this.profiling;
    let resolve: GPUBuffer | null = null;
    let staging: GPUBuffer | null = null;
    if (p && p.names.length) {
      const bytes = p.names.length * 16;
      resolve = this.device.createBuffer({ size: bytes, usage: USAGE.QUERY_RESOLVE | USAGE.COPY_SRC });
      staging = this.device.createBuffer({ size: bytes, usage: USAGE.MAP_READ | USAGE.COPY_DST });
      this.encoder.resolveQuerySet(p.querySet, 0, p.names.length * 2, resolve, 0);
      this.encoder.copyBufferToBuffer(resolve, 0, staging, 0, bytes);
    }
    this.device.queue.submit([this.encoder.finish()]);
    this.submits++;
    this.pool.afterSubmit();
    this.encoder = null;
    this.batched = 0;
    if (this.arenaBuffer) this.pool.release(this.arenaBuffer);
    this.arenaBuffer = null;
    this.arenaUsed = 0;
    if (p && staging && resolve) {
      const names = p.names;
      const s = staging;
      const r = resolve;
      p.results.push(
        s.mapAsync(MAP_READ_MODE).then(() => {
          const t = new BigInt64Array(s.getMappedRange());
          const out = names.map((kernel, i) => ({ kernel, ms: Number(t[2 * i + 1] - t[2 * i]) / 1e6 }));
          s.unmap();
          s.destroy();
          r.destroy();
          return out;
        }),
      );
      p.names = [];
    }
  }

  /** Flushes and waits until the GPU has finished all submitted work; throws deferred GPU errors. */
  async sync(): Promise<void> {
    this.flush();
    await this.device.queue.onSubmittedWorkDone();
    this.assertAlive();
    await this.throwPendingErrors();
  }

  /**
   * Runs `fn` with per-dispatch GPU timestamps. Every dispatch gets its own
   * compute pass (slightly slower than the batched path, but exact per kernel).
   */
  async profile<T>(fn: () => T | Promise<T>): Promise<{ result: T; kernels: KernelTiming[] }> {
    if (!this.handle.features.has('timestamp-query')) {
      throw new GradlensError('profile(): this adapter has no timestamp-query feature');
    }
    if (this.profiling) throw new GradlensError('profile(): already profiling');
    this.flush();
    const querySet = this.device.createQuerySet({ type: 'timestamp', count: QUERY_CAPACITY });
    this.profiling = { querySet, names: [], results: [] };
    try {
      const result = await fn();
      this.flush();
      const kernels = (await Promise.all(this.profiling.results)).flat();
      return { result, kernels };
    } finally {
      // If fn threw, passes that write this query set may still be recorded: submit them first.
      this.flush();
      this.profiling = null;
      querySet.destroy();
    }
  }

  // ---- internals -----------------------------------------------------------

  private ensureEncoder(): void {
    this.encoder ??= this.device.createCommandEncoder();
  }

  private endPass(): void {
    this.pass?.end();
    this.pass = null;
  }

  private reserveUniforms(size: number): number {
    if (this.arenaUsed + size > ARENA_BYTES) this.flush();
    if (!this.arenaBuffer) {
      this.arenaBuffer = this.pool.acquire(ARENA_BYTES, USAGE.UNIFORM | USAGE.COPY_DST);
      new Uint8Array(this.arena).fill(0);
    }
    const offset = this.arenaUsed;
    this.arenaUsed = Math.ceil((offset + size) / UNIFORM_ALIGN) * UNIFORM_ALIGN;
    return offset;
  }

  private pipeline(kernel: Kernel, constants: Record<string, number>): PipelineEntry {
    const names = Object.keys(constants).sort();
    const key = `${kernel.id}|${this.precision}|${names.map((n) => `${n}=${constants[n]}`).join(',')}`;
    const cached = this.pipelines.get(key);
    if (cached) return cached;
    const storage = kernel.bindings.filter((b) => b.kind !== 'uniform').length;
    const maxStorage = this.handle.limits.maxStorageBuffersPerShaderStage;
    if (storage > maxStorage) {
      throw new GradlensError(`kernel '${kernel.name}' binds ${storage} storage buffers; this adapter allows ${maxStorage} per shader stage`);
    }
    for (const n of names) {
      if (!kernel.overrides.includes(n)) {
        throw new GradlensError(`kernel '${kernel.name}': no override constant '${n}' (has: ${kernel.overrides.join(', ') || 'none'})`);
      }
    }
    const layout = this.device.createBindGroupLayout({
      label: kernel.name,
      entries: kernel.bindings.map((b) => ({
        binding: b.binding,
        visibility: COMPUTE_STAGE,
        buffer: { type: b.kind === 'uniform' ? 'uniform' : b.kind === 'storage-read' ? 'read-only-storage' : 'storage' },
      })),
    });
    this.device.pushErrorScope('validation');
    const precision = this.precision;
    const label = `${kernel.name}${precision === 'f16' ? ' (f16)' : ''}`;
    const module = this.device.createShaderModule({ label: kernel.name, code: STORAGE_PRELUDE[precision] + kernel.wgsl });
    const pipeline = this.device.createComputePipeline({
      label: kernel.name,
      layout: this.device.createPipelineLayout({ bindGroupLayouts: [layout] }),
      compute: { module, entryPoint: kernel.entryPoint, constants },
    });
    // Compilation errors arrive asynchronously; they are raised, naming the
    // kernel and line, at the next sync() or readback.
    const scope = this.device.popErrorScope();
    this.checks.push(
      Promise.all([scope, module.getCompilationInfo()]).then(([err, info]) => {
        const first = info.messages.find((m) => m.type === 'error');
        // lineNum counts the prelude's line (0: unknown).
        if (first) this.errors.push(new KernelCompileError(label, first.lineNum > 1 ? first.lineNum - 1 : undefined, first.message));
        else if (err) this.errors.push(new KernelCompileError(label, undefined, err.message));
      }),
    );
    const entry = { pipeline, layout };
    this.pipelines.set(key, entry);
    this.pipelineCount++;
    return entry;
  }

  private async throwPendingErrors(): Promise<void> {
    if (this.checks.length) {
      const checks = this.checks;
      this.checks = [];
      await Promise.all(checks);
    }
    if (this.errors.length) {
      // A compile error explains the "invalid pipeline" errors that follow it.
      const first = this.errors.find((e) => e instanceof KernelCompileError) ?? this.errors[0];
      this.errors = [];
      throw first;
    }
  }

  private assertAlive(): void {
    if (this.handle.lost) throw this.handle.lost;
  }

  /** Forgets a kernel's compiled pipelines (after a failed compile, for example). */
  dropPipelines(kernel: Kernel): void {
    for (const k of [...this.pipelines.keys()]) if (k.startsWith(`${kernel.id}|`)) this.pipelines.delete(k);
  }
}

/** Bytes a binding of `ref` covers (at least 4, a multiple of 4). */
function bindingSize(ref: BufferRef): number {
  return Math.max(4, Math.ceil(ref.byteLength / 4) * 4);
}

/** GRADLENS_MAX_BINDING_BYTES in Node: a lower binding limit than the adapter's (tests, stress runs); undefined when unset. */
function bindingLimitFromEnv(): number | undefined {
  const value = typeof process === 'undefined' ? undefined : process.env?.GRADLENS_MAX_BINDING_BYTES;
  if (value === undefined || value === '') return undefined;
  const bytes = Number(value);
  if (!Number.isSafeInteger(bytes) || bytes < 256) throw new GradlensError(`GRADLENS_MAX_BINDING_BYTES must be an integer >= 256, not '${value}'`);
  return bytes;
}

let current: Runtime | null = null;

/** Initializes the engine on the process-wide device. Safe to call many times. */
export async function init(options: DeviceOptions = {}): Promise<Runtime> {
  if (current && !current.handle.lost) return current;
  const handle = await getDevice(options);
  current = new Runtime(handle);
  return current;
}

/** The initialized runtime; ops call this. */
export function runtime(): Runtime {
  if (!current) throw new GradlensError('the engine is not initialized: call `await init()` first');
  if (current.handle.lost) throw current.handle.lost;
  return current;
}

/** Destroys the device (lets Node exit). */
export async function shutdown(): Promise<void> {
  current = null;
  await destroyDevice();
}


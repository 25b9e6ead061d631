// One Dawn device for gradlens and its peers (onnxruntime-web, TF.js) in one
// Node process, and the wall-clock helpers the peers and e2e benchmarks share.
//
// The engine takes `navigator.gpu` when it exists (engine/device/device.ts),
// so the bench creates Dawn's GPU object itself (same flags as the engine:
// unquantized timestamps), publishes it as navigator.gpu, and lets init() make
// the device; the peers are handed runtime().device. navigator.gpu must exist
// before TF.js' WebGPU backend is imported, and onnxruntime-web's WebGPU EP
// checks it too.

import { loadavg } from 'node:os';
import { configureVulkanEnv } from '../engine/device/node-env.js';
import { init, runtime, type Runtime } from '../engine/index.js';

export interface SharedGpu {
  rt: Runtime;
  device: GPUDevice;
  /** An adapter of the same GPU object (onnxruntime-web wants one; it validates it, the device is ours). */
  adapter: GPUAdapter;
}

// Dawn's create() result must stay referenced for the life of the process (device.ts says why).
let gpuObject: GPU | null = null;
let shared: SharedGpu | null = null;

/** Loads a package by a name esbuild does not follow (scripts/run-ts.mjs bundles everything it can see). */
export function importPackage<T = any>(name: string): Promise<T> {
  return import(/* @vite-ignore */ name) as Promise<T>;
}

export async function sharedDevice(): Promise<SharedGpu> {
  if (shared) return shared;
  const g = globalThis as { navigator?: { gpu?: GPU } };
  if (!g.navigator?.gpu) {
    configureVulkanEnv();
    const { create, globals } = await importPackage<{ create: (flags: string[]) => GPU; globals: Record<string, unknown> }>('webgpu');
    Object.assign(globalThis, globals);
    gpuObject = create(['disable-dawn-features=timestamp_quantization']);
    // Node 20 has no navigator; Node 21+ has one without `gpu`.
    if (g.navigator) Object.defineProperty(g.navigator, 'gpu', { value: gpuObject, configurable: true });
    else g.navigator = { gpu: gpuObject };
    copySharedArrayViewsOnWrite();
  }
  const rt = await init();
  const adapter = await g.navigator!.gpu!.requestAdapter({ powerPreference: 'high-performance' });
  if (!adapter) throw new Error('no adapter for the peers');
  shared = { rt, device: rt.device, adapter };
  return shared;
}

/**
 * dawn.node refuses queue.writeBuffer from a view of a SharedArrayBuffer, and
 * onnxruntime-web's wasm heap is one (its threaded build, even with one
 * thread): such writes go through a private copy. Other writes are untouched.
 */
function copySharedArrayViewsOnWrite(): void {
  const proto = (globalThis as unknown as { GPUQueue: { prototype: GPUQueue } }).GPUQueue.prototype;
  const original = proto.writeBuffer;
  proto.writeBuffer = function (this: GPUQueue, buffer: GPUBuffer, offset: number, data: BufferSource | SharedArrayBuffer, dataOffset?: number, size?: number) {
    if (typeof SharedArrayBuffer !== 'undefined') {
      if (ArrayBuffer.isView(data) && data.buffer instanceof SharedArrayBuffer) {
        const unit = (data as unknown as { BYTES_PER_ELEMENT?: number }).BYTES_PER_ELEMENT ?? 1;
        const start = (dataOffset ?? 0) * unit;
        const length = size !== undefined ? size * unit : data.byteLength - start;
        const copy = new Uint8Array(length);
        copy.set(new Uint8Array(data.buffer, data.byteOffset + start, length));
        return original.call(this, buffer, offset, copy);
      }
      if (data instanceof SharedArrayBuffer) {
        const start = dataOffset ?? 0;
        const copy = new Uint8Array(size ?? data.byteLength - start);
        copy.set(new Uint8Array(data, start, copy.length));
        return original.call(this, buffer, offset, copy);
      }
    }
    return original.call(this, buffer, offset, data as BufferSource, dataOffset, size);
  } as typeof original;
}

export function median(values: readonly number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Wall milliseconds of an async step (its promise resolves after its readbacks). */
export async function wallMs(step: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await step();
  return performance.now() - t0;
}

export interface WallTiming {
  ms: number;
  samples: number[];
}

/**
 * Medians of several steps timed in turn, rep by rep (a load change on the
 * machine then hits all of them alike), after `warmup` untimed rounds.
 */
export async function interleaved(steps: readonly (() => Promise<unknown>)[], options: { warmup: number; reps: number }): Promise<WallTiming[]> {
  for (let i = 0; i < options.warmup; i++) for (const s of steps) await s();
  const samples: number[][] = steps.map(() => []);
  for (let r = 0; r < options.reps; r++) {
    // Alternate the order so neither side always runs right after the other.
    const order = steps.map((_, i) => i);
    if (r % 2) order.reverse();
    for (const i of order) samples[i].push(await wallMs(steps[i]));
  }
  return samples.map((s) => ({ ms: median(s), samples: [...s].sort((a, b) => a - b) }));
}

export interface Closeness {
  ok: boolean;
  /** Largest |a - b|, and largest |a - b| / (1 + |b|) (the test: <= tol). */
  maxAbs: number;
  maxRel: number;
  /** Element count compared, and where the worst relative error is. */
  count: number;
  worst: number;
}

/** numpy.allclose(a, b, rtol = tol, atol = tol), with the figures behind it; NaN anywhere fails. */
export function closeness(a: ArrayLike<number>, b: ArrayLike<number>, tol = 1e-3): Closeness {
  if (a.length !== b.length) return { ok: false, maxAbs: Infinity, maxRel: Infinity, count: Math.min(a.length, b.length), worst: -1 };
  let maxAbs = 0;
  let maxRel = 0;
  let worst = -1;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    const rel = d / (1 + Math.abs(b[i]));
    if (!(rel <= maxRel)) {
      maxRel = Number.isNaN(rel) ? Infinity : rel;
      worst = i;
    }
    if (!(d <= maxAbs)) maxAbs = Number.isNaN(d) ? Infinity : d;
  }
  return { ok: maxRel <= tol, maxAbs, maxRel, count: a.length, worst };
}

/** The machine's load and the processes that share it, for the record. */
export function loadNow(): { loadavg: number[]; time: string } {
  return { loadavg: loadavg().map((v) => Number(v.toFixed(2))), time: new Date().toISOString() };
}

export const SHARED_MODELS = process.env.GRADLENS_MODELS ?? '../shared/models';

/** The whole-model cases: file in SHARED_MODELS, short name. */
export const MODEL_FILES: readonly { name: string; file: string }[] = [
  { name: 'yolov5n-320', file: 'yolov5n_320.onnx' },
  { name: 'yolov5n-640', file: 'yolov5n_640.onnx' },
  { name: 'yolo-fastest-320', file: 'yolo_fastest_1.1_coco.onnx' },
  { name: 'mobilenetv2-224', file: 'nsfwjs_mobilenet_v2.onnx' },
];

export function adapterRecord(rt: Runtime): Record<string, unknown> {
  const h = rt.handle;
  return { ...h.adapterInfo, summary: rt.adapterDescription, features: [...h.features], specializeFlags: rt.specializeFlags };
}

export { runtime };

// Adapter and device acquisition: `navigator.gpu` in a browser or worker, the
// `webgpu` npm package (Dawn) in Node. One device per process, created lazily.

import { DeviceLost, GradlensError, NoAdapterError } from '../errors.js';
import { configureVulkanEnv } from './node-env.js';

/** Optional features used when the adapter has them. */
const WANTED_FEATURES: GPUFeatureName[] = ['timestamp-query', 'shader-f16', 'subgroups'] as GPUFeatureName[];

/** Limits raised to the adapter's maximum: big tensors and big workgroup tiles. */
const WANTED_LIMITS = [
  'maxStorageBufferBindingSize',
  'maxBufferSize',
  'maxComputeWorkgroupStorageSize',
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupSizeX',
  'maxComputeWorkgroupSizeY',
  'maxComputeWorkgroupsPerDimension',
  'maxStorageBuffersPerShaderStage',
] as const;

export interface AdapterInfo {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  /** A fallback adapter: a CPU implementation of WebGPU (or of Vulkan under it). */
  isFallbackAdapter?: boolean;
}

export interface DeviceHandle {
  device: GPUDevice;
  adapterInfo: AdapterInfo;
  features: ReadonlySet<string>;
  limits: GPUSupportedLimits;
  /**
   * Whether kernels compile a pipeline per combination of their flags (the
   * override constants that choose code paths but size nothing, e.g. the
   * GEMM family's VEC_A, TRANS_B, ACT) or read them from their uniforms.
   * Specializing costs nothing to run and lets the compiler fold the branches,
   * but each combination is a new pipeline to compile: cheap on a GPU, seconds
   * on a software adapter. So: true unless the adapter is software
   * (isSoftwareAdapter); GRADLENS_SPECIALIZE=1|0 forces it in Node. The
   * runtime starts from this value (Runtime.specializeFlags).
   */
  specializeFlags: boolean;
  /**
   * Whether the GEMM-family forward kernels (gemm, conv2d) stage operand tiles
   * in workgroup memory between barriers (a GPU: shared memory is what makes
   * them fast) or read their operands directly (a CPU-backed adapter: there
   * workgroup memory is ordinary memory the caches already serve, and each
   * barrier splits the shader into per-invocation pieces that spill their
   * registers; the direct kernels run 15-30% faster on llvmpipe and compile
   * 2-3x faster). True unless the adapter is software; GRADLENS_WORKGROUP_TILES=1|0
   * forces it in Node. The runtime starts from this value (Runtime.workgroupTiles).
   */
  workgroupTiles: boolean;
  /** Set once the device is lost; every later submit or readback throws it. */
  lost: DeviceLost | null;
}

let handle: Promise<DeviceHandle> | null = null;
// Dawn's `create()` result must stay referenced for the life of the process:
// if it is garbage-collected dawn.node crashes at random.
let nodeGpu: GPU | null = null;

export interface DeviceOptions {
  /** Extra Dawn toggles for Node, e.g. 'enable-dawn-features=allow_unsafe_apis'. */
  dawnFlags?: string[];
  powerPreference?: GPUPowerPreference;
}

/** The process-wide device (created on first call). */
export function getDevice(options: DeviceOptions = {}): Promise<DeviceHandle> {
  handle ??= createDevice(options).catch((e) => {
    handle = null;
    throw e;
  });
  return handle;
}

async function gpuEntryPoint(options: DeviceOptions): Promise<GPU> {
  const nav = (globalThis as { navigator?: { gpu?: GPU } }).navigator;
  if (nav?.gpu) return nav.gpu;
  if (typeof process === 'undefined' || !process.versions?.node) {
    throw new NoAdapterError('this browser has no navigator.gpu: WebGPU is unavailable (serve the page over http(s), enable WebGPU)');
  }
  if (!nodeGpu) {
    configureVulkanEnv();
    const pkg = 'webgpu';
    const { create, globals } = (await import(/* @vite-ignore */ pkg)) as {
      create: (flags: string[]) => GPU;
      globals: Record<string, unknown>;
    };
    Object.assign(globalThis, globals);
    const flags = [...(options.dawnFlags ?? [])];
    // Unquantized GPU timestamps for the benchmarks (Dawn rounds them otherwise).
    if (!flags.some((f) => f.startsWith('disable-dawn-features'))) flags.push('disable-dawn-features=timestamp_quantization');
    nodeGpu = create(flags);
  }
  return nodeGpu;
}

async function createDevice(options: DeviceOptions): Promise<DeviceHandle> {
  const forceSpecialize = booleanFromEnv('GRADLENS_SPECIALIZE');
  const forceTiles = booleanFromEnv('GRADLENS_WORKGROUP_TILES');
  const gpu = await gpuEntryPoint(options);
  const adapter = await gpu.requestAdapter({ powerPreference: options.powerPreference ?? 'high-performance' });
  if (!adapter) {
    throw new NoAdapterError(
      nodeGpu
        ? 'no WebGPU adapter found. In Node this needs a Vulkan driver: run `bash scripts/setup-webgpu.sh` ' +
            '(installs Mesa lavapipe or points at SwiftShader), or set VK_ICD_FILENAMES to one ICD json.'
        : 'no WebGPU adapter found: the browser has WebGPU but offers no adapter (a blocklisted GPU or driver; ' +
            'in Chromium try --enable-unsafe-webgpu, or chrome://gpu for the reason).',
    );
  }
  const requiredFeatures = WANTED_FEATURES.filter((f) => adapter.features.has(f));
  const requiredLimits: Record<string, number> = {};
  for (const name of WANTED_LIMITS) {
    const value = (adapter.limits as unknown as Record<string, number>)[name];
    if (value !== undefined) requiredLimits[name] = value;
  }
  const device = await adapter.requestDevice({ requiredFeatures, requiredLimits });
  const info = adapter.info;
  const adapterInfo: AdapterInfo = {
    vendor: info.vendor,
    architecture: info.architecture,
    device: info.device,
    description: info.description,
    // Older implementations have it on the adapter, or not at all.
    isFallbackAdapter: info.isFallbackAdapter ?? (adapter as GPUAdapter & { isFallbackAdapter?: boolean }).isFallbackAdapter ?? false,
  };
  const h: DeviceHandle = {
    device,
    adapterInfo,
    features: new Set(device.features as unknown as Iterable<string>),
    limits: device.limits,
    specializeFlags: forceSpecialize ?? !isSoftwareAdapter(adapterInfo),
    workgroupTiles: forceTiles ?? !isSoftwareAdapter(adapterInfo),
    lost: null,
  };
  void device.lost.then((lostInfo) => {
    h.lost = new DeviceLost(`${lostInfo.reason}: ${lostInfo.message}`);
    if (handle) handle = null;
  });
  return h;
}

/** Destroys the device so Node can exit; a later getDevice() makes a new one. */
export async function destroyDevice(): Promise<void> {
  if (!handle) return;
  const h = await handle.catch(() => null);
  handle = null;
  h?.device.destroy();
}

/**
 * A 1 | 0 switch from the environment in Node, whatever the adapter:
 * GRADLENS_SPECIALIZE ('1': a pipeline per flag combination of the kernels,
 * '0': flags read from uniforms; DeviceHandle.specializeFlags) and
 * GRADLENS_WORKGROUP_TILES (DeviceHandle.workgroupTiles). Undefined when unset
 * or outside Node.
 */
function booleanFromEnv(name: string): boolean | undefined {
  const value = typeof process === 'undefined' ? undefined : process.env?.[name];
  if (value === undefined || value === '') return undefined;
  if (value === '1' || value === 'true') return true;
  if (value === '0' || value === 'false') return false;
  throw new GradlensError(`${name} must be 1 or 0, not '${value}'`);
}

/**
 * Whether the adapter runs on the CPU: a fallback adapter, Mesa's llvmpipe
 * (lavapipe; vendor 'mesa', architecture 'software') or SwiftShader. There a
 * pipeline's first dispatch JIT-compiles it, seconds for a GEMM-family kernel.
 */
export function isSoftwareAdapter(info: AdapterInfo): boolean {
  if (info.isFallbackAdapter) return true;
  if (info.architecture === 'software') return true;
  return /llvmpipe|lavapipe|swiftshader/i.test(`${info.vendor} ${info.architecture} ${info.device} ${info.description}`);
}

/** One line naming the adapter, for logs and benchmark records. */
export function describeAdapter(h: DeviceHandle): string {
  const i = h.adapterInfo;
  const parts = [i.vendor, i.architecture, i.device, i.description].filter(Boolean);
  return `${parts.join(' / ') || 'unknown adapter'} [${[...h.features].filter((f) => WANTED_FEATURES.includes(f as GPUFeatureName)).join(', ')}]`;
}

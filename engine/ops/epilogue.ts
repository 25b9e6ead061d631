// The fused epilogue of the GEMM-family kernels (gemm, conv2d,
// conv2d_grad_input): an activation applied to each output as it is stored,
// selected by the kernels' ACT override constant. Its WGSL switch is generated
// here from the ACTIVATIONS table (engine/activations.ts). Also what those
// kernels share on the host: their flags (flagArgs), the binding helper and
// the tile choice.

import type { Kernel } from '../kernels/kernel.js';
import { runtime, type DispatchArgs } from '../runtime.js';
import type { Tensor } from '../tensor.js';
import epilogueTemplate from '../../shaders/epilogue.wgsl';
import flagsWgsl from '../../shaders/flags.wgsl';
import { specialize } from '../kernels/kernel.js';
import { ACTIVATIONS, activationCode, FUSABLE_KINDS } from '../activations.js';

/** The `activate_scalar` switch cases: one per ACTIVATIONS row, at the kind's ACT code, returning the row's forward. */
function activationCases(): string {
  return FUSABLE_KINDS.map((kind) => `    case ${activationCode({ kind })}u: { return ${ACTIVATIONS[kind].forward}; } // ${kind}`).join('\n');
}

/** shaders/epilogue.wgsl with its switch generated from the activation table: `activate(v)` for the conv/gemm shaders. */
export const epilogueWgsl = specialize('epilogue', epilogueTemplate, { ACTIVATION_CASES: activationCases() });

/** Fills a conv/gemm shader's {{EPILOGUE}} and {{FLAGS}} slots with the shared activation and flag functions (and any `slots` it has besides). */
export function withEpilogue(name: string, wgsl: string, slots: Record<string, string> = {}): string {
  return specialize(name, wgsl, { EPILOGUE: epilogueWgsl, FLAGS: flagsWgsl, ...slots });
}

/**
 * The override value that makes a kernel flag read its uniform field instead
 * (the shaders' `const DYNAMIC`).
 */
export const DYNAMIC = 0xffff_ffff;

/**
 * Override constants and uniform fields for the flags of a GEMM-family kernel:
 * the overrides that choose code paths but size nothing (TRANS_A, VEC_OUT, ACT,
 * ...; `true` / `false` are 1 / 0, ACT is an activation code). Every flag's
 * value goes into the uniform field of the same name in lower case (VEC_A:
 * p.vec_a). Its override gets the value too when the runtime specializes flags
 * (a GPU: a pipeline per combination, the compiler folds the branches away),
 * else DYNAMIC (a software adapter: the kernel reads the uniform, and one
 * pipeline per tile shape serves every combination). See
 * DeviceHandle.specializeFlags.
 */
export function flagArgs(flags: Record<string, number | boolean>): { constants: Record<string, number>; uniforms: Record<string, number> } {
  const specialize = runtime().specializeFlags;
  const constants: Record<string, number> = {};
  const uniforms: Record<string, number> = {};
  for (const [name, value] of Object.entries(flags)) {
    uniforms[name.toLowerCase()] = Number(value);
    constants[name] = specialize ? Number(value) : DYNAMIC;
  }
  return { constants, uniforms };
}

/**
 * Dispatches with every binding sized up to a whole vec4: the GEMM-family
 * kernels view their operands as array<vec4<Elem>> (vec4 loads, scalars as
 * components), which needs a whole vec4 bound (16 bytes covers f32 and f16). Pooled buffers are at
 * least 256 bytes and multiples of 64, so the rounded range always exists.
 */
export function launchVec4(kernel: Kernel, tensors: Record<string, Tensor>, rest: Omit<DispatchArgs, 'bindings'>): void {
  const bindings: DispatchArgs['bindings'] = {};
  for (const [name, t] of Object.entries(tensors)) {
    bindings[name] = { buffer: t.buffer, byteLength: Math.max(16, Math.ceil(t.ref.byteLength / 16) * 16) };
  }
  runtime().dispatch(kernel, { ...rest, bindings });
}

/** Workgroup tile shapes of the GEMM-family kernels (4 x 4 outputs per thread). */
export interface TileConfig {
  /** Threads along M and N: the tile is (4 WG_M) x (4 WG_N). */
  WG_M: number;
  WG_N: number;
  /** Depth of the staged K slices. */
  TILE_K: number;
}

// Tile shapes in order of preference on ties. Measured on an H100 (YOLOv5n
// convs at batch 8): 64 x 64 is best from 64 output channels up; 32 x 64 and
// 16 x 64 beat 64-row tiles on 32 and 16 channels, and also beat wide 16 x 256 /
// 32 x 128 tiles there (more workgroups in flight).
const TILE_SHAPES: readonly Omit<TileConfig, 'TILE_K'>[] = [
  { WG_M: 16, WG_N: 16 }, // 64 x 64
  { WG_M: 8, WG_N: 16 }, // 32 x 64
  { WG_M: 16, WG_N: 8 }, // 64 x 32
  { WG_M: 4, WG_N: 16 }, // 16 x 64
  { WG_M: 16, WG_N: 4 }, // 64 x 16
  { WG_M: 8, WG_N: 8 }, // 32 x 32
];

/** The tile shapes on a software adapter (runtime().specializeFlags false): 64, 32 or 16 rows by 64 columns. */
const SOFTWARE_TILE_SHAPES = [TILE_SHAPES[0], TILE_SHAPES[1], TILE_SHAPES[3]];

/** Register slots for staged loads per thread in the kernels (their MAX_LOADS). */
const MAX_LOADS = 4;

/** Whether a shape can stage K slices of `tileK`: loads per thread and workgroup memory (padded rows). */
function fits(t: Omit<TileConfig, 'TILE_K'>, tileK: number): boolean {
  const threads = t.WG_M * t.WG_N;
  const loads = Math.max(Math.ceil((tileK * t.WG_M) / threads), Math.ceil((tileK * t.WG_N) / threads), Math.ceil(tileK / t.WG_M));
  const bytes = tileK * (t.WG_M + 1 + t.WG_N + 1) * 16;
  return loads <= MAX_LOADS && bytes <= runtime().handle.limits.maxComputeWorkgroupStorageSize;
}

/**
 * The tile for a rows x cols output with a reduction of `depth`: the shape that
 * wastes the least work on padding to whole tiles (so a 16-channel conv does
 * not run 64-row tiles), then K slices of 32 for long reductions (half the
 * barriers; measured 5-10% faster from K = 512) when they fit, else 16.
 */
export function chooseTiles(rows: number, cols: number, depth: number): TileConfig {
  // A software adapter compiles each pipeline for seconds at its first dispatch:
  // three tile shapes (and one K slice) there instead of twelve variants per kernel.
  const specialize = runtime().specializeFlags;
  const shapes = specialize ? TILE_SHAPES : SOFTWARE_TILE_SHAPES;
  let best = shapes[0];
  let bestWork = Infinity;
  for (const t of shapes) {
    const tm = 4 * t.WG_M;
    const tn = 4 * t.WG_N;
    const work = Math.ceil(rows / tm) * tm * Math.ceil(cols / tn) * tn;
    if (work < bestWork) {
      best = t;
      bestWork = work;
    }
  }
  return { ...best, TILE_K: specialize && depth >= 512 && fits(best, 32) ? 32 : 16 };
}

/** Splits a tile count over workgroup x and a fold factor (65535 groups per dimension at most). */
export function foldTiles(tiles: number): { x: number; fold: number } {
  const fold = Math.ceil(tiles / 65535);
  return { x: Math.ceil(tiles / fold), fold };
}

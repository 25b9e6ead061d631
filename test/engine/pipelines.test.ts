// Kernel flags and pipelines. The GEMM-family kernels' flags (VEC_*, TRANS_*,
// HAS_C, ACT: overrides that choose code paths but size nothing) are either
// specialized, a pipeline per combination (a GPU), or read from uniforms, one
// pipeline per tile shape (a software adapter, where each pipeline costs
// seconds to compile). The device chooses (DeviceHandle.specializeFlags,
// GRADLENS_SPECIALIZE=1|0 forces it); the runtime's specializeFlags is what the
// launchers ask, and pipelineCount counts the pipelines created.
import { describe, expect, test } from 'vitest';
import { type Activation, conv2dForward, runtime, scopeAsync, tensor, type Tensor } from '../../engine/index.js';
import { isSoftwareAdapter } from '../../engine/device/device.js';
import { compare, rng } from '../helpers/check.js';

function random(shape: number[], seed: number): Tensor {
  const r = rng(seed);
  const n = shape.reduce((a, b) => a * b, 1);
  return tensor(Float32Array.from({ length: n }, () => 4 * r() - 2), shape);
}

describe('the specialization policy', () => {
  test('software adapters are recognized from their info', () => {
    const gpu = { vendor: 'nvidia', architecture: 'hopper', device: '', description: 'NVIDIA H100' };
    expect(isSoftwareAdapter(gpu)).toBe(false);
    expect(isSoftwareAdapter({ ...gpu, isFallbackAdapter: true })).toBe(true);
    expect(isSoftwareAdapter({ vendor: 'mesa', architecture: 'software', device: 'llvmpipe-llvm-15', description: 'llvmpipe: Mesa 25.0.7' })).toBe(true);
    expect(isSoftwareAdapter({ vendor: 'google', architecture: '', device: '', description: 'SwiftShader Device (Subzero)' })).toBe(true);
  });

  test('flags are specialized unless the adapter is software (or GRADLENS_SPECIALIZE says)', () => {
    const rt = runtime();
    const forced = process.env.GRADLENS_SPECIALIZE;
    const expected = forced ? forced === '1' || forced === 'true' : !isSoftwareAdapter(rt.handle.adapterInfo);
    expect(rt.handle.specializeFlags).toBe(expected);
  });

  test('gemm and conv2d stage tiles in workgroup memory unless the adapter is software (or GRADLENS_WORKGROUP_TILES says)', async () => {
    const rt = runtime();
    const forced = process.env.GRADLENS_WORKGROUP_TILES;
    const expected = forced ? forced === '1' || forced === 'true' : !isSoftwareAdapter(rt.handle.adapterInfo);
    expect(rt.handle.workgroupTiles).toBe(expected);
    expect(rt.workgroupTiles).toBe(expected);
    // Both kernels of each, same products: a 1x1 conv (gemm) and a 3x3 conv (conv2d).
    const saved = rt.workgroupTiles;
    const x = random([1, 6, 7, 9], 1);
    const w1 = random([10, 6, 1, 1], 2);
    const w3 = random([10, 6, 3, 3], 3);
    const run = async (tiles: boolean) => {
      rt.workgroupTiles = tiles;
      try {
        return await scopeAsync(async () => [await conv2dForward(x, w1, null, {}).data(), await conv2dForward(x, w3, null, { pads: [1, 1, 1, 1] }).data()]);
      } finally {
        rt.workgroupTiles = saved;
      }
    };
    const [tiled, direct] = [await run(true), await run(false)];
    for (const t of [x, w1, w3]) t.dispose();
    for (let i = 0; i < 2; i++) expect(compare(direct[i], tiled[i], { rtol: 1e-5, atol: 1e-5 })).toBeNull();
  });
});

describe('conv2d pipelines', () => {
  // Two implicit-GEMM convs with the same tile shape (64 x 16, K slices of 16)
  // that differ in every flag: VEC_W (K = 36 vs 27), VEC_OUT (16 vs 15 output
  // pixels) and ACT. Uncommon combinations, so that specialized they are new
  // pipelines even after other test files ran.
  const cases: { x: number[]; w: number[]; act: Activation }[] = [
    { x: [1, 4, 4, 4], w: [64, 4, 3, 3], act: { kind: 'sigmoid' } },
    { x: [1, 3, 3, 5], w: [64, 3, 3, 3], act: { kind: 'clip', alpha: -0.5, beta: 0.7 } },
  ];

  /** Runs the two convs; returns their outputs and the pipelines each created. */
  async function runBoth(): Promise<{ outputs: Float32Array[]; created: number[] }> {
    const rt = runtime();
    const outputs: Float32Array[] = [];
    const created: number[] = [];
    for (const [i, c] of cases.entries()) {
      await scopeAsync(async () => {
        const x = random(c.x, 10 + i);
        const w = random(c.w, 20 + i);
        const b = random([c.w[0]], 30 + i);
        const before = rt.pipelineCount;
        const y = conv2dForward(x, w, b, { pads: [1, 1, 1, 1], activation: c.act });
        created.push(rt.pipelineCount - before);
        outputs.push(await y.data());
      });
    }
    return { outputs, created };
  }

  test('with dynamic flags, convs that differ only in flags share one pipeline; specialized, they do not', async () => {
    const rt = runtime();
    const saved = rt.specializeFlags;
    const run = async (specialize: boolean) => {
      rt.specializeFlags = specialize;
      try {
        return await runBoth();
      } finally {
        rt.specializeFlags = saved;
      }
    };
    const dynamic = await run(false);
    const specialized = await run(true);
    expect(dynamic.created[0]).toBeLessThanOrEqual(1); // the tile shape's one pipeline, unless an earlier test made it
    expect(dynamic.created[1]).toBe(0);
    expect(specialized.created[1]).toBe(1);

    // Both paths compute the same thing.
    for (let i = 0; i < cases.length; i++) {
      expect(compare(dynamic.outputs[i], specialized.outputs[i], { rtol: 1e-6, atol: 1e-6 })).toBeNull();
    }
  });
});

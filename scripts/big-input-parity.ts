// PP-OCRv4 text detector at a large input (default 2080 x 2080) on the engine
// against onnxruntime (CPU): issue 10's check that tensors past the adapter's
// binding limit run (engine/ops/split.ts). Prints times, RSS, the ops that ran
// in parts and the error relative to the output range (exit 1 above 1e-3).
// Usage: node scripts/run-ts.mjs scripts/big-input-parity.ts [size=2080] [--no-ort]
// (GRADLENS_MAX_BINDING_BYTES=<bytes> lowers the limit: 33554432 at 1056 cuts
// the same tensors as the real 128 MiB at 2080, at a quarter of the cost.)
//
// Figures, lavapipe (llvmpipe, LLVM 15), 2 cores shared with other jobs, cold
// (the first forward compiles its pipelines; wall times vary with the load):
//   2080 x 2080, 128 MiB limit: forward 253 s wall, 181 s CPU, peak RSS 2.0 GiB;
//     in parts: 4 convs (1x1 and depthwise, over output channels) and 16
//     elementwise ops on the [1, 32, 1040, 1040] tensors (132 MiB); relative
//     error 2.4e-4 (onnxruntime CPU: 3 s). Load + prepare + dry-run check 0.1 s.
//     Before: failed after encoding (~900 MB RSS) with a WebGPU binding error.
//   1056 x 1056, adapter limit (nothing split): 35.5 s wall, 55.9 s CPU, 704 MiB;
//   1056 x 1056, limit lowered to 32 MiB (same ops split): 58.6 s wall, 49.8 s
//     CPU, 700 MiB; identical output (5.6e-5 from onnxruntime either way).
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { init, runtime, scopeAsync, tensor } from '../engine/index.js';
import { splitCounts } from '../engine/ops/split.js';
import { loadOnnx } from '../importers/onnx/index.js';

const size = Number(process.argv[2] ?? 2080);
if (!Number.isInteger(size) || size % 32) throw new Error(`size ${process.argv[2]}: PP-OCRv4 needs a multiple of 32`);
const withOrt = !process.argv.includes('--no-ort');
const models = process.env.GRADLENS_MODELS ?? resolve('../shared/models');
const bytes = readFileSync(resolve(models, 'ch_PP-OCRv4_det_infer.onnx'));
const shape = [1, 3, size, size];
const mb = (b: number) => `${(b / 2 ** 20).toFixed(0)} MiB`;

/** A white page with lines of dark glyph-like strokes, ImageNet-normalized (DBNet fires on it). */
function page(h: number, w: number): Float32Array {
  const mean = [0.485, 0.456, 0.406];
  const std = [0.229, 0.224, 0.225];
  const out = new Float32Array(3 * h * w);
  for (let c = 0; c < 3; c++) {
    for (let y = 0; y < h; y++) {
      const inLine = y % 48 >= 20 && y % 48 < 34;
      for (let x = 0; x < w; x++) {
        const glyph = inLine && x >= 12 && x < w - 12 && x % 8 < 5 && x % 40 <= 32;
        out[(c * h + y) * w + x] = ((glyph ? 0.05 : 0.95) - mean[c]) / std[c];
      }
    }
  }
  return out;
}

const input = page(size, size);
await init();
const limits = runtime().handle.limits;
console.log(`adapter: ${runtime().adapterDescription}`);
const lowered = runtime().maxBindingBytes < limits.maxStorageBufferBindingSize ? ` (lowered to ${mb(runtime().maxBindingBytes)} by GRADLENS_MAX_BINDING_BYTES)` : '';
console.log(`binding limit ${mb(limits.maxStorageBufferBindingSize)}${lowered}, buffer limit ${mb(limits.maxBufferSize)}; input ${shape.join('x')}`);
let t = performance.now();
const model = await loadOnnx(bytes, { inputShapes: { x: shape } });
console.log(`load + prepare: ${(performance.now() - t).toFixed(0)} ms`);
let peakRss = 0;
const sampler = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 50);
t = performance.now();
const cpu = process.cpuUsage();
const ours = await scopeAsync(async () => {
  const { outputs } = model.run({ x: tensor(input, shape) });
  const [name, y] = Object.entries(outputs)[0];
  return { name, data: await y.data() };
});
const gpuMs = performance.now() - t;
clearInterval(sampler);
peakRss = Math.max(peakRss, process.memoryUsage().rss);
const cpuS = (({ user, system }) => (user + system) / 1e6)(process.cpuUsage(cpu));
console.log(`engine forward: ${(gpuMs / 1000).toFixed(1)} s wall (${cpuS.toFixed(1)} s CPU, all threads), peak RSS ${mb(peakRss)}`);
const parts = [...splitCounts.entries()].map(([k, n]) => `${k} x${n}`).join(', ');
console.log(`ops run in parts: ${parts || 'none'}`);
model.dispose();
if (withOrt) {
  const { InferenceSession, Tensor } = await import('onnxruntime-node');
  const session = await InferenceSession.create(bytes, { executionProviders: ['cpu'] });
  t = performance.now();
  const result = await session.run({ x: new Tensor('float32', input, shape) });
  console.log(`onnxruntime forward: ${((performance.now() - t) / 1000).toFixed(1)} s`);
  const want = result[ours.name].data as Float32Array;
  let [lo, hi, worst] = [Infinity, -Infinity, 0];
  for (let i = 0; i < want.length; i++) {
    lo = Math.min(lo, want[i]);
    hi = Math.max(hi, want[i]);
    worst = Math.max(worst, Math.abs(ours.data[i] - want[i]));
  }
  const relative = worst / (hi - lo);
  console.log(`${ours.name}: max |ours - onnxruntime| = ${worst.toExponential(2)}, range [${lo.toFixed(3)}, ${hi.toFixed(3)}], relative ${relative.toExponential(2)}`);
  await session.release();
  if (!(relative <= 1e-3)) process.exitCode = 1;
}
process.exit();

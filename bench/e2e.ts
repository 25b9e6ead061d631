// End-to-end explanations per model, with where their time goes:
// forward, detect, Grad-CAM, Grad-CAM++, LayerCAM, Eigen-CAM, Score-CAM (on a
// few channels: see `scorecamChannels`) and every detection of the image
// (explainDetections). Each step: wall clock (median of `reps` after its first run and
// `warmup` more, host data to host data), then one run under runtime().profile()
// for the GPU time of every dispatch (timestamp queries; one compute pass per
// dispatch, so that run's wall is a little longer). GPU time summed per kernel
// names the dominant kernel; wall minus GPU time is what the host spends
// (encoding, dispatch, uploads, readback waits, CPU work such as NMS or the
// Eigen-CAM SVD): when that gap is larger than any kernel, overhead dominates.

import type { KernelTiming, Precision } from '../engine/index.js';
import { detectInput } from '../explainers/index.js';
import { benchModel, explainAll, explainTop, gradlensForward, modelPath, type BenchModel } from './models.js';
import { interleaved, MODEL_FILES, sharedDevice, wallMs } from './shared-device.js';

export interface KernelShare {
  kernel: string;
  ms: number;
  dispatches: number;
  /** Share of the step's GPU time. */
  share: number;
}

export interface E2eRow {
  model: string;
  step: string;
  /** Median wall ms (unprofiled) and the samples. */
  wall_ms: number;
  samples: number[];
  /** The first run of the step in this process (pipeline compilation included). */
  first_ms: number;
  /** Summed GPU time of the profiled run's dispatches, and that run's wall. */
  gpu_ms: number;
  profiled_wall_ms: number;
  dispatches: number;
  /** Queue submissions of the profiled run (each readback or sync submits). */
  submits: number;
  /** profiled_wall_ms - gpu_ms: host-side time (encoding, dispatch, uploads, readback latency, CPU work), from the same run. */
  overhead_ms: number;
  kernels: KernelShare[];
  /** The dominant kernel, or 'host overhead' when the gap exceeds every kernel. */
  dominant: string;
  note?: string;
}

export interface E2eOptions {
  reps: number;
  warmup: number;
  models: string[];
  /** Steps to run (default all): forward, detect, gradcam, gradcam++, layercam, eigencam, scorecam, detections. */
  steps: string[];
  /** Score-CAM weighs only the first k channels of each layer (all when 0). */
  scorecamChannels: number;
  /** Kernels listed per step. */
  top: number;
  /** The models' storage (LoadOptions.precision); default f32. */
  precision?: Precision;
  log: (line: string) => void;
}

export const E2E_STEPS = ['forward', 'detect', 'gradcam', 'gradcam++', 'layercam', 'eigencam', 'scorecam', 'detections'];

function byKernel(kernels: readonly KernelTiming[]): KernelShare[] {
  const total = kernels.reduce((a, k) => a + k.ms, 0);
  const map = new Map<string, KernelShare>();
  for (const k of kernels) {
    const e = map.get(k.kernel) ?? { kernel: k.kernel, ms: 0, dispatches: 0, share: 0 };
    e.ms += k.ms;
    e.dispatches++;
    map.set(k.kernel, e);
  }
  return [...map.values()].map((e) => ({ ...e, share: total ? e.ms / total : 0 })).sort((a, b) => b.ms - a.ms);
}

function stepsOf(m: BenchModel, opts: E2eOptions): { step: string; run: () => Promise<unknown>; note?: string }[] {
  const out: { step: string; run: () => Promise<unknown>; note?: string }[] = [];
  const where = m.head ? `top detection (${m.detections[0]?.className ?? 'none'}) at the ${m.layers.length} head layer(s)` : `top class at ${m.layers[0]}`;
  const want = (s: string) => opts.steps.includes(s);
  if (want('forward')) out.push({ step: 'forward', run: gradlensForward(m), note: 'upload, run, read every output' });
  if (m.head && want('detect')) out.push({ step: 'detect', run: () => detectInput(m.model, m.input, { head: m.head }), note: `forward, decode, NMS: ${m.detections.length} detections` });
  for (const method of ['gradcam', 'gradcam++', 'layercam', 'eigencam']) {
    if (want(method)) out.push({ step: method, run: () => explainTop(m, method), note: where });
  }
  if (want('scorecam')) {
    const k = opts.scorecamChannels;
    const channels = k > 0 ? Array.from({ length: k }, (_, i) => i) : undefined;
    out.push({ step: k > 0 ? `scorecam (${k} ch)` : 'scorecam', run: () => explainTop(m, 'scorecam', { channels }), note: `${where}; ${k > 0 ? `channels 0..${k - 1} of each layer` : 'all channels'}` });
  }
  if (m.head && want('detections') && m.detections.length) {
    out.push({ step: `detections (${m.detections.length})`, run: () => explainAll(m, 'gradcam'), note: 'explainDetections, Grad-CAM: one shared forward, a backward per detection, each at its head layer' });
  }
  return out;
}

export async function benchE2e(opts: E2eOptions): Promise<E2eRow[]> {
  const { rt } = await sharedDevice();
  const rows: E2eRow[] = [];
  for (const short of opts.models) {
    const entry = MODEL_FILES.find((f) => f.name === short);
    if (!entry) throw new Error(`unknown model '${short}' (known: ${MODEL_FILES.map((f) => f.name).join(', ')})`);
    const path = modelPath(entry.file);
    if (typeof path !== 'string') {
      opts.log(`${short}: ${path.skip}`);
      continue;
    }
    const m = await benchModel(short, path, opts.precision);
    opts.log(`${short}: ${m.kind.kind}, layers ${m.layers.join(', ')}${m.head ? `, ${m.detections.length} detections` : ''}`);
    for (const s of stepsOf(m, opts)) {
      const first = await wallMs(s.run);
      const [t] = await interleaved([s.run], opts);
      const submits0 = rt.submits;
      const t0 = performance.now();
      const { kernels } = await rt.profile(() => s.run());
      const profiledWall = performance.now() - t0;
      // Submissions of the profiled run (profiling adds one per 2048 dispatches at most).
      const submits = rt.submits - submits0;
      const gpu = kernels.reduce((a, k) => a + k.ms, 0);
      const shares = byKernel(kernels);
      // Host time from the profiled run itself (its wall and its dispatches' GPU time).
      const overhead = profiledWall - gpu;
      const dominant = shares.length && shares[0].ms >= overhead ? shares[0].kernel : 'host overhead';
      const row: E2eRow = {
        model: short,
        step: s.step,
        wall_ms: t.ms,
        samples: t.samples,
        first_ms: first,
        gpu_ms: gpu,
        profiled_wall_ms: profiledWall,
        dispatches: kernels.length,
        submits,
        overhead_ms: overhead,
        kernels: shares.slice(0, opts.top),
        dominant,
        note: s.note,
      };
      rows.push(row);
      const top3 = shares.slice(0, 3).map((k) => `${k.kernel} ${k.ms.toFixed(0)} ms (${(k.share * 100).toFixed(0)}%, ${k.dispatches}x)`).join('; ');
      opts.log(
        `${short} ${s.step.padEnd(18)} wall ${t.ms.toFixed(0).padStart(6)} ms (first ${first.toFixed(0)}), GPU ${gpu.toFixed(0).padStart(6)} ms in ${kernels.length} dispatches, ` +
          `host ${overhead.toFixed(0)} ms, ${submits} submits; top: ${top3}`,
      );
    }
    m.model.dispose();
  }
  return rows;
}

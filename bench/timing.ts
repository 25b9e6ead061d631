// GPU timing for benchmarks: run a step repeatedly under runtime().profile()
// and take the median of the per-step GPU time (sum of the step's kernels,
// from timestamp queries).

import { runtime } from '../engine/index.js';

export interface Timing {
  /** Median GPU milliseconds of one step. */
  ms: number;
  /** All samples, sorted. */
  samples: number[];
  /** Kernels of one step, in order. */
  kernels: string[];
}

export function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** `step` must dispatch the same kernels every call and dispose what it creates. */
export async function timeGpu(step: () => void, options: { warmup?: number; reps?: number } = {}): Promise<Timing> {
  const warmup = options.warmup ?? 3;
  const reps = options.reps ?? 20;
  for (let i = 0; i < warmup; i++) step();
  await runtime().sync();
  const { kernels } = await runtime().profile(() => {
    for (let i = 0; i < reps; i++) step();
  });
  if (kernels.length % reps !== 0) throw new Error(`timeGpu: ${kernels.length} kernel timings for ${reps} steps`);
  const perStep = kernels.length / reps;
  const samples: number[] = [];
  for (let i = 0; i < reps; i++) {
    let ms = 0;
    for (let k = 0; k < perStep; k++) ms += kernels[i * perStep + k].ms;
    samples.push(ms);
  }
  samples.sort((a, b) => a - b);
  return { ms: median(samples), samples, kernels: kernels.slice(0, perStep).map((k) => k.kernel) };
}

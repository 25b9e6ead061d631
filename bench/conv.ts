// Conv benchmark: forward, grad_input and grad_weight of every distinct conv
// layer shape of YOLOv5n (640) and ResNet-18 (224), next to the best matmul at
// the forward's GEMM size and the naive direct conv (the floor). GPU time
// comes from timestamp queries (median of `reps` after `warmup`).

import { keep, numel, runtime, scopeAsync, Tensor, tensor, type Runtime, type Precision } from '../engine/index.js';
import { seededRandom } from '../engine/random.js';
import { conv2dForward, conv2dGradInput, conv2dGradWeight, conv2dNaive } from '../engine/ops/conv-kernels.js';
import { bestMatmul } from '../engine/ops/gemm.js';
import { convModels, type ConvLayer } from './shapes.js';
import { timeGpu } from './timing.js';
import { convFlops, convGeometry, type ConvOptions } from '../engine/geometry/conv.js';

export type Pass = 'forward' | 'grad_input' | 'grad_weight' | 'matmul' | 'naive';

export interface ConvRecord {
  model: string;
  layer: string;
  /** How many times the shape occurs in the model (totals weight by it). */
  count: number;
  pass: Pass;
  shape: string;
  gflop: number;
  ms: number;
  gflops: number;
}

export interface ConvBenchOptions {
  batch: number;
  models: string[];
  passes: Pass[];
  reps: number;
  warmup: number;
  /** Only layers whose name contains this. */
  filter?: string;
  /** Storage of every tensor (f16 needs shader-f16); default f32. */
  precision?: Precision;
  log?: (line: string) => void;
}

let dtype: Precision = 'f32';
function randomTensor(shape: number[], seed: number): Tensor {
  const random = seededRandom(seed);
  return tensor(Float32Array.from({ length: numel(shape) }, () => random() - 0.5), shape, { dtype });
}

function describe(l: ConvLayer, batch: number): string {
  return `${batch}x${l.c}x${l.h}x${l.w} * ${l.o}x${l.c / l.groups}x${l.k[0]}x${l.k[1]} s${l.stride.join(',')} p${l.pads.join(',')} g${l.groups}`;
}

export async function benchConv(opts: ConvBenchOptions): Promise<ConvRecord[]> {
  dtype = opts.precision ?? 'f32';
  const rt: Runtime = runtime();
  const records: ConvRecord[] = [];
  const log = opts.log ?? (() => {});
  for (const model of opts.models) {
    const layers = convModels[model];
    if (!layers) throw new Error(`unknown model '${model}' (known: ${Object.keys(convModels).join(', ')})`);
    for (const l of layers) {
      if (opts.filter && !l.layer.includes(opts.filter)) continue;
      const options: ConvOptions = { strides: l.stride, pads: l.pads, groups: l.groups, dilations: l.dilation ?? [1, 1] };
      const xShape = [opts.batch, l.c, l.h, l.w];
      const wShape = [l.o, l.c / l.groups, l.k[0], l.k[1]];
      const g = convGeometry('conv2d', xShape, wShape, options);
      const gflop = convFlops(g) / 1e9;
      const x = keep(randomTensor(xShape, 1));
      const w = keep(randomTensor(wShape, 2));
      const dy = keep(randomTensor([g.batch, g.outC, g.outH, g.outW], 3));
      // GEMM of the forward, per group: [N*OH*OW, I*KH*KW] x [I*KH*KW, O/groups].
      const m = g.batch * g.outH * g.outW;
      const k = g.groupInC * g.kernelH * g.kernelW;
      const n = g.groupOutC;
      const a = opts.passes.includes('matmul') ? keep(randomTensor([g.groups * m * k], 4)) : null;
      const b = opts.passes.includes('matmul') ? keep(randomTensor([g.groups * k * n], 5)) : null;
      const steps: Record<Pass, () => void> = {
        forward: () => conv2dForward(x, w, null, options).dispose(),
        grad_input: () => conv2dGradInput(dy, w, xShape, options).dispose(),
        grad_weight: () => conv2dGradWeight(x, dy, wShape, options).dispose(),
        matmul: () => bestMatmul(a!, b!, m, n, k, g.groups).dispose(),
        naive: () => conv2dNaive(x, w, null, options).dispose(),
      };
      for (const pass of opts.passes) {
        const t = await scopeAsync(() => timeGpu(steps[pass], { reps: opts.reps, warmup: opts.warmup }));
        const rec: ConvRecord = { model, layer: l.layer, count: l.count, pass, shape: describe(l, opts.batch), gflop, ms: t.ms, gflops: gflop / (t.ms / 1e3) };
        records.push(rec);
        log(`${model} ${l.layer.padEnd(28)} ${pass.padEnd(11)} ${rec.shape.padEnd(44)} ${t.ms.toFixed(3).padStart(9)} ms ${rec.gflops.toFixed(1).padStart(9)} GFLOP/s`);
      }
      for (const t of [x, w, dy, a, b]) t?.dispose();
      await rt.sync();
    }
  }
  return records;
}

export interface PassTotal {
  model: string;
  pass: Pass;
  gflop: number;
  ms: number;
  gflops: number;
}

/** Whole-model totals per pass, each layer weighted by how often it occurs. */
export function totals(records: ConvRecord[]): PassTotal[] {
  const out = new Map<string, PassTotal>();
  for (const r of records) {
    const key = `${r.model}/${r.pass}`;
    const t = out.get(key) ?? { model: r.model, pass: r.pass, gflop: 0, ms: 0, gflops: 0 };
    t.gflop += r.gflop * r.count;
    t.ms += r.ms * r.count;
    t.gflops = t.gflop / (t.ms / 1e3);
    out.set(key, t);
  }
  return [...out.values()];
}

// The fuzzer's engine, shared by scripts/fuzz.ts (CLI, worker processes with a
// watchdog) and test/onnx/fuzz-script.test.ts (a few cases in-process).
//
// A case is fully determined by (seed, id, model list): its model, mutation and
// input are drawn from a random source seeded by both, so `--case K` replays it
// alone. Each case runs the stages
//   decode  -> decodeModel(bytes)
//   prepare -> prepareGraph(model, { inputShapes })      (CPU only)
//   load    -> new OnnxGraphModel(model)                  (plan, fusions, weight upload)
//   run     -> model.run(seeded input) + read every output back
//   sync    -> runtime().sync(): deferred GPU errors surface here
// and ends 'ok' or with the first error, classified by class name. An error is
// typed when it is a GradlensError (the project's base error class); anything
// else (TypeError, RangeError, a plain Error, a non-Error) is untyped.

import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
// engine/index.js first: the engine's own entry fixes the order its modules initialize in.
import { GradlensError, init, LayerNotFound, runtime, Tensor } from '../../engine/index.js';
import * as engineErrors from '../../engine/errors.js';
import * as explainErrors from '../../explainers/errors.js';
import * as onnxErrors from '../../importers/onnx/errors.js';
import { prepareGraph, type PreparedGraph } from '../../importers/onnx/graph.js';
import { OnnxGraphModel } from '../../importers/onnx/model.js';
import { supportedOps } from '../../importers/onnx/ops/index.js';
import { decodeModel, type Dim, type OnnxModel } from '../../importers/onnx/proto.js';
import { seededRandom } from '../../engine/random.js';
import { encodeModel, modelSpec } from './encode.js';
import { byteMutations, lengthFields, pick, structuralMutations, type Random } from './mutate.js';

// ---- models ---------------------------------------------------------------------------

export interface ModelFile {
  name: string;
  path: string;
}

/** Harness input shapes for inputs with dynamic dimensions (by file): the model's own size, or a small one. */
const HARNESS_SHAPES: Record<string, Record<string, number[]>> = {
  'ch_ppocr_mobile_v2.0_cls_infer.onnx': { x: [1, 3, 48, 192] },
  // A DBNet takes any multiple of 32: 64x64 keeps a forward around 0.4 s on lavapipe.
  'ch_PP-OCRv4_det_infer.onnx': { x: [1, 3, 64, 64] },
};

function onnxFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  const out: string[] = [];
  for (const e of readdirSync(dir).sort()) {
    const p = join(dir, e);
    if (statSync(p).isDirectory()) out.push(...onnxFiles(p));
    else if (e.endsWith('.onnx')) out.push(p);
  }
  return out;
}

/**
 * Every .onnx of ../shared/models (GRADLENS_MODELS overrides it) and the
 * committed ones (test/fixtures, explainers/assets), by file name, shared copy
 * first. Sorted by name so case ids mean the same thing on every machine that
 * has the same files.
 */
export function discoverModels(root = process.cwd(), log: (s: string) => void = console.log): ModelFile[] {
  const shared = process.env.GRADLENS_MODELS ?? resolve(root, '../shared/models');
  const found = new Map<string, string>();
  const sharedFiles = onnxFiles(shared);
  if (!sharedFiles.length) log(`[fuzz] ${shared} has no .onnx files (absent?): only the committed models are fuzzed`);
  for (const p of [...sharedFiles, ...onnxFiles(resolve(root, 'test/fixtures')), ...onnxFiles(resolve(root, 'explainers/assets'))]) {
    if (!found.has(basename(p))) found.set(basename(p), p);
  }
  return [...found].map(([name, path]) => ({ name, path })).sort((a, b) => (a.name < b.name ? -1 : 1));
}

/** What one unmutated model looks like, to size and compare its mutants. */
export interface Baseline {
  name: string;
  path: string;
  bytes: Uint8Array;
  decoded: OnnxModel;
  /** Offsets of the file's length prefixes (targets of byte mutations). */
  fields: number[];
  /** Input shapes passed to prepare for inputs with dynamic dimensions. */
  harness: Record<string, number[]>;
  inputs: { name: string; shape: number[] }[];
  /** Work proxy of one forward (multiply-adds, see graphWork) and elements written. */
  work: number;
  activations: number;
  /** Probability that a case of this model that loads also runs its forward (big models are sampled). */
  runProbability: number;
  /** Whether encode(decode(file)) decodes and prepares like the file (structural mutations rely on it). */
  roundTrip: boolean;
  /**
   * Milliseconds of the unmutated model's first forward in this process (load,
   * run on the harness input, read back, sync: pipelines compiled cold), when
   * measured (FuzzOptions.measureForward); what caseTimeoutS scales.
   */
  forwardMs?: number;
}

const numel = (s: readonly number[]) => s.reduce((n, d) => n * d, 1);

/**
 * Multiply-adds of one forward, roughly: each node's output elements times, for
 * Conv, ConvTranspose, Gemm and MatMul with a constant weight of rank >= 2, the
 * weight's elements per output channel. Deterministic, unlike a timing, so the
 * decision to run a case is replayable.
 */
const WEIGHTED_OPS = new Set(['Conv', 'ConvTranspose', 'Gemm', 'MatMul']);

export function graphWork(g: PreparedGraph): { work: number; activations: number } {
  let work = 0;
  let activations = 0;
  for (const { node } of g.nodes) {
    const out = node.outputs.reduce((n, name) => n + (name ? numel(g.tensors.get(name)?.shape ?? []) : 0), 0);
    const w = node.inputs[1] ? g.tensors.get(node.inputs[1]) : undefined;
    let per = 1;
    if (WEIGHTED_OPS.has(node.opType) && w?.value && w.shape.length >= 2) per = numel(w.shape) / Math.max(1, w.shape[0]);
    else if (node.opType === 'MatMul') per = g.tensors.get(node.inputs[0])?.shape.at(-1) ?? 1;
    work += out * per;
    activations += out;
  }
  return { work, activations };
}

export interface FuzzOptions {
  seed: number;
  /** Per-case budget of forward work: models above it run their forward on a sample of cases (probability budget / work). */
  runBudget: number;
  /** Only decode and prepare (no GPU). */
  noRun: boolean;
  /** Mutation kinds to draw from (default: all, weighted by KIND_WEIGHTS). */
  kinds?: string[];
  /** Time each model's first clean forward (Baseline.forwardMs) when the fuzzer is created: the watchdog's default timeout scales with it. */
  measureForward?: boolean;
}

/**
 * The watchdog's default per-case timeout (scripts/fuzz.ts without --timeout):
 * HANG_FACTOR times the seed model's first clean forward, measured in the same
 * worker (so it grows with the machine's load), and at least MIN_HANG_S
 * seconds. A mutant may be up to 4x its seed's work (larger ones are skipped)
 * and compile pipelines of its own, as the cold measurement did.
 */
export const HANG_FACTOR = 10;
export const MIN_HANG_S = 60;

/** Seconds before a case of a model whose first clean forward took `forwardMs` counts as a hang (the floor when not measured). */
export function caseTimeoutS(forwardMs: number | undefined): number {
  return Math.max(MIN_HANG_S, Math.ceil((HANG_FACTOR * (forwardMs ?? 0)) / 1000));
}

/** Default per-case forward budget: ~2.5e8 multiply-adds, a forward of about 0.6 s on lavapipe. */
export const DEFAULT_RUN_BUDGET = 2.5e8;

/** How often each mutation kind is drawn (byte-level 40%, structural 60%). */
export const KIND_WEIGHTS: Record<string, number> = {
  bitflip: 10,
  truncate: 10,
  lengthField: 10,
  splice: 10,
  attribute: 14,
  intValues: 7,
  tensorDims: 6,
  opType: 6,
  dangle: 6,
  valueDims: 5,
  initLength: 4,
  dropNode: 4,
  retype: 4,
  opset: 4,
};

function harnessShapes(name: string, m: OnnxModel): Record<string, number[]> {
  const inits = new Set(m.graph.initializers.map((t) => t.name));
  const out: Record<string, number[]> = {};
  for (const v of m.graph.inputs) {
    if (inits.has(v.name) || !v.shape) continue;
    if (v.shape.every((d) => typeof d === 'number' && d > 0)) continue;
    out[v.name] = HARNESS_SHAPES[name]?.[v.name] ?? v.shape.map((d, i) => (typeof d === 'number' && d > 0 ? d : i === 0 ? 1 : i === 1 && v.shape!.length === 4 ? 3 : 64));
  }
  return out;
}

export async function loadBaseline(file: ModelFile, options: FuzzOptions): Promise<Baseline> {
  const bytes = new Uint8Array(readFileSync(file.path));
  const decoded = decodeModel(bytes);
  const harness = harnessShapes(file.name, decoded);
  const g = prepareGraph(decoded, { inputShapes: harness });
  const { work, activations } = graphWork(g);
  let roundTrip = false;
  try {
    const again = decodeModel(encodeModel(modelSpec(decoded)));
    const g2 = prepareGraph(again, { inputShapes: harness });
    roundTrip = g2.nodes.length === g.nodes.length && graphWork(g2).work === work && again.graph.initializers.length === decoded.graph.initializers.length;
  } catch {
    roundTrip = false;
  }
  return {
    name: file.name,
    path: file.path,
    bytes,
    decoded,
    fields: lengthFields(bytes),
    harness,
    inputs: g.inputs.map((i) => ({ name: i.name, shape: [...i.shape] })),
    work,
    activations,
    runProbability: Math.min(1, options.runBudget / Math.max(1, work)),
    roundTrip,
  };
}

/** Milliseconds of one forward of the unmutated model: load, run on a constant input, read every output back, sync. */
async function cleanForwardMs(b: Baseline): Promise<number> {
  const start = performance.now();
  const model = new OnnxGraphModel(b.decoded, { inputShapes: Object.keys(b.harness).length ? b.harness : undefined });
  const inputs: Tensor[] = [];
  try {
    const feeds: Record<string, Tensor> = {};
    for (const input of model.inputs) {
      const x = Tensor.fromData(new Float32Array(numel(input.shape)).fill(0.5), input.shape);
      inputs.push(x);
      feeds[input.name] = x;
    }
    const { outputs } = model.run(feeds);
    try {
      for (const t of Object.values(outputs)) await t.data();
    } finally {
      for (const t of Object.values(outputs)) t.dispose();
    }
    await runtime().sync();
  } finally {
    for (const x of inputs) x.dispose();
    model.dispose();
  }
  return performance.now() - start;
}

// ---- cases ----------------------------------------------------------------------------

/** A random source for case `id` under `seed` (independent of every other case). */
export function caseRandom(seed: number, id: number): Random {
  let h = Math.imul((seed | 0) ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(id + 0x632be5ab, 0xc2b2ae35);
  h ^= h >>> 16;
  h = Math.imul(h, 0x7feb352d);
  h ^= h >>> 15;
  return seededRandom(h >>> 0);
}

function weightedPick(random: Random, weights: Record<string, number>, only?: string[]): string {
  const entries = Object.entries(weights).filter(([k]) => !only || only.includes(k));
  const total = entries.reduce((s, [, w]) => s + w, 0);
  let r = random() * total;
  for (const [k, w] of entries) if ((r -= w) < 0) return k;
  return entries[entries.length - 1][0];
}

/** 'unknown': a hang or crash, stopped by the watchdog in another process. */
export type Stage = 'mutate' | 'decode' | 'prepare' | 'load' | 'run' | 'sync' | 'done' | 'unknown';

export interface CaseResult {
  id: number;
  model: string;
  kind: string;
  what: string;
  /** 'ok', or the error's class name. */
  outcome: string;
  typed: boolean;
  /** The stage that threw ('done' when ok). */
  stage: Stage;
  message?: string;
  stack?: string;
  /** Whether the forward ran; when not, why (failed before, sampled out, too large, --no-run). */
  ran: boolean;
  skipped?: 'sampled' | 'too-large' | 'no-run';
  /** Milliseconds per stage, and in all. */
  ms: Partial<Record<Stage, number>>;
  total: number;
  /** Buffer pool after the case (model disposed), and live buffers the case left behind. */
  pool: { liveBuffers: number; liveBytes: number; freeBuffers: number; freeBytes: number; created: number };
  leakedBuffers: number;
  rss: number;
  /** Every 100th case of a worker: memory after a garbage collection, and the runtime's compiled pipelines (scripts/fuzz.ts). */
  rssAfterGc?: number;
  memory?: { heapUsed: number; external: number; arrayBuffers: number; pipelines: number };
  /** Set by the watchdog (scripts/fuzz.ts). */
  hang?: boolean;
  crash?: string;
}

/** Class names of every exported error class, by constructor (bundlers may rename classes). */
const ERROR_NAMES = new Map<unknown, string>();
for (const ns of [engineErrors, onnxErrors, explainErrors, { LayerNotFound }]) {
  for (const [name, value] of Object.entries(ns)) {
    if (typeof value === 'function' && (value === Error || value.prototype instanceof Error)) ERROR_NAMES.set(value, name);
  }
}

export function errorName(e: unknown): string {
  if (e instanceof Error) {
    const known = ERROR_NAMES.get(e.constructor);
    if (known) {
      // GPU validation errors are wrapped in the base class by the runtime: keep them apart.
      if (known === 'GradlensError' && /^(WebGPU error|readback failed)/.test(e.message)) return 'GradlensError(WebGPU)';
      return known;
    }
    return e.constructor?.name || e.name || 'Error';
  }
  return `non-Error ${e === null ? 'null' : typeof e}`;
}

/** Typed errors that still deserve a look: a GPU validation error or a shader that fails to compile means the engine let a bad launch through. */
export const SUSPICIOUS = new Set(['GradlensError(WebGPU)', 'KernelCompileError', 'DeviceLost']);

export class Fuzzer {
  readonly baselines: Baseline[] = [];
  private readonly ops = supportedOps();

  private constructor(readonly options: FuzzOptions) {}

  /** Decodes, prepares and measures every model (unmutated); a model that fails is reported and left out. */
  static async create(files: ModelFile[], options: FuzzOptions, log: (s: string) => void = console.log): Promise<Fuzzer> {
    const f = new Fuzzer(options);
    if (!options.noRun) await init();
    for (const file of files) {
      let b: Baseline;
      try {
        b = await loadBaseline(file, options);
        if (!b.roundTrip) log(`[fuzz] ${file.name}: re-encoding does not round-trip; structural mutations of it are still run but may be noisier`);
        f.baselines.push(b);
      } catch (e) {
        log(`[fuzz] ${file.name}: the unmutated model does not prepare (${errorName(e)}: ${(e as Error).message}); left out`);
        continue;
      }
      if (options.measureForward && !options.noRun) {
        try {
          b.forwardMs = await cleanForwardMs(b);
        } catch (e) {
          log(`[fuzz] ${file.name}: the unmutated model's forward failed (${errorName(e)}: ${(e as Error).message}); its cases get the ${MIN_HANG_S} s floor`);
        }
      }
    }
    if (!f.baselines.length) throw new Error('no model to fuzz');
    return f;
  }

  /** Compute pipelines the runtime has created (0 with --no-run). */
  pipelineCount(): number {
    return this.options.noRun ? 0 : runtime().pipelineCount;
  }

  /** The case's model, mutation and mutated bytes (no GPU). */
  mutate(id: number): { base: Baseline; kind: string; what: string; bytes: Uint8Array; random: Random } {
    const random = caseRandom(this.options.seed, id);
    const base = pick(random, this.baselines);
    let kind = weightedPick(random, KIND_WEIGHTS, this.options.kinds);
    for (let attempt = 0; ; attempt++) {
      if (kind in byteMutations) {
        const { bytes, what } = byteMutations[kind](base.bytes, random, base.fields);
        return { base, kind, what, bytes, random };
      }
      const spec = modelSpec(base.decoded);
      const what = structuralMutations[kind](spec, random, { supportedOps: this.ops });
      if (what !== undefined) return { base, kind, what, bytes: encodeModel(spec), random };
      // Nothing to mutate this way in this model: draw another kind (deterministically).
      if (attempt > 20) throw new Error(`case ${id}: no applicable mutation`);
      kind = weightedPick(random, KIND_WEIGHTS, this.options.kinds);
    }
  }

  /** Input shapes to pass to prepare: the harness shape for inputs that the (mutated) model leaves dynamic. */
  private inputShapes(base: Baseline, m: OnnxModel): Record<string, number[]> | undefined {
    const inits = new Set(m.graph.initializers.map((t) => t.name));
    const out: Record<string, number[]> = {};
    for (const v of m.graph.inputs) {
      if (inits.has(v.name) || !v.shape || v.shape.every((d: Dim) => typeof d === 'number' && d > 0)) continue;
      const known = base.harness[v.name] ?? base.inputs.find((i) => i.name === v.name)?.shape;
      if (known && known.length === v.shape.length) out[v.name] = known;
    }
    return Object.keys(out).length ? out : undefined;
  }

  /**
   * Runs case `id` through every stage. Never throws (except for bugs of the
   * fuzzer itself). `onStart` hears the case's description before any stage
   * runs (the watchdog names a hang with it).
   */
  async run(id: number, onStart?: (c: { id: number; model: string; kind: string; what: string }) => void): Promise<CaseResult> {
    const start = performance.now();
    if (!this.options.noRun) await init(); // a new device if a case lost the old one
    const before = this.options.noRun ? undefined : runtime().pool.stats();
    const ms: CaseResult['ms'] = {};
    let stage: Stage = 'mutate';
    let t0 = performance.now();
    const enter = (s: Stage) => {
      ms[stage] = performance.now() - t0;
      stage = s;
      t0 = performance.now();
    };
    const { base, kind, what, bytes, random } = this.mutate(id);
    onStart?.({ id, model: base.name, kind, what });
    const result: CaseResult = {
      id, model: base.name, kind, what, outcome: 'ok', typed: true, stage: 'done', ran: false, ms, total: 0,
      pool: { liveBuffers: 0, liveBytes: 0, freeBuffers: 0, freeBytes: 0, created: 0 }, leakedBuffers: 0, rss: 0,
    };
    let model: OnnxGraphModel | undefined;
    const inputs: Tensor[] = [];
    try {
      enter('decode');
      const decoded = decodeModel(bytes);
      enter('prepare');
      const inputShapes = this.inputShapes(base, decoded);
      prepareGraph(decoded, { inputShapes });
      if (this.options.noRun) result.skipped = 'no-run';
      else {
        enter('load');
        model = new OnnxGraphModel(decoded, { inputShapes });
        const { work, activations } = graphWork(model.graph);
        const sampled = random() < base.runProbability;
        const inputElements = model.inputs.reduce((n, i) => n + numel(i.shape), 0);
        const baseInputElements = base.inputs.reduce((n, i) => n + numel(i.shape), 0);
        if (work > 4 * base.work + 1e6 || activations > 4 * base.activations + 1e6 || inputElements > 4 * baseInputElements + 1e5) {
          result.skipped = 'too-large';
        } else if (!sampled) result.skipped = 'sampled';
        else {
          enter('run');
          const feeds: Record<string, Tensor> = {};
          for (const input of model.inputs) {
            const data = new Float32Array(numel(input.shape));
            for (let i = 0; i < data.length; i++) data[i] = random();
            const x = Tensor.fromData(data, input.shape);
            inputs.push(x);
            feeds[input.name] = x;
          }
          result.ran = true;
          const { outputs } = model.run(feeds);
          try {
            for (const t of Object.values(outputs)) await t.data();
          } finally {
            for (const t of Object.values(outputs)) t.dispose();
          }
        }
      }
      if (!this.options.noRun) {
        enter('sync');
        await runtime().sync();
      }
      enter('done');
    } catch (e) {
      result.outcome = errorName(e);
      result.typed = e instanceof GradlensError;
      result.stage = stage;
      result.message = e instanceof Error ? e.message : String(e);
      // Typed messages can list every supported op: keep the JSON of 10,000 cases small.
      if (result.typed && result.message.length > 400) result.message = `${result.message.slice(0, 400)}...`;
      if (!result.typed && e instanceof Error) result.stack = e.stack?.split('\n').slice(0, 8).join('\n');
      ms[stage] = performance.now() - t0;
    } finally {
      for (const x of inputs) x.dispose();
      model?.dispose();
    }
    if (!this.options.noRun) {
      // Errors deferred past the case's own sync belong to it too.
      try {
        await runtime().sync();
      } catch (e) {
        if (result.outcome === 'ok') {
          result.outcome = errorName(e);
          result.typed = e instanceof GradlensError;
          result.stage = 'sync';
          result.message = (e as Error)?.message ?? String(e);
        }
      }
      const after = runtime().pool.stats();
      result.pool = after;
      result.leakedBuffers = after.liveBuffers - before!.liveBuffers;
    }
    result.rss = process.memoryUsage().rss;
    result.total = performance.now() - start;
    return result;
  }
}

/** A one-line description of a case, for lists and `--case`. */
export function describeCase(r: CaseResult): string {
  const where = r.outcome === 'ok' ? (r.ran ? 'ok (ran)' : `ok (not run: ${r.skipped ?? '?'})`) : `${r.outcome} at ${r.stage}`;
  return `#${r.id} ${r.model} ${r.kind}: ${r.what} => ${where}${r.message ? `: ${r.message.slice(0, 300)}` : ''}`;
}

export { GradlensError };

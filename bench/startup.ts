// Time to the first map: `npx gradlens explain` with no arguments (Yolo-Fastest,
// dog.jpg, Grad-CAM of the top detection -> gradlens-explain.png), cold and
// warm, and where a cold run's time goes.
//
// Cold = an empty Mesa shader cache (MESA_SHADER_CACHE_DIR set to a new empty
// folder) in a new process; warm = the same folder again. The CLI itself is
// timed from the outside (wall clock of the child process). The breakdown
// comes from a child process (`startup-child`) that makes the CLI's library
// calls for the default in the CLI's order (cli/commands/explain.ts, through
// cli/detector.ts and the explainers), with timing wrappers around each
// stage and around the WebGPU calls where time can hide:
//   - createShaderModule / createComputePipeline (Dawn's WGSL -> SPIR-V and
//     the Vulkan pipeline: host time, counted per stage);
//   - mapAsync (waiting for the GPU: on lavapipe that includes compiling each
//     pipeline at its first dispatch, which runs on the driver's threads).
// With `--profile 1` the two GPU stages also run under runtime().profile()
// (GPU time per dispatch), then once more warm in the same process: cold GPU
// time minus warm GPU time is the first-dispatch compilation.

import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadNow } from './shared-device.js';

export interface StageTiming {
  stage: string;
  ms: number;
  /** Host ms in createShaderModule + createComputePipeline, and how many pipelines. */
  pipelineMs: number;
  pipelines: number;
  /** Wall ms with at least one readback (mapAsync) pending: waiting for the GPU. */
  gpuWaitMs: number;
  /** With --profile: GPU ms of the stage's dispatches, cold and again warm. */
  gpuMs?: number;
  gpuWarmMs?: number;
  dispatches?: number;
  /** With --profile: the slowest dispatches of the cold run (their first use compiles on lavapipe), in order. */
  slowest?: { index: number; kernel: string; ms: number }[];
}

export interface ChildReport {
  /** ms from process start to the first line of the bench code (Node bootstrap + loading the bundle). */
  moduleLoadMs: number;
  stages: StageTiming[];
  totalMs: number;
  cacheDir: string | undefined;
}

// ---- the child: the CLI's default path, stage by stage ----------------------------------

export async function startupChild(flags: Record<string, string>): Promise<number> {
  const moduleLoadMs = performance.now();
  const profile = flags.profile === '1';
  // Loaded here, after the first timestamp (the bundle has them already; this only runs their top level once).
  const engine = await import('../engine/index.js');
  const { sourcePaths, presetFlag, readSidecar, loadInput, detectionLabel } = await import('../cli/detector.js');
  const { modelKind } = await import('../cli/kind.js');
  const { detectInput, explainDetection } = await import('../explainers/index.js');
  const { mapOntoPhoto } = await import('../explainers/presets.js');
  const { encodePng } = await import('../explainers/node-image.js');
  const { drawDetections, overlay } = await import('../explainers/render.js');
  const { writeFileSync } = await import('node:fs');

  const counters = { pipelineMs: 0, pipelines: 0, waitMs: 0, inflight: 0, waitStart: 0 };
  let wrapped = false;
  const wrapGpu = () => {
    if (wrapped) return;
    wrapped = true;
    const g = globalThis as unknown as { GPUDevice: { prototype: GPUDevice }; GPUBuffer: { prototype: GPUBuffer } };
    const dev = g.GPUDevice.prototype;
    for (const name of ['createShaderModule', 'createComputePipeline'] as const) {
      const original = dev[name] as (...a: unknown[]) => unknown;
      (dev as unknown as Record<string, unknown>)[name] = function (this: GPUDevice, ...args: unknown[]) {
        const t = performance.now();
        try {
          return original.apply(this, args);
        } finally {
          counters.pipelineMs += performance.now() - t;
          if (name === 'createComputePipeline') counters.pipelines++;
        }
      };
    }
    const buf = g.GPUBuffer.prototype;
    const mapAsync = buf.mapAsync;
    buf.mapAsync = function (this: GPUBuffer, ...args: Parameters<GPUBuffer['mapAsync']>) {
      if (counters.inflight++ === 0) counters.waitStart = performance.now();
      const done = () => {
        if (--counters.inflight === 0) counters.waitMs += performance.now() - counters.waitStart;
      };
      return mapAsync.apply(this, args).then(
        (v) => (done(), v),
        (e) => {
          done();
          throw e;
        },
      );
    };
  };

  const stages: StageTiming[] = [];
  const stage = async <T>(name: string, fn: () => T | Promise<T>, gpu?: { profile: boolean }): Promise<T> => {
    const p0 = counters.pipelineMs;
    const n0 = counters.pipelines;
    const w0 = counters.waitMs;
    const t0 = performance.now();
    let result: T;
    let timing: Partial<StageTiming> = {};
    if (gpu?.profile) {
      const { result: r, kernels } = await engine.runtime().profile(fn);
      result = r;
      const slowest = kernels.map((k, index) => ({ index, kernel: k.kernel, ms: k.ms })).sort((a, b) => b.ms - a.ms).slice(0, 12);
      timing = { gpuMs: kernels.reduce((a, k) => a + k.ms, 0), dispatches: kernels.length, slowest };
    } else {
      result = await fn();
    }
    stages.push({ stage: name, ms: performance.now() - t0, pipelineMs: counters.pipelineMs - p0, pipelines: counters.pipelines - n0, gpuWaitMs: counters.waitMs - w0, ...timing });
    return result;
  };

  // What `gradlens explain` with no arguments does (cli/commands/explain.ts run()).
  const { modelPath, imagePath } = await stage('paths, preset, sidecar', () => sourcePaths({}));
  const preset = presetFlag(modelPath, undefined);
  const meta = readSidecar(modelPath, undefined);
  await stage('device (init)', async () => {
    await engine.init();
    wrapGpu();
  });
  const { model, input: x, photo, prepared } = await stage('read + decode model and photo, prepare graph, upload weights', () => loadInput(modelPath, preset, { image: imagePath }));
  const kind = await stage('model kind', () => modelKind(model, { preset, presetNamed: false, meta, output: undefined }));
  if (kind.kind !== 'detector') throw new Error(`the default model is not a detector here (${kind.kind})`);
  const head = kind.head;
  const onPhoto = { mapping: prepared!.mapping, size: [photo!.width, photo!.height] as const };
  const detect = () => detectInput(model, x, { head, conf: 0.25, iou: 0.45, photo: onPhoto });
  const { detections } = await stage('detect (forward 1, readback, decode, NMS)', detect, { profile });
  const chosen = detections[0];
  const gradcam = () => explainDetection(model, x, chosen, 'gradcam', { head, score: undefined, layers: undefined, batchSize: undefined });
  const result = await stage('Grad-CAM (forward 2 + backward, readbacks)', gradcam, { profile });
  const [H, W] = [result.height, result.width];
  const png = await stage('overlay + boxes', () => {
    const img = overlay(photo!, mapOntoPhoto(result.map.subarray(0, H * W), H, W, photo!, prepared!.mapping), photo!.width, photo!.height, { alpha: 0.5, colormap: 'jet' });
    drawDetections(img, [{ box: chosen.box, label: detectionLabel(chosen, head), classId: chosen.classId }]);
    return img;
  });
  const out = flags.out ?? join(tmpdir(), 'gradlens-startup.png');
  await stage('PNG encode + write', () => writeFileSync(out, encodePng(png)));
  if (profile) {
    // The same two stages again, warm: the difference is first-dispatch compilation.
    for (const [name, fn] of [['detect (forward 1, readback, decode, NMS)', detect], ['Grad-CAM (forward 2 + backward, readbacks)', gradcam]] as const) {
      const { kernels } = await engine.runtime().profile(fn as () => Promise<unknown>);
      const s = stages.find((t) => t.stage === name)!;
      s.gpuWarmMs = kernels.reduce((a, k) => a + k.ms, 0);
    }
  }
  model.dispose();
  await stage('shutdown', () => engine.shutdown());
  const report: ChildReport = { moduleLoadMs, stages, totalMs: performance.now(), cacheDir: process.env.MESA_SHADER_CACHE_DIR };
  console.log(`STARTUP-REPORT ${JSON.stringify(report)}`);
  return 0;
}

// ---- the parent: cold and warm processes --------------------------------------------

export interface StartupResult {
  date: string;
  load: { before: ReturnType<typeof loadNow>; after?: ReturnType<typeof loadNow> };
  /** Wall ms of whole processes. */
  processes: { what: string; cache: 'cold' | 'warm' | 'n/a'; ms: number; ok: boolean; cacheBytes?: number }[];
  breakdown: { cache: 'cold' | 'warm'; profiled: boolean; report: ChildReport }[];
}

function dirBytes(dir: string): number {
  let total = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    total += e.isDirectory() ? dirBytes(p) : statSync(p).size;
  }
  return total;
}

/**
 * npx's cache entries for this folder (~/.npm/_npx/<hash>/package.json naming
 * it): the first `npx gradlens` in a folder installs the folder there as a
 * `file:` dependency, which runs the package's `prepare` script (the WebGPU
 * probe and a full `npm run build`). Removing them makes the next npx run a
 * first use again. Returns the folders removed.
 */
function forgetNpxInstall(root: string): string[] {
  const base = join(process.env.npm_config_cache ?? join(homedir(), '.npm'), '_npx');
  if (!existsSync(base)) return [];
  const removed: string[] = [];
  for (const hash of readdirSync(base)) {
    const pkg = join(base, hash, 'package.json');
    if (!existsSync(pkg)) continue;
    try {
      const packages = (JSON.parse(readFileSync(pkg, 'utf8')) as { _npx?: { packages?: string[] } })._npx?.packages ?? [];
      if (packages.some((p) => resolve(p) === root)) {
        rmSync(join(base, hash), { recursive: true, force: true });
        removed.push(join(base, hash));
      }
    } catch {
      // not an npx entry of ours
    }
  }
  return removed;
}

function timed(cmd: string, args: string[], env: NodeJS.ProcessEnv): { ms: number; ok: boolean; stdout: string; stderr: string } {
  const t0 = performance.now();
  const r = spawnSync(cmd, args, { env, encoding: 'utf8', cwd: process.cwd(), maxBuffer: 64 << 20 });
  return { ms: performance.now() - t0, ok: r.status === 0, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

export async function benchStartup(flags: Record<string, string>, log: (line: string) => void): Promise<StartupResult> {
  const warmRuns = Number(flags['warm-runs'] ?? 2);
  const bundle = fileURLToPath(import.meta.url);
  const root = process.cwd();
  const cli = resolve(root, 'cli/gradlens.mjs');
  const result: StartupResult = { date: new Date().toISOString(), load: { before: loadNow() }, processes: [], breakdown: [] };
  const fresh = () => mkdtempSync(join(tmpdir(), 'gradlens-mesa-cache-'));
  const envWith = (cache: string) => ({ ...process.env, MESA_SHADER_CACHE_DIR: cache, GRADLENS_BENCH_CHILD: '1' });
  const png = join(tmpdir(), 'gradlens-startup-cli.png');

  const bare = timed(process.execPath, ['-e', '0'], process.env);
  result.processes.push({ what: 'node -e 0 (Node start alone)', cache: 'n/a', ms: bare.ms, ok: bare.ok });
  const help = timed(process.execPath, [cli, '--help'], process.env);
  result.processes.push({ what: 'node cli/gradlens.mjs --help (Node + loading dist/ and every command, no GPU)', cache: 'n/a', ms: help.ms, ok: help.ok });
  log(`node -e 0: ${bare.ms.toFixed(0)} ms; gradlens --help: ${help.ms.toFixed(0)} ms`);

  // npx's own first use in this folder (with --fresh-npx 1): it installs the folder into its
  // cache, which runs `prepare` (rebuilding dist/). Measured on --help (no GPU work), then again.
  const freshNpx = flags['fresh-npx'] === '1';
  const dirs: string[] = [];
  if (freshNpx) {
    const removed = forgetNpxInstall(root);
    const helpCache = fresh();
    dirs.push(helpCache);
    for (const when of ['first use', 'second use'] as const) {
      const r = timed('npx', ['--no-install', 'gradlens', '--help'], envWith(helpCache));
      result.processes.push({ what: `npx gradlens --help, npx's ${when} in this folder`, cache: 'n/a', ms: r.ms, ok: r.ok });
      log(`npx gradlens --help (npx's ${when} here${when === 'first use' ? `; removed ${removed.length} npx cache entr${removed.length === 1 ? 'y' : 'ies'}` : ''}): ${r.ms.toFixed(0)} ms`);
    }
  }

  // The command as a user types it, cold then warm (cold: with --fresh-npx 1, npx's first use too).
  const npxCache = fresh();
  dirs.push(npxCache);
  for (let i = 0; i <= warmRuns; i++) {
    if (i === 0 && freshNpx) forgetNpxInstall(root);
    const r = timed('npx', ['--no-install', 'gradlens', 'explain'], envWith(npxCache));
    const cache = i === 0 ? 'cold' : 'warm';
    const what = i === 0 && freshNpx ? "npx gradlens explain (npx's first use here: prepare + build)" : 'npx gradlens explain';
    result.processes.push({ what, cache, ms: r.ms, ok: r.ok, cacheBytes: dirBytes(npxCache) });
    log(`${what} (${cache}): ${r.ms.toFixed(0)} ms${r.ok ? '' : ` FAILED: ${r.stderr.slice(-2000)}`}; Mesa cache ${(dirBytes(npxCache) / 1e6).toFixed(1)} MB`);
  }
  const nodeCache = fresh();
  dirs.push(nodeCache);
  for (let i = 0; i <= 1; i++) {
    const r = timed(process.execPath, [cli, 'explain', '--out', png], envWith(nodeCache));
    const cache = i === 0 ? 'cold' : 'warm';
    result.processes.push({ what: 'node cli/gradlens.mjs explain --out <tmp> (no npx)', cache, ms: r.ms, ok: r.ok });
    log(`node cli/gradlens.mjs explain (${cache}): ${r.ms.toFixed(0)} ms${r.ok ? '' : ` FAILED: ${r.stderr.slice(-2000)}`}`);
  }

  // The breakdown: cold, warm (same cache), and a profiled cold run.
  const child = (cache: string, profile: boolean) => {
    const r = timed(process.execPath, [bundle, 'startup-child', '--profile', profile ? '1' : '0', '--out', png], envWith(cache));
    const line = r.stdout.split('\n').find((l) => l.startsWith('STARTUP-REPORT '));
    if (!r.ok || !line) throw new Error(`startup-child failed (${r.ms.toFixed(0)} ms): ${r.stderr.slice(-4000)}`);
    return { wall: r.ms, report: JSON.parse(line.slice('STARTUP-REPORT '.length)) as ChildReport };
  };
  const childCache = fresh();
  dirs.push(childCache);
  for (const [cache, profile, dir] of [['cold', false, childCache], ['warm', false, childCache], ['cold', true, fresh()]] as const) {
    if (!dirs.includes(dir)) dirs.push(dir);
    const { wall, report } = child(dir, profile);
    result.breakdown.push({ cache, profiled: profile, report });
    result.processes.push({ what: `bench startup-child${profile ? ' --profile 1' : ''}`, cache, ms: wall, ok: true });
    log(`startup-child ${cache}${profile ? ' (profiled)' : ''}: ${wall.toFixed(0)} ms process, module load ${report.moduleLoadMs.toFixed(0)} ms`);
    for (const s of report.stages) {
      const gpu = s.gpuMs !== undefined ? `, GPU ${s.gpuMs.toFixed(0)} ms cold / ${s.gpuWarmMs?.toFixed(0)} warm in ${s.dispatches} dispatches` : '';
      log(`  ${s.stage.padEnd(62)} ${s.ms.toFixed(0).padStart(7)} ms  (pipelines ${s.pipelines}: ${s.pipelineMs.toFixed(0)} ms host; GPU wait ${s.gpuWaitMs.toFixed(0)} ms${gpu})`);
    }
  }
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
  result.load.after = loadNow();
  return result;
}

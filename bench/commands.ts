// The peers, e2e and startup commands of `npm run bench` (bench/main.ts
// dispatches): flags, the JSON file, and the tables printed at the end.

import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Precision } from '../engine/index.js';
import { benchE2e, E2E_STEPS, type E2eRow } from './e2e.js';
import { benchPeers, type PeerCase } from './peers.js';
import { adapterRecord, loadNow, MODEL_FILES, sharedDevice } from './shared-device.js';
import { benchStartup, type StartupResult } from './startup.js';

const log = (line: string) => console.log(line);
const list = (v: string | undefined, fallback: readonly string[]) => (v ? v.split(',').map((s) => s.trim()).filter(Boolean) : [...fallback]);
const int = (v: string | undefined, fallback: number) => (v === undefined ? fallback : Number(v));

/**
 * onnxruntime-web's wasm (27 MB) must be compiled before the timing starts:
 * with Liftoff, V8 tiers it up with TurboFan in the background during the
 * timed runs. So the peers command runs in a child Node with --no-liftoff.
 */
function respawnWithoutLiftoff(): number | null {
  if (process.execArgv.includes('--no-liftoff') || process.env.GRADLENS_BENCH_CHILD) return null;
  const bundle = fileURLToPath(import.meta.url);
  const r = spawnSync(process.execPath, ['--no-liftoff', bundle, ...process.argv.slice(2)], { stdio: 'inherit', env: { ...process.env, GRADLENS_BENCH_CHILD: '1' } });
  return r.status ?? 1;
}

const f = (v: number, digits = 1) => (Number.isFinite(v) ? v.toFixed(digits) : 'n/a');

/** The command as typed: `npm run bench -- <name> <its flags>`. */
const commandLine = (name: string) => `npm run bench -- ${name} ${process.argv.slice(3).join(' ')}`.trim();

/**
 * The --json file of peers and e2e: the adapter, the date the run started,
 * the command and the Node version, then the command's own fields.
 */
function writeResults(path: string, name: string, rt: Parameters<typeof adapterRecord>[0], before: ReturnType<typeof loadNow>, fields: Record<string, unknown>): void {
  writeFileSync(path, JSON.stringify({ adapter: adapterRecord(rt), date: before.time, command: commandLine(name), node: process.version, ...fields }, null, 2));
}

export function peersTable(cases: readonly PeerCase[]): string {
  const lines = ['| case | gradlens ms | peer | peer ms | ratio (peer / gradlens) | max rel. diff | first run ms (gradlens / peer) |', '|---|---|---|---|---|---|---|'];
  for (const c of cases) {
    const first = c.gradlens_first_ms !== undefined ? `${f(c.gradlens_first_ms, 0)} / ${c.peer_first_ms !== undefined ? f(c.peer_first_ms, 0) : '-'}` : '';
    lines.push(`| ${c.name} | ${f(c.gradlens_ms)} | ${c.peer} | ${f(c.peer_ms)} | ${f(c.ratio, 2)} | ${c.check ? c.check.maxRel.toExponential(1) : '-'} | ${first} |`);
  }
  return lines.join('\n');
}

export async function runPeers(flags: Record<string, string>): Promise<number> {
  const child = respawnWithoutLiftoff();
  if (child !== null) return child;
  const before = loadNow();
  const { rt } = await sharedDevice();
  log(`adapter: ${rt.adapterDescription}`);
  log(`load before: ${before.loadavg.join(', ')}`);
  const started = Date.now();
  const result = await benchPeers({
    reps: int(flags.reps, 10),
    warmup: int(flags.warmup, 2),
    models: list(flags.models, MODEL_FILES.map((m) => m.name)),
    parts: list(flags.parts, ['forward', 'gradcam', 'conv']),
    filter: flags.filter,
    log,
  });
  const after = loadNow();
  log('');
  log(peersTable(result.cases));
  log(`\n(${((Date.now() - started) / 1000).toFixed(0)} s; load before ${before.loadavg.join(', ')}, after ${after.loadavg.join(', ')})`);
  for (const s of result.skipped) log(`skipped: ${s}`);
  for (const e of result.failures) console.error(`FAILED: ${e.split('\n')[0]}`);
  if (flags.json) {
    writeResults(flags.json, 'peers', rt, before, {
      versions: result.versions,
      load: { before, after },
      reps: int(flags.reps, 10),
      warmup: int(flags.warmup, 2),
      cases: result.cases,
      skipped: result.skipped,
      failures: result.failures,
    });
  }
  return result.failures.length ? 1 : 0;
}

export function e2eTable(rows: readonly E2eRow[]): string {
  const lines = ['| model | step | wall ms | first run ms | GPU ms | host ms (profiled wall - GPU) | dispatches | submits | dominant | top kernels (GPU ms, share) |', '|---|---|---|---|---|---|---|---|---|---|'];
  for (const r of rows) {
    const top = r.kernels.slice(0, 3).map((k) => `${k.kernel} ${f(k.ms, 0)} (${(k.share * 100).toFixed(0)}%)`).join(', ');
    lines.push(`| ${r.model} | ${r.step} | ${f(r.wall_ms, 0)} | ${f(r.first_ms, 0)} | ${f(r.gpu_ms, 0)} | ${f(r.overhead_ms, 0)} | ${r.dispatches} | ${r.submits} | ${r.dominant} | ${top} |`);
  }
  return lines.join('\n');
}

/** --precision f32|f16 (the models' or the tensors' storage). */
export function precisionFlag(value: string | undefined): Precision {
  if (value === undefined || value === 'f32' || value === 'f16') return value ?? 'f32';
  throw new Error(`--precision must be f32 or f16, not '${value}'`);
}

export async function runE2e(flags: Record<string, string>): Promise<number> {
  const before = loadNow();
  const { rt } = await sharedDevice();
  log(`adapter: ${rt.adapterDescription}`);
  log(`load before: ${before.loadavg.join(', ')}`);
  if (!rt.handle.features.has('timestamp-query')) {
    console.error('e2e needs the timestamp-query feature for its per-kernel breakdown; this adapter has none');
    return 1;
  }
  const started = Date.now();
  const opts = {
    reps: int(flags.reps, 3),
    warmup: int(flags.warmup, 0),
    models: list(flags.models, MODEL_FILES.map((m) => m.name)),
    steps: list(flags.steps, E2E_STEPS),
    scorecamChannels: int(flags['scorecam-channels'], 4),
    top: int(flags.top, 8),
    precision: precisionFlag(flags.precision),
    log,
  };
  const rows = await benchE2e(opts);
  const after = loadNow();
  log('');
  log(e2eTable(rows));
  log(`\n(${((Date.now() - started) / 1000).toFixed(0)} s; load before ${before.loadavg.join(', ')}, after ${after.loadavg.join(', ')})`);
  if (flags.json) writeResults(flags.json, 'e2e', rt, before, { load: { before, after }, options: { ...opts, log: undefined }, rows });
  return 0;
}

export async function runStartup(flags: Record<string, string>): Promise<number> {
  const result: StartupResult = await benchStartup(flags, log);
  log(`\n(load before ${result.load.before.loadavg.join(', ')}, after ${result.load.after?.loadavg.join(', ')})`);
  if (flags.json) writeFileSync(flags.json, JSON.stringify({ command: commandLine('startup'), node: process.version, ...result }, null, 2));
  return result.processes.every((p) => p.ok) ? 0 : 1;
}

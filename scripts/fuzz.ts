// Fuzzing at scale: `npm run fuzz -- --cases N`.
//
// Runs N mutated models (byte-level: bit flips, truncation, corrupted varint
// lengths, deleted/duplicated byte runs; structural: dims, initializer lengths
// and types, attributes, op types, opset, small constants' values, dropped
// nodes, dangling or rewired inputs) of every model in ../shared/models and
// the committed fixtures through decode, prepare, load and one forward run on
// the GPU, and reports counts by outcome (error class), the untyped errors
// (anything that is not a GradlensError), hangs, crashes, buffer-pool leaks and
// RSS. See scripts/fuzz/core.ts for the stages and mutate.ts for the mutations.
//
// Cases run in a worker process under a watchdog: a case that takes longer
// than its timeout is recorded as a hang, the worker is killed and a new one goes
// on with the next case; a worker that dies (native crash, OOM) records a crash.
// The timeout scales with the model's measured cost: each worker times every
// seed model's first clean forward (load, run, read back, cold) when it starts,
// and a case may take HANG_FACTOR (10) times its seed's, at least MIN_HANG_S
// (60) seconds (core.ts caseTimeoutS), so a loaded machine, slower at
// everything, does not turn slow cases into false hangs. --timeout sets one
// fixed limit instead (and skips the measuring).
//
//   --cases N         number of cases (default 300), ids from --from (default 0)
//   --seed S          seed (default 1); a case is determined by (seed, id, model set)
//   --case K[,K...]   replay these cases in this process and print each in full
//   --json FILE       write the configuration, every case and the summary as JSON
//   --timeout S       seconds before a case counts as a hang (default: 10x the seed model's
//                     first clean forward in the worker, at least 60 s; see above)
//   --models a,b      only models whose file name contains one of these
//   --kinds a,b       only these mutation kinds (see KIND_WEIGHTS in core.ts)
//   --run-budget W    forward work per case (multiply-adds) above which a model's forwards are sampled (default 2.5e8)
//   --no-run          decode and prepare only (no GPU)
//   --in-process      no worker (a synchronous hang then hangs the script)
//   --from K          first case id
//
// GRADLENS_FUZZ_SIMULATE="hang:3,crash:5" makes the worker hang at case 3 and
// crash at case 5 (checks the watchdog).

import { fork, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { shutdown } from '../engine/index.js';
import { caseTimeoutS, describeCase, discoverModels, Fuzzer, MIN_HANG_S, SUSPICIOUS, DEFAULT_RUN_BUDGET, type CaseResult, type FuzzOptions, type ModelFile } from './fuzz/core.js';
import { summarize, printSummary } from './fuzz/report.js';

interface Args {
  cases: number;
  from: number;
  seed: number;
  replay?: number[];
  json?: string;
  /** A fixed per-case limit in seconds; undefined: scaled per model (caseTimeoutS). */
  timeout?: number;
  models?: string[];
  kinds?: string[];
  runBudget: number;
  noRun: boolean;
  inProcess: boolean;
  worker: boolean;
}

function parseArgs(argv: string[]): Args {
  const a: Args = { cases: 300, from: 0, seed: 1, runBudget: DEFAULT_RUN_BUDGET, noRun: false, inProcess: false, worker: false };
  const value = (i: number) => {
    const v = argv[i + 1];
    if (v === undefined) throw new Error(`${argv[i]} needs a value`);
    return v;
  };
  const num = (i: number) => {
    const v = Number(value(i));
    if (!Number.isFinite(v)) throw new Error(`${argv[i]}: '${argv[i + 1]}' is not a number`);
    return v;
  };
  for (let i = 0; i < argv.length; i++) {
    switch (argv[i]) {
      case '--cases': a.cases = num(i++); break;
      case '--from': a.from = num(i++); break;
      case '--seed': a.seed = num(i++); break;
      case '--case': a.replay = value(i++).split(',').map(Number); break;
      case '--json': a.json = value(i++); break;
      case '--timeout': a.timeout = num(i++); break;
      case '--models': a.models = value(i++).split(','); break;
      case '--kinds': a.kinds = value(i++).split(','); break;
      case '--run-budget': a.runBudget = num(i++); break;
      case '--no-run': a.noRun = true; break;
      case '--in-process': a.inProcess = true; break;
      case '--worker': a.worker = true; break;
      default: throw new Error(`unknown argument '${argv[i]}' (see the comment at the top of scripts/fuzz.ts)`);
    }
  }
  return a;
}

function selectModels(args: Args, log: (s: string) => void = console.log): ModelFile[] {
  const all = discoverModels(process.cwd(), log);
  return args.models ? all.filter((m) => args.models!.some((s) => m.name.includes(s))) : all;
}

const fuzzOptions = (args: Args): FuzzOptions => ({ seed: args.seed, runBudget: args.runBudget, noRun: args.noRun, kinds: args.kinds, measureForward: args.timeout === undefined && !args.replay });

/** Seconds a case of `model` may take: --timeout, else scaled by the model's measured forward (`models` from the worker). */
function caseTimeout(args: Args, models: readonly { name: string; forwardMs?: number }[], model: string | undefined): number {
  if (args.timeout !== undefined) return args.timeout;
  const known = models.filter((m) => model === undefined || m.name === model);
  // Before the worker names the case's model: the largest of them all.
  return Math.max(...(known.length ? known : models).map((m) => caseTimeoutS(m.forwardMs)), MIN_HANG_S);
}

// ---- worker -------------------------------------------------------------------------------

async function worker(args: Args): Promise<void> {
  const fuzzer = await Fuzzer.create(selectModels(args, () => {}), fuzzOptions(args), (s) => process.send!({ type: 'log', text: s }));
  process.send!({ type: 'ready', models: modelTable(fuzzer) });
  let done = 0;
  process.on('message', async (m: { type: string; id?: number }) => {
    if (m.type === 'exit') {
      await shutdown();
      process.exit(0);
    }
    if (m.type !== 'case') return;
    const r = await fuzzer.run(m.id!, (c) => {
      process.send!({ type: 'start', ...c });
      simulate(c.id);
    });
    if (++done % 100 === 0 && typeof globalThis.gc === 'function') {
      globalThis.gc();
      const m = process.memoryUsage();
      r.rssAfterGc = m.rss;
      r.memory = { heapUsed: m.heapUsed, external: m.external, arrayBuffers: m.arrayBuffers, pipelines: fuzzer.pipelineCount() };
    }
    process.send!({ type: 'result', result: r });
  });
}

/**
 * Tests the watchdog itself: GRADLENS_FUZZ_SIMULATE="hang:3,crash:5" makes
 * the worker spin forever (a synchronous hang nothing in-process can stop) at
 * case 3 and abort (a native crash) at case 5.
 */
function simulate(id: number): void {
  for (const item of (process.env.GRADLENS_FUZZ_SIMULATE ?? '').split(',').filter(Boolean)) {
    const [what, at] = item.split(':');
    if (Number(at) !== id) continue;
    if (what === 'hang') for (;;);
    if (what === 'crash') process.abort();
  }
}

function modelTable(f: Fuzzer) {
  return f.baselines.map((b) => ({
    name: b.name,
    path: b.path,
    bytes: b.bytes.length,
    inputs: b.inputs,
    work: b.work,
    runProbability: b.runProbability,
    roundTrip: b.roundTrip,
    forwardMs: b.forwardMs,
  }));
}

// ---- parent: watchdog -----------------------------------------------------------------------

interface Started {
  id: number;
  model: string;
  kind: string;
  what: string;
}

async function supervise(args: Args, ids: number[], onResult: (r: CaseResult) => void): Promise<{ models: ReturnType<typeof modelTable>; workers: number }> {
  const self = fileURLToPath(import.meta.url);
  const workerArgs = process.argv.slice(2).filter((a) => a !== '--in-process');
  let models: ReturnType<typeof modelTable> = [];
  // The latest worker's measurements: the timeouts follow the machine's load.
  let timed: ReturnType<typeof modelTable> = [];
  let workers = 0;
  let next = 0;
  let consecutiveDeaths = 0;
  return new Promise((resolvePromise, reject) => {
    const spawn = () => {
      workers++;
      const child: ChildProcess = fork(self, [...workerArgs, '--worker'], { execArgv: ['--expose-gc'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
      let current: Started | undefined;
      let pendingId: number | undefined;
      let timer: NodeJS.Timeout | undefined;
      let limit = 0;
      let expectedExit = false;
      // A worker that times every model's first forward (no --timeout) gets longer to start.
      const startS = args.timeout === undefined && !args.noRun ? 1800 : 600;
      const startup = setTimeout(() => {
        console.error(`[fuzz] a worker did not start within ${startS} s`);
        expectedExit = true;
        child.kill('SIGKILL');
        reject(new Error('worker start timeout'));
      }, startS * 1000);
      const finish = (r: CaseResult) => {
        clearTimeout(timer);
        pendingId = undefined;
        current = undefined;
        onResult(r);
      };
      const dead = (id: number, how: 'hang' | 'crash', detail: string): CaseResult => ({
        id,
        model: current?.model ?? '?',
        kind: current?.kind ?? '?',
        what: current?.what ?? '(the worker died before describing the case)',
        outcome: how === 'hang' ? 'HANG' : 'CRASH',
        typed: false,
        stage: 'unknown',
        message: detail,
        ran: false,
        ms: {},
        total: how === 'hang' ? limit * 1000 : 0,
        pool: { liveBuffers: 0, liveBytes: 0, freeBuffers: 0, freeBytes: 0, created: 0 },
        leakedBuffers: 0,
        rss: 0,
        hang: how === 'hang',
        crash: how === 'crash' ? detail : undefined,
      });
      const sendNext = () => {
        if (next >= ids.length) {
          expectedExit = true;
          child.send({ type: 'exit' });
          return;
        }
        pendingId = ids[next++];
        child.send({ type: 'case', id: pendingId });
        arm(pendingId, undefined);
      };
      /** (Re)starts case `id`'s hang timer: the largest limit until the worker names the case's model, then that model's. */
      const arm = (id: number, model: string | undefined) => {
        clearTimeout(timer);
        limit = caseTimeout(args, timed, model);
        timer = setTimeout(() => {
          if (pendingId !== id) return;
          finish(dead(id, 'hang', `no result after ${limit} s (worker killed)`));
          expectedExit = true;
          child.kill('SIGKILL');
        }, limit * 1000);
      };
      child.on('message', (m: { type: string; [k: string]: unknown }) => {
        if (m.type === 'log') console.log(m.text);
        else if (m.type === 'ready') {
          clearTimeout(startup);
          if (!models.length) models = m.models as typeof models;
          timed = m.models as typeof models;
          sendNext();
        } else if (m.type === 'start') {
          current = m as unknown as Started;
          if (pendingId === current.id) arm(current.id, current.model);
        }
        else if (m.type === 'result') {
          consecutiveDeaths = 0;
          finish(m.result as CaseResult);
          sendNext();
        }
      });
      child.on('exit', (code, signal) => {
        clearTimeout(startup);
        clearTimeout(timer);
        if (pendingId !== undefined) {
          finish(dead(pendingId, 'crash', `worker exited (code ${code}, signal ${signal})`));
          expectedExit = false;
        } else if (!expectedExit) {
          reject(new Error(`a worker exited before its first case (code ${code}, signal ${signal})`));
          return;
        }
        if (next < ids.length) {
          if (++consecutiveDeaths > 10) return reject(new Error('10 workers in a row died: giving up'));
          spawn();
        } else resolvePromise({ models, workers });
      });
    };
    spawn();
  });
}

// ---- main ---------------------------------------------------------------------------------

async function main(): Promise<number> {
  const args = parseArgs(process.argv.slice(2));
  if (args.worker) {
    await worker(args);
    return -1; // stays alive on IPC
  }
  const options = fuzzOptions(args);

  if (args.replay) {
    const fuzzer = await Fuzzer.create(selectModels(args), options);
    for (const id of args.replay) {
      const r = await fuzzer.run(id, (c) => console.log(`[fuzz] running #${c.id} ${c.model} ${c.kind}: ${c.what}`));
      console.log(describeCase(r));
      console.log(JSON.stringify({ ...r, message: undefined, stack: undefined }, null, 1));
      if (r.message) console.log(`message: ${r.message}`);
      if (r.stack) console.log(r.stack);
    }
    if (!options.noRun) await shutdown();
    return 0;
  }

  const ids = Array.from({ length: args.cases }, (_, i) => args.from + i);
  const results: CaseResult[] = [];
  const started = performance.now();
  let lastReport = started;
  const progress = (r: CaseResult) => {
    results.push(r);
    if (!r.typed) console.log(`[fuzz] ${r.hang ? 'HANG' : r.crash ? 'CRASH' : 'UNTYPED'} ${describeCase(r)}`);
    else if (SUSPICIOUS.has(r.outcome)) console.log(`[fuzz] suspicious ${describeCase(r)}`);
    const now = performance.now();
    if (now - lastReport > 30_000 || results.length === ids.length) {
      lastReport = now;
      const rate = results.length / ((now - started) / 1000);
      const untyped = results.filter((x) => !x.typed).length;
      const eta = (ids.length - results.length) / rate;
      console.log(`[fuzz] ${results.length}/${ids.length} cases, ${rate.toFixed(2)} cases/s, ${untyped} untyped/hang/crash, ETA ${(eta / 60).toFixed(1)} min`);
    }
  };

  let models: unknown[] = [];
  let workers = 1;
  if (args.inProcess) {
    const fuzzer = await Fuzzer.create(selectModels(args), options);
    models = modelTable(fuzzer);
    for (const id of ids) {
      let timer: NodeJS.Timeout | undefined;
      let limit = 0;
      let fire: () => void = () => {};
      const timeout = new Promise<'timeout'>((r) => (fire = () => r('timeout')));
      const arm = (model: string | undefined) => {
        clearTimeout(timer);
        limit = caseTimeout(args, models as ReturnType<typeof modelTable>, model);
        timer = setTimeout(fire, limit * 1000);
      };
      arm(undefined);
      let started: Started | undefined;
      const r = await Promise.race([
        fuzzer.run(id, (c) => {
          started = c;
          arm(c.model);
        }),
        timeout,
      ]);
      clearTimeout(timer);
      if (r === 'timeout') {
        console.log(`[fuzz] HANG #${id} after ${limit} s (in-process: the stuck case cannot be stopped; stopping here)`);
        progress({ ...(started ?? { id, model: '?', kind: '?', what: '?' }), outcome: 'HANG', typed: false, stage: 'unknown', ran: false, ms: {}, total: limit * 1000, pool: { liveBuffers: 0, liveBytes: 0, freeBuffers: 0, freeBytes: 0, created: 0 }, leakedBuffers: 0, rss: 0, hang: true });
        break;
      }
      progress(r);
    }
    if (!options.noRun) await shutdown();
  } else {
    const s = await supervise(args, ids, progress);
    models = s.models;
    workers = s.workers;
  }
  const seconds = (performance.now() - started) / 1000;
  const summary = summarize(results, seconds);
  console.log('\nModels:');
  console.table(
    (models as ReturnType<typeof modelTable>).map((m) => ({
      model: m.name,
      MB: +(m.bytes / 1e6).toFixed(2),
      input: m.inputs.map((i) => i.shape.join('x')).join(' '),
      'GMAC (proxy)': +(m.work / 1e9).toFixed(3),
      'run prob.': +m.runProbability.toFixed(2),
      roundTrip: m.roundTrip,
      'forward s': m.forwardMs === undefined ? '-' : +(m.forwardMs / 1000).toFixed(1),
      'timeout s': caseTimeout(args, [m], m.name),
    })),
  );
  printSummary(summary, { seed: args.seed, workers });
  if (args.json) {
    writeFileSync(args.json, JSON.stringify({ args, models, workers, seconds, summary, results }, null, 0));
    console.log(`[fuzz] wrote ${args.json}`);
  }
  return summary.untyped.length + summary.hangs.length + summary.crashes.length ? 1 : 0;
}

const code = await main();
if (code >= 0) process.exitCode = code;

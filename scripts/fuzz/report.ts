// Summaries of fuzz results: counts by outcome (error class), stage, mutation
// kind and model; the untyped errors, hangs, crashes and suspicious typed
// errors with their case ids; buffer-pool leaks and growth; RSS.

import { describeCase, SUSPICIOUS, type CaseResult } from './core.js';

export interface Summary {
  cases: number;
  seconds: number;
  casesPerSecond: number;
  byOutcome: { outcome: string; typed: boolean; count: number; stages: Record<string, number> }[];
  byKind: Record<string, Record<string, number>>;
  byModel: Record<string, { cases: number; ok: number; ran: number; errors: number; msPerCase: number }>;
  forward: { ran: number; ranOk: number; skippedSampled: number; skippedTooLarge: number };
  untyped: CaseResult[];
  hangs: CaseResult[];
  crashes: CaseResult[];
  suspicious: CaseResult[];
  leaks: CaseResult[];
  pool: { first?: CaseResult['pool']; last?: CaseResult['pool']; maxLiveBuffers: number; maxFreeBytes: number; maxCreated: number };
  rss: { firstMB: number; medianMB: number; maxMB: number; lastMB: number; afterGcMB: number[]; heapAfterGcMB: number[]; pipelines: number[] };
  slowest: { id: number; model: string; kind: string; ms: number; outcome: string }[];
}

const MB = (b: number) => +(b / 2 ** 20).toFixed(1);

export function summarize(results: CaseResult[], seconds: number): Summary {
  const byOutcome = new Map<string, Summary['byOutcome'][number]>();
  const byKind: Summary['byKind'] = {};
  const byModel: Summary['byModel'] = {};
  for (const r of results) {
    const o = byOutcome.get(r.outcome) ?? { outcome: r.outcome, typed: r.typed, count: 0, stages: {} };
    o.count++;
    o.stages[r.stage] = (o.stages[r.stage] ?? 0) + 1;
    byOutcome.set(r.outcome, o);
    const k = (byKind[r.kind] ??= {});
    const bucket = r.outcome === 'ok' ? 'ok' : r.typed ? 'typed error' : 'UNTYPED/HANG/CRASH';
    k[bucket] = (k[bucket] ?? 0) + 1;
    const m = (byModel[r.model] ??= { cases: 0, ok: 0, ran: 0, errors: 0, msPerCase: 0 });
    m.cases++;
    if (r.outcome === 'ok') m.ok++;
    else m.errors++;
    if (r.ran) m.ran++;
    m.msPerCase += r.total;
  }
  for (const m of Object.values(byModel)) m.msPerCase = Math.round(m.msPerCase / m.cases);
  const real = results.filter((r) => !r.hang && !r.crash);
  const rss = real.map((r) => r.rss).filter((x) => x > 0);
  const sorted = [...rss].sort((a, b) => a - b);
  return {
    cases: results.length,
    seconds,
    casesPerSecond: results.length / Math.max(seconds, 1e-9),
    byOutcome: [...byOutcome.values()].sort((a, b) => b.count - a.count),
    byKind,
    byModel,
    forward: {
      ran: results.filter((r) => r.ran).length,
      ranOk: results.filter((r) => r.ran && r.outcome === 'ok').length,
      skippedSampled: results.filter((r) => r.skipped === 'sampled').length,
      skippedTooLarge: results.filter((r) => r.skipped === 'too-large').length,
    },
    untyped: results.filter((r) => !r.typed && !r.hang && !r.crash),
    hangs: results.filter((r) => r.hang),
    crashes: results.filter((r) => r.crash),
    suspicious: results.filter((r) => r.typed && SUSPICIOUS.has(r.outcome)),
    leaks: real.filter((r) => r.leakedBuffers > 0),
    pool: {
      first: real[0]?.pool,
      last: real.at(-1)?.pool,
      maxLiveBuffers: Math.max(0, ...real.map((r) => r.pool.liveBuffers)),
      maxFreeBytes: Math.max(0, ...real.map((r) => r.pool.freeBytes)),
      maxCreated: Math.max(0, ...real.map((r) => r.pool.created)),
    },
    rss: {
      firstMB: MB(rss[0] ?? 0),
      medianMB: MB(sorted[Math.floor(sorted.length / 2)] ?? 0),
      maxMB: MB(sorted.at(-1) ?? 0),
      lastMB: MB(rss.at(-1) ?? 0),
      afterGcMB: real.flatMap((r) => (r.rssAfterGc ? [MB(r.rssAfterGc)] : [])),
      heapAfterGcMB: real.flatMap((r) => (r.memory ? [MB(r.memory.heapUsed)] : [])),
      pipelines: real.flatMap((r) => (r.memory ? [r.memory.pipelines] : [])),
    },
    slowest: [...real].sort((a, b) => b.total - a.total).slice(0, 5).map((r) => ({ id: r.id, model: r.model, kind: r.kind, ms: Math.round(r.total), outcome: r.outcome })),
  };
}

export function printSummary(s: Summary, info: { seed: number; workers: number }): void {
  console.log(`\nFuzz: ${s.cases} cases, seed ${info.seed}, ${s.seconds.toFixed(0)} s (${s.casesPerSecond.toFixed(2)} cases/s), ${info.workers} worker process(es)`);
  console.log('\nOutcomes (error class; stage where it was thrown):');
  console.table(s.byOutcome.map((o) => ({ outcome: o.outcome, typed: o.typed, count: o.count, stages: Object.entries(o.stages).map(([k, v]) => `${k} ${v}`).join(', ') })));
  console.log('By mutation kind:');
  console.table(s.byKind);
  console.log('By model:');
  console.table(s.byModel);
  const f = s.forward;
  console.log(`Forward runs: ${f.ran} ran (${f.ranOk} ok), ${f.skippedSampled} loaded but not run (sampled out: big model), ${f.skippedTooLarge} not run (mutant > 4x the model's work)`);
  const list = (title: string, rs: CaseResult[]) => {
    console.log(`${title}: ${rs.length}`);
    for (const r of rs.slice(0, 50)) console.log(`  ${describeCase(r)}`);
    if (rs.length > 50) console.log(`  ... and ${rs.length - 50} more (see --json)`);
  };
  list('Untyped errors', s.untyped);
  list('Hangs', s.hangs);
  list('Crashes', s.crashes);
  list('Suspicious typed errors (GPU validation, shader compile, device lost)', s.suspicious);
  list('Cases that left live pool buffers behind', s.leaks);
  const p = s.pool;
  console.log(
    `Pool: first case ${JSON.stringify(p.first)}, last ${JSON.stringify(p.last)}; max live buffers ${p.maxLiveBuffers}, max free ${MB(p.maxFreeBytes)} MB, max created ${p.maxCreated}`,
  );
  console.log(`RSS: first ${s.rss.firstMB} MB, median ${s.rss.medianMB} MB, max ${s.rss.maxMB} MB, last ${s.rss.lastMB} MB`);
  console.log(`  every 100 cases, after gc: RSS MB ${s.rss.afterGcMB.join(', ') || '-'}`);
  console.log(`  JS heap MB ${s.rss.heapAfterGcMB.join(', ') || '-'}; pipelines ${s.rss.pipelines.join(', ') || '-'}`);
  console.log(`Slowest: ${s.slowest.map((x) => `#${x.id} ${x.model} ${x.kind} ${x.ms} ms (${x.outcome})`).join('; ')}`);
  const bad = s.untyped.length + s.hangs.length + s.crashes.length;
  console.log(`\nVerdict: ${s.untyped.length} untyped errors, ${s.hangs.length} hangs, ${s.crashes.length} crashes, ${s.leaks.length} leaking cases${bad ? '' : ' (pass)'}`);
}

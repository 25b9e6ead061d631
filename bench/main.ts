// Benchmarks: `npm run bench -- conv [options]`; `peers`, `e2e` and `startup`
// (issue 12) are described in bench/README.md and at their usage lines below.
//   --json <file>     write { adapter, records } as JSON
//   --batch <n>       images per batch (default 1)
//   --models a,b      yolov5n640,resnet18224 (default both)
//   --passes a,b      forward,grad_input,grad_weight,matmul,naive (default all)
//   --reps <n>        timed repetitions, median reported (default 20)
//   --warmup <n>      untimed repetitions first (default 3)
//   --filter <text>   only layers whose name contains text
//   --results <file>  append a summary to this markdown file (default bench/RESULTS.md; 'none' to skip)

import { writeFileSync, appendFileSync, existsSync } from 'node:fs';
import { init, runtime } from '../engine/index.js';
import { benchConv, totals, type ConvRecord, type Pass } from './conv.js';
import { precisionFlag, runE2e, runPeers, runStartup } from './commands.js';
import { startupChild } from './startup.js';
import { runF16 } from './f16.js';

function parseArgs(argv: string[]): { command: string; flags: Record<string, string> } {
  const [command = '', ...rest] = argv;
  const flags: Record<string, string> = {};
  for (let i = 0; i < rest.length; i++) {
    const a = rest[i];
    if (!a.startsWith('--')) throw new Error(`unexpected argument '${a}'`);
    flags[a.slice(2)] = rest[i + 1] ?? '';
    i++;
  }
  return { command, flags };
}

function summary(records: ConvRecord[], adapter: string, command: string, batch: number): string {
  const t = totals(records);
  const lines: string[] = [];
  lines.push(`\n## ${new Date().toISOString().slice(0, 10)} — ${adapter}\n`);
  lines.push(`Command: \`${command}\` (batch ${batch}; GPU time from timestamp queries, median per layer; totals weight each layer shape by its count in the model).\n`);
  lines.push('| model | pass | GFLOP | ms | GFLOP/s | vs forward | vs matmul | vs naive |');
  lines.push('|---|---|---|---|---|---|---|---|');
  for (const model of [...new Set(t.map((x) => x.model))]) {
    const of = (pass: Pass) => t.find((x) => x.model === model && x.pass === pass);
    const fwd = of('forward');
    for (const row of t.filter((x) => x.model === model)) {
      const ratio = (other: ReturnType<typeof of>) => (other ? `${((row.gflops / other.gflops) * 100).toFixed(0)}%` : '');
      const vsNaive = of('naive') && row.pass !== 'naive' ? `${(row.gflops / of('naive')!.gflops).toFixed(1)}x` : '';
      lines.push(`| ${model} | ${row.pass} | ${row.gflop.toFixed(2)} | ${row.ms.toFixed(3)} | ${row.gflops.toFixed(1)} | ${row.pass === 'forward' ? '' : ratio(fwd)} | ${row.pass === 'matmul' ? '' : ratio(of('matmul'))} | ${vsNaive} |`);
    }
  }
  // The three largest 3x3 layers, the GPU target's subject.
  const big = records
    .filter((r) => r.pass === 'forward' && / \d+x\d+x3x3 /.test(r.shape))
    .sort((a, b) => b.gflop - a.gflop)
    .slice(0, 3);
  if (big.length) {
    lines.push('');
    lines.push('Largest 3x3 convs (forward): ' + big.map((r) => `${r.layer} ${r.gflops.toFixed(0)} GFLOP/s`).join('; ') + '.');
  }
  return lines.join('\n') + '\n';
}

async function main(): Promise<number> {
  const { command, flags } = parseArgs(process.argv.slice(2));
  if (command === 'peers') return runPeers(flags);
  if (command === 'e2e') return runE2e(flags);
  if (command === 'startup') return runStartup(flags);
  if (command === 'f16') return runF16(flags);
  if (command === 'startup-child') return startupChild(flags);
  if (command !== 'conv') {
    console.error('usage: npm run bench -- conv [--json file] [--batch n] [--models a,b] [--passes a,b] [--reps n] [--warmup n] [--filter text] [--results file|none] [--precision f32|f16]');
    console.error('       npm run bench -- peers [--json file] [--reps n] [--warmup n] [--models a,b] [--parts forward,gradcam,conv] [--filter text]');
    console.error('       npm run bench -- e2e [--json file] [--reps n] [--warmup n] [--models a,b] [--steps a,b] [--scorecam-channels k] [--top n] [--precision f32|f16]');
    console.error('       npm run bench -- startup [--json file] [--warm-runs n] [--fresh-npx 1]');
    console.error('       npm run bench -- f16 [--json file] [--reps n] [--models a,b]');
    return 2;
  }
  const precision = precisionFlag(flags.precision);
  const rt = await init();
  rt.checkPrecision(precision);
  const adapter = `${rt.adapterDescription}${precision === 'f16' ? ' (f16 storage)' : ''}`;
  console.log(`adapter: ${adapter}`);
  const batch = Number(flags.batch ?? 1);
  const started = Date.now();
  const records = await benchConv({
    batch,
    models: (flags.models ?? 'yolov5n640,resnet18224').split(','),
    passes: (flags.passes ?? 'forward,grad_input,grad_weight,matmul,naive').split(',') as Pass[],
    reps: Number(flags.reps ?? 20),
    warmup: Number(flags.warmup ?? 3),
    filter: flags.filter,
    precision,
    log: (line) => console.log(line),
  });
  const cmd = `npm run bench -- conv ${process.argv.slice(3).join(' ')}`.trim();
  const text = summary(records, adapter, cmd, batch);
  console.log(text);
  console.log(`(${((Date.now() - started) / 1000).toFixed(1)} s)`);
  if (flags.json) {
    const info = runtime().handle.adapterInfo;
    const limits = runtime().handle.limits;
    writeFileSync(flags.json, JSON.stringify({
      adapter: { ...info, features: [...runtime().handle.features], maxComputeWorkgroupStorageSize: limits.maxComputeWorkgroupStorageSize, maxComputeInvocationsPerWorkgroup: limits.maxComputeInvocationsPerWorkgroup },
      batch,
      precision,
      records,
      totals: totals(records),
    }, null, 2));
  }
  const results = flags.results ?? 'bench/RESULTS.md';
  if (results !== 'none') {
    if (!existsSync(results)) writeFileSync(results, '# Benchmark results\n\nNewest last. Each section names the adapter, date and command.\n');
    appendFileSync(results, text);
  }
  return 0;
}

main().then((code) => process.exit(code), (e) => {
  console.error(e);
  process.exit(1);
});

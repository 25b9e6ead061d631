// Soak: `npm run soak -- --runs 1000`.
//
// Explains one committed model over and over with a rotating mix of methods
// (gradient CAMs, gradient-free ones with small batches, input-space ones),
// each run on a fresh seeded input, and records the buffer pool (live and free
// buffers and bytes, buffers ever created) and the process's memory (RSS, JS
// heap, array buffers) every --every runs, after a garbage collection when
// Node runs with --expose-gc (the npm script does). Prints the samples, the
// slope of each figure over the second half of the run (after warm-up) and a
// verdict: flat, or growing.
//
//   --runs N          explanations (default 1000)
//   --every K         sample every K runs (default runs/20)
//   --model FILE      the ONNX model (default test/fixtures/explain/resnet_mini.onnx)
//   --input-shape S   e.g. 1x3x48x192, for a model with dynamic dimensions
//   --layer NAME      target layer (default: each method's default layer)
//   --methods a,b     the mix (default: gradcam,gradcam++,xgradcam,hirescam,layercam,eigencam,eigengradcam,scorecam,ablationcam,fem,fullgrad,cam,guidedgradcam,occlusion)
//   --seed S          input seed (default 1)
//   --json FILE       samples and verdict as JSON

import { readFileSync, writeFileSync } from 'node:fs';
import { init, runtime, shutdown, Tensor } from '../engine/index.js';
import { explain, MethodNotApplicable, type AnyMethodOptions } from '../explainers/index.js';
import { OnnxGraphModel } from '../importers/onnx/model.js';
import { decodeModel } from '../importers/onnx/proto.js';
import { seededRandom } from '../engine/random.js';

const DEFAULT_METHODS = [
  'gradcam', 'gradcam++', 'xgradcam', 'hirescam', 'layercam', 'eigencam', 'eigengradcam',
  'scorecam', 'ablationcam', 'fem', 'fullgrad', 'cam', 'guidedgradcam', 'occlusion',
];

/** Per-method options that keep the gradient-free methods short (small batches, few channels). */
const METHOD_OPTIONS: Record<string, AnyMethodOptions> = {
  scorecam: { batchSize: 4, channels: [0, 1, 2, 3, 4, 5, 6, 7] },
  ablationcam: { batchSize: 4, channels: [0, 1, 2, 3, 4, 5, 6, 7] },
  occlusion: { patch: 8, stride: 8, batchSize: 16 },
  fem: { k: 1 },
};

interface Args {
  runs: number;
  every?: number;
  model: string;
  inputShape?: number[];
  layer?: string;
  methods: string[];
  seed: number;
  json?: string;
}

function parseArgs(argv: string[]): Args {
  const a: Args = { runs: 1000, model: 'test/fixtures/explain/resnet_mini.onnx', methods: DEFAULT_METHODS, seed: 1 };
  for (let i = 0; i < argv.length; i++) {
    const v = argv[i + 1];
    if (v === undefined && argv[i].startsWith('--')) throw new Error(`${argv[i]} needs a value`);
    switch (argv[i]) {
      case '--runs': a.runs = Number(v); break;
      case '--every': a.every = Number(v); break;
      case '--model': a.model = v; break;
      case '--input-shape': a.inputShape = v.split('x').map(Number); break;
      case '--layer': a.layer = v; break;
      case '--methods': a.methods = v.split(','); break;
      case '--seed': a.seed = Number(v); break;
      case '--json': a.json = v; break;
      default: throw new Error(`unknown argument '${argv[i]}' (see the comment at the top of scripts/soak.ts)`);
    }
    i++;
  }
  if (!Number.isInteger(a.runs) || a.runs < 1) throw new Error('--runs must be a positive integer');
  return a;
}

interface Sample {
  run: number;
  liveBuffers: number;
  liveMB: number;
  freeBuffers: number;
  freeMB: number;
  created: number;
  rssMB: number;
  heapMB: number;
  arrayBuffersMB: number;
  /** Mean milliseconds per explanation since the previous sample. */
  msPerRun: number;
}

const MB = (b: number) => +(b / 2 ** 20).toFixed(2);

/** Least-squares slope of y over x. */
function slope(xs: number[], ys: number[]): number {
  const n = xs.length;
  if (n < 2) return 0;
  const mx = xs.reduce((s, x) => s + x, 0) / n;
  const my = ys.reduce((s, y) => s + y, 0) / n;
  let num = 0;
  let den = 0;
  for (let i = 0; i < n; i++) {
    num += (xs[i] - mx) * (ys[i] - my);
    den += (xs[i] - mx) ** 2;
  }
  return den ? num / den : 0;
}

async function main(): Promise<number> {
  const args = parseArgs(process.argv.slice(2));
  const every = args.every ?? Math.max(1, Math.floor(args.runs / 20));
  const gc = typeof globalThis.gc === 'function' ? globalThis.gc : undefined;
  if (!gc) console.log('[soak] run with node --expose-gc (npm run soak does) for RSS after garbage collection; sampling without it');
  await init();
  const rt = runtime();
  console.log(`[soak] adapter: ${rt.adapterDescription}`);
  const decoded = decodeModel(readFileSync(args.model));
  const inputName = decoded.graph.inputs.find((v) => !decoded.graph.initializers.some((t) => t.name === v.name))?.name;
  const model = new OnnxGraphModel(decoded, args.inputShape && inputName ? { inputShapes: { [inputName]: args.inputShape } } : {});
  const shape = model.inputs[0].shape;
  console.log(`[soak] ${args.model}: input ${model.inputs[0].name} [${shape.join(', ')}], ${args.runs} runs, sample every ${every}`);

  const random = seededRandom(args.seed);
  let methods = [...args.methods];
  const dropped: Record<string, string> = {};
  const counts: Record<string, number> = {};
  const samples: Sample[] = [];
  let windowStart = performance.now();
  let windowRuns = 0;
  const sample = (run: number) => {
    gc?.();
    const p = rt.pool.stats();
    const m = process.memoryUsage();
    const now = performance.now();
    samples.push({
      run,
      liveBuffers: p.liveBuffers,
      liveMB: MB(p.liveBytes),
      freeBuffers: p.freeBuffers,
      freeMB: MB(p.freeBytes),
      created: p.created,
      rssMB: MB(m.rss),
      heapMB: MB(m.heapUsed),
      arrayBuffersMB: MB(m.arrayBuffers),
      msPerRun: windowRuns ? +((now - windowStart) / windowRuns).toFixed(1) : 0,
    });
    windowStart = now;
    windowRuns = 0;
  };
  sample(0);
  const started = performance.now();
  for (let run = 1; run <= args.runs; run++) {
    if (!methods.length) throw new Error('no method of the mix applies to this model');
    const method = methods[(run - 1) % methods.length];
    const data = new Float32Array(shape.reduce((n, d) => n * d, 1));
    for (let i = 0; i < data.length; i++) data[i] = random();
    const x = Tensor.fromData(data, shape);
    try {
      const options: AnyMethodOptions = { ...METHOD_OPTIONS[method], ...(args.layer && method !== 'fullgrad' ? { layers: args.layer } : {}) };
      // Every 7th run also smooths (eigen_smooth), a different code path.
      if (run % 7 === 0 && method !== 'fullgrad' && method !== 'occlusion') options.eigenSmooth = true;
      const r = await explain(model, x, method, options);
      if (!r.map.every(Number.isFinite)) throw new Error(`${method}: non-finite map at run ${run}`);
      counts[method] = (counts[method] ?? 0) + 1;
    } catch (e) {
      if (e instanceof MethodNotApplicable && !counts[method]) {
        dropped[method] = e.message;
        methods = methods.filter((m) => m !== method);
        console.log(`[soak] ${method} does not apply to this model, left out: ${e.message}`);
        run--;
        continue;
      }
      throw e;
    } finally {
      x.dispose();
    }
    windowRuns++;
    if (run % every === 0 || run === args.runs) sample(run);
  }
  const seconds = (performance.now() - started) / 1000;
  model.dispose();
  await rt.sync();
  const afterDispose = rt.pool.stats();

  console.log(`\n[soak] ${args.runs} explanations in ${seconds.toFixed(0)} s (${(seconds / args.runs * 1000).toFixed(0)} ms each); methods: ${Object.entries(counts).map(([m, n]) => `${m} ${n}`).join(', ')}`);
  console.table(samples);

  // Slopes over the second half (the first runs compile pipelines and fill the pool's free lists).
  const tail = samples.filter((s) => s.run >= args.runs / 2);
  const xs = tail.map((s) => s.run);
  const per1000 = (key: keyof Sample) => +(slope(xs, tail.map((s) => s[key] as number)) * 1000).toFixed(3);
  const slopes = {
    rssMBPer1000: per1000('rssMB'),
    heapMBPer1000: per1000('heapMB'),
    arrayBuffersMBPer1000: per1000('arrayBuffersMB'),
    liveBuffersPer1000: per1000('liveBuffers'),
    freeMBPer1000: per1000('freeMB'),
    createdPer1000: per1000('created'),
  };
  const first = tail[0];
  const last = tail.at(-1)!;
  const rssBase = first?.rssMB ?? 0;
  // Flat: the pool's live set is constant and it creates no new buffers; RSS rises by less than 2% (at least 10 MB)
  // per 1000 runs, or by less than 3 MB over the whole second half (a short run's slope is mostly noise).
  const poolFlat = tail.every((s) => s.liveBuffers === first.liveBuffers) && last.created === first.created;
  const rise = (slopes.rssMBPer1000 / 1000) * (last.run - first.run);
  const rssFlat = slopes.rssMBPer1000 < Math.max(10, 0.02 * rssBase) || rise < 3;
  // RSS moves by several MB between samples (allocator, driver): over fewer than 250 runs a rise cannot be told from noise.
  const short = last.run - first.run < 250;
  const verdict = !poolFlat ? 'growing' : rssFlat ? 'flat' : short ? 'inconclusive (RSS rose, but the run is too short to tell: use --runs 1000)' : 'growing';
  console.log(`[soak] slopes over runs ${first?.run}..${last?.run} (per 1000 runs): ${JSON.stringify(slopes)}`);
  console.log(`[soak] pool after the model was disposed: ${JSON.stringify(afterDispose)}`);
  if (Object.keys(dropped).length) console.log(`[soak] methods left out: ${Object.keys(dropped).join(', ')}`);
  console.log(
    `[soak] verdict: ${verdict} (pool ${poolFlat ? 'flat' : 'growing'}: live ${first?.liveBuffers} -> ${last?.liveBuffers} buffers, created ${first?.created} -> ${last?.created}; ` +
      `RSS ${first?.rssMB} -> ${last?.rssMB} MB, slope ${slopes.rssMBPer1000} MB per 1000 runs, fitted rise ${rise.toFixed(1)} MB over runs ${first?.run}..${last?.run})`,
  );
  if (args.json) {
    writeFileSync(args.json, JSON.stringify({ args, seconds, counts, dropped, samples, slopes, verdict, afterDispose }, null, 1));
    console.log(`[soak] wrote ${args.json}`);
  }
  await shutdown();
  return verdict !== 'growing' && afterDispose.liveBuffers === 0 ? 0 : 1;
}

process.exitCode = await main();

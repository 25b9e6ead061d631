#!/usr/bin/env node
// The in-browser explainer (web/): build it into a static folder, or serve it.
//
//   node scripts/web.mjs build [--out dist-web]        (npm run build:web)
//   node scripts/web.mjs serve [--port 8080] [--out dist-web] [--watch]   (npm run web -- --port 8080)
//
// The folder holds index.html, style.css, main.js (the page), worker.js (the
// engine, a module Web Worker) and assets/ (the CLI's embedded default model
// and photo, explainers/assets). Any static host can serve it; `serve` is a
// tiny static server bound to 127.0.0.1 only (the page makes no request
// anywhere else). Both JS files are bundled with esbuild; the WGSL kernels are
// inlined as text, as in the package build (scripts/build.mjs).

import { build, context } from 'esbuild';
import { copyFileSync, createReadStream, existsSync, mkdirSync, rmSync, statSync } from 'node:fs';
import { createServer } from 'node:http';
import { dirname, extname, join, normalize, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** The files copied as they are: [source, destination in the folder]. */
const STATIC = [
  ['web/index.html', 'index.html'],
  ['web/style.css', 'style.css'],
  ['explainers/assets/yolo_fastest_1.1_coco.onnx', 'assets/yolo_fastest_1.1_coco.onnx'],
  ['explainers/assets/dog.jpg', 'assets/dog.jpg'],
  ['explainers/assets/LICENSES.md', 'assets/LICENSES.md'],
];

function esbuildOptions(outdir) {
  return {
    absWorkingDir: root,
    entryPoints: { main: 'web/main.ts', worker: 'web/worker.ts' },
    outdir,
    bundle: true,
    format: 'esm',
    platform: 'browser',
    // WebGPU browsers: Chrome/Edge 113+, Safari 26, Firefox 141.
    target: ['es2022'],
    loader: { '.wgsl': 'text' },
    minify: true,
    sourcemap: 'linked',
    legalComments: 'eof',
    metafile: true,
    logLevel: 'warning',
  };
}

function copyStatic(outdir) {
  for (const [from, to] of STATIC) {
    mkdirSync(dirname(join(outdir, to)), { recursive: true });
    copyFileSync(join(root, from), join(outdir, to));
  }
}

/** Bytes of each output, for the report. */
function sizes(metafile) {
  return Object.fromEntries(Object.entries(metafile.outputs).map(([file, o]) => [file.split('/').pop(), o.bytes]));
}

/** Builds the static folder; returns its path and the size of each bundle. */
export async function buildWeb({ out = 'dist-web', quiet = false } = {}) {
  const t0 = performance.now();
  const outdir = resolve(root, out);
  rmSync(outdir, { recursive: true, force: true });
  const result = await build(esbuildOptions(outdir));
  checkBundle(result.metafile);
  copyStatic(outdir);
  const s = sizes(result.metafile);
  if (!quiet) {
    const kb = (b) => `${(b / 1024).toFixed(1)} KiB`;
    console.error(`build:web: ${out}/ main.js ${kb(s['main.js'])}, worker.js ${kb(s['worker.js'])} (${((performance.now() - t0) / 1000).toFixed(1)} s)`);
  }
  return { outdir, sizes: s };
}

/** The page bundle must not carry the engine, and neither may reach Node built-ins. */
function checkBundle(metafile) {
  const problems = [];
  for (const [out, o] of Object.entries(metafile.outputs)) {
    if (!out.endsWith('.js')) continue;
    const inputs = Object.keys(o.inputs);
    if (out.endsWith('main.js') && inputs.some((i) => i.startsWith('engine/runtime') || i.startsWith('engine/ops/'))) problems.push('main.js bundles the GPU engine (it belongs in worker.js)');
    for (const imp of o.imports ?? []) if (imp.external) problems.push(`${out} imports '${imp.path}' at run time`);
  }
  if (problems.length) throw new Error(`build:web: ${problems.join('; ')}`);
}

const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json',
  '.json': 'application/json',
  '.md': 'text/markdown; charset=utf-8',
  '.jpg': 'image/jpeg',
  '.png': 'image/png',
  '.onnx': 'application/octet-stream',
};

/** Serves `dir` on 127.0.0.1:port (0: any free port); resolves to { server, url }. */
export function serveStatic(dir, port = 8080) {
  const base = resolve(dir);
  const server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://127.0.0.1').pathname);
    const file = normalize(join(base, path.endsWith('/') ? `${path}index.html` : path));
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405).end();
      return;
    }
    if (!(file === base || file.startsWith(base + sep)) || !existsSync(file) || !statSync(file).isFile()) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
      return;
    }
    res.writeHead(200, {
      'content-type': TYPES[extname(file)] ?? 'application/octet-stream',
      'content-length': statSync(file).size,
      'cache-control': 'no-store',
      'x-content-type-options': 'nosniff',
    });
    if (req.method === 'HEAD') res.end();
    else createReadStream(file).pipe(res);
  });
  return new Promise((resolvePromise, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      const { port: p } = server.address();
      resolvePromise({ server, url: `http://127.0.0.1:${p}/` });
    });
  });
}

function flag(argv, name, fallback) {
  const i = argv.indexOf(`--${name}`);
  if (i >= 0) return argv[i + 1];
  const eq = argv.find((a) => a.startsWith(`--${name}=`));
  return eq ? eq.slice(name.length + 3) : fallback;
}

async function main(argv) {
  const command = argv[0];
  const out = flag(argv, 'out', 'dist-web');
  if (command === 'build') {
    await buildWeb({ out });
    return;
  }
  if (command === 'serve') {
    const port = Number(flag(argv, 'port', '8080'));
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`--port must be a port number, not '${flag(argv, 'port')}'`);
    const { outdir } = await buildWeb({ out });
    if (argv.includes('--watch')) {
      const ctx = await context({ ...esbuildOptions(outdir), plugins: [{ name: 'rebuilt', setup: (b) => b.onEnd((r) => void (r.errors.length || (copyStatic(outdir), console.error('build:web: rebuilt')))) }] });
      await ctx.watch();
    }
    const { url } = await serveStatic(outdir, port);
    console.error(`gradlens web: ${url} (Ctrl-C to stop)`);
    return;
  }
  console.error('usage: node scripts/web.mjs build [--out dist-web] | serve [--port 8080] [--out dist-web] [--watch]');
  process.exitCode = 2;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).catch((e) => {
    console.error(e.message ?? e);
    process.exit(1);
  });
}

#!/usr/bin/env node
// Runs a TypeScript entry (bench, scripts) in Node: bundles it with esbuild
// (WGSL imported as text, native packages left external) and imports it.
// Usage: node scripts/run-ts.mjs <entry.ts> [args...]
import { build } from 'esbuild';
import { mkdirSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const [entry, ...args] = process.argv.slice(2);
if (!entry) {
  console.error('usage: node scripts/run-ts.mjs <entry.ts> [args...]');
  process.exit(2);
}
const outDir = resolve('node_modules/.cache/gradlens');
mkdirSync(outDir, { recursive: true });
const outfile = resolve(outDir, basename(entry).replace(/\.ts$/, '.mjs'));
await build({
  entryPoints: [entry],
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  outfile,
  loader: { '.wgsl': 'text' },
  external: ['webgpu', 'onnxruntime-node', 'playwright-core', 'sharp'],
  logLevel: 'warning',
  banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
});
process.argv = [process.argv[0], resolve(entry), ...args];
await import(pathToFileURL(outfile).href);

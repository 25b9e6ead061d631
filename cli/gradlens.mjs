#!/usr/bin/env node
// The `gradlens` command (package.json "bin"). Node cannot import the
// TypeScript sources directly, so this bundles cli/main.ts with esbuild (WGSL
// as text, native and CommonJS packages left external) into
// node_modules/.cache/gradlens/cli.mjs, rebuilding only when a source file
// the last bundle was made from is newer than it (or gone), then runs it.

import { build } from 'esbuild';
import { mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const cacheDir = resolve(root, 'node_modules/.cache/gradlens');
const bundle = resolve(cacheDir, 'cli.mjs');
const inputsFile = resolve(cacheDir, 'cli.inputs.json');

function mtime(path) {
  try {
    return statSync(path).mtimeMs;
  } catch {
    return undefined;
  }
}

/** True when there is no bundle, or a file it was built from changed or disappeared since. */
function stale() {
  const built = mtime(bundle);
  if (built === undefined) return true;
  let inputs;
  try {
    inputs = JSON.parse(readFileSync(inputsFile, 'utf8'));
  } catch {
    return true;
  }
  return inputs.some((file) => !((mtime(resolve(root, file)) ?? Infinity) <= built));
}

if (stale()) {
  mkdirSync(cacheDir, { recursive: true });
  const result = await build({
    entryPoints: [resolve(root, 'cli/main.ts')],
    absWorkingDir: root,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    write: false,
    metafile: true,
    outfile: bundle,
    loader: { '.wgsl': 'text' },
    external: ['webgpu', 'onnxruntime-node', 'pngjs', 'jpeg-js'],
    logLevel: 'warning',
    banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
  });
  // Write then rename, so a second gradlens starting meanwhile never imports half a file.
  const tmp = `${bundle}.${process.pid}.tmp`;
  writeFileSync(tmp, result.outputFiles[0].contents);
  renameSync(tmp, bundle);
  writeFileSync(inputsFile, JSON.stringify(Object.keys(result.metafile.inputs)));
}

const { cli } = await import(pathToFileURL(bundle).href);
await cli(process.argv.slice(2));

#!/usr/bin/env node
// Compiles the main job's kernels once at install (`prepare`, after the build),
// so the first `npx gradlens explain` does not pay for it.
//
// Why: a software Vulkan driver (Mesa lavapipe, the CI adapter) compiles each
// compute pipeline at its first dispatch, about 15-35 s for the default
// explanation's GEMM-family kernels on 2 cores, and keeps the result in its
// disk cache (~/.cache/mesa_shader_cache). Running the default explanation
// here fills that cache; a GPU driver compiles in well under a second and
// this costs it about as long as one explanation.
//
// Never fails the install: without a WebGPU adapter (or on any error) it says
// so in one line and exits 0. GRADLENS_NO_WARM=1 skips it; `npm pack` and
// `npm publish` skip it too (they only build).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const skip =
  process.env.GRADLENS_NO_WARM === '1' ||
  ['pack', 'publish'].includes(process.env.npm_command ?? '') ||
  !existsSync(resolve(root, 'dist/cli/main.js')) ||
  !existsSync(resolve(root, 'node_modules/webgpu'));
if (skip) process.exit(0);

const dir = mkdtempSync(join(tmpdir(), 'gradlens-warm-'));
const started = performance.now();
const run = spawnSync(process.execPath, [resolve(root, 'cli/gradlens.mjs'), 'explain', '--out', join(dir, 'warm.png')], {
  cwd: root,
  encoding: 'utf8',
  timeout: 300_000,
});
rmSync(dir, { recursive: true, force: true });
const seconds = ((performance.now() - started) / 1000).toFixed(1);
if (run.status === 0) {
  console.error(`warm: compiled the default explanation's kernels into the driver's cache (${seconds} s; GRADLENS_NO_WARM=1 skips this)`);
} else {
  const why = run.error?.message ?? (run.stderr || run.stdout).trim().split('\n').pop();
  console.error(`warm: skipped (${why}); the first explanation will compile its kernels instead`);
}

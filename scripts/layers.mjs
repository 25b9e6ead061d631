#!/usr/bin/env node
// The layering rule, checked over the import graph:
//
//   shaders <- engine <- importers <- explainers <- cli / web
//
// A file may import from its own layer folder or from layers to its left;
// anything else is an upward or sideways edge. Above the engine, code reaches
// the engine only through its two entries: engine/index.ts (the public API)
// and engine/host.ts (the GPU-free part: shapes, op geometry, errors, the model
// contract, the float64 reference). Graph preparation (importers/onnx/graph.ts
// and plan.ts) must not load the GPU runtime, counting only imports that exist
// at run time (`import type` is erased). Library layers import no `node:`
// modules: they run in a browser's Web Worker too.
//
// Usage: node scripts/layers.mjs [root]   (prints every violation; exit 1 if any)

import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const LAYERS = ['shaders', 'engine', 'importers', 'explainers', ['cli', 'web']];
const rankOf = (folder) => LAYERS.findIndex((l) => (Array.isArray(l) ? l.includes(folder) : l === folder));
export const ENGINE_ENTRIES = ['engine/index.ts', 'engine/host.ts'];
const GPU_FREE = ['importers/onnx/graph.ts', 'importers/onnx/plan.ts'];
const GPU_MODULES = /^engine\/(runtime\.ts|device\/|kernels\/|ops\/(?!registry))/;

function listFiles(root, dir) {
  const abs = join(root, dir);
  if (!existsSync(abs)) return [];
  return readdirSync(abs).flatMap((name) => {
    const rel = `${dir}/${name}`;
    if (statSync(join(root, rel)).isDirectory()) return name === 'node_modules' ? [] : listFiles(root, rel);
    return /\.(ts|mjs|wgsl)$/.test(name) && !name.endsWith('.d.ts') ? [rel] : [];
  });
}

/** Every import of every source file: { from, to (repo path or bare specifier), typeOnly }. */
export function importGraph(root) {
  const folders = LAYERS.flat();
  const files = folders.flatMap((f) => listFiles(root, f)).filter((f) => !f.endsWith('.wgsl'));
  const edges = [];
  const pattern = /(?:^|\n)\s*(import|export)\s+(type\s+)?(?:[^'";]*?\sfrom\s+)?['"]([^'"]+)['"]|(?<!typeof )import\(\s*(?:\/\*.*?\*\/\s*)?['"]([^'"]+)['"]\s*\)/g;
  for (const from of files) {
    const src = readFileSync(join(root, from), 'utf8');
    for (const m of src.matchAll(pattern)) {
      const spec = m[3] ?? m[4];
      const typeOnly = Boolean(m[2]);
      const to = spec.startsWith('.') ? relative(root, resolve(root, dirname(from), spec)).replace(/\.js$/, '.ts') : spec;
      edges.push({ from, to, typeOnly });
    }
  }
  return { files, edges };
}

/** The violations of the layering rule, one line each. */
export function checkLayers(graph) {
  const bad = [];
  const top = (p) => p.split('/')[0];
  for (const { from, to } of graph.edges) {
    if (to.startsWith('node:')) {
      if (rankOf(top(from)) < rankOf('cli')) bad.push(`${from} imports ${to}: library layers must also run in a browser worker`);
      continue;
    }
    if (!to.includes('/') || !existsSyncLike(graph, to)) continue; // a package
    const a = top(from);
    const b = top(to);
    if (rankOf(b) < 0) continue;
    if (rankOf(b) > rankOf(a) || (rankOf(b) === rankOf(a) && a !== b)) bad.push(`${from} imports ${to}: ${a} may not import ${b} (upward or sideways)`);
    else if (b === 'engine' && a !== 'engine' && !ENGINE_ENTRIES.includes(to)) {
      bad.push(`${from} imports ${to}: above the engine, use engine/index.ts or engine/host.ts`);
    }
  }
  for (const start of GPU_FREE) {
    const path = runtimePath(graph, start, (f) => GPU_MODULES.test(f));
    if (path) bad.push(`${start} loads the GPU runtime at run time: ${path.join(' -> ')}`);
  }
  return bad;
}

function existsSyncLike(graph, to) {
  return graph.files.includes(to) || to.endsWith('.wgsl');
}

/** A chain of run-time imports from `start` to a file matching `target`, or null. */
function runtimePath(graph, start, target) {
  const next = new Map();
  for (const e of graph.edges) if (!e.typeOnly && graph.files.includes(e.to)) next.set(e.from, [...(next.get(e.from) ?? []), e.to]);
  const parent = new Map([[start, null]]);
  const queue = [start];
  while (queue.length) {
    const f = queue.shift();
    if (target(f)) {
      const path = [];
      for (let p = f; p; p = parent.get(p)) path.unshift(p);
      return path;
    }
    for (const n of next.get(f) ?? []) if (!parent.has(n)) (parent.set(n, f), queue.push(n));
  }
  return null;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const root = resolve(process.argv[2] ?? '.');
  const bad = checkLayers(importGraph(root));
  for (const line of bad) console.log(line);
  console.log(`${bad.length} layering violation(s)`);
  process.exit(bad.length ? 1 : 0);
}

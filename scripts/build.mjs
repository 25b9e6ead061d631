#!/usr/bin/env node
// Builds the published package into dist/ (`npm run build`; run by `prepare`
// and `prepack`):
//
//   dist/engine/index.js, dist/importers/index.js, dist/explainers/index.js
//                        the typed ESM entry points (package.json "exports")
//   dist/cli/main.js     the command line (cli/gradlens.mjs imports it)
//   dist/chunks/*.js     code shared between them: ONE copy of the engine, whose
//                        tape and runtime are module singletons
//   dist/types/**.d.ts   declarations (tsc -p tsconfig.build.json)
//
// Runtime npm dependencies ("dependencies") stay external imports; a bundle
// that reaches a devDependency (onnxruntime-node, playwright-core, ...) or any
// package not in "dependencies" fails the build, since an installed package
// would not have it. (The engine loads `webgpu` through import(variable), which
// esbuild leaves as it is.) Nothing bundled is CommonJS, so no createRequire
// banner: the build fails if some output would call require().
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const pkg = JSON.parse(readFileSync(resolve(root, 'package.json'), 'utf8'));
const deps = Object.keys(pkg.dependencies ?? {});
const devDeps = Object.keys(pkg.devDependencies ?? {});

// `npm pack` / `npm publish` run both `prepack` and `prepare`: build once (in prepack).
if (process.env.npm_lifecycle_event === 'prepare' && ['pack', 'publish'].includes(process.env.npm_command ?? '')) {
  process.exit(0);
}

const t0 = performance.now();
const outdir = resolve(root, 'dist');

// dist/ is rebuilt only when an input changed: the first `npx gradlens` in a
// folder installs it and runs `prepare` again (6.6 s of a cold first run).
// The inputs: the sources, the lock file (tool versions) and the build's own
// configuration; `--force` rebuilds anyway.
const stampPath = resolve(outdir, '.inputs-sha256');
const inputsHash = (() => {
  const hash = createHash('sha256');
  const add = (rel) => hash.update(`${rel}\0`).update(readFileSync(resolve(root, rel))).update('\0');
  for (const dir of ['engine', 'importers', 'explainers', 'cli', 'shaders']) {
    const files = readdirSync(resolve(root, dir), { recursive: true }).map(String).filter((f) => statSync(resolve(root, dir, f)).isFile());
    for (const f of files.sort()) add(`${dir}/${f}`);
  }
  for (const f of ['package.json', 'package-lock.json', 'tsconfig.json', 'tsconfig.build.json', 'scripts/build.mjs']) if (existsSync(resolve(root, f))) add(f);
  return hash.digest('hex');
})();
if (!process.argv.includes('--force') && existsSync(stampPath) && readFileSync(stampPath, 'utf8') === inputsHash) {
  console.error('build: dist/ is up to date with the sources (npm run build -- --force rebuilds it)');
  process.exit(0);
}
rmSync(outdir, { recursive: true, force: true });

const result = await build({
  absWorkingDir: root,
  entryPoints: ['engine/index.ts', 'importers/index.ts', 'explainers/index.ts', 'cli/main.ts'],
  outbase: '.',
  outdir: 'dist',
  chunkNames: 'chunks/[name]-[hash]',
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  loader: { '.wgsl': 'text' },
  // A package name also covers its subpaths (wgsl_reflect/wgsl_reflect.module.js).
  external: deps,
  metafile: true,
  sourcemap: false,
  legalComments: 'none',
  logLevel: 'warning',
}).catch(() => process.exit(1)); // esbuild has printed the errors

/** The package a bundled file comes from ('@scope/name' or 'name'), or undefined for the project's own. */
const packageOfFile = (path) => /(?:^|\/)node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(path)?.[1];
/** The package an import specifier names, or undefined. */
function packageOfSpecifier(spec) {
  if (/^[./<]|^node:/.test(spec)) return undefined; // relative, absolute, built-in, or esbuild's '<runtime>'
  return spec.split('/').slice(0, spec.startsWith('@') ? 2 : 1).join('/');
}

const problems = [];
for (const [input, info] of Object.entries(result.metafile.inputs)) {
  const bundled = packageOfFile(input);
  if (bundled !== undefined) {
    problems.push(`${input} is bundled from ${devDeps.includes(bundled) ? 'the devDependency' : 'the package'} '${bundled}'`);
  }
  for (const imp of info.imports) {
    if (!imp.external) continue;
    const name = packageOfSpecifier(imp.path);
    // Node built-ins are fine; any other external import must be a runtime dependency.
    if (name === undefined || builtinModules.includes(name)) continue;
    if (!deps.includes(name)) {
      problems.push(`${input} imports '${imp.path}', which is ${devDeps.includes(name) ? 'a devDependency' : 'not a dependency'}`);
    }
  }
}
// No bundled CommonJS should need `require` (esbuild's ESM shim throws "Dynamic require ... is not supported").
for (const out of Object.keys(result.metafile.outputs)) {
  if (out.endsWith('.js') && /\b__require\(/.test(readFileSync(resolve(root, out), 'utf8'))) {
    problems.push(`${out} calls require(): bundled CommonJS needs a createRequire banner`);
  }
}
if (problems.length) {
  console.error(`build: the bundle reaches code an installed gradlens would not have:\n  ${problems.join('\n  ')}`);
  process.exit(1);
}

// Declarations (and a type check of the published sources).
const tsc = resolve(root, 'node_modules/typescript/bin/tsc');
try {
  execFileSync(process.execPath, [tsc, '-p', 'tsconfig.build.json'], { cwd: root, stdio: 'inherit' });
} catch {
  console.error('build: declaration emit failed (tsc -p tsconfig.build.json)');
  process.exit(1);
}

// A declaration must only import declarations that ship (an import of a .wgsl
// file or of a module typed by one of our ambient .d.ts files, e.g.
// shaders/wgsl.d.ts, would not resolve for a consumer) or a runtime dependency.
const typeProblems = [];
for (const file of readdirSync(resolve(outdir, 'types'), { recursive: true })) {
  if (!file.endsWith('.d.ts')) continue;
  const path = resolve(outdir, 'types', file);
  for (const [, spec] of readFileSync(path, 'utf8').matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*|\/\/\/\s*<reference\s+(?:path|types)=)['"]([^'"]+)['"]/g)) {
    const name = packageOfSpecifier(spec);
    const ok = spec.startsWith('.')
      ? existsSync(resolve(dirname(path), spec.replace(/\.js$/, '.d.ts')))
      : spec.startsWith('node:') || deps.includes(name) || builtinModules.includes(name);
    if (!ok) {
      typeProblems.push(`dist/types/${file} refers to '${spec}'`);
    }
  }
}
if (typeProblems.length) {
  console.error(`build: declarations that would not resolve in an installed gradlens:\n  ${typeProblems.join('\n  ')}`);
  process.exit(1);
}

writeFileSync(stampPath, inputsHash);
const outputs = Object.keys(result.metafile.outputs).filter((f) => f.endsWith('.js'));
console.error(`build: ${outputs.length} modules and declarations in dist/ (${((performance.now() - t0) / 1000).toFixed(1)} s)`);

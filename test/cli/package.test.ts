// The published package: `npm pack` (its prepack hook builds dist/), then
// `npm install <tarball>` into an empty project, which must get a working
// `npx gradlens explain` and typed ESM entry points (gradlens/engine,
// gradlens/importers, gradlens/explainers) with nothing from devDependencies.

import { execFile } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PNG } from 'pngjs';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { decodeImage } from '../../explainers/node-image.js';

const repo = resolve(fileURLToPath(import.meta.url), '../../..');
const tmp = mkdtempSync(join(tmpdir(), 'gradlens-package-'));
const project = join(tmp, 'project');
const TIMEOUT = 300_000;

// Without the npm_* variables of an `npm test` around us, so the child npm
// works out its own project (npm_config_local_prefix would point at the repo).
const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^npm_/i.test(k)));

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function run(cmd: string, args: readonly string[], cwd: string): Promise<Run> {
  return new Promise((done) => {
    execFile(cmd, args, { cwd, env, encoding: 'utf8', maxBuffer: 64 << 20, timeout: TIMEOUT }, (error, stdout, stderr) => {
      done({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr });
    });
  });
}

/** Runs a command that must succeed; its output in the failure message otherwise. */
async function ok(cmd: string, args: readonly string[], cwd: string): Promise<Run> {
  const r = await run(cmd, args, cwd);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.code}\n${r.stdout}\n${r.stderr}`);
  return r;
}

/** Every package name in a node_modules tree, nested ones included. */
function installedPackages(dir: string): string[] {
  if (!existsSync(dir)) return [];
  const names: string[] = [];
  for (const entry of readdirSync(dir)) {
    if (entry.startsWith('.')) continue;
    const scoped = entry.startsWith('@') ? readdirSync(join(dir, entry)).map((s) => `${entry}/${s}`) : [entry];
    for (const name of scoped) names.push(name, ...installedPackages(join(dir, name, 'node_modules')));
  }
  return names;
}

let tarball = '';

beforeAll(async () => {
  const packDir = join(tmp, 'pack');
  mkdirSync(packDir);
  // Pack a copy of the working tree: npm pack rebuilds dist/, which other test
  // files running at the same time read through the CLI launcher.
  const source = join(tmp, 'source');
  const files = (await ok('git', ['ls-files', '-co', '--exclude-standard', '-z'], repo)).stdout.split('\0').filter(Boolean);
  for (const file of files) {
    if (!existsSync(join(repo, file))) continue; // deleted in the working tree
    mkdirSync(dirname(join(source, file)), { recursive: true });
    copyFileSync(join(repo, file), join(source, file));
  }
  symlinkSync(join(repo, 'node_modules'), join(source, 'node_modules'));
  await ok('npm', ['pack', '--pack-destination', packDir], source);
  const tgz = readdirSync(packDir).filter((f) => f.endsWith('.tgz'));
  expect(tgz).toHaveLength(1);
  tarball = join(packDir, tgz[0]);
  mkdirSync(project);
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'gradlens-consumer', private: true, type: 'module' }));
  await ok('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', tarball], project);
}, TIMEOUT);

afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('the npm package', () => {
  test('holds dist/, the embedded default model and photo, the launcher and the README, nothing else', async () => {
    const files = (await ok('tar', ['-tzf', tarball], tmp)).stdout.split('\n').filter(Boolean);
    const allowed = /^package\/(dist\/.+\.(js|d\.ts)|explainers\/assets\/[^/]+|cli\/gradlens\.mjs|README\.md|package\.json|LICEN[CS]E[^/]*)$/;
    expect(files.filter((f) => !allowed.test(f))).toEqual([]);
    for (const f of ['dist/cli/main.js', 'dist/engine/index.js', 'dist/types/engine/index.d.ts', 'explainers/assets/yolo_fastest_1.1_coco.onnx', 'explainers/assets/dog.jpg']) {
      expect(files).toContain(`package/${f}`);
    }
  });

  test('installs without any devDependency', () => {
    const installed = installedPackages(join(project, 'node_modules'));
    expect(installed).toContain('gradlens');
    expect(installed).toContain('webgpu');
    const devOnly = ['esbuild', 'vitest', 'typescript', 'onnxruntime-node', 'playwright-core'];
    expect(installed.filter((name) => devOnly.includes(name) || name.startsWith('@esbuild/'))).toEqual([]);
  });

  test('npx gradlens explain explains the embedded default into a PNG', async () => {
    const out = join(tmp, 'o.png');
    const r = await run('npx', ['--no', 'gradlens', 'explain', '--out', out], project);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/wrote .*o\.png/);
    const bytes = readFileSync(out);
    expect([...bytes.subarray(0, 8)]).toEqual([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
    const png = PNG.sync.read(bytes);
    const photo = decodeImage(readFileSync(join(repo, 'explainers/assets/dog.jpg')));
    expect([png.width, png.height]).toEqual([photo.width, photo.height]);
  });

  test('the ESM entry points share one engine', async () => {
    writeFileSync(
      join(project, 'use.mjs'),
      `import { readFileSync } from 'node:fs';
import { backward, fill, mul, shutdown, sum, tensor } from 'gradlens/engine';
import { loadOnnx, readNpy, writeNpy } from 'gradlens/importers';
import { explain, methods } from 'gradlens/explainers';
import * as root from 'gradlens';

const out = { rootIsEngine: root.tensor === tensor };
// loadOnnx (gradlens/importers) initializes the engine; gradlens/engine then
// works without an init() of its own only if both are the same engine instance.
const model = await loadOnnx(readFileSync(new URL('./node_modules/gradlens/explainers/assets/yolo_fastest_1.1_coco.onnx', import.meta.url)));
const x = tensor([1, 2, 3], [3], { requiresGrad: true });
backward(sum(mul(x, x)));
out.grad = Array.from(await x.grad.data());
out.npy = Array.from(readNpy(writeNpy([1, 2], [2])).data);
out.gradcam = 'gradcam' in methods;
// An engine tensor into the imported model, explained.
const input = model.inputs[0];
const result = await explain(model, { [input.name]: fill([...input.shape], 0.5) }, 'gradcam', {
  layers: '/mods.118/act/LeakyRelu_output_0',
  target: (outputs) => sum(Object.values(outputs)[0]),
});
out.map = [result.batch, result.height, result.width, input.shape[2], input.shape[3]];
console.log(JSON.stringify(out));
await shutdown();
`,
    );
    const r = await ok('node', ['use.mjs'], project);
    const out = JSON.parse(r.stdout.trim().split('\n').at(-1)!);
    expect(out.rootIsEngine).toBe(true);
    expect(out.grad).toEqual([2, 4, 6]);
    expect(out.npy).toEqual([1, 2]);
    expect(out.gradcam).toBe(true);
    const [batch, height, width, inputHeight, inputWidth] = out.map;
    expect([batch, height, width]).toEqual([1, inputHeight, inputWidth]);
  });

  test('the entry points are typed: tsc accepts correct use and rejects a wrong one', async () => {
    const compilerOptions = {
      strict: true,
      noEmit: true,
      target: 'ES2022',
      lib: ['ES2022', 'DOM'],
      module: 'NodeNext',
      moduleResolution: 'NodeNext',
      skipLibCheck: false, // check the shipped .d.ts files too
      // GPU* globals from @webgpu/types, Buffer & co. from @types/node (the repo's copies).
      typeRoots: [join(repo, 'node_modules/@types'), join(repo, 'node_modules/@webgpu')],
      types: ['node', 'types'],
    };
    const good = `import { backward, sum, tensor, type Tensor } from 'gradlens/engine';
import { loadOnnx, type OnnxGraphModel } from 'gradlens/importers';
import { explain, methods, type ExplainResult } from 'gradlens/explainers';
import { tensor as rootTensor } from 'gradlens';

const x: Tensor = tensor([1, 2, 3], [3], { requiresGrad: true });
backward(sum(x));
export const grad: Promise<Float32Array> | undefined = x.grad?.data();
export const model: Promise<OnnxGraphModel> = loadOnnx(new Uint8Array(0));
export const explained = (m: OnnxGraphModel): Promise<ExplainResult> => explain(m, x, 'gradcam');
export const names: string[] = Object.keys(methods);
export const same: typeof tensor = rootTensor;
`;
    writeFileSync(join(project, 'good.ts'), good);
    writeFileSync(join(project, 'bad.ts'), `${good}\nexport const wrong = tensor('x', [1]);\n`);
    writeFileSync(join(project, 'tsconfig.good.json'), JSON.stringify({ compilerOptions, files: ['good.ts'] }));
    writeFileSync(join(project, 'tsconfig.bad.json'), JSON.stringify({ compilerOptions, files: ['bad.ts'] }));
    const tsc = join(repo, 'node_modules/typescript/bin/tsc');
    const [goodRun, badRun] = await Promise.all([
      run('node', [tsc, '-p', 'tsconfig.good.json'], project),
      run('node', [tsc, '-p', 'tsconfig.bad.json'], project),
    ]);
    expect(goodRun.code, goodRun.stdout).toBe(0);
    expect(badRun.code).not.toBe(0);
    // Exactly the deliberate error: a string is not ArrayLike<number>.
    const errors = badRun.stdout.split('\n').filter((l) => /error TS\d+/.test(l));
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(/^bad\.ts\(\d+,\d+\): error TS2345: .*'string'/);
  });
});

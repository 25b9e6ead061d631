// The gradlens command line: `layers` and `run` in-process through main()
// (stdout/stderr captured, exit codes), then the real launcher as a child
// process: the esbuild bundle, `npx gradlens`, .npy in and out, clean exits,
// and errors as one `gradlens: <message>` line (the stack only with GRADLENS_DEBUG).

import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { cli as run } from '../helpers/cli.js';
import { scopeAsync, tensor } from '../../engine/index.js';
import { toFloat32 } from '../../importers/onnx/host-tensor.js';
import { loadOnnx } from '../../importers/onnx/index.js';
import { readNpy, writeNpy } from '../../importers/onnx/npy.js';
import { modelPath } from '../fixtures/onnx/models.js';
import { seeded, SYNTHETIC_LAYERS, syntheticCnn } from '../fixtures/onnx/synthetic.js';

const dir = mkdtempSync(join(tmpdir(), 'gradlens-cli-'));
const modelFile = join(dir, 'synthetic.onnx');
const inputFile = join(dir, 'x.npy');
const batchFile = join(dir, 'x2.npy');
const x = seeded(768, 1);

beforeAll(() => {
  writeFileSync(modelFile, syntheticCnn());
  writeFileSync(inputFile, writeNpy(x, [1, 3, 16, 16]));
  writeFileSync(batchFile, writeNpy([...x, ...seeded(768, 2)], [2, 3, 16, 16]));
});

/** Runs main() with console output captured (stdout/stderr names kept for this file's many checks). */
async function cli(...argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const r = await run(...argv);
  return { code: r.code, stdout: r.out, stderr: r.err };
}

/** The model's own output (or kept tensor) for the same input, through the library. */
async function expected(values: number[], shape: number[], name = 'y', fuse = true): Promise<Float32Array> {
  const model = await loadOnnx(syntheticCnn(), { fuseBatchNorm: fuse, fuseActivations: fuse });
  const result = await scopeAsync(async () => {
    const { outputs, kept } = model.run({ x: tensor(values, shape) }, { keep: name === 'y' ? [] : [name] });
    return (outputs[name] ?? kept[name]).data();
  });
  model.dispose();
  return result;
}

const npyValues = (file: string) => {
  const t = readNpy(readFileSync(file));
  return { shape: t.shape, values: toFloat32(t) };
};

describe('gradlens (in-process)', () => {
  test('no command prints the overview and fails; --help succeeds', async () => {
    const none = await cli();
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/^usage: gradlens <command>/);
    expect(none.stderr).toMatch(/layers +gradlens layers <model.onnx>/);
    const help = await cli('--help');
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/run +gradlens run --model/);
    const runHelp = await cli('run', '--help');
    expect(runHelp.code).toBe(0);
    expect(runHelp.stdout).toMatch(/^usage: gradlens run --model <model.onnx> --input <x.npy> --out <y.npy> \[--output <name>\]/);
  });

  test('an unknown command suggests the closest one', async () => {
    const r = await cli('layer', modelFile);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^gradlens: unknown command 'layer'\. Did you mean 'layers'\? Commands: (.+, )?layers, run/);
  });

  test('layers prints the tensors in execution order with op and shape', async () => {
    const r = await cli('layers', modelFile);
    expect(r.code).toBe(0);
    const lines = r.stdout.split('\n');
    expect(lines[0]).toBe(`${modelFile}: opset 13, 13 tensors (12 nodes run, 0 folded at load, 0 unused)`);
    expect(lines[1]).toMatch(/^# +name +op +shape$/);
    expect(lines[2]).toMatch(/^0 +x +input +\[1, 3, 16, 16\]$/);
    expect(lines[5]).toMatch(/^3 +s1 +Sigmoid +\[1, 8, 8, 8\]$/);
    expect(lines.at(-1)).toBe('outputs: y [1, 4]');
    const json = await cli('layers', modelFile, '--json');
    expect(JSON.parse(json.stdout).map((l: { name: string }) => l.name)).toEqual(SYNTHETIC_LAYERS);
  });

  test('layers of a model with symbolic dimensions needs --input-shape, and says so with a shape that runs', async () => {
    const cls = modelPath('ch_ppocr_mobile_v2.0_cls_infer.onnx')!;
    const without = await cli('layers', cls);
    expect(without.code).toBe(1);
    expect(without.stderr).toMatch(/^gradlens: the model's input 'x' \[p2o\.DynamicDimension\.0, 3, p2o\.DynamicDimension\.1, p2o\.DynamicDimension\.2\] has symbolic dimensions; pass --input-shape x=1x3x224x224 \(with your sizes\)\n/);
    expect((await cli('layers', cls, '--input-shape', 'x=1x3x224x224')).code).toBe(0);
    const r = await cli('layers', cls, '--input-shape', 'x=1x3x48x192');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/\n1 +conv2d_53\.tmp_0 +Conv +\[1, 8, 24, 96\]\n/);
  });

  test('run writes a graph output, or any named layer, as float32 .npy', async () => {
    const out = join(dir, 'y.npy');
    const r = await cli('run', '--model', modelFile, '--input', inputFile, '--out', out);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^wrote 'y' \\[1, 4\\] to ${out} \\(forward \\d+ ms\\)$`));
    const y = npyValues(out);
    expect(y.shape).toEqual([1, 4]);
    expect(Array.from(y.values)).toEqual(Array.from(await expected(x, [1, 3, 16, 16])));

    const inner = join(dir, 'c3.npy');
    expect((await cli('run', '--model', modelFile, '--input', inputFile, '--out', inner, '--output', 'c3', '--no-fuse')).code).toBe(0);
    const c3 = npyValues(inner);
    expect(c3.shape).toEqual([1, 4, 16, 16]);
    expect(Array.from(c3.values)).toEqual(Array.from(await expected(x, [1, 3, 16, 16], 'c3', false)));
  });

  test('run takes another batch size from the .npy', async () => {
    const out = join(dir, 'y2.npy');
    expect((await cli('run', '--model', modelFile, '--input', batchFile, '--out', out)).code).toBe(0);
    expect(npyValues(out).shape).toEqual([2, 4]);
  });

  test('run errors: missing flags, unknown layer, missing files, bad .npy', async () => {
    const missing = await cli('run', '--model', modelFile, '--input', inputFile);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/^gradlens: missing required flag --out\n\nusage: gradlens run/);
    const layer = await cli('run', '--model', modelFile, '--input', inputFile, '--out', join(dir, 'z.npy'), '--output', 'C3');
    expect(layer.code).toBe(1);
    expect(layer.stderr).toMatch(/^gradlens: --output: layer 'C3' not found in the model\. Did you mean: 'c3', .*\(`gradlens layers .*synthetic\.onnx` lists every tensor name\)$/);
    const noModel = await cli('run', '--model', join(dir, 'nope.onnx'), '--input', inputFile, '--out', join(dir, 'z.npy'));
    expect(noModel.stderr).toBe(`gradlens: cannot read the model '${join(dir, 'nope.onnx')}': no such file or directory`);
    writeFileSync(join(dir, 'bad.npy'), 'not an npy file');
    const badNpy = await cli('run', '--model', modelFile, '--input', join(dir, 'bad.npy'), '--out', join(dir, 'z.npy'));
    expect(badNpy.code).toBe(1);
    expect(badNpy.stderr).toMatch(/^gradlens: \.npy: /);
    writeFileSync(join(dir, 'flat.npy'), writeNpy([1, 2, 3, 4, 5, 6], [2, 3]));
    const wrongShape = await cli('run', '--model', modelFile, '--input', join(dir, 'flat.npy'), '--out', join(dir, 'z.npy'));
    expect(wrongShape.stderr).toMatch(/^gradlens: ONNX input 'x': shape \[2, 3\] has rank 2, not 4; the model expects 'x' \[1, 3, 16, 16\]/);
  });
});

describe('gradlens (child process through the launcher)', () => {
  const node = (args: string[], env: Record<string, string> = {}) =>
    spawnSync(process.execPath, ['cli/gradlens.mjs', ...args], { encoding: 'utf8', timeout: 180_000, env: { ...process.env, ...env } });

  test('npx gradlens --help works from the checkout (package.json bin)', () => {
    const r = spawnSync('npx', ['--no-install', 'gradlens', '--help'], { encoding: 'utf8', timeout: 180_000 });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^usage: gradlens <command>/);
  });

  test('run end to end: bundle, GPU, .npy out, exit code 0, and the process exits', () => {
    const out = join(dir, 'child.npy');
    const r = node(['run', '--model', modelFile, '--input', inputFile, '--out', out, '--output', 'cat']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.signal).toBeNull(); // not killed by the timeout: the GPU was released and the process exited
    expect(npyValues(out).shape).toEqual([1, 11, 16, 16]);
  });

  test('errors are one line with exit code 1; GRADLENS_DEBUG adds the stack', () => {
    const args = ['run', '--model', modelFile, '--input', inputFile, '--out', join(dir, 'z.npy'), '--output', 'nope'];
    const r = node(args);
    expect(r.status).toBe(1);
    const lines = r.stderr.split('\n').filter((l) => l && !l.startsWith('Warning: ')); // Dawn's adapter warnings
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^gradlens: --output: layer 'nope' not found in the model\./);
    const debug = node(args, { GRADLENS_DEBUG: '1' });
    expect(debug.status).toBe(1);
    // The reworded error's stack, then the library's (caused by).
    expect(debug.stderr).toMatch(/CliError: --output: layer 'nope' not found[^]*\n +at [^]*\ncaused by: LayerNotFound: layer 'nope' not found[^]*\n +at /);
  });
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

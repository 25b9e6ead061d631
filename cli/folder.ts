// gradlens explain --images <dir|list.txt> --out-dir <dir> [--shard i/n]:
// every image through explain's own one-image path (cli/commands/explain.ts,
// called back with hooks) with the model loaded once; per image an overlay PNG
// and a map .npy, plus a results table (CSV and JSON) that a rerun resumes from.
// With --detection all (or --target detection:all) the overlay is the grid of
// the composite and each detection's map, the map the composite, and the
// table has a row per detection (detection index, class name, confidence, box).
// Progress: in a terminal one bar line (cli/progress.ts), else a line per image.

import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, extname, isAbsolute, join, relative, resolve } from 'node:path';
import { decodeImage } from '../explainers/node-image.js';
import type { OnnxGraphModel } from '../importers/onnx/model.js';
import { UsageError, type Parsed } from './args.js';
import { run as explainOne, type EXPLAIN_FLAGS } from './commands/explain.js';
import { assetPath, DEFAULT_MODEL, loadModel, presetFlag, preparePhoto } from './detector.js';
import { CliFileError, readFile } from './files.js';
import { duration, eta, progressBar } from './progress.js';

type Flags = Parsed<typeof EXPLAIN_FLAGS>['flags'];

/** What decodeImage reads; other files in a folder (READMEs, labels) are not images. */
const IMAGE_EXTENSIONS = new Set(['.jpg', '.jpeg', '.png']);

/** The flags that name one image's input or outputs: folder mode sets those itself. */
const PER_IMAGE = ['image', 'input', 'out', 'map', 'raw', 'grad', 'json'] as const;

export interface Row {
  /** The image as listed: its path inside the folder, or the list's line. */
  image: string;
  status: 'ok' | 'error';
  /** What was explained (the class or detection and score kind), as explain prints it. */
  target: string | null;
  class: number | null;
  score: number | null;
  /** Wall time for this image: decode, explain, write. */
  ms: number;
  /** Output files, relative to --out-dir ('' for an error). */
  overlay: string;
  map: string;
  error: string | null;
  /** --detection all: the detection's index in the image's list (0 = highest score), its class name, confidence and box [x1, y1, x2, y2] (photo pixels). */
  detection?: number | null;
  className?: string | null;
  confidence?: number | null;
  box?: number[] | null;
}

const COLUMNS = ['image', 'status', 'target', 'class', 'score', 'ms', 'overlay', 'map', 'error'] as const;
/** The table of --detection all: a row per detection. */
const DETECTION_COLUMNS = [...COLUMNS, 'detection', 'className', 'confidence', 'box'] as const;

/** `i/n` with 0 <= i < n, digits only. */
export function parseShard(value: string): { index: number; count: number } {
  const m = /^(\d+)\/(\d+)$/.exec(value);
  const [index, count] = m ? [Number(m[1]), Number(m[2])] : [NaN, NaN];
  if (!(count >= 1 && index >= 0 && index < count && Number.isSafeInteger(count))) {
    throw new UsageError(`--shard '${value}' must be i/n with 0 <= i < n (shard i of n, counted from 0), e.g. 0/4`);
  }
  return { index, count };
}

/**
 * The images: a folder's image files (recursively, leaving out --out-dir), or
 * a list file's lines (blank lines and # comments skipped; relative paths are
 * relative to the list's folder). `key` is the path as listed (inside the
 * folder, or the list's line), the same on every machine: names, shards and
 * table rows derive from it. Sorted by key, duplicates dropped.
 */
export function listImages(source: string, outDir: string): { key: string; path: string }[] {
  let isDir: boolean;
  try {
    isDir = statSync(source).isDirectory();
  } catch {
    throw new CliFileError(`cannot read the images '${source}': no such file or directory`);
  }
  const found = new Map<string, string>();
  if (isDir) {
    const skip = resolve(outDir);
    const walk = (dir: string) => {
      for (const entry of readdirSync(dir, { withFileTypes: true })) {
        const path = join(dir, entry.name);
        if (entry.isDirectory()) {
          if (resolve(path) !== skip) walk(path);
        } else if (IMAGE_EXTENSIONS.has(extname(entry.name).toLowerCase())) {
          found.set(relative(source, path).split('\\').join('/'), path);
        }
      }
    };
    walk(source);
  } else {
    const text = new TextDecoder().decode(readFile(source, 'image list'));
    for (const line of text.split(/\r?\n/).map((l) => l.trim())) {
      if (line && !line.startsWith('#')) found.set(line, isAbsolute(line) ? line : join(dirname(source), line));
    }
  }
  if (!found.size) throw new UsageError(`--images '${source}' lists no image (${isDir ? `no ${[...IMAGE_EXTENSIONS].join(', ')} file in the folder` : 'the list is empty'})`);
  // Code-unit order (no locale): the same order, hence the same shards, on every machine.
  return [...found.keys()].sort().map((key) => ({ key, path: found.get(key)! }));
}

/**
 * Output names from the file names: dog.jpg -> dog.png, dog.npy. Names that
 * collide (case-insensitively: a.jpg and A.png, or dog.jpg in two folders)
 * each get a hash of their key, so names do not depend on which shard or run
 * saw them.
 */
export function outputNames(keys: readonly string[]): Map<string, string> {
  const stem = (k: string) => basename(k, extname(k)).replace(/[^\w.-]/g, '_') || 'image';
  const seen = new Map<string, number>();
  for (const k of keys) seen.set(stem(k).toLowerCase(), (seen.get(stem(k).toLowerCase()) ?? 0) + 1);
  return new Map(keys.map((k) => [k, seen.get(stem(k).toLowerCase())! > 1 ? `${stem(k)}-${createHash('sha1').update(k).digest('hex').slice(0, 8)}` : stem(k)]));
}

/** Writes through a temporary file and a rename, so an interrupted run leaves the old file or the new one, never half of one. */
function writeAtomic(path: string, text: string): void {
  const tmp = `${path}.tmp-${process.pid}`;
  try {
    writeFileSync(tmp, text);
    renameSync(tmp, path);
  } catch (e) {
    throw new CliFileError(`cannot write the results table '${path}': ${(e as Error).message}`);
  }
}

function csvField(v: unknown): string {
  const s = v === null || v === undefined ? '' : Array.isArray(v) ? v.join(' ') : String(v);
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** The CSV of `rows` (a box as 'x1 y1 x2 y2'); `detections`: the columns of --detection all. */
export function toCsv(rows: readonly Row[], detections = false): string {
  const columns: readonly (keyof Row)[] = detections ? DETECTION_COLUMNS : COLUMNS;
  return [columns.join(','), ...rows.map((r) => columns.map((c) => csvField(r[c])).join(','))].join('\n') + '\n';
}

export async function runFolder(flags: Flags, positionals: string[]): Promise<number> {
  if (positionals.length) throw new UsageError(`unexpected argument '${positionals[0]}'`);
  if (flags.images === undefined || flags['out-dir'] === undefined) throw new UsageError('--images <dir|list.txt> and --out-dir <dir> go together (--shard needs both)');
  const given = PER_IMAGE.filter((f) => flags[f]);
  if (given.length) throw new UsageError(`--${given[0]} names one image's input or output; with --images, --out-dir holds <name>.png, <name>.npy and results.csv/.json`);
  const allDetections = flags.detection === 'all' || flags.target === 'detection:all';
  const shard = flags.shard === undefined ? undefined : parseShard(flags.shard);
  const outDir = flags['out-dir'];
  const modelPath = flags.model ?? assetPath(DEFAULT_MODEL);
  const preset = presetFlag(modelPath, flags.preset);

  const all = listImages(flags.images, outDir);
  const names = outputNames(all.map((i) => i.key));
  // Shard i of n: the images at sorted positions i, i + n, i + 2n, ...
  const mine = shard ? all.filter((_, j) => j % shard.count === shard.index) : all;
  try {
    mkdirSync(outDir, { recursive: true });
  } catch (e) {
    throw new CliFileError(`cannot create --out-dir '${outDir}': ${(e as Error).message}`);
  }
  // One table per shard, so that shards sharing an --out-dir never write the same file.
  const table = join(outDir, shard ? `results-${shard.index}-of-${shard.count}` : 'results');
  // Per image its rows: one, or under --detection all one per detection.
  const rows = new Map<string, Row[]>();
  if (existsSync(`${table}.json`)) {
    try {
      for (const r of JSON.parse(readFileSync(`${table}.json`, 'utf8')) as Row[]) rows.set(r.image, [...(rows.get(r.image) ?? []), r]);
    } catch (e) {
      console.error(`warning: ${table}.json is not a results table (${(e as Error).message}); starting it again`);
    }
  }
  const save = () => {
    // This shard's images only, in list order (rows of images no longer listed are dropped).
    const list = mine.flatMap((i) => rows.get(i.key) ?? []);
    writeAtomic(`${table}.json`, JSON.stringify(list, null, 1) + '\n');
    writeAtomic(`${table}.csv`, toCsv(list, allDetections));
  };
  // Done before: a row that says ok and both files still there. Errors are tried again.
  const done = (key: string) => {
    const r = rows.get(key);
    return !!r?.length && r.every((x) => x.status === 'ok' && existsSync(join(outDir, x.overlay)) && existsSync(join(outDir, x.map)));
  };
  const todo = mine.filter((i) => !done(i.key));
  const skipped = mine.length - todo.length;
  const where = shard ? `shard ${shard.index}/${shard.count}: ` : '';
  console.error(`${where}${mine.length} of ${all.length} images${skipped ? `, ${skipped} done before (skipped)` : ''}, ${todo.length} to explain`);

  let model: OnnxGraphModel | undefined;
  let ok = 0;
  const failed: Row[] = [];
  try {
    // Loaded once, and only when there is work (a finished run resumes without it).
    if (todo.length) model = await loadModel(modelPath, preset, { inputShape: flags['input-shape'], f16: flags.f16 });
    const started = performance.now();
    // A terminal: one bar line, rewritten; else (a log, a pipe) a line per image.
    const bar = progressBar(`${where}explain`, false, { unit: 'images' });
    bar.onProgress?.(0, todo.length);
    for (const [j, { key, path }] of todo.entries()) {
      const name = names.get(key)!;
      const row: Row = { image: key, status: 'ok', target: null, class: null, score: null, ms: 0, overlay: `${name}.png`, map: `${name}.npy`, error: null };
      if (allDetections) Object.assign(row, { detection: null, className: null, confidence: null, box: null });
      let perDetection: Row[] = [];
      const t0 = performance.now();
      try {
        await explainOne(argvFor(flags, path, join(outDir, row.overlay), join(outDir, row.map)), {
          load: async (_model, _preset, source) => preparePhoto(model!, preset, decodeImage(readFile(source.image!, 'image'), source.image)),
          onResult: (json, target) => {
            Object.assign(row, { target, class: json.class ?? null, score: json.score ?? null });
            // --detection all: a row per detection, sharing the image's overlay grid and composite map.
            if (Array.isArray(json.results)) perDetection = (json.results as DetectionResult[]).map((r) => detectionRow(row, r));
          },
        });
        ok++;
      } catch (e) {
        // A flag the command refuses fails every image alike: stop, as a one-image run would.
        if (e instanceof UsageError) throw e;
        Object.assign(row, { status: 'error', overlay: '', map: '', error: e instanceof Error ? e.message : String(e) });
        failed.push(row);
      }
      row.ms = Math.round(performance.now() - t0);
      for (const r of perDetection) r.ms = row.ms;
      rows.set(key, perDetection.length ? perDetection : [row]);
      save();
      const left = eta(j + 1, todo.length, performance.now() - started) ?? 0;
      const what =
        row.status === 'error' ? `error: ${row.error}` : perDetection.length ? `${perDetection.length} detections` : `score ${row.score?.toFixed(4)}`;
      const line = `${where}[${j + 1}/${todo.length}] ${key}: ${what} (${(row.ms / 1000).toFixed(2)} s), ETA ${duration(left)}`;
      if (!bar.onProgress) console.error(line);
      else {
        // The bar stays the last line; an error gets a line of its own above it.
        if (row.status === 'error') {
          bar.end();
          console.error(line);
        }
        bar.onProgress(j + 1, todo.length);
      }
    }
    bar.end();
  } finally {
    model?.dispose();
  }
  save();
  const explained = mine.filter((i) => rows.get(i.key)?.[0]?.status === 'ok').length;
  console.log(`${where}explained ${ok} image${ok === 1 ? '' : 's'}${skipped ? `, skipped ${skipped} done before` : ''}, ${failed.length} failed; table ${table}.csv, ${table}.json`);
  for (const r of failed) console.log(`  failed: ${r.image}: ${r.error}`);
  // Exit 1 only when this shard has images and none of them is explained (now or before): errors alone are listed, not fatal.
  return mine.length && !explained ? 1 : 0;
}

/** One entry of explain's --detection all JSON (cli/commands/explain.ts). */
interface DetectionResult {
  detection: { index: number; classId: number; className: string; score: number; box: number[] };
  score: number;
  target?: string;
}

/** The row of one detection of an image explained with --detection all. */
function detectionRow(image: Row, r: DetectionResult): Row {
  const d = r.detection;
  return { ...image, target: r.target ?? image.target, class: d.classId, score: r.score, detection: d.index, className: d.className, confidence: d.score, box: d.box };
}

/** The one-image command line for an image: the folder run's flags, less folder mode's, plus the image and its outputs. */
function argvFor(flags: Flags, image: string, overlay: string, map: string): string[] {
  const argv: string[] = [];
  for (const [name, value] of Object.entries(flags)) {
    if (name === 'images' || name === 'out-dir' || name === 'shard') continue;
    if (value === true) argv.push(`--${name}`);
    else if (typeof value === 'string') argv.push(`--${name}=${value}`);
  }
  return [...argv, `--image=${image}`, `--out=${overlay}`, `--map=${map}`, '--json'];
}

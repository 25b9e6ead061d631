// gradlens explain --images/--out-dir/--shard (cli/folder.ts): a folder of
// committed photos and one corrupt file on resnet_mini (32x32: fast on a
// software adapter), checked against one-image runs; resume, lists, shards.

import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test, vi } from 'vitest';
import { readNpy } from '../../importers/onnx/npy.js';
import { decodeImage } from '../../explainers/node-image.js';
import { cli } from '../helpers/cli.js';

const MODEL = 'test/fixtures/explain/resnet_mini.onnx';
const tmp = mkdtempSync(join(tmpdir(), 'gradlens-folder-'));
const images = join(tmp, 'images');
mkdirSync(join(images, 'sub'), { recursive: true });
copyFileSync('explainers/assets/dog.jpg', join(images, 'dog.jpg'));
copyFileSync('test/fixtures/images/astronaut.png', join(images, 'astronaut.png'));
writeFileSync(join(images, 'bad.jpg'), 'not a picture');
writeFileSync(join(images, 'notes.txt'), 'not an image file: ignored');
// Same file name in another folder: only in the list test (names must be told apart).
copyFileSync('test/fixtures/explain/chelsea.png', join(images, 'sub', 'dog.png'));

const table = (dir: string, name = 'results') => JSON.parse(readFileSync(join(dir, `${name}.json`), 'utf8'));

describe('gradlens explain --images', () => {
  test('a folder: one overlay and map per image, the table, the bad image listed; a rerun skips what is done', async () => {
    const out = join(tmp, 'out');
    const r = await cli('explain', '--model', MODEL, '--images', images, '--out-dir', out);
    expect(r.code).toBe(0);
    expect(r.err).toMatch(/^4 of 4 images, 4 to explain/);
    expect(r.err).toMatch(/\[4\/4\] sub\/dog\.png: score .*ETA 0:00/);
    expect(r.out).toMatch(/explained 3 images, 1 failed/);
    expect(r.out).toMatch(/failed: bad\.jpg: .*bad\.jpg/);

    const rows = table(out);
    // Sorted by path inside the folder; the subfolder's dog.png does not collide with dog.jpg's outputs.
    expect(rows.map((x: { image: string }) => x.image)).toEqual(['astronaut.png', 'bad.jpg', 'dog.jpg', 'sub/dog.png']);
    expect(rows[1]).toMatchObject({ status: 'error', score: null, overlay: '', map: '' });
    expect(rows[1].error).toMatch(/bad\.jpg/);
    const csv = readFileSync(join(out, 'results.csv'), 'utf8').trim().split('\n');
    expect(csv[0]).toBe('image,status,target,class,score,ms,overlay,map,error');
    expect(csv).toHaveLength(5);
    expect(new Set(rows.map((x: { overlay: string }) => x.overlay)).size).toBe(4);

    // Each row is what a one-image run gives: score, class, map.
    for (const row of [rows[0], rows[2], rows[3]]) {
      expect(row.status).toBe('ok');
      const src = join(images, row.image);
      const one = await cli('explain', '--model', MODEL, '--image', src, '--json', '--map', join(tmp, 'one.npy'));
      const json = JSON.parse(one.out);
      expect(row.score).toBeCloseTo(json.score, 5);
      expect(row.class).toBe(json.class);
      expect(row.target).toMatch(/class/);
      const map = readNpy(readFileSync(join(out, row.map)));
      expect(map.shape).toEqual([32, 32]);
      expect(Array.from(map.data as Float32Array)).toEqual(Array.from(readNpy(readFileSync(join(tmp, 'one.npy'))).data as Float32Array));
      const png = decodeImage(readFileSync(join(out, row.overlay)));
      expect(png.width).toBe(decodeImage(readFileSync(src)).width); // the overlay is on the photo
    }

    // Rerun: the three done are skipped (their files untouched), only the bad one is tried again.
    const mtime = statSync(join(out, rows[2].overlay)).mtimeMs;
    const again = await cli('explain', '--model', MODEL, '--images', images, '--out-dir', out);
    expect(again.code).toBe(0);
    expect(again.err).toMatch(/^4 of 4 images, 3 done before \(skipped\), 1 to explain/);
    expect(again.err).not.toMatch(/dog/);
    expect(statSync(join(out, rows[2].overlay)).mtimeMs).toBe(mtime);
    expect(table(out)).toHaveLength(4);
  });

  test('interrupted half way: the resumed run does the rest, each image once; nothing left: no model run', async () => {
    const good = join(tmp, 'good');
    mkdirSync(good);
    // --out-dir inside the folder: its overlays are not taken for images on the rerun.
    const out = join(good, 'out');
    copyFileSync('explainers/assets/dog.jpg', join(good, 'a.jpg'));
    copyFileSync('test/fixtures/images/astronaut.png', join(good, 'b.png'));
    copyFileSync('test/fixtures/explain/chelsea.png', join(good, 'c.png'));
    expect((await cli('explain', '--model', MODEL, '--images', good, '--out-dir', out)).code).toBe(0);
    // As if stopped after the first image: the table holds its row only, and c's overlay is gone.
    const full = table(out);
    writeFileSync(join(out, 'results.json'), JSON.stringify(full.slice(0, 1)));
    const resumed = await cli('explain', '--model', MODEL, '--images', good, '--out-dir', out);
    expect(resumed.err).toMatch(/3 of 3 images, 1 done before \(skipped\), 2 to explain/);
    expect(resumed.err.match(/\] (a|b|c)\./g)).toEqual(['] b.', '] c.']);
    expect(table(out)).toEqual(full.map((r: { ms: number }, i: number) => ({ ...r, ms: table(out)[i].ms })));

    // Nothing left: the model is not even read (this path does not exist; the preset comes from the name alone).
    const nothing = await cli('explain', '--model', join(tmp, 'resnet_mini.onnx'), '--images', good, '--out-dir', out);
    expect(nothing.code).toBe(0);
    expect(nothing.err).toMatch(/3 done before \(skipped\), 0 to explain/);
  });

  test('a list file and --shard i/n: the shards partition the list, each its own table', async () => {
    const list = join(tmp, 'list.txt');
    // Relative to the list's folder; comments and blank lines skipped; a missing file is an error row.
    writeFileSync(list, '# photos\nimages/dog.jpg\n\nimages/sub/dog.png\nimages/astronaut.png\nimages/missing.jpg\n');
    const out = join(tmp, 'shards');
    const a = await cli('explain', '--model', MODEL, '--images', list, '--out-dir', out, '--shard', '0/2');
    const b = await cli('explain', '--model', MODEL, '--images', list, '--out-dir', out, '--shard=1/2');
    expect([a.code, b.code]).toEqual([0, 0]);
    expect(a.err).toMatch(/^shard 0\/2: 2 of 4 images/);
    const t0 = table(out, 'results-0-of-2').map((x: { image: string }) => x.image);
    const t1 = table(out, 'results-1-of-2').map((x: { image: string }) => x.image);
    // Sorted list, position modulo 2.
    expect(t0).toEqual(['images/astronaut.png', 'images/missing.jpg']);
    expect(t1).toEqual(['images/dog.jpg', 'images/sub/dog.png']);
    const rows = [...table(out, 'results-0-of-2'), ...table(out, 'results-1-of-2')];
    expect(rows.find((r) => r.image === 'images/missing.jpg')).toMatchObject({ status: 'error', error: expect.stringMatching(/no such file/) });
    // dog.jpg and sub/dog.png: same stem, told apart by a hash of the listed path.
    const dogs = rows.filter((r) => r.image.includes('dog')).map((r) => r.overlay);
    expect(dogs[0]).toMatch(/^dog-[0-9a-f]{8}\.png$/);
    expect(dogs[1]).toMatch(/^dog-[0-9a-f]{8}\.png$/);
    expect(dogs[0]).not.toBe(dogs[1]);
  });

  test('the embedded default detector: each photo its top detection, as a one-image run explains it', async () => {
    const dir = join(tmp, 'detector');
    mkdirSync(dir);
    copyFileSync('explainers/assets/dog.jpg', join(dir, 'dog.jpg'));
    const out = join(tmp, 'detector-out');
    const r = await cli('explain', '--images', dir, '--out-dir', out);
    expect(r.code).toBe(0);
    const [row] = table(out);
    const one = JSON.parse((await cli('explain', '--json')).out);
    expect(row).toMatchObject({ image: 'dog.jpg', status: 'ok', class: one.class, overlay: 'dog.png', map: 'dog.npy' });
    expect(row.score).toBeCloseTo(one.score, 4);
    expect(row.target).toMatch(/detection class 2 \(car\)/);
    expect(readNpy(readFileSync(join(out, 'dog.npy'))).shape).toEqual([320, 320]);
  });

  test('--detection all: per image the composite grid and map, a row per detection; a bad image, resume', async () => {
    const dir = join(tmp, 'all');
    mkdirSync(dir);
    copyFileSync('explainers/assets/dog.jpg', join(dir, 'dog.jpg'));
    copyFileSync('test/fixtures/images/astronaut.png', join(dir, 'astronaut.png'));
    writeFileSync(join(dir, 'broken.png'), 'not a picture');
    const out = join(tmp, 'all-out');
    const r = await cli('explain', '--images', dir, '--out-dir', out, '--detection', 'all', '--score', 'prob');
    expect(r.code).toBe(0);
    expect(r.err).toMatch(/\[3\/3\] dog\.jpg: 7 detections .*ETA 0:00/);
    expect(r.out).toMatch(/explained 2 images, 1 failed/);
    const rows = table(out);
    const dogs = rows.filter((x: { image: string }) => x.image === 'dog.jpg');
    // The one-image run: the same detections and scores, the same composite map.
    const one = JSON.parse((await cli('explain', '--detection', 'all', '--score', 'prob', '--json', '--map', join(tmp, 'all-one.npy'))).out);
    expect(dogs.map((x: { detection: number }) => x.detection)).toEqual(one.results.map((x: { detection: { index: number } }) => x.detection.index));
    dogs.forEach((row: { score: number; className: string; class: number; confidence: number; box: number[]; overlay: string; map: string; status: string }, j: number) => {
      const d = one.results[j];
      expect(row).toMatchObject({ status: 'ok', className: d.detection.className, class: d.detection.classId, confidence: d.detection.score, box: d.detection.box, overlay: 'dog.png', map: 'dog.npy' });
      expect(row.score).toBeCloseTo(d.score, 4);
    });
    expect(Array.from(readNpy(readFileSync(join(out, 'dog.npy'))).data as Float32Array)).toEqual(Array.from(readNpy(readFileSync(join(tmp, 'all-one.npy'))).data as Float32Array));
    // The overlay is the grid: the composite and one tile per detection (4 a row), each the photo's size.
    const png = decodeImage(readFileSync(join(out, 'dog.png')));
    expect([png.width, png.height]).toEqual([4 * 768 + 3 * 4, 2 * 576 + 4]);
    const broken = rows.filter((x: { image: string }) => x.image === 'broken.png');
    expect(broken).toHaveLength(1);
    expect(broken[0]).toMatchObject({ status: 'error', detection: null, box: null });
    const csv = readFileSync(join(out, 'results.csv'), 'utf8').trim().split('\n');
    expect(csv[0]).toBe('image,status,target,class,score,ms,overlay,map,error,detection,className,confidence,box');
    expect(csv).toHaveLength(rows.length + 1);
    expect(csv.find((l) => l.startsWith('dog.jpg'))).toMatch(/,0,car,[\d.]+,[\d.]+ [\d.]+ [\d.]+ [\d.]+$/);
    // Resume: both photos done (every row ok, files there); only the broken one is tried again.
    const again = await cli('explain', '--images', dir, '--out-dir', out, '--target', 'detection:all', '--score', 'prob');
    expect(again.err).toMatch(/^3 of 3 images, 2 done before \(skipped\), 1 to explain/);
    expect(table(out)).toHaveLength(rows.length);
  });

  test('in a terminal: one progress bar line rewritten in place (done/total, rate, ETA), errors on lines of their own', async () => {
    const written: string[] = [];
    const tty = Object.getOwnPropertyDescriptor(process.stderr, 'isTTY');
    const write = vi.spyOn(process.stderr, 'write').mockImplementation((s: string | Uint8Array) => (written.push(String(s)), true));
    Object.defineProperty(process.stderr, 'isTTY', { value: true, configurable: true });
    let r;
    try {
      r = await cli('explain', '--model', MODEL, '--images', images, '--out-dir', join(tmp, 'tty'));
    } finally {
      write.mockRestore();
      if (tty) Object.defineProperty(process.stderr, 'isTTY', tty);
      else delete (process.stderr as { isTTY?: boolean }).isTTY;
    }
    expect(r.code).toBe(0);
    const bars = written.filter((w) => w.startsWith('\r'));
    expect(bars[0]).toMatch(/^\rexplain \[ +\] 0\/4 -- images\/s ETA --:--/);
    expect(bars.at(-1)).toMatch(/^\rexplain \[#{30}\] 4\/4 [\d.]+ images\/s ETA 0:00/);
    expect(written.at(-1)).toBe('\n');
    // No per-image log lines in a terminal, only the failed image's.
    expect(r.err).not.toMatch(/astronaut/);
    expect(r.err).toMatch(/\[2\/4\] bad\.jpg: error: /);
  });

  test('bad --shard values and flag mixes are refused', async () => {
    for (const bad of ['2/2', '3/2', '-1/2', '0/0', '1', 'a/b', '0/2x', ' 0/2']) {
      const r = await cli('explain', '--model', MODEL, '--images', images, '--out-dir', join(tmp, 'x'), `--shard=${bad}`);
      expect(r.code).toBe(1);
      expect(r.err).toMatch(/--shard '.*' must be i\/n with 0 <= i < n/);
    }
    expect((await cli('explain', '--model', MODEL, '--images', images)).err).toMatch(/--images .* and --out-dir <dir> go together/);
    expect((await cli('explain', '--model', MODEL, '--images', images, '--out-dir', join(tmp, 'x'), '--out', 'a.png')).err).toMatch(/--out names one image/);
    expect((await cli('explain', '--model', MODEL, '--images', join(tmp, 'nope'), '--out-dir', join(tmp, 'x'))).err).toMatch(/cannot read the images/);
    // Every image failing: exit 1.
    const bads = join(tmp, 'bads');
    mkdirSync(bads);
    writeFileSync(join(bads, 'x.png'), 'broken');
    expect((await cli('explain', '--model', MODEL, '--images', bads, '--out-dir', join(tmp, 'x'))).code).toBe(1);
  });
});

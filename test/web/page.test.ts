// The in-browser explainer (web/) in real Chromium on its software WebGPU
// adapter (SwiftShader), against the Node CLI on this machine's adapter: the
// default explanation, clicks, method switches, cancellation, uploads and
// their errors, downloads, the method grid, and that no request leaves
// 127.0.0.1. One page walks through the states in order (a fresh page costs
// ~25 s of shader compiles on SwiftShader); a screenshot of each state goes to
// test-output/web/, emptied first (clearOutput: the built site/ stays).

import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test, vi } from 'vitest';
import { main } from '../../cli/main.js';
import { readNpy } from '../../importers/onnx/npy.js';
import { decodeImage } from '../../explainers/node-image.js';
import { blank, paste, resizeImage } from '../../explainers/image.js';
import { clearOutput, findChromium, launch, outputDir, serveSite, writeY4m, type Site } from './browser.js';

interface PageHook {
  ready: Promise<void>;
  last(): {
    seq: number;
    method: string;
    layers: string[];
    detections: Record<string, unknown>[];
    explained: { index: number }[];
    classIndex?: number;
    pick: { kind: string; index?: number };
    target: string;
    passes: number;
    scrubbed: boolean;
    map: { shape: [number, number]; data: Float32Array };
  } | null;
  state(): { busy: string | null; message: { title: string; text: string; category: string } | null; model: string | null; image: string | null; kind: string | null; adapter: string | null };
  timings: Record<string, number>;
  passes(): number;
  live(): { running: boolean; frames: number; fps: number; dropped: number; lastMs: number; tracking: string | null } | null;
}
declare global {
  interface Window {
    gradlens: PageHook;
  }
}

type Last = Omit<NonNullable<ReturnType<PageHook['last']>>, 'map'> & { map: { shape: [number, number]; data: number[] } };

const found = findChromium();
const chromiumPath = 'path' in found ? found.path : undefined;
if (!chromiumPath) console.warn(`[web tests] SKIPPED: ${(found as { reason: string }).reason}`);

const FIXTURES = resolve('test/fixtures');
const tmp = mkdtempSync(join(tmpdir(), 'gradlens-web-'));
let cliRuns = 0;

/** Runs `gradlens ...args` in-process; what it printed. */
async function cli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const log = vi.spyOn(console, 'log').mockImplementation((...a) => void out.push(a.join(' ')));
  const error = vi.spyOn(console, 'error').mockImplementation((...a) => void err.push(a.join(' ')));
  try {
    return { code: await main(args), out: out.join('\n'), err: err.join('\n') };
  } finally {
    log.mockRestore();
    error.mockRestore();
  }
}

/** The CLI's `--map` for the embedded default with these flags. */
async function cliMap(args: string[]): Promise<Float32Array> {
  const path = join(tmp, `map-${cliRuns++}.npy`);
  const r = await cli(['explain', '--json', '--map', path, ...args]);
  expect(r.code, r.err).toBe(0);
  return Float32Array.from(readNpy(readFileSync(path)).data as Float32Array);
}

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
  return worst;
}

async function last(page: Page): Promise<Last | null> {
  return page.evaluate(() => {
    const l = window.gradlens.last();
    return l && { ...l, map: { shape: l.map.shape, data: Array.from(l.map.data) } };
  });
}

/** Waits for an explanation newer than `seq` to be drawn and the page to be idle. */
async function nextMap(page: Page, seq: number, timeout = 180_000): Promise<Last> {
  await page.waitForFunction((s) => (window.gradlens.last()?.seq ?? 0) > s && !window.gradlens.state().busy, seq, { timeout, polling: 200 });
  return (await last(page))!;
}

async function idle(page: Page, timeout = 180_000): Promise<void> {
  await page.waitForFunction(() => !window.gradlens.state().busy, null, { timeout, polling: 200 });
}

async function shot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: join(outputDir(), `${name}.png`), fullPage: true });
}

/** Opens files through the page's file chooser (the button, as a user would). */
async function choose(page: Page, button: '#open-model' | '#open-image', files: string[]): Promise<void> {
  const [chooser] = await Promise.all([page.waitForEvent('filechooser'), page.click(button)]);
  await chooser.setFiles(files);
}

/** Files as the page sees them in a DataTransfer (built inside the page from the bytes). */
async function transfer(page: Page, paths: string[]) {
  const files = paths.map((p) => ({ name: p.split('/').pop()!, type: p.endsWith('.png') ? 'image/png' : '', data: readFileSync(p).toString('base64') }));
  return page.evaluateHandle((list) => {
    const dt = new DataTransfer();
    for (const f of list) dt.items.add(new File([Uint8Array.from(atob(f.data), (c) => c.charCodeAt(0))], f.name, { type: f.type }));
    return dt;
  }, files);
}

/** Drops files on the page, as a drag from the file manager does. */
async function dropFiles(page: Page, paths: string[]): Promise<void> {
  const dataTransfer = await transfer(page, paths);
  await page.dispatchEvent('main', 'dragover', { dataTransfer });
  await page.dispatchEvent('main', 'drop', { dataTransfer });
}

/** Pastes a file (Ctrl-V of a copied image). */
async function pasteFile(page: Page, path: string): Promise<void> {
  const dataTransfer = await transfer(page, [path]);
  await page.evaluate((dt) => document.body.dispatchEvent(new ClipboardEvent('paste', { clipboardData: dt, bubbles: true, cancelable: true })), dataTransfer);
}

/** What the heatmap canvas shows: distinct colors, hot (red) pixels, its opacity. */
async function heatStats(page: Page): Promise<{ width: number; height: number; colors: number; hot: number; opacity: string }> {
  return page.evaluate(() => {
    const c = document.getElementById('heat') as HTMLCanvasElement;
    const d = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
    const colors = new Set<number>();
    let hot = 0;
    for (let i = 0; i < d.length; i += 4) {
      colors.add((d[i] << 16) | (d[i + 1] << 8) | d[i + 2]);
      if (d[i] > 200 && d[i + 2] < 80) hot++;
    }
    return { width: c.width, height: c.height, colors: colors.size, hot, opacity: getComputedStyle(c).opacity };
  });
}

describe.skipIf(!chromiumPath)(chromiumPath ? 'the in-browser explainer in Chromium (software WebGPU)' : `SKIPPED (no Chromium): ${(found as { reason: string }).reason}`, () => {
  let site: Site;
  let browser: Awaited<ReturnType<typeof launch>>;
  let page: Page;
  const requests: string[] = [];
  const consoleErrors: string[] = [];
  const timings: Record<string, number> = {};
  let started = 0;

  beforeAll(async () => {
    clearOutput(); // this run's screenshots only
    started = performance.now();
    site = await serveSite();
    // The fake camera's clip: the default photo drifting sideways, 6 frames at 5 fps (Chromium loops it).
    const photo = resizeImage(decodeImage(readFileSync('explainers/assets/dog.jpg')), 384, 288);
    const clip = join(tmp, 'drift.y4m');
    writeY4m(clip, [0, 8, 16, 24, 16, 8].map((dx) => {
      const frame = blank(384, 288, 0);
      paste(frame, photo, -dx, 0);
      return frame;
    }), 5);
    browser = await launch(chromiumPath!, { fakeCamera: clip });
    page = await browser.context.newPage();
    page.on('request', (r) => requests.push(r.url()));
    page.on('console', (m) => m.type() === 'error' && consoleErrors.push(m.text()));
    page.on('pageerror', (e) => consoleErrors.push(`pageerror: ${e.message}`));
    await page.goto(site.url);
    await page.waitForFunction(() => window.gradlens !== undefined);
    await page.evaluate(() => window.gradlens.ready);
    timings.pageLoadToFirstMapMs = performance.now() - started;
  }, 300_000);

  afterAll(async () => {
    Object.assign(timings, await page?.evaluate(() => window.gradlens.timings).catch(() => ({})));
    writeFileSync(join(outputDir(), 'timings.json'), JSON.stringify({ ...timings, bundle: site?.sizes }, null, 2));
    console.log(`[web tests] first map ${Math.round(timings.firstMap ?? 0)} ms after page start (engine ${Math.round(timings.engine ?? 0)} ms, detected ${Math.round(timings.detected ?? 0)} ms); bundle ${JSON.stringify(site?.sizes)}`);
    await browser?.close();
    await site?.close();
  });

  test('the default explanation appears: Grad-CAM of the top detection, a heatmap that is not blank', async () => {
    const state = await page.evaluate(() => window.gradlens.state());
    expect(state).toMatchObject({ busy: null, message: null, model: 'yolo_fastest_1.1_coco.onnx', image: 'dog.jpg', kind: 'detector' });
    expect(state.adapter).toMatch(/swiftshader/i);
    const l = (await last(page))!;
    expect(l.method).toBe('gradcam');
    expect(l.layers).toEqual(['/mods.118/act/LeakyRelu_output_0']);
    expect(l.explained.map((d) => d.index)).toEqual([0]);
    expect(l.map.shape).toEqual([320, 320]);
    const heat = await heatStats(page);
    expect([heat.width, heat.height]).toEqual([768, 576]);
    expect(heat.colors).toBeGreaterThan(100);
    expect(heat.hot).toBeGreaterThan(500);
    expect(Number(heat.opacity)).toBeCloseTo(0.5, 5);
    await expect.poll(() => page.locator('#detections li').count()).toBe(l.detections.length);
    await expect.poll(() => page.locator('#boxes .box').count()).toBe(l.detections.length);
    // SwiftShader has no shader-f16: the f16 option is off, disabled, and says why (test/web/session-f16.test.ts runs it on lavapipe).
    expect(await page.isDisabled('#f16')).toBe(true);
    expect(await page.isChecked('#f16')).toBe(false);
    expect(await page.getAttribute('label:has(#f16)', 'title')).toMatch(/needs the WebGPU feature 'shader-f16', which this adapter .*swiftshader.* lacks/i);
    await shot(page, '01-default');
  }, 60_000);

  test("the detections listed equal the CLI's detect --json on the same photo", async () => {
    const r = await cli(['detect', '--json']);
    expect(r.code, r.err).toBe(0);
    const expected = JSON.parse(r.out) as { index: number; classId: number; className: string; score: number; box: number[]; inputBox: number[]; head: number; anchor: number | null; cell: number[]; output: string }[];
    const listed = (await last(page))!.detections as unknown as typeof expected;
    expect(listed.length).toBe(expected.length);
    expect(expected.length).toBeGreaterThan(2);
    for (const [j, e] of expected.entries()) {
      const d = listed[j];
      expect({ index: d.index, classId: d.classId, className: d.className, head: d.head, anchor: d.anchor, cell: d.cell, output: d.output }).toEqual({
        index: e.index,
        classId: e.classId,
        className: e.className,
        head: e.head,
        anchor: e.anchor,
        cell: e.cell,
        output: e.output,
      });
      expect(Math.abs(d.score - e.score)).toBeLessThan(1e-3);
      expect(maxDiff(d.box, e.box)).toBeLessThan(0.1);
      expect(maxDiff(d.inputBox, e.inputBox)).toBeLessThan(0.1);
    }
    // What the list shows.
    await expect.poll(() => page.locator('#detections li').first().textContent()).toContain(expected[0].className);
  }, 120_000);

  test("the page's map equals the CLI's --map (same model, photo, method, detection) within 1e-3", async () => {
    const l = (await last(page))!;
    const reference = await cliMap([]);
    expect(reference.length).toBe(320 * 320);
    expect(maxDiff(l.map.data, reference)).toBeLessThan(1e-3);
  }, 120_000);

  test('clicking a box explains that detection; switching the method changes the map (and matches the CLI)', async () => {
    const before = (await last(page))!;
    await page.click('#boxes .box[data-index="1"]');
    const clicked = await nextMap(page, before.seq);
    expect(clicked.pick).toEqual({ kind: 'detection', index: 1 });
    expect(clicked.explained.map((d) => d.index)).toEqual([1]);
    expect(maxDiff(clicked.map.data, before.map.data)).toBeGreaterThan(0.1);
    await expect.poll(() => page.locator('#detections li[data-index="1"]').getAttribute('class')).toContain('explained');
    await shot(page, '02-box-clicked');

    await page.selectOption('#method', 'layercam');
    const switched = await nextMap(page, clicked.seq);
    expect(switched.method).toBe('layercam');
    expect(switched.explained.map((d) => d.index)).toEqual([1]);
    expect(maxDiff(switched.map.data, clicked.map.data)).toBeGreaterThan(0.01);
    expect(maxDiff(switched.map.data, await cliMap(['--detection', '1', '--method', 'layercam']))).toBeLessThan(1e-3);
    await shot(page, '03-layercam');

    // The list explains too.
    await page.click('#detections li[data-index="2"] button');
    const listed = await nextMap(page, switched.seq);
    expect(listed.explained.map((d) => d.index)).toEqual([2]);
  }, 300_000);

  test('a running Score-CAM shows progress and can be cancelled; the next explanation is correct', async () => {
    const before = (await last(page))!;
    await page.selectOption('#method', 'scorecam');
    await page.waitForSelector('#status[data-running="true"]', { timeout: 60_000 });
    // Running (a batch done), not merely queued.
    await page.waitForFunction(() => Number((document.getElementById('progress') as HTMLProgressElement | null)?.value ?? 0) > 0, null, { timeout: 180_000, polling: 100 });
    await shot(page, '04-scorecam-progress');
    const responsive = await page.evaluate(() => new Promise<number>((r) => {
      const t = performance.now();
      requestAnimationFrame(() => r(performance.now() - t));
    }));
    expect(responsive).toBeLessThan(1000);
    await page.click('#cancel');
    await page.waitForSelector('#message[data-category="cancelled"]', { timeout: 120_000 });
    await idle(page);
    expect((await last(page))!.seq).toBe(before.seq); // the previous map is kept
    await shot(page, '05-cancelled');

    await page.selectOption('#method', 'gradcam');
    const after = await nextMap(page, before.seq);
    expect(after.method).toBe('gradcam');
    expect(after.explained.map((d) => d.index)).toEqual([2]);
    expect(maxDiff(after.map.data, await cliMap(['--detection', '2']))).toBeLessThan(1e-3);
    expect(await page.evaluate(() => window.gradlens.state().message)).toBeNull();
  }, 300_000);

  test("downloads: the map .npy is the map shown, the raw map the CLI's --raw, the overlay a PNG", async () => {
    const l = (await last(page))!;
    const [map] = await Promise.all([page.waitForEvent('download'), page.click('#download-map')]);
    const npy = readNpy(readFileSync((await map.path())!));
    expect(npy.shape).toEqual([320, 320]);
    expect(maxDiff(npy.data as Float32Array, l.map.data)).toBe(0);
    // The raw map (after ReLU, before upsampling and scaling) is the CLI's --raw: detection 2 (the cat) comes from the stride-16 head.
    const [raw] = await Promise.all([page.waitForEvent('download'), page.click('#download-raw')]);
    const pageRaw = readNpy(readFileSync((await raw.path())!));
    const cliRaw = join(tmp, 'raw.npy');
    expect((await cli(['explain', '--json', '--detection', '2', '--raw', cliRaw])).code).toBe(0);
    const reference = readNpy(readFileSync(cliRaw));
    expect(pageRaw.shape).toEqual(reference.shape);
    expect(pageRaw.shape).toEqual([20, 20]);
    const peak = (reference.data as Float32Array).reduce((a, b) => Math.max(a, b), 0);
    expect(peak).toBeGreaterThan(0);
    expect(maxDiff(pageRaw.data as Float32Array, reference.data as Float32Array) / peak).toBeLessThan(1e-3);
    const [png] = await Promise.all([page.waitForEvent('download'), page.click('#download-overlay')]);
    const bytes = readFileSync((await png.path())!);
    expect([...bytes.subarray(1, 4)].map((b) => String.fromCharCode(b)).join('')).toBe('PNG');
    expect(png.suggestedFilename()).toMatch(/overlay\.png$/);
  }, 60_000);

  test('the inside panel: the tape of the explanation and the GPU time per kernel', async () => {
    const before = (await last(page))!;
    await page.click('#inside-panel summary');
    await page.check('#inside-record');
    await page.click('#explain');
    const recorded = await nextMap(page, before.seq);
    expect(maxDiff(recorded.map.data, before.map.data)).toBeLessThan(1e-5); // profiling changes how, not what
    const summary = await page.textContent('#inside-summary');
    expect(summary).toMatch(/\d+ ops on the tape, [\d.]+ MiB saved for backward/);
    expect(summary).toMatch(/ms of GPU time over \d+ dispatches \(timestamp queries\)/); // SwiftShader has timestamp-query
    expect(await page.locator('#tape tbody tr').count()).toBeGreaterThan(1);
    expect(await page.locator('#kernels tbody tr').count()).toBeGreaterThan(3);
    await shot(page, '06-inside');
    await page.uncheck('#inside-record');
  }, 120_000);

  test('feature views: the most active feature maps, conv filters, activation maximization', async () => {
    await page.click('#feature-maps');
    await page.waitForSelector('#feature-view[data-view="maps"]', { timeout: 120_000 });
    expect(await page.textContent('#feature-view figcaption')).toMatch(/the 16 most active channels of \/mods\.127\//);
    const conv = await page.evaluate(() => Array.from(document.querySelectorAll<HTMLOptionElement>('#feature-layer option'), (o) => o.value).find((v) => /Conv_output/.test(v))!);
    await page.selectOption('#feature-layer', conv);
    await page.click('#feature-filters');
    await page.waitForSelector('#feature-view[data-view="filters"]', { timeout: 60_000 });
    expect(await page.textContent('#feature-view figcaption')).toMatch(/\[8×3×3×3\].*one RGB tile each/);
    await shot(page, '07-filters');
    await page.fill('#feature-steps', '1');
    await page.click('#feature-actmax');
    await page.waitForSelector('#feature-view[data-view="actmax"]', { timeout: 180_000 });
    expect(await page.textContent('#feature-view figcaption')).toMatch(/channel 0 of .*1 step of gradient ascent/);
    expect(await page.evaluate(() => (document.querySelector('#feature-view canvas') as HTMLCanvasElement).width)).toBe(320);
    await idle(page);
    expect(await page.evaluate(() => window.gradlens.state().message)).toBeNull();
  }, 300_000);

  test('a corrupt model file and a file that is not an image: clear errors, then the page explains again', async () => {
    const before = (await last(page))!;
    const corrupt = join(tmp, 'corrupt.onnx');
    const model = readFileSync(join(FIXTURES, 'onnx/tiny_face_detector_416.onnx'));
    writeFileSync(corrupt, Buffer.concat([model.subarray(0, 1000), Buffer.from('garbage'.repeat(50))]));
    await choose(page, '#open-model', [corrupt]);
    await page.waitForSelector('#message[data-category="not-onnx"]', { timeout: 60_000 });
    expect(await page.textContent('#message')).toMatch(/Not an ONNX model.*corrupt\.onnx/s);
    await shot(page, '08-not-onnx');

    const text = join(tmp, 'notes.txt');
    writeFileSync(text, 'this is not a photo\n');
    await choose(page, '#open-image', [text]);
    await page.waitForSelector('#message[data-category="not-image"]', { timeout: 60_000 });
    expect(await page.textContent('#message')).toMatch(/Not an image.*notes\.txt/s);
    await shot(page, '09-not-image');
    await idle(page);
    expect(await page.evaluate(() => window.gradlens.state())).toMatchObject({ model: 'yolo_fastest_1.1_coco.onnx', image: 'dog.jpg' });

    await page.click('#explain');
    const again = await nextMap(page, before.seq);
    expect(maxDiff(again.map.data, before.map.data)).toBeLessThan(1e-5);
    expect(await page.evaluate(() => window.gradlens.state().message)).toBeNull();
  }, 240_000);

  test('a grid compares several methods side by side', async () => {
    // Methods whose kernels are compiled by now (Eigen-CAM's SVD would add ~30 s of compiles on SwiftShader).
    for (const m of ['gradcam++', 'layercam', 'eigencam']) await page.uncheck(`#compare-methods input[value="${m}"]`);
    await page.check('#compare-methods input[value="xgradcam"]');
    // Finer-CAM compares classes: offered neither here nor in the method list for a detector, and says why.
    expect(await page.isDisabled('#compare-methods input[value="finercam"]')).toBe(true);
    expect(await page.getAttribute('#compare-methods label:has(input[value="finercam"])', 'title')).toMatch(/compares class scores; a detector's detections are not classes/);
    expect(await page.isDisabled('#method option[value="finercam"]')).toBe(true);
    await page.click('#compare');
    await page.waitForFunction(() => document.querySelectorAll('#compare-grid .tile[data-state="done"]').length === 2, null, { timeout: 180_000, polling: 200 });
    expect(await page.locator('#compare-grid .tile').evaluateAll((ts) => ts.map((t) => (t as HTMLElement).dataset.method))).toEqual(['gradcam', 'xgradcam']);
    await idle(page);
    await shot(page, '10-compare');
  }, 240_000);

  test('the layer scrubber: one pass, then any layer and method without running the model again', async () => {
    const before = (await last(page))!; // Grad-CAM of detection 2 at its default layer
    expect(before.method).toBe('gradcam');
    const passes = await page.evaluate(() => window.gradlens.passes());
    expect(passes).toBeGreaterThanOrEqual(before.passes);
    await page.click('#scrub-pass');
    const first = await nextMap(page, before.seq);
    expect(first.scrubbed).toBe(true);
    expect(first.passes).toBe(passes + 1); // one forward (and backward) pass
    expect(first.layers).toEqual(before.layers); // it starts at the default layer ...
    expect(maxDiff(first.map.data, before.map.data)).toBeLessThan(1e-3); // ... with the same map
    expect(await page.textContent('#scrub-info')).toMatch(/\d+ layers kept/);
    await shot(page, '11-scrubber');

    await page.locator('#scrub').fill('20');
    const moved = await nextMap(page, first.seq);
    expect(moved.passes).toBe(first.passes);
    expect(moved.layers[0]).not.toBe(first.layers[0]);
    expect(maxDiff(moved.map.data, first.map.data)).toBeGreaterThan(0.05);
    expect(maxDiff(moved.map.data, await cliMap(['--detection', '2', '--layer', moved.layers[0]]))).toBeLessThan(1e-3);

    await page.selectOption('#scrub-method', 'layercam');
    const layercam = await nextMap(page, moved.seq);
    expect(layercam).toMatchObject({ method: 'layercam', layers: moved.layers, passes: first.passes, scrubbed: true });
    expect(maxDiff(layercam.map.data, moved.map.data)).toBeGreaterThan(0.01);

    // The filmstrip: a thumbnail per kept layer; clicking one shows that layer.
    await page.waitForSelector('#filmstrip .frame:nth-child(3)', { timeout: 120_000 });
    await page.click('#filmstrip .frame:nth-child(3)');
    const third = await nextMap(page, layercam.seq);
    expect(third.passes).toBe(first.passes);
    expect(third.layers[0]).toBe(await page.getAttribute('#filmstrip .frame:nth-child(3)', 'data-layer'));
    await shot(page, '12-scrubber-moved');
  }, 300_000);

  test("live mode on Chromium's fake camera: each frame detected and explained, frames per second reported", async () => {
    // Frames are explained with the method and layer picked: back to Grad-CAM at the default layer (the scrubber left LayerCAM at an early layer).
    await page.selectOption('#layer', '');
    await page.selectOption('#method', 'gradcam');
    // The scrubber's filmstrip and renders may still be in the worker's queue: wait for the explanation asked for.
    await page.waitForFunction(() => window.gradlens.last()?.method === 'gradcam' && !window.gradlens.last()?.scrubbed && !window.gradlens.state().busy, null, { timeout: 180_000, polling: 200 });
    const before = (await last(page))!;
    expect(before).toMatchObject({ method: 'gradcam', scrubbed: false });
    await page.click('#live-camera');
    await page.waitForFunction(() => (window.gradlens.live()?.frames ?? 0) >= 2, null, { timeout: 200_000, polling: 250 });
    const stats = (await page.evaluate(() => window.gradlens.live()))!;
    expect(stats).toMatchObject({ running: true });
    expect(stats.fps).toBeGreaterThan(0);
    expect(stats.dropped).toBeGreaterThan(0); // seconds a frame on SwiftShader: the frames shown meanwhile are dropped, not queued
    expect(await page.textContent('#live-fps')).toMatch(/[\d.]+ fps · \d+ frames explained · \d+ dropped/);
    const frame = (await last(page))!;
    expect(frame.seq).toBeGreaterThan(before.seq);
    expect(frame.detections.length).toBeGreaterThan(0);
    expect(frame.explained.length).toBe(1);
    expect(frame.map.shape).toEqual([320, 320]);
    expect(await page.evaluate(() => window.gradlens.state().image)).toBe('live frame');
    expect((await heatStats(page)).width).toBe(384);
    await shot(page, '13-live');
    await page.click('#live-stop');
    await expect.poll(() => page.evaluate(() => window.gradlens.live()?.running), { timeout: 30_000 }).toBe(false);
    console.log(`[web tests] live mode on SwiftShader: ${stats.fps.toFixed(3)} fps, ${stats.frames} frames explained, ${stats.dropped} dropped, last frame ${Math.round(stats.lastMs)} ms`);
  }, 300_000);

  test('a second model through the file chooser: the tiny face detector on a PNG, explained', async () => {
    const before = (await last(page))!;
    await choose(page, '#open-model', [join(FIXTURES, 'onnx/tiny_face_detector_416.onnx'), join(FIXTURES, 'images/astronaut.png')]);
    const face = await nextMap(page, before.seq);
    const state = await page.evaluate(() => window.gradlens.state());
    expect(state).toMatchObject({ model: 'tiny_face_detector_416.onnx', image: 'astronaut.png', kind: 'detector', message: null });
    expect(face.detections.length).toBeGreaterThan(0);
    expect(face.detections[0]).toMatchObject({ className: 'face' });
    expect(face.explained.map((d) => d.index)).toEqual([0]);
    expect(face.map.shape).toEqual([416, 416]);
    expect(face.map.data.reduce((a, b) => Math.max(a, b), 0)).toBeCloseTo(1, 3);
    expect((await heatStats(page)).hot).toBeGreaterThan(100);
    await shot(page, '14-tiny-face');

    // The preset came from the file name, as in the CLI; another one changes what the model is taken for.
    expect(await page.inputValue('#preset')).toBe('');
    expect(await page.textContent('#preset option[value=""]')).toContain('tiny-face');
    await page.selectOption('#preset', 'plain');
    const plain = await nextMap(page, face.seq);
    expect(await page.evaluate(() => window.gradlens.state())).toMatchObject({ preset: 'plain', kind: 'generic', message: null });
    expect(plain.target).toMatch(/largest element of 'grid'/);
    expect(plain.detections).toEqual([]);
  }, 240_000);

  test('a classifier dropped on the page: top classes with probabilities; clicking one explains it; a pasted photo', async () => {
    const before = (await last(page))!;
    await dropFiles(page, [join(FIXTURES, 'onnx/ch_ppocr_mobile_v2.0_cls_infer.onnx'), join(FIXTURES, 'images/page.png')]);
    const top = await nextMap(page, before.seq);
    expect(await page.evaluate(() => window.gradlens.state())).toMatchObject({ model: 'ch_ppocr_mobile_v2.0_cls_infer.onnx', kind: 'classifier', message: null });
    const items = await page.locator('#classes li').evaluateAll((ls) => ls.map((l) => ({ index: Number((l as HTMLElement).dataset.index), text: l.textContent ?? '' })));
    expect(items.length).toBe(2);
    expect(items.map((i) => i.text).join(' ')).toMatch(/0 degrees.*%.*180 degrees.*%|180 degrees.*%.*0 degrees.*%/s);
    expect(top.classIndex).toBe(items[0].index);
    await page.click(`#classes li[data-index="${items[1].index}"] button`);
    const other = await nextMap(page, top.seq);
    expect(other.classIndex).toBe(items[1].index);
    expect(other.pick).toEqual({ kind: 'class', index: items[1].index });
    await shot(page, '15-classifier');

    await pasteFile(page, join(FIXTURES, 'images/astronaut.png'));
    const pasted = await nextMap(page, other.seq);
    expect(await page.evaluate(() => window.gradlens.state())).toMatchObject({ model: 'ch_ppocr_mobile_v2.0_cls_infer.onnx', image: 'astronaut.png', message: null });
    expect(pasted.pick).toEqual({ kind: 'default' });
  }, 240_000);

  test('after the page loaded, no request left 127.0.0.1', () => {
    const origin = new URL(site.url).origin;
    const outside = requests.filter((u) => !u.startsWith(`${origin}/`) && !u.startsWith('blob:') && !u.startsWith('data:'));
    expect(outside).toEqual([]);
    expect(requests.length).toBeGreaterThan(3);
    expect(consoleErrors).toEqual([]);
  });

  test('without WebGPU the page says so and how to enable it', async () => {
    const bare = await browser.context.newPage();
    try {
      await bare.addInitScript(() => Object.defineProperty(Navigator.prototype, 'gpu', { get: () => undefined, configurable: true }));
      await bare.goto(site.url);
      await bare.waitForSelector('#message[data-category="webgpu"]', { timeout: 60_000 });
      const text = await bare.textContent('#message');
      expect(text).toMatch(/WebGPU is unavailable/);
      expect(text).toMatch(/--enable-unsafe-webgpu/);
      const ready = await bare.evaluate(() => window.gradlens.ready.then(() => 'resolved', (e: Error) => e.message));
      expect(ready).toMatch(/WebGPU is unavailable/);
      await shot(bare, '16-no-webgpu');
    } finally {
      await bare.close();
    }
  }, 60_000);
});

// The in-browser explainer's page: Preact components (written with htm, no
// build-time JSX) over a small store, and the actions that talk to the engine
// worker (client.ts). The page never runs the engine itself: it draws, and
// stays responsive while the worker detects and explains.
//
// Flow: on open, the embedded default model and photo (assets/, served from
// the same folder) are detected and the top detection explained with
// Grad-CAM, as `npx gradlens explain` does. Afterwards every action (a
// detection or class clicked, a method, layer or preset picked, a file
// opened) runs one job; a new explanation cancels the one in flight, and
// Cancel stops any explanation. Errors leave the previous model, photo and map.
//
// Test hook: window.gradlens = { ready, last(), state(), timings } (see GradlensHook).

import { h, render } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import htm from 'htm';
import type { Colormap } from '../explainers/render.js';
import { classColor, labelRects } from '../explainers/render.js';
import { EngineClient, WorkerError } from './client.js';
import { detectionLabel, download, heatRgba, npyBlob, overlayImage, paintRgba, pngBlob } from './draw.js';
import { describeError, noWebGpuMessage, type PageMessage } from './messages.js';
import type { Analysis, DetectionSummary, Explanation, FeatureView, FileBytes, FilmFrame, InitResult, LiveFrame, Pick, Request, ScrubSummary } from './protocol.js';

const html = htm.bind(h);

// ---- state ----------------------------------------------------------------------------------

interface Busy {
  id: number;
  kind: 'start' | 'open' | 'explain' | 'compare' | 'scrub' | 'features';
  label: string;
  done: number;
  total: number;
  started: number;
  /** The worker has started it (it was not merely queued). */
  running?: boolean;
}

interface Tile {
  method: string;
  title: string;
  state: 'queued' | 'running' | 'done' | 'error' | 'cancelled';
  explanation?: Explanation;
  error?: string;
}

interface PageState {
  phase: 'starting' | 'ready' | 'fatal';
  init?: InitResult;
  analysis?: Analysis;
  explanation?: Explanation;
  method: string;
  /** '' = the default layer (as the CLI). */
  layer: string;
  pick: Pick;
  opacity: number;
  colormap: Colormap;
  busy?: Busy;
  message?: PageMessage;
  compareMethods: string[];
  tiles: Tile[];
  dragging: boolean;
  /** The layer scrubber: the pass's summary, the layer shown, its method, the filmstrip. */
  scrub?: ScrubSummary;
  scrubIndex: number;
  scrubMethod: string;
  film?: FilmFrame[];
  live?: LiveStats;
  /** Record the tape and kernel times of the next explanations (the inside panel). */
  inside: boolean;
  features?: FeatureView;
  /** '' = the layer of the explanation shown. */
  featureLayer: string;
  featureChannel: number;
  /** Activation maximization steps (0: the worker's default, 20 on a software adapter, else 100). */
  featureSteps: number;
}

interface LiveStats {
  source: string;
  running: boolean;
  /** Frames detected and explained. */
  frames: number;
  /** Explained frames per second, over the last few. */
  fps: number;
  /** Video frames shown while the engine was busy: dropped, never queued. */
  dropped: number;
  /** Milliseconds the last frame took in the worker. */
  lastMs: number;
  tracking: string | null;
}

type Listener = () => void;
const listeners = new Set<Listener>();
let state: PageState = {
  phase: 'starting',
  method: 'gradcam',
  layer: '',
  pick: { kind: 'default' },
  opacity: 0.5,
  colormap: 'jet',
  compareMethods: ['gradcam', 'gradcam++', 'layercam', 'eigencam'],
  tiles: [],
  dragging: false,
  scrubIndex: 0,
  scrubMethod: 'gradcam',
  inside: false,
  featureLayer: '',
  featureChannel: 0,
  featureSteps: 0,
};
function set(patch: Partial<PageState>): void {
  state = { ...state, ...patch };
  for (const l of listeners) l();
}
function useStore(): PageState {
  const [, force] = useState(0);
  const rendered = state;
  useEffect(() => {
    const l = () => force((n) => n + 1);
    listeners.add(l);
    if (state !== rendered) l(); // changed between the render and the subscription
    return () => void listeners.delete(l);
  }, []);
  return state;
}

// ---- the test hook ----------------------------------------------------------------------------

interface LastMap {
  seq: number;
  method: string;
  layers: string[];
  /** Every detection listed, as `gradlens detect --json` prints them (plus each one's default layer). */
  detections: DetectionSummary[];
  /** The detections this map explains (one, or all of them). */
  explained: DetectionSummary[];
  classIndex?: number;
  pick: Pick;
  target: string;
  score: number;
  warnings: string[];
  ms: number;
  /** The worker's forward passes so far (every model run); the layer scrubber adds none. */
  passes: number;
  /** Rendered by the layer scrubber (from the kept activations and gradients). */
  scrubbed: boolean;
  /** The final map at the model input's resolution (the CLI's --map). */
  map: { shape: [number, number]; data: Float32Array };
}

interface GradlensHook {
  /** Resolves once the default explanation is drawn; rejects when the page cannot run (no WebGPU). */
  ready: Promise<void>;
  /** The explanation drawn last, or null. */
  last(): LastMap | null;
  /** What the page is doing: busy or not, the message shown, the model and the photo. */
  state(): { busy: string | null; message: PageMessage | null; model: string | null; image: string | null; preset: string | null; kind: string | null; adapter: string | null };
  /** Milliseconds from the page's start: engine ready, default detected, first map drawn. */
  timings: Record<string, number>;
  /** The worker's forward passes (every model run) as of its latest answer. */
  passes(): number;
  /** Live mode: running, frames explained, frames per second, frames dropped. */
  live(): LiveStats | null;
}

let resolveReady!: () => void;
let rejectReady!: (e: Error) => void;
const ready = new Promise<void>((resolve, reject) => {
  resolveReady = resolve;
  rejectReady = reject;
});
ready.catch(() => undefined); // read through the hook; never an unhandled rejection
let lastDrawn: LastMap | null = null;
let knownPasses = 0;
function notePasses(n: number | undefined): void {
  if (n !== undefined && n > knownPasses) knownPasses = n;
}
let seq = 0;
const t0 = performance.now();
const timings: Record<string, number> = {};

const hook: GradlensHook = {
  ready,
  last: () => lastDrawn,
  state: () => ({
    busy: state.busy?.label ?? null,
    message: state.message ?? null,
    model: state.analysis?.model.name ?? null,
    image: state.analysis?.image.name ?? null,
    preset: state.analysis?.model.preset ?? null,
    kind: state.analysis?.model.kind ?? null,
    adapter: state.init?.adapter.description ?? null,
  }),
  timings,
  passes: () => knownPasses,
  live: () => state.live ?? null,
};
(window as unknown as { gradlens: GradlensHook }).gradlens = hook;

/** An explanation numbered as it arrives: the hook's `seq` tells a new map from a redraw. */
type Stamped = Explanation & { seq?: number };
function stamp(e: Explanation): void {
  (e as Stamped).seq = ++seq;
}

/** Called by the viewer once an explanation's heatmap is on screen. */
function drawn(e: Stamped): void {
  if (lastDrawn && lastDrawn.seq === e.seq) return;
  const s = e.seq ?? ++seq;
  lastDrawn = {
    seq: s,
    method: e.method,
    layers: e.layers,
    detections: state.analysis?.detections ?? [],
    explained: e.detections,
    classIndex: e.classIndex,
    pick: e.pick,
    target: e.target,
    score: e.score,
    warnings: e.warnings,
    ms: e.ms,
    passes: e.passes,
    scrubbed: Boolean(e.scrubbed),
    map: { shape: [e.height, e.width], data: e.map },
  };
  if (timings.firstMap === undefined) {
    timings.firstMap = performance.now() - t0;
    resolveReady();
  }
}

// ---- actions ----------------------------------------------------------------------------------

const client = new EngineClient(new URL('./worker.js', import.meta.url));
let current: { busy: Busy; cancelled: boolean } | null = null;
/** Jobs begun so far: a scrubber render that finishes after a newer job began is stale and dropped. */
let jobsBegun = 0;
/** The open in flight: explanations wait for it (never cancel it). */
let opening: Promise<boolean> = Promise.resolve(true);

function begin(kind: Busy['kind'], label: string): { busy: Busy; cancelled: boolean } {
  const job = { busy: { id: 0, kind, label, done: 0, total: 0, started: performance.now() }, cancelled: false };
  current = job;
  jobsBegun++;
  set({ busy: job.busy });
  return job;
}
function end(job: { busy: Busy }): void {
  if (current === job) {
    current = null;
    set({ busy: undefined });
  }
}
function progress(job: { busy: Busy }, done: number, total: number, label?: string): void {
  if (current !== job) return;
  job.busy = { ...job.busy, done, total, label: label || job.busy.label, running: true };
  set({ busy: job.busy });
}
function showError(e: unknown): void {
  const info = e instanceof WorkerError ? e.info : { category: 'other' as const, name: (e as Error)?.name ?? 'Error', message: (e as Error)?.message ?? String(e) };
  const message = describeError(info);
  if (info.category === 'webgpu' && /In Node/.test(message.text)) {
    message.text = 'This browser offers WebGPU but gave no adapter: WebGPU may be turned off or the GPU blocklisted.';
  }
  set({ message });
}
/** Cancels the explanation or comparison in flight (never an open). */
function supersede(): void {
  if (current && (current.busy.kind === 'explain' || current.busy.kind === 'compare' || current.busy.kind === 'features' || current.busy.kind === 'scrub')) {
    current.cancelled = true;
    client.cancel(current.busy.id);
    current = null;
  }
}
export function cancel(): void {
  if (!current) return;
  current.cancelled = true;
  client.cancel(current.busy.id);
}

function methodTitle(name: string): string {
  return state.init?.methods.find((m) => m.name === name)?.title ?? name;
}

function pickLabel(pick: Pick): string {
  const a = state.analysis;
  if (pick.kind === 'all') return 'every detection';
  if (pick.kind === 'detection') {
    const d = a?.detections?.[pick.index];
    return d ? `#${d.index} ${detectionLabel(d)}` : `detection ${pick.index}`;
  }
  if (pick.kind === 'class') return a?.classes?.find((c) => c.index === pick.index)?.name ?? `class ${pick.index}`;
  return a?.detections ? 'the top detection' : a?.classes ? 'the top class' : 'the output';
}

/** Explains `pick` with the current method and layer; a newer call cancels this one. */
async function explainPick(pick: Pick = state.pick): Promise<void> {
  stopLive();
  await opening;
  if (!state.analysis) return;
  supersede();
  const method = state.method;
  const job = begin('explain', `${methodTitle(method)} of ${pickLabel(pick)}`);
  const request: Request = { type: 'explain', method, layers: state.layer ? [state.layer] : undefined, pick, inside: state.inside || undefined };
  const call = client.call<Explanation>(request, { onProgress: (done, total, label) => progress(job, done, total, label) });
  job.busy.id = call.id;
  set({ pick });
  try {
    const explanation = await call.promise;
    notePasses(explanation.passes);
    if (job.cancelled && current !== job) return;
    stamp(explanation);
    set({ explanation, message: explanation.warnings.length ? { kind: 'info', category: 'info', title: 'Warning', text: explanation.warnings.join(' ') } : undefined });
  } catch (e) {
    if (current !== job) return; // superseded: the newer job speaks
    showError(e);
  } finally {
    end(job);
  }
}

/** Opens what is given (model, photo, sidecar, preset), detects or classifies, then explains the default. */
async function open(request: Extract<Request, { type: 'open' }>, label: string, transfer: Transferable[] = []): Promise<void> {
  stopLive();
  await opening;
  supersede();
  const job = begin('open', label);
  const call = client.call<Analysis>(request, { transfer });
  job.busy.id = call.id;
  opening = call.promise.then(
    (analysis) => {
      timings.detected ??= performance.now() - t0;
      set({ analysis, explanation: undefined, pick: { kind: 'default' }, layer: request.model ? '' : state.layer, message: undefined, tiles: [], scrub: undefined, film: undefined, features: undefined, featureLayer: request.model ? '' : state.featureLayer });
      return true;
    },
    (e) => {
      showError(e);
      return false;
    },
  );
  const ok = await opening;
  end(job);
  if (ok) await explainPick({ kind: 'default' });
}

async function readFile(file: File): Promise<FileBytes> {
  return { name: file.name, bytes: await file.arrayBuffer() };
}

const IMAGE_MAGIC: readonly (readonly number[])[] = [[0x89, 0x50, 0x4e, 0x47], [0xff, 0xd8, 0xff], [0x47, 0x49, 0x46], [0x52, 0x49, 0x46, 0x46], [0x42, 0x4d]];

/**
 * Files from a picker, a drop or a paste: .onnx is the model, .json a darknet
 * sidecar, an image (by its first bytes or the browser's type) the photo;
 * anything else is what the picker asked for (a drop or paste: the model).
 */
async function openFiles(files: readonly File[], as: 'model' | 'image' | 'any'): Promise<void> {
  if (!files.length) return;
  const request: Extract<Request, { type: 'open' }> = { type: 'open' };
  const transfer: Transferable[] = [];
  for (const file of files) {
    const bytes = await readFile(file);
    const head = new Uint8Array(bytes.bytes.slice(0, 4));
    const looksImage = IMAGE_MAGIC.some((m) => m.every((b, i) => head[i] === b)) || file.type.startsWith('image/');
    const lower = file.name.toLowerCase();
    let role: 'model' | 'image' | 'sidecar';
    if (lower.endsWith('.onnx')) role = 'model';
    else if (lower.endsWith('.json')) role = 'sidecar';
    else if (looksImage) role = 'image';
    else role = as === 'any' ? 'model' : as;
    request[role === 'sidecar' ? 'sidecar' : role] = bytes;
    transfer.push(bytes.bytes);
  }
  const what = [request.model && `model ${request.model.name}`, request.image && `photo ${request.image.name}`, request.sidecar && `sidecar ${request.sidecar.name}`].filter(Boolean).join(', ');
  await open(request, `Opening ${what}`, transfer);
}

async function compare(): Promise<void> {
  stopLive();
  await opening;
  if (!state.analysis) return;
  supersede();
  // Methods this model cannot take (unchecked and disabled in the panel) are left out, not run into an error tile.
  const methods = state.compareMethods.filter((m) => state.init?.methods.some((x) => x.name === m && !unavailable(x, state.analysis)));
  if (!methods.length) return;
  const job = begin('compare', `Comparing ${methods.length} methods`);
  const tiles: Tile[] = methods.map((m) => ({ method: m, title: methodTitle(m), state: 'queued' }));
  const update = (i: number, patch: Partial<Tile>) => {
    tiles[i] = { ...tiles[i], ...patch };
    if (current === job) set({ tiles: [...tiles] });
  };
  set({ tiles: [...tiles] });
  const pick = state.pick;
  const layers = state.layer ? [state.layer] : undefined;
  try {
    for (const [i, method] of methods.entries()) {
      if (job.cancelled) break;
      update(i, { state: 'running' });
      progress(job, i, methods.length, `Comparing: ${methodTitle(method)} (${i + 1} of ${methods.length})`);
      const call = client.call<Explanation>({ type: 'explain', method, layers, pick }, { onProgress: (done, total) => progress(job, i + done / Math.max(total, 1), methods.length) });
      job.busy.id = call.id;
      try {
        const explanation = await call.promise;
        notePasses(explanation.passes);
        update(i, { state: 'done', explanation });
      } catch (e) {
        const info = e instanceof WorkerError ? e.info : undefined;
        if (info?.category === 'cancelled' || job.cancelled) {
          update(i, { state: 'cancelled' });
          break;
        }
        update(i, { state: 'error', error: e instanceof Error ? e.message : String(e) });
      }
    }
    for (const [i, t] of tiles.entries()) if (t.state === 'queued' || t.state === 'running') update(i, { state: 'cancelled' });
  } finally {
    end(job);
  }
}

/** The layer scrubber's pass: one forward and backward keeping every spatial layer, then the map at the default layer and the filmstrip. */
async function scrubPass(): Promise<void> {
  stopLive();
  await opening;
  if (!state.analysis) return;
  supersede();
  const pick = state.pick.kind === 'all' ? ({ kind: 'default' } as Pick) : state.pick;
  const job = begin('scrub', `One pass through every layer for ${pickLabel(pick)}`);
  const call = client.call<ScrubSummary>({ type: 'scrubPass', pick }, { onProgress: (d, t, l) => progress(job, d, t, l) });
  job.busy.id = call.id;
  try {
    const scrub = await call.promise;
    notePasses(scrub.totalPasses);
    if (current !== job) return;
    const at = scrub.layers.findIndex((l) => l.name === scrub.defaultLayer);
    const method = state.init?.methods.find((m) => m.name === state.method)?.scrub ? state.method : 'gradcam';
    set({ scrub, scrubIndex: at >= 0 ? at : scrub.layers.length - 1, scrubMethod: method, film: undefined, message: undefined });
    end(job);
    await scrubRender();
    await loadFilm();
  } catch (e) {
    if (current === job) showError(e);
  } finally {
    end(job);
  }
}

let scrubInFlight = false;
let scrubWanted = false;
/** Renders the scrubber's layer and method; while one render runs, the latest request waits (never a queue). */
async function scrubRender(): Promise<void> {
  if (!state.scrub) return;
  if (scrubInFlight) {
    scrubWanted = true;
    return;
  }
  scrubInFlight = true;
  try {
    do {
      scrubWanted = false;
      const layer = state.scrub?.layers[state.scrubIndex]?.name;
      if (!layer) return;
      const jobs = jobsBegun;
      try {
        const explanation = await client.call<Explanation>({ type: 'scrubMap', layer, method: state.scrubMethod }).promise;
        if (jobsBegun !== jobs) return; // an explanation asked for meanwhile (method or layer picked) wins
        notePasses(explanation.passes);
        stamp(explanation);
        set({ explanation, method: state.scrubMethod, layer });
      } catch (e) {
        showError(e);
        return;
      }
    } while (scrubWanted);
  } finally {
    scrubInFlight = false;
  }
}

/** Layers per filmstrip request: slider renders get their turn in the worker between chunks. */
const FILM_CHUNK = 12;

/** The filmstrip, a chunk at a time; stops when the pass or the method changes. */
async function loadFilm(): Promise<void> {
  const scrub = state.scrub;
  if (!scrub) return;
  const method = state.scrubMethod;
  const frames: FilmFrame[] = [];
  set({ film: [] });
  for (let from = 0; from < scrub.layers.length; from += FILM_CHUNK) {
    if (state.scrub !== scrub || state.scrubMethod !== method) return;
    try {
      frames.push(...(await client.call<FilmFrame[]>({ type: 'filmstrip', method, from, count: FILM_CHUNK }).promise));
    } catch (e) {
      if (state.scrub === scrub) showError(e);
      return;
    }
    if (state.scrub !== scrub || state.scrubMethod !== method) return;
    set({ film: [...frames] });
  }
}

/** The layer the feature views look at: the one picked, else the explanation's, else the model's default. */
function featureLayer(): string {
  return state.featureLayer || state.explanation?.layers[0] || state.analysis?.model.defaultLayer || state.analysis?.model.layers.at(-1)?.name || '';
}

async function runFeatures(view: FeatureView['view']): Promise<void> {
  stopLive();
  await opening;
  if (!state.analysis) return;
  supersede();
  const layer = featureLayer();
  const label = view === 'maps' ? `Feature maps of ${layer}` : view === 'filters' ? `Filters of ${layer}` : `Activation maximization of ${layer} channel ${state.featureChannel}`;
  const job = begin('features', label);
  const call = client.call<FeatureView>({ type: 'features', view, layer, channel: state.featureChannel, steps: state.featureSteps || undefined, colormap: state.colormap }, { onProgress: (d, t, l) => progress(job, d, t, l) });
  job.busy.id = call.id;
  try {
    const features = await call.promise;
    if (current === job) set({ features, message: undefined });
  } catch (e) {
    if (current === job) showError(e);
  } finally {
    end(job);
  }
}

// ---- live mode: the camera or a video file, frame after frame ---------------------------------

interface LiveSession {
  running: boolean;
  video: HTMLVideoElement;
  stream: MediaStream | null;
  url: string | null;
  callId: number;
  presented: number;
  track?: { box: number[]; classId: number; label: string };
  done: number[];
}
let live: LiveSession | null = null;

/** Explains clicks in live mode: the clicked detection is tracked (by IoU) in the next frames. */
function track(d: DetectionSummary): void {
  if (!live) return;
  live.track = { box: d.box, classId: d.classId, label: detectionLabel(d) };
  if (state.live) set({ live: { ...state.live, tracking: live.track.label } });
}

function stopLive(): void {
  const l = live;
  if (!l) return;
  live = null;
  l.running = false;
  client.cancel(l.callId);
  l.video.pause();
  for (const t of l.stream?.getTracks() ?? []) t.stop();
  l.video.srcObject = null;
  if (l.url) URL.revokeObjectURL(l.url);
  if (state.live) set({ live: { ...state.live, running: false } });
}

/**
 * Starts live mode on the camera or a video file: the worker gets the frame
 * shown when it is free (one in flight, never a queue: the frames shown
 * meanwhile are dropped), detects and explains it.
 */
async function startLive(source: 'camera' | File): Promise<void> {
  stopLive();
  await opening;
  if (!state.analysis) return;
  supersede();
  const video = document.getElementById('live-video') as HTMLVideoElement;
  const l: LiveSession = { running: true, video, stream: null, url: null, callId: 0, presented: 0, done: [] };
  live = l;
  try {
    if (source === 'camera') {
      if (!navigator.mediaDevices?.getUserMedia) throw new Error('this browser offers no camera (navigator.mediaDevices.getUserMedia)');
      l.stream = await navigator.mediaDevices.getUserMedia({ video: { width: { ideal: 640 }, height: { ideal: 480 } }, audio: false });
      video.srcObject = l.stream;
    } else {
      l.url = URL.createObjectURL(source);
      video.src = l.url;
      video.loop = true;
    }
    video.muted = true;
    await video.play();
  } catch (e) {
    if (live === l) stopLive();
    set({ message: { kind: 'error', category: 'other', title: source === 'camera' ? 'No camera' : 'Cannot play the video', text: (e as Error).message ?? String(e) } });
    return;
  }
  if (live !== l) return;
  const count = () => {
    if (!l.running) return;
    l.presented++;
    video.requestVideoFrameCallback(count);
  };
  video.requestVideoFrameCallback(count);
  set({ live: { source: source === 'camera' ? 'camera' : source.name, running: true, frames: 0, fps: 0, dropped: 0, lastMs: 0, tracking: null }, tiles: [], scrub: undefined, film: undefined, message: undefined });
  void liveLoop(l);
}

async function liveLoop(l: LiveSession): Promise<void> {
  let explained = 0;
  let presentedAtStart = l.presented;
  while (l.running) {
    const video = l.video;
    if (video.readyState < 2 || !video.videoWidth) {
      await new Promise((r) => setTimeout(r, 30));
      continue;
    }
    const shownBefore = l.presented;
    const bitmap = await createImageBitmap(video);
    if (!l.running) {
      bitmap.close();
      break;
    }
    const call = client.call<LiveFrame>({ type: 'frame', bitmap, method: state.method, layers: state.layer ? [state.layer] : undefined, track: l.track && { box: l.track.box, classId: l.track.classId } }, { transfer: [bitmap] });
    l.callId = call.id;
    let frame: LiveFrame;
    try {
      frame = await call.promise;
    } catch (e) {
      if (l.running) {
        showError(e);
        stopLive();
      }
      break;
    }
    if (!l.running) break;
    explained++;
    if (explained === 1) presentedAtStart = shownBefore;
    const now = performance.now();
    l.done = [...l.done, now].slice(-6);
    const fps = l.done.length > 1 ? ((l.done.length - 1) * 1000) / (now - l.done[0]) : 0;
    const e = frame.explanation;
    if (e) {
      notePasses(e.passes);
      stamp(e);
      const d = e.detections[0];
      if (d) l.track = { box: d.box, classId: d.classId, label: detectionLabel(d) };
    }
    set({
      analysis: frame.analysis,
      explanation: e ?? undefined,
      pick: e?.pick ?? { kind: 'default' },
      live: { source: state.live?.source ?? '', running: true, frames: explained, fps, dropped: Math.max(0, l.presented - presentedAtStart - explained), lastMs: frame.ms, tracking: l.track?.label ?? null },
    });
  }
}

async function start(): Promise<void> {
  if (!('gpu' in navigator) || !navigator.gpu) {
    const message = noWebGpuMessage(window.isSecureContext);
    set({ phase: 'fatal', message });
    rejectReady(new Error(`${message.title}: ${message.text}`));
    return;
  }
  const job = begin('start', 'Starting the WebGPU engine');
  let model: FileBytes;
  let image: FileBytes;
  try {
    const init = await client.call<InitResult>({ type: 'init' }).promise;
    timings.engine = performance.now() - t0;
    set({ init, phase: 'ready' });
    progress(job, 0, 0, 'Loading the default model and photo');
    [model, image] = await Promise.all(
      ['yolo_fastest_1.1_coco.onnx', 'dog.jpg'].map(async (name) => {
        const response = await fetch(new URL(`./assets/${name}`, import.meta.url));
        if (!response.ok) throw new Error(`cannot load the embedded default assets/${name}: HTTP ${response.status}`);
        return { name, bytes: await response.arrayBuffer() };
      }),
    );
    end(job);
  } catch (e) {
    end(job);
    showError(e);
    if (e instanceof WorkerError && e.info.category === 'webgpu') set({ phase: 'fatal' });
    rejectReady(new Error(state.message ? `${state.message.title}: ${state.message.text}` : String(e)));
    return;
  }
  await open({ type: 'open', model, image }, 'Detecting on the default photo', [model.bytes, image.bytes]);
  if (!state.analysis) rejectReady(new Error(state.message ? `${state.message.title}: ${state.message.text}` : 'the default model could not be opened'));
}

// ---- components ---------------------------------------------------------------------------------

function Viewer({ s }: { s: PageState }) {
  const photo = useRef<HTMLCanvasElement>(null);
  const heat = useRef<HTMLCanvasElement>(null);
  const a = s.analysis;
  const e = s.explanation;
  useEffect(() => {
    if (a && photo.current) paintRgba(photo.current, a.image.data, a.image.width, a.image.height);
  }, [a?.image]);
  useEffect(() => {
    const c = heat.current;
    if (!c || !a) return;
    if (!e) {
      c.width = a.image.width;
      c.height = a.image.height;
      c.getContext('2d')?.clearRect(0, 0, c.width, c.height);
      return;
    }
    paintRgba(c, heatRgba(e.photoMap, a.image.width, a.image.height, s.colormap), a.image.width, a.image.height);
    drawn(e);
  }, [e, s.colormap, a?.image]);
  if (!a) return html`<div class="viewer empty">${s.phase === 'fatal' ? 'gradlens cannot run in this browser.' : 'Loading…'}</div>`;
  const { width, height } = a.image;
  const explained = new Set((e?.detections ?? []).map((d) => d.index));
  const stroke = Math.max(2, Math.round(Math.min(width, height) / 250));
  const font = Math.max(12, Math.round(Math.min(width, height) / 32));
  // Label rectangles placed in score order, moved where one would hide another (the CLI's rule).
  const detections = a.detections ?? [];
  const labelSize = (label: string) => [font * 0.62 * label.length + 8, font * 1.3] as const;
  const rects = labelRects(width, height, detections.map((d) => ({ box: d.box, label: detectionLabel(d) })), labelSize);
  const labelAt = new Map(detections.map((d, i) => [d.index, rects[i]!]));
  return html`<div class="viewer" style=${`aspect-ratio: ${width} / ${height}`}>
    <canvas id="photo" ref=${photo} width=${width} height=${height}></canvas>
    <canvas id="heat" ref=${heat} width=${width} height=${height} style=${`opacity: ${e ? s.opacity : 0}`}></canvas>
    <svg id="boxes" viewBox=${`0 0 ${width} ${height}`} preserveAspectRatio="none">
      ${byArea(detections).map((d) => {
        const [x1, y1, x2, y2] = d.box;
        const [r, g, b] = classColor(d.classId);
        const color = `rgb(${r}, ${g}, ${b})`;
        const on = explained.has(d.index) && e?.pick.kind !== 'all';
        const [lx, ly, lx2] = labelAt.get(d.index)!;
        return html`<g class=${`box${on ? ' explained' : ''}`} data-index=${d.index} onClick=${() => (live ? track(d) : explainPick({ kind: 'detection', index: d.index }))}>
          <title>${`#${d.index} ${detectionLabel(d)}: click to explain`}</title>
          <rect x=${x1} y=${y1} width=${Math.max(1, x2 - x1)} height=${Math.max(1, y2 - y1)} stroke=${color} stroke-width=${on ? stroke * 2 : stroke} fill="transparent" />
          <rect x=${lx} y=${ly} width=${lx2 - lx} height=${font * 1.3} fill=${color} />
          <text x=${lx + 4} y=${ly + font} font-size=${font}>${detectionLabel(d)}</text>
        </g>`;
      })}
    </svg>
  </div>`;
}

/** Largest box first: SVG paints in document order, so a box nested in another stays on top and clickable. */
function byArea(detections: readonly DetectionSummary[]): DetectionSummary[] {
  const area = (d: DetectionSummary) => (d.box[2] - d.box[0]) * (d.box[3] - d.box[1]);
  return [...detections].sort((p, q) => area(q) - area(p));
}

function Tile({ t, s }: { t: Tile; s: PageState }) {
  const canvas = useRef<HTMLCanvasElement>(null);
  const a = s.analysis;
  useEffect(() => {
    const c = canvas.current;
    if (!c || !a || !t.explanation) return;
    c.width = a.image.width;
    c.height = a.image.height;
    const ctx = c.getContext('2d');
    if (!ctx) return;
    const img = overlayImage(a.image, t.explanation.photoMap, s.opacity, s.colormap, []);
    ctx.putImageData(new ImageData(new Uint8ClampedArray(img.data), img.width, img.height), 0, 0);
  }, [t.explanation, s.opacity, s.colormap, a?.image]);
  return html`<figure class=${`tile ${t.state}`} data-method=${t.method} data-state=${t.state}>
    ${t.explanation ? html`<canvas ref=${canvas}></canvas>` : html`<div class="placeholder">${t.state === 'error' ? t.error : t.state}</div>`}
    <figcaption>${t.title}${t.explanation ? ` · ${(t.explanation.ms / 1000).toFixed(2)} s` : ''}</figcaption>
  </figure>`;
}

function Message({ m }: { m?: PageMessage }) {
  if (!m) return null;
  return html`<div id="message" class=${`message ${m.kind}`} role=${m.kind === 'error' ? 'alert' : 'status'} data-category=${m.category}>
    <strong class="title">${m.title}</strong>
    <span class="text">${m.text}</span>
    ${m.hint ? html`<span class="hint">${m.hint}</span>` : null}
    <button class="close" title="Dismiss" onClick=${() => set({ message: undefined })}>×</button>
  </div>`;
}

function Status({ s }: { s: PageState }) {
  const b = s.busy;
  const e = s.explanation;
  if (b) {
    const pct = b.total > 0 ? Math.round((100 * b.done) / b.total) : undefined;
    return html`<div id="status" class="status busy" data-busy="true" data-running=${b.running ? 'true' : 'false'}>
      <span class="spinner"></span><span class="label">${b.label}…</span>
      ${pct !== undefined ? html`<progress id="progress" max="100" value=${pct}></progress><span class="pct">${pct}%</span>` : html`<progress id="progress"></progress>`}
      ${b.kind !== 'start' && b.kind !== 'open' ? html`<button id="cancel" onClick=${cancel}>Cancel</button>` : null}
    </div>`;
  }
  if (!e) return html`<div id="status" class="status" data-busy="false">${s.phase === 'ready' ? 'Ready.' : ''}</div>`;
  return html`<div id="status" class="status" data-busy="false">
    <span class="label">${e.title} of ${e.pick.kind === 'all' ? 'every detection' : e.target}, score ${e.score.toFixed(4)}, at ${e.layers.join(', ')} · ${(e.ms / 1000).toFixed(2)} s${e.scrubbed ? ' (layer scrubber: no model run)' : ''}</span>
  </div>`;
}

function Controls({ s }: { s: PageState }) {
  const a = s.analysis;
  const methods = s.init?.methods ?? [];
  const defaultLayer = a?.model.kind === 'detector' ? `the layer feeding each detection's head` : (a?.model.defaultLayer ?? 'none');
  return html`<div class="controls">
    <label>Method
      <select id="method" value=${s.method} onChange=${(ev: Event) => {
        set({ method: (ev.target as HTMLSelectElement).value });
        if (!live) void explainPick(); // live mode: the next frames use it
      }}>
        ${methods.map((m) => html`<option value=${m.name} disabled=${unavailable(m, a)}>${m.title} (${m.name})${m.batched ? ' · slow' : ''}</option>`)}
      </select>
    </label>
    <label>Layer
      <select id="layer" value=${s.layer} onChange=${(ev: Event) => {
        set({ layer: (ev.target as HTMLSelectElement).value });
        if (!live) void explainPick();
      }}>
        <option value="">default: ${defaultLayer}</option>
        ${(a?.model.layers ?? []).map((l) => html`<option value=${l.name}>${l.name} [${l.shape.slice(1).join('×')}] ${l.op}</option>`)}
      </select>
    </label>
    <label>Opacity
      <input id="opacity" type="range" min="0" max="1" step="0.05" value=${s.opacity} onInput=${(ev: Event) => set({ opacity: Number((ev.target as HTMLInputElement).value) })} />
    </label>
    <label>Colormap
      <select id="colormap" value=${s.colormap} onChange=${(ev: Event) => set({ colormap: (ev.target as HTMLSelectElement).value as Colormap })}>
        <option value="jet">jet</option>
        <option value="viridis">viridis</option>
      </select>
    </label>
    <div class="buttons">
      <button id="explain" disabled=${!a} onClick=${() => explainPick()}>Explain</button>
      ${a?.model.kind === 'detector' ? html`<button id="explain-all" disabled=${!a.detections?.length} onClick=${() => explainPick({ kind: 'all' })}>Explain all detections</button>` : null}
    </div>
    <div class="buttons downloads">
      <button id="download-overlay" disabled=${!s.explanation} onClick=${downloadOverlay}>Overlay .png</button>
      <button id="download-map" disabled=${!s.explanation} onClick=${() => downloadNpy('map')}>Map .npy</button>
      <button id="download-raw" disabled=${!s.explanation} onClick=${() => downloadNpy('raw')}>Raw map .npy</button>
    </div>
  </div>`;
}

function baseName(): string {
  const a = state.analysis!;
  const e = state.explanation!;
  const stem = (n: string) => n.replace(/\.[^.]*$/, '').replace(/[^\w.-]+/g, '_');
  return `${stem(a.model.name)}-${stem(a.image.name)}-${e.method.replace('++', 'pp')}`;
}

async function downloadOverlay(): Promise<void> {
  const a = state.analysis;
  const e = state.explanation;
  if (!a || !e) return;
  const boxes = e.pick.kind === 'all' ? e.detections : e.detections.slice(0, 1);
  download(await pngBlob(overlayImage(a.image, e.photoMap, state.opacity, state.colormap, boxes)), `${baseName()}-overlay.png`);
}

function downloadNpy(which: 'map' | 'raw'): void {
  const e = state.explanation;
  if (!e) return;
  if (which === 'map') download(npyBlob(e.map, [e.height, e.width]), `${baseName()}-map.npy`);
  else download(npyBlob(e.raw.data, e.raw.shape), `${baseName()}-raw.npy`);
}

function FilmFrameView({ f, on, index }: { f: FilmFrame; on: boolean; index: number }) {
  const canvas = useRef<HTMLCanvasElement>(null);
  const s = state;
  useEffect(() => {
    const c = canvas.current;
    if (!c) return;
    const [h, w] = f.shape;
    let hi = 0;
    for (const v of f.data) hi = Math.max(hi, v);
    const scaled = hi > 0 ? f.data.map((v) => v / hi) : f.data;
    paintRgba(c, heatRgba(scaled, w, h, s.colormap), w, h);
  }, [f, s.colormap]);
  return html`<button class=${`frame${on ? ' on' : ''}`} data-layer=${f.layer} title=${`${f.layer} [${f.shape.join('×')}]`} onClick=${() => {
    set({ scrubIndex: index });
    void scrubRender();
  }}><canvas ref=${canvas}></canvas></button>`;
}

function Scrubber({ s }: { s: PageState }) {
  const sc = s.scrub;
  const methods = (s.init?.methods ?? []).filter((m) => m.scrub);
  const layer = sc?.layers[s.scrubIndex];
  const mb = (b: number) => `${(b / 2 ** 20).toFixed(0)} MiB`;
  return html`<section class="scrubber">
    <h2>Layer scrubber <small>one forward and backward pass keeps every layer; the slider re-renders without running the model</small></h2>
    <div class="row">
      <button id="scrub-pass" disabled=${!s.analysis || Boolean(s.busy)} onClick=${scrubPass}>${sc ? 'Run the pass again' : 'One pass through every layer'}</button>
      <label>Method
        <select id="scrub-method" value=${s.scrubMethod} disabled=${!sc} onChange=${(ev: Event) => {
          set({ scrubMethod: (ev.target as HTMLSelectElement).value, film: [] });
          void scrubRender();
          void loadFilm();
        }}>
          ${methods.map((m) => html`<option value=${m.name}>${m.title}</option>`)}
        </select>
      </label>
      ${sc ? html`<span class="hint" id="scrub-info">${sc.layers.length} layers kept (${mb(sc.bytes)} of ${mb(sc.budget)}${sc.dropped.length ? `; ${sc.dropped.length} largest dropped` : ''}${sc.unreached ? `; ${sc.unreached} the score does not depend on` : ''}) for ${pickLabel(sc.pick)}, ${sc.passes} pass, ${(sc.ms / 1000).toFixed(1)} s</span>` : null}
    </div>
    ${sc
      ? html`<div class="row">
          <input id="scrub" type="range" min="0" max=${sc.layers.length - 1} step="1" value=${s.scrubIndex} onInput=${(ev: Event) => {
            set({ scrubIndex: Number((ev.target as HTMLInputElement).value) });
            void scrubRender();
          }} />
          <span id="scrub-layer" class="layer-name">${layer ? `${s.scrubIndex + 1}/${sc.layers.length} ${layer.name} [${layer.shape.slice(1).join('×')}]${layer.name === sc.defaultLayer ? ' (default)' : ''}` : ''}</span>
        </div>
        <div id="filmstrip" class="filmstrip">${(s.film ?? []).map((f, i) => html`<${FilmFrameView} f=${f} on=${i === s.scrubIndex} index=${i} />`)}</div>`
      : null}
  </section>`;
}

function Live({ s }: { s: PageState }) {
  const l = s.live;
  return html`<section class="live">
    <h2>Live</h2>
    <div class="buttons">
      <button id="live-camera" disabled=${!s.analysis} onClick=${() => startLive('camera')}>Camera</button>
      <button id="live-file" disabled=${!s.analysis} onClick=${() => document.getElementById('video-file')?.click()}>Video file…</button>
      <button id="live-stop" disabled=${!l?.running} onClick=${stopLive}>Stop</button>
      <input id="video-file" type="file" accept="video/*" hidden onChange=${(ev: Event) => {
        const input = ev.target as HTMLInputElement;
        const file = input.files?.[0];
        input.value = '';
        if (file) void startLive(file);
      }} />
    </div>
    <video id="live-video" class=${l?.running ? 'on' : ''} muted playsinline></video>
    ${l
      ? html`<p id="live-fps" class="hint" data-frames=${l.frames}>
          ${l.running ? '' : 'stopped · '}${l.fps.toFixed(2)} fps · ${l.frames} frames explained · ${l.dropped} dropped · last ${(l.lastMs / 1000).toFixed(2)} s
          ${l.tracking ? html`<br />tracking ${l.tracking} (click a box to track another)` : null}
        </p>`
      : html`<p class="hint">Each frame is detected and its top detection (or the one you click, tracked by overlap) explained; frames the engine cannot keep up with are dropped.</p>`}
  </section>`;
}

function Inside({ s }: { s: PageState }) {
  const i = s.explanation?.inside;
  const mb = (b: number) => `${(b / 2 ** 20).toFixed(1)} MiB`;
  const shape = (x: number[]) => `[${x.join('×')}]`;
  return html`<details class="inside" id="inside-panel" open=${s.inside || undefined}>
    <summary>Inside: the autodiff tape and the GPU kernels</summary>
    <label class="check"><input type="checkbox" id="inside-record" checked=${s.inside} onChange=${(ev: Event) => set({ inside: (ev.target as HTMLInputElement).checked })} />
      Record the tape and the GPU time per kernel of the next explanations (slower: one compute pass per dispatch)</label>
    ${i
      ? html`<p id="inside-summary" class="hint">
            ${i.nodeCount} ops on the tape, ${mb(i.savedBytes)} saved for backward;
            ${i.timing === 'gpu' ? `${i.gpuMs.toFixed(1)} ms of GPU time over ${i.kernels.reduce((a, k) => a + k.calls, 0)} dispatches (timestamp queries), ${i.wallMs.toFixed(0)} ms wall` : `wall time ${i.wallMs.toFixed(0)} ms (this adapter has no timestamp queries: no per-kernel times)`}
          </p>
          <div class="tables">
            ${i.kernels.length
              ? html`<table id="kernels"><thead><tr><th>kernel</th><th>dispatches</th><th>GPU ms</th></tr></thead>
                  <tbody>${i.kernels.slice(0, 40).map((k) => html`<tr><td>${k.kernel}</td><td>${k.calls}</td><td>${k.ms.toFixed(2)}</td></tr>`)}</tbody></table>`
              : null}
            <table id="tape"><thead><tr><th>#</th><th>op</th><th>inputs</th><th>outputs</th><th>saved for backward</th><th>bytes</th></tr></thead>
              <tbody>
                ${i.nodes.slice(0, 400).map((n, k) => html`<tr><td>${k}</td><td>${n.op}</td><td>${n.inputs.map(shape).join(' ')}</td><td>${n.outputs.map(shape).join(' ')}</td><td>${n.saved.map(shape).join(' ')}</td><td>${n.savedBytes}</td></tr>`)}
                ${i.nodeCount > 400 ? html`<tr><td colspan="6">… ${i.nodeCount - 400} more</td></tr>` : null}
              </tbody></table>
          </div>`
      : html`<p class="hint">Tick the box, then explain: the ops the forward pass recorded (shapes, the tensors saved for the backward pass and their bytes) and where the GPU time went.</p>`}
  </details>`;
}

function Features({ s }: { s: PageState }) {
  const canvas = useRef<HTMLCanvasElement>(null);
  const f = s.features;
  useEffect(() => {
    if (f && canvas.current) paintRgba(canvas.current, f.image.data, f.image.width, f.image.height);
  }, [f]);
  const layers = s.analysis?.model.layers ?? [];
  const shown = featureLayer();
  return html`<section class="features">
    <h2>Feature views</h2>
    <div class="row">
      <label>Layer
        <select id="feature-layer" value=${s.featureLayer} onChange=${(ev: Event) => set({ featureLayer: (ev.target as HTMLSelectElement).value })}>
          <option value="">the explained layer${shown ? `: ${shown}` : ''}</option>
          ${layers.map((l) => html`<option value=${l.name}>${l.name} [${l.shape.slice(1).join('×')}] ${l.op}</option>`)}
        </select>
      </label>
      <label>Channel <input id="feature-channel" type="number" min="0" step="1" value=${s.featureChannel} onInput=${(ev: Event) => set({ featureChannel: Math.max(0, Math.floor(Number((ev.target as HTMLInputElement).value) || 0)) })} /></label>
      <label>Steps <input id="feature-steps" type="number" min="0" step="5" value=${s.featureSteps || ''} placeholder=${s.init?.adapter.software ? '20' : '100'} onInput=${(ev: Event) => set({ featureSteps: Math.max(0, Math.floor(Number((ev.target as HTMLInputElement).value) || 0)) })} /></label>
    </div>
    <div class="buttons">
      <button id="feature-maps" disabled=${!s.analysis} onClick=${() => runFeatures('maps')}>Feature maps</button>
      <button id="feature-filters" disabled=${!s.analysis} onClick=${() => runFeatures('filters')}>Conv filters</button>
      <button id="feature-actmax" disabled=${!s.analysis} onClick=${() => runFeatures('actmax')}>Activation maximization</button>
    </div>
    ${f
      ? html`<figure id="feature-view" data-view=${f.view}>
          <canvas ref=${canvas}></canvas>
          <figcaption>${f.caption} · ${(f.ms / 1000).toFixed(2)} s</figcaption>
        </figure>`
      : null}
  </section>`;
}

/** The f16 checkbox's tooltip: what it does, or why this adapter cannot. */
function f16Why(s: PageState): string {
  if (!s.init?.adapter.features.includes('shader-f16')) return `f16 storage needs the WebGPU feature 'shader-f16', which this adapter (${s.init?.adapter.description ?? 'none'}) lacks`;
  return 'f16 storage: half the memory and memory traffic; each kernel still computes in f32 (maps within about 1e-2 of f32)';
}

function Sidebar({ s }: { s: PageState }) {
  const a = s.analysis;
  const e = s.explanation;
  const presets = s.init?.presets ?? [];
  const explained = new Set(e && e.pick.kind !== 'all' ? e.detections.map((d) => d.index) : []);
  return html`<aside class="sidebar">
    <section class="files">
      <button id="open-model" onClick=${() => document.getElementById('model-file')?.click()}>Open model…</button>
      <button id="open-image" onClick=${() => document.getElementById('image-file')?.click()}>Open photo…</button>
      <input id="model-file" type="file" accept=".onnx,.json" multiple hidden onChange=${(ev: Event) => pickFiles(ev, 'model')} />
      <input id="image-file" type="file" accept="image/*" hidden onChange=${(ev: Event) => pickFiles(ev, 'image')} />
      <p class="hint">or drop / paste a .onnx model (with its .json sidecar) and a photo anywhere on the page</p>
    </section>
    ${a
      ? html`<section class="model">
          <div><b id="model-name">${a.model.name}</b> on <b id="image-name">${a.image.name}</b> (${a.image.width}×${a.image.height})</div>
          <div class="describe" id="model-kind" data-kind=${a.model.kind}>${a.model.describe}</div>
          <label>Preset
            <select id="preset" value=${a.model.presetAuto ? '' : a.model.preset} onChange=${(ev: Event) => {
              const v = (ev.target as HTMLSelectElement).value;
              void open({ type: 'open', preset: v || null }, v ? `Preset ${v}` : 'Preset picked by file name');
            }}>
              <option value="">by file name: ${a.model.presetAuto ? a.model.preset : '…'}</option>
              ${presets.map((p) => html`<option value=${p.name} title=${p.description}>${p.name}</option>`)}
            </select>
          </label>
          <label title=${f16Why(s)}>
            <input id="f16" type="checkbox" checked=${a.model.precision === 'f16'} disabled=${Boolean(s.busy) || !s.init?.adapter.features.includes('shader-f16')} onChange=${(ev: Event) => {
              const on = (ev.target as HTMLInputElement).checked;
              void open({ type: 'open', precision: on ? 'f16' : 'f32' }, on ? 'Half precision (f16 storage)' : 'Full precision (f32)');
            }} />
            f16
          </label>
        </section>`
      : null}
    ${a?.detections
      ? html`<section class="list">
          <h2>${a.detections.length} detection${a.detections.length === 1 ? '' : 's'} <small>conf ${a.conf}, iou ${a.iou}</small></h2>
          <ol id="detections">
            ${a.detections.map(
              (d) => html`<li data-index=${d.index} class=${explained.has(d.index) ? 'explained' : ''}>
                <button onClick=${() => (live ? track(d) : explainPick({ kind: 'detection', index: d.index }))}>
                  <span class="swatch" style=${`background: rgb(${classColor(d.classId).join(',')})`}></span>
                  <span class="name">${d.className}</span><span class="score">${d.score.toFixed(3)}</span>
                  <span class="where">[${d.box.map((v) => Math.round(v)).join(', ')}]</span>
                </button>
              </li>`,
            )}
          </ol>
          ${a.detections.length ? null : html`<p class="hint">Nothing above confidence ${a.conf}.</p>`}
        </section>`
      : null}
    ${a?.classes
      ? html`<section class="list">
          <h2>Top classes</h2>
          <ol id="classes">
            ${a.classes.map(
              (c) => html`<li data-index=${c.index} class=${e?.classIndex === c.index ? 'explained' : ''}>
                <button onClick=${() => explainPick({ kind: 'class', index: c.index })}>
                  <span class="name">${c.name}</span><span class="score">${(c.prob * 100).toFixed(1)}%</span>
                  <span class="bar" style=${`width: ${Math.round(c.prob * 100)}%`}></span>
                </button>
              </li>`,
            )}
          </ol>
        </section>`
      : null}
    <${Live} s=${s} />
    ${e?.warnings.length ? html`<section class="warnings"><h2>Warnings</h2>${e.warnings.map((w) => html`<p>${w}</p>`)}</section>` : null}
  </aside>`;
}

type MethodInfo = NonNullable<PageState['init']>['methods'][number];
/** Why a method cannot explain this model (the worker would refuse it), or undefined when it can. */
function unavailableWhy(m: MethodInfo, a: PageState['analysis']): string | undefined {
  if (a?.model.nhwc && m.inputSpace) return `${m.title} works on the image input, which this preset feeds channels-last (NHWC)`;
  if (a?.model.kind === 'detector' && m.classTargetsOnly) return `${m.title} compares class scores; a detector's detections are not classes`;
  return undefined;
}
const unavailable = (m: MethodInfo, a: PageState['analysis']) => unavailableWhy(m, a) !== undefined;

function Compare({ s }: { s: PageState }) {
  const methods = s.init?.methods ?? [];
  const toggle = (name: string, on: boolean) => set({ compareMethods: on ? [...s.compareMethods, name] : s.compareMethods.filter((m) => m !== name) });
  return html`<section class="compare">
    <h2>Compare methods</h2>
    <div id="compare-methods" class="checks">
      ${methods.map(
        (m) => html`<label title=${unavailableWhy(m, s.analysis) ?? m.name}><input type="checkbox" value=${m.name} checked=${s.compareMethods.includes(m.name) && !unavailable(m, s.analysis)} disabled=${unavailable(m, s.analysis)}
          onChange=${(ev: Event) => toggle(m.name, (ev.target as HTMLInputElement).checked)} />${m.title}</label>`,
      )}
    </div>
    <button id="compare" disabled=${!s.analysis || !s.compareMethods.length} onClick=${compare}>Compare on ${pickLabel(s.pick)}</button>
    <div id="compare-grid" class="grid">${s.tiles.map((t) => html`<${Tile} t=${t} s=${s} />`)}</div>
  </section>`;
}

function pickFiles(ev: Event, as: 'model' | 'image'): void {
  const input = ev.target as HTMLInputElement;
  const files = [...(input.files ?? [])];
  input.value = '';
  void openFiles(files, as);
}

function App() {
  const s = useStore();
  return html`<div class=${`app${s.dragging ? ' dragging' : ''}`} data-phase=${s.phase}>
    <header>
      <h1>gradlens</h1>
      <span class="tagline">what the network looked at — computed on your GPU, nothing leaves this machine</span>
    </header>
    <${Message} m=${s.message} />
    <${Status} s=${s} />
    <main data-busy=${s.busy ? 'true' : 'false'}>
      <div class="left">
        <${Viewer} s=${s} />
        <${Controls} s=${s} />
        <${Scrubber} s=${s} />
        <${Features} s=${s} />
        <${Inside} s=${s} />
      </div>
      <${Sidebar} s=${s} />
    </main>
    <${Compare} s=${s} />
    <footer id="adapter">${s.init ? `WebGPU adapter: ${s.init.adapter.description}${s.init.adapter.software ? ' (software)' : ''}` : ''}</footer>
  </div>`;
}

// ---- drag and drop, paste ---------------------------------------------------------------------

window.addEventListener('dragover', (ev) => {
  ev.preventDefault();
  if (!state.dragging) set({ dragging: true });
});
window.addEventListener('dragleave', (ev) => {
  if (!ev.relatedTarget) set({ dragging: false });
});
window.addEventListener('drop', (ev) => {
  ev.preventDefault();
  set({ dragging: false });
  void openFiles([...(ev.dataTransfer?.files ?? [])], 'any');
});
window.addEventListener('paste', (ev) => {
  const files = [...(ev.clipboardData?.files ?? [])];
  if (files.length) {
    ev.preventDefault();
    void openFiles(files, 'any');
  }
});

render(html`<${App} />`, document.getElementById('app')!);
void start();

// gradlens next to what a user would otherwise pick, on one Dawn device in one
// process (bench/shared-device.ts):
//
// - whole-model forward against onnxruntime-web's native WebGPU EP
//   ('onnxruntime-web/webgpu', one wasm thread, the model as bytes, our device);
// - conv2d forward, and forward + input and filter gradients, on every YOLOv5n
//   layer shape (bench/shapes.ts) against TF.js' WebGPU backend (tf.conv2d,
//   tf.grads) registered on our device;
// - Grad-CAM end to end (gradlens only), timed beside its own forward.
//
// Every timed step is wall clock from host data to host data (upload, run,
// readback). Outputs are compared (numpy.allclose, rtol = atol = 1e-3) before
// any timing; a mismatch fails the case loudly and times nothing. Medians of
// `reps` after `warmup`, the steps of a case interleaved rep by rep.

import { backward, conv2d, keep, numel, scopeAsync, tensor, type Tensor } from '../engine/index.js';
import { seededRandom } from '../engine/random.js';
import { benchModel, explainTop, gradlensForward, modelPath } from './models.js';
import { yolov5n640, type ConvLayer } from './shapes.js';
import { closeness, importPackage, interleaved, MODEL_FILES, sharedDevice, wallMs, type Closeness, type SharedGpu } from './shared-device.js';

export interface PeerCase {
  name: string;
  gradlens_ms: number;
  peer: string;
  peer_ms: number;
  /** peer_ms / gradlens_ms: above 1, gradlens is faster. */
  ratio: number;
  /** The comparison that let the case be timed (for Grad-CAM: none, it has no peer output). */
  check?: Pick<Closeness, 'maxAbs' | 'maxRel' | 'count'>;
  /** First run (pipeline compilation included) and setup (load / session creation), where measured. */
  gradlens_first_ms?: number;
  peer_first_ms?: number;
  gradlens_setup_ms?: number;
  peer_setup_ms?: number;
  /** Layer shape weight (how often the shape occurs in YOLOv5n) for the conv cases. */
  count?: number;
  note?: string;
}

export interface PeersOptions {
  reps: number;
  warmup: number;
  /** Short model names (MODEL_FILES) for the forward and Grad-CAM cases. */
  models: string[];
  /** Which parts: 'forward' (ORT), 'gradcam', 'conv' (TF.js). */
  parts: string[];
  /** Conv layers whose name contains this (comma separated: any of them). */
  filter?: string;
  log: (line: string) => void;
}

export interface PeersResult {
  cases: PeerCase[];
  skipped: string[];
  failures: string[];
  versions: Record<string, string>;
}

const TOL = 1e-3;

export class MismatchError extends Error {}

function checkClose(what: string, ours: ArrayLike<number>, theirs: ArrayLike<number>): Closeness {
  const c = closeness(ours, theirs, TOL);
  if (!c.ok) {
    throw new MismatchError(
      `${what}: outputs differ beyond rtol = atol = ${TOL}: max |a-b| ${c.maxAbs.toExponential(3)}, max |a-b|/(1+|b|) ${c.maxRel.toExponential(3)} at element ${c.worst} ` +
        `(gradlens ${ours[c.worst]}, peer ${theirs[c.worst]}, ${c.count} elements)`,
    );
  }
  return c;
}

const figures = (c: Closeness) => ({ maxAbs: c.maxAbs, maxRel: c.maxRel, count: c.count });

export async function benchPeers(opts: PeersOptions): Promise<PeersResult> {
  const gpu = await sharedDevice();
  const out: PeersResult = { cases: [], skipped: [], failures: [], versions: {} };
  const wantForward = opts.parts.includes('forward');
  const wantGradcam = opts.parts.includes('gradcam');
  if (wantForward || wantGradcam) await modelCases(gpu, opts, out);
  if (opts.parts.includes('conv')) await convCases(gpu, opts, out);
  return out;
}

// ---- whole models against onnxruntime-web ------------------------------------------

interface OrtTensor {
  data: Float32Array;
  dims: readonly number[];
  dispose?: () => void;
}
interface OrtSession {
  inputNames: readonly string[];
  outputNames: readonly string[];
  run(feeds: Record<string, unknown>): Promise<Record<string, OrtTensor>>;
  release(): Promise<void>;
}
interface Ort {
  env: { wasm: { numThreads: number }; webgpu: { adapter?: GPUAdapter }; logLevel?: string; versions?: Record<string, string> };
  InferenceSession: { create(bytes: Uint8Array, options: unknown): Promise<OrtSession> };
  Tensor: new (type: string, data: Float32Array, dims: readonly number[]) => unknown;
}

let ortModule: Ort | null = null;
async function loadOrt(gpu: SharedGpu, out: PeersResult): Promise<Ort> {
  if (ortModule) return ortModule;
  const ort = await importPackage<Ort>('onnxruntime-web/webgpu');
  ort.env.wasm.numThreads = 1;
  ort.env.webgpu.adapter = gpu.adapter;
  ort.env.logLevel = 'error';
  out.versions['onnxruntime-web'] = ort.env.versions?.web ?? '?';
  return (ortModule = ort);
}

async function modelCases(gpu: SharedGpu, opts: PeersOptions, out: PeersResult): Promise<void> {
  const wantForward = opts.parts.includes('forward');
  const wantGradcam = opts.parts.includes('gradcam');
  for (const short of opts.models) {
    const entry = MODEL_FILES.find((f) => f.name === short);
    if (!entry) throw new Error(`unknown model '${short}' (known: ${MODEL_FILES.map((f) => f.name).join(', ')})`);
    const path = modelPath(entry.file);
    if (typeof path !== 'string') {
      out.skipped.push(`${short}: ${path.skip}`);
      opts.log(`${short}: ${path.skip}`);
      continue;
    }
    const t0 = performance.now();
    const m = await benchModel(short, path);
    const gradlensSetup = performance.now() - t0;
    const forward = gradlensForward(m);
    let ours: Float32Array[] = [];
    const gradlensFirst = await wallMs(async () => (ours = await forward()));
    opts.log(`${short}: gradlens load ${gradlensSetup.toFixed(0)} ms (its first forward included: detections), first forward ${gradlensFirst.toFixed(0)} ms; Grad-CAM layers ${m.layers.join(', ')}`);

    let ortStep: (() => Promise<unknown>) | null = null;
    let ortCase: Partial<PeerCase> = {};
    let session: OrtSession | null = null;
    if (wantForward) {
      try {
        const ort = await loadOrt(gpu, out);
        const t1 = performance.now();
        session = await ort.InferenceSession.create(m.bytes, { executionProviders: [{ name: 'webgpu', device: gpu.device }] });
        const setup = performance.now() - t1;
        const feeds = { [session.inputNames[0]]: new ort.Tensor('float32', m.input.data, m.input.shape) };
        const s = session;
        ortStep = async () => {
          const r = await s.run(feeds);
          // CPU outputs: the readback happened inside run(); touch them as ours are touched.
          return s.outputNames.map((n) => r[n].data[0]);
        };
        let theirs: Record<string, OrtTensor> = {};
        const first = await wallMs(async () => (theirs = await s.run(feeds)));
        opts.log(`${short}: onnxruntime-web session ${setup.toFixed(0)} ms, first run ${first.toFixed(0)} ms`);
        // Compare every graph output, by name.
        let worst: Closeness | null = null;
        m.model.outputs.forEach((o, i) => {
          const t = theirs[o.name];
          if (!t) throw new MismatchError(`${short}: onnxruntime-web returned no output '${o.name}'`);
          const c = checkClose(`${short} output '${o.name}'`, ours[i], t.data);
          if (!worst || c.maxRel > worst.maxRel) worst = c;
        });
        ortCase = { check: figures(worst!), peer_first_ms: first, peer_setup_ms: setup };
        opts.log(`${short}: outputs agree (max |a-b| ${worst!.maxAbs.toExponential(2)}, max rel ${worst!.maxRel.toExponential(2)})`);
      } catch (e) {
        const msg = `${short} forward vs onnxruntime-web: ${(e as Error).stack ?? e}`;
        out.failures.push(msg);
        opts.log(`FAILED ${msg}`);
        ortStep = null;
      }
    }
    const steps: (() => Promise<unknown>)[] = [forward];
    if (ortStep) steps.push(ortStep);
    const gradcam = () => explainTop(m, 'gradcam');
    let gradcamFirst = 0;
    if (wantGradcam) {
      gradcamFirst = await wallMs(gradcam);
      steps.push(gradcam);
    }
    const timings = await interleaved(steps, opts);
    const fwd = timings[0].ms;
    if (ortStep) {
      const peer = timings[1].ms;
      out.cases.push({ name: `forward ${short}`, gradlens_ms: fwd, peer: 'onnxruntime-web', peer_ms: peer, ratio: peer / fwd, gradlens_first_ms: gradlensFirst, gradlens_setup_ms: gradlensSetup, ...ortCase });
      opts.log(`forward ${short}: gradlens ${fwd.toFixed(1)} ms, onnxruntime-web ${peer.toFixed(1)} ms, ratio ${(peer / fwd).toFixed(2)}`);
    } else if (wantForward) {
      out.cases.push({ name: `forward ${short}`, gradlens_ms: fwd, peer: 'onnxruntime-web', peer_ms: NaN, ratio: NaN, gradlens_first_ms: gradlensFirst, note: 'onnxruntime-web failed: see failures' });
    }
    if (wantGradcam) {
      const g = timings[timings.length - 1].ms;
      const where = m.head ? `top detection (${m.detections[0]?.className}), ${m.layers.length} head layer${m.layers.length === 1 ? '' : 's'}` : `top class, layer ${m.layers[0]}`;
      out.cases.push({
        name: `gradcam ${short}`,
        gradlens_ms: g,
        peer: 'gradlens forward',
        peer_ms: fwd,
        ratio: fwd / g,
        gradlens_first_ms: gradcamFirst,
        note: `Grad-CAM end to end (${where}); gradlens only: the peer column is our own forward, so ratio >= 0.67 meets "Grad-CAM <= 1.5x forward"`,
      });
      opts.log(`gradcam ${short}: ${g.toFixed(1)} ms = ${(g / fwd).toFixed(2)}x the forward (${where})`);
    }
    await session?.release();
    m.model.dispose();
  }
}

// ---- conv layers against TF.js ---------------------------------------------------

interface TfTensor {
  data(): Promise<Float32Array>;
  dispose(): void;
  shape: number[];
}
interface Tf {
  version: Record<string, string>;
  tensor(values: Float32Array, shape: number[]): TfTensor;
  conv2d(x: TfTensor, w: TfTensor, strides: [number, number], pad: number | number[][]): TfTensor;
  grads(f: (a: TfTensor, b: TfTensor) => TfTensor): (args: TfTensor[], dy?: TfTensor) => TfTensor[];
  removeBackend(name: string): void;
  registerBackend(name: string, factory: () => unknown, priority?: number): boolean;
  setBackend(name: string): Promise<boolean>;
  getBackend(): string;
  ready(): Promise<void>;
  memory(): { numTensors: number; numBytes: number };
  env(): { set(flag: string, value: unknown): void };
}

async function loadTf(gpu: SharedGpu, out: PeersResult): Promise<Tf> {
  // navigator.gpu exists (sharedDevice) before the backend is imported, as it requires.
  const tf = await importPackage<Tf>('@tensorflow/tfjs');
  const { WebGPUBackend } = await importPackage<{ WebGPUBackend: new (device: GPUDevice, info: GPUAdapterInfo) => unknown }>('@tensorflow/tfjs-backend-webgpu');
  // The package registered a 'webgpu' factory that would request its own device: ours instead.
  // (Kernels are registered by backend name, so they stay.)
  tf.removeBackend('webgpu');
  tf.registerBackend('webgpu', () => new WebGPUBackend(gpu.device, gpu.adapter.info), 10);
  if (!(await tf.setBackend('webgpu'))) throw new Error('TF.js: setBackend("webgpu") failed');
  await tf.ready();
  out.versions['@tensorflow/tfjs'] = tf.version?.tfjs ?? '?';
  return tf;
}

function randomData(n: number, seed: number): Float32Array {
  const random = seededRandom(seed);
  return Float32Array.from({ length: n }, () => random() - 0.5);
}

/** The 4-D row-major array `a` of shape `shape` with its axes reordered: axis j of the result is axis perm[j] of `a`. */
function permute4(a: Float32Array, shape: readonly number[], perm: readonly number[]): Float32Array {
  const out = new Float32Array(a.length);
  const strides = [shape[1] * shape[2] * shape[3], shape[2] * shape[3], shape[3], 1];
  const [d0, d1, d2, d3] = perm.map((p) => shape[p]);
  const [s0, s1, s2, s3] = perm.map((p) => strides[p]);
  let i = 0;
  for (let a0 = 0; a0 < d0; a0++) for (let a1 = 0; a1 < d1; a1++) for (let a2 = 0; a2 < d2; a2++) for (let a3 = 0; a3 < d3; a3++) out[i++] = a[a0 * s0 + a1 * s1 + a2 * s2 + a3 * s3];
  return out;
}

/** NCHW / OIHW (gradlens) to NHWC / HWIO (TF.js) and back; shapes given in gradlens' layout. */
const nchwToNhwc = (a: Float32Array, [n, c, h, w]: readonly number[]) => permute4(a, [n, c, h, w], [0, 2, 3, 1]);
const nhwcToNchw = (a: Float32Array, [n, c, h, w]: readonly number[]) => permute4(a, [n, h, w, c], [0, 3, 1, 2]);
const oihwToHwio = (a: Float32Array, [o, i, kh, kw]: readonly number[]) => permute4(a, [o, i, kh, kw], [2, 3, 1, 0]);
const hwioToOihw = (a: Float32Array, [o, i, kh, kw]: readonly number[]) => permute4(a, [kh, kw, i, o], [3, 2, 0, 1]);

async function convCases(gpu: SharedGpu, opts: PeersOptions, out: PeersResult): Promise<void> {
  let tf: Tf;
  try {
    tf = await loadTf(gpu, out);
  } catch (e) {
    const msg = `TF.js WebGPU backend on the shared device: ${(e as Error).stack ?? e}`;
    out.failures.push(msg);
    opts.log(`FAILED ${msg}`);
    return;
  }
  opts.log(`TF.js ${out.versions['@tensorflow/tfjs']} backend '${tf.getBackend()}' on the shared device`);
  const totals = { fwd: { ours: 0, theirs: 0, n: 0 }, grad: { ours: 0, theirs: 0, n: 0 } };
  const filters = opts.filter ? opts.filter.split(',').filter(Boolean) : [];
  const layers = yolov5n640.filter((l) => !filters.length || filters.some((f) => l.layer.includes(f)));
  for (const l of layers) {
    try {
      const [fwd, grad] = await convLayer(tf, l, opts);
      out.cases.push(fwd, grad);
      for (const [key, c] of [['fwd', fwd], ['grad', grad]] as const) {
        totals[key].ours += c.gradlens_ms * l.count;
        totals[key].theirs += c.peer_ms * l.count;
        totals[key].n++;
      }
    } catch (e) {
      const msg = `conv ${l.layer}: ${(e as Error).stack ?? e}`;
      out.failures.push(msg);
      opts.log(`FAILED ${msg}`);
    }
  }
  if (layers.length && totals.fwd.n === layers.length) {
    for (const key of ['fwd', 'grad'] as const) {
      const t = totals[key];
      out.cases.push({
        name: `conv ${key} yolov5n640 ${filters.length ? `layers matching ${filters.join(' or ')}` : 'all layers'}`,
        gradlens_ms: t.ours,
        peer: 'TF.js',
        peer_ms: t.theirs,
        ratio: t.theirs / t.ours,
        note: 'sum over the listed layers of the per-layer medians, each weighted by how often its shape occurs in YOLOv5n-640',
      });
    }
  }
}

function describe(l: ConvLayer): string {
  return `1x${l.c}x${l.h}x${l.w} * ${l.o}x${l.c}x${l.k[0]}x${l.k[1]} s${l.stride[0]} p${l.pads[0]}`;
}

async function convLayer(tf: Tf, l: ConvLayer, opts: PeersOptions): Promise<[PeerCase, PeerCase]> {
  if (l.groups !== 1 || new Set(l.pads).size !== 1 || l.stride[0] !== l.stride[1]) throw new Error(`${l.layer}: only symmetric, ungrouped convs are compared`);
  const xShape = [1, l.c, l.h, l.w];
  const wShape = [l.o, l.c, l.k[0], l.k[1]];
  const oh = Math.floor((l.h + 2 * l.pads[0] - l.k[0]) / l.stride[0]) + 1;
  const ow = Math.floor((l.w + 2 * l.pads[1] - l.k[1]) / l.stride[1]) + 1;
  const yShape = [1, l.o, oh, ow];
  const xd = randomData(numel(xShape), 1);
  const wd = randomData(numel(wShape), 2);
  const dyd = randomData(numel(yShape), 3);
  const attrs = { strides: l.stride, pads: l.pads };

  const x = keep(tensor(xd, xShape));
  const w = keep(tensor(wd, wShape));
  const dy = keep(tensor(dyd, yShape));
  const tx = tf.tensor(nchwToNhwc(xd, xShape), [1, l.h, l.w, l.c]);
  const tw = tf.tensor(oihwToHwio(wd, wShape), [l.k[0], l.k[1], l.c, l.o]);
  const tdy = tf.tensor(nchwToNhwc(dyd, yShape), [1, oh, ow, l.o]);
  const strides: [number, number] = [l.stride[0], l.stride[1]];
  const pad = l.pads[0];
  const tfGrads = tf.grads((a, b) => tf.conv2d(a, b, strides, pad));
  try {
    const oursFwd = () => scopeAsync(async () => conv2d(x, w, null, attrs).data());
    const theirsFwd = async () => {
      const y = tf.conv2d(tx, tw, strides, pad);
      try {
        return await y.data();
      } finally {
        y.dispose();
      }
    };
    const oursGrad = () =>
      scopeAsync(async () => {
        const xv: Tensor = x.view(xShape);
        const wv: Tensor = w.view(wShape);
        xv.requiresGrad = true;
        wv.requiresGrad = true;
        backward(conv2d(xv, wv, null, attrs), { grad: dy });
        return Promise.all([xv.grad!.data(), wv.grad!.data()]);
      });
    const theirsGrad = async () => {
      const [gx, gw] = tfGrads([tx, tw], tdy);
      try {
        return await Promise.all([gx.data(), gw.data()]);
      } finally {
        gx.dispose();
        gw.dispose();
      }
    };
    // First runs (compilation included), then the checks, then the timing.
    let a: Float32Array = new Float32Array();
    let b: Float32Array = new Float32Array();
    const oursFirst = await wallMs(async () => (a = await oursFwd()));
    const theirsFirst = await wallMs(async () => (b = await theirsFwd()));
    const cf = checkClose(`conv ${l.layer} forward`, a, nhwcToNchw(b, yShape));
    let ga: Float32Array[] = [];
    let gb: Float32Array[] = [];
    const oursGradFirst = await wallMs(async () => (ga = await oursGrad()));
    const theirsGradFirst = await wallMs(async () => (gb = await theirsGrad()));
    const cx = checkClose(`conv ${l.layer} input gradient`, ga[0], nhwcToNchw(gb[0], xShape));
    const cw = checkClose(`conv ${l.layer} filter gradient`, ga[1], hwioToOihw(gb[1], wShape));
    const cg = cx.maxRel >= cw.maxRel ? cx : cw;
    const [tOurs, tTheirs, tOursGrad, tTheirsGrad] = await interleaved([oursFwd, theirsFwd, oursGrad, theirsGrad], opts);
    const shape = describe(l);
    const fwd: PeerCase = {
      name: `conv fwd ${l.layer}`,
      gradlens_ms: tOurs.ms,
      peer: 'TF.js',
      peer_ms: tTheirs.ms,
      ratio: tTheirs.ms / tOurs.ms,
      check: figures(cf),
      gradlens_first_ms: oursFirst,
      peer_first_ms: theirsFirst,
      count: l.count,
      note: shape,
    };
    const grad: PeerCase = {
      name: `conv grad ${l.layer}`,
      gradlens_ms: tOursGrad.ms,
      peer: 'TF.js',
      peer_ms: tTheirsGrad.ms,
      ratio: tTheirsGrad.ms / tOursGrad.ms,
      check: figures(cg),
      gradlens_first_ms: oursGradFirst,
      peer_first_ms: theirsGradFirst,
      count: l.count,
      note: `${shape}: forward, then input and filter gradients for a given dy (gradlens: tape backward; TF.js: tf.grads)`,
    };
    opts.log(
      `conv ${l.layer.padEnd(28)} ${shape.padEnd(34)} fwd ${tOurs.ms.toFixed(1).padStart(7)} vs ${tTheirs.ms.toFixed(1).padStart(7)} ms (${fwd.ratio.toFixed(2)})  ` +
        `grad ${tOursGrad.ms.toFixed(1).padStart(7)} vs ${tTheirsGrad.ms.toFixed(1).padStart(7)} ms (${grad.ratio.toFixed(2)})`,
    );
    return [fwd, grad];
  } finally {
    for (const t of [x, w, dy]) t.dispose();
    for (const t of [tx, tw, tdy]) t.dispose();
  }
}

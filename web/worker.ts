// The engine's Web Worker: receives requests (protocol.ts), runs them one at
// a time on the Session (a model may not be replaced under a running
// explanation), reports progress, and answers each with `done` or `error`.
// A `cancel` aborts the request's AbortSignal: queued, it never starts;
// running, the library stops at its next checkpoint (per batch, pass or
// detection) and the answer is a `cancelled` error.

import { DeviceLost, NoAdapterError } from '../engine/index.js';
import { OnnxDecodeError, OnnxError, UnsupportedOnnxOp } from '../importers/onnx/index.js';
import type { ErrorInfo, FromWorker, Request, ToWorker } from './protocol.js';
import { ImageError, Session } from './session.js';

interface WorkerScope {
  onmessage: ((ev: MessageEvent<ToWorker>) => void) | null;
  postMessage(message: FromWorker, transfer?: Transferable[]): void;
}
const scope = self as unknown as WorkerScope;

const session = new Session();
const controllers = new Map<number, AbortController>();
let queue: Promise<unknown> = Promise.resolve();

scope.onmessage = (ev) => {
  const { id, request, cancel } = ev.data;
  if (cancel !== undefined) {
    controllers.get(cancel)?.abort(new DOMException('cancelled', 'AbortError'));
    return;
  }
  if (!request) return;
  const controller = new AbortController();
  controllers.set(id, controller);
  queue = queue.then(() => run(id, request, controller.signal)).finally(() => controllers.delete(id));
};

async function run(id: number, request: Request, signal: AbortSignal): Promise<void> {
  try {
    if (signal.aborted && request.type === 'frame') request.bitmap.close();
    signal.throwIfAborted();
    let value: unknown;
    let transfer: Transferable[] = [];
    if (request.type === 'init') value = await session.init();
    else if (request.type === 'open') {
      const analysis = await session.open(request, signal);
      transfer = [analysis.image.data.buffer];
      value = analysis;
    } else if (request.type === 'frame') {
      const frame = await session.frame(request, signal);
      transfer = [frame.analysis.image.data.buffer];
      if (frame.explanation) transfer.push(frame.explanation.map.buffer, frame.explanation.photoMap.buffer, frame.explanation.raw.data.buffer);
      value = frame;
    } else if (request.type === 'features') {
      scope.postMessage({ id, kind: 'progress', done: 0, total: 0, label: '' });
      const view = await session.features(request, signal, (done, total, label) => scope.postMessage({ id, kind: 'progress', done, total, label }));
      transfer = [view.image.data.buffer];
      value = view;
    } else if (request.type === 'scrubPass') {
      scope.postMessage({ id, kind: 'progress', done: 0, total: 0, label: '' });
      value = await session.scrubPass(request.pick, signal);
    } else if (request.type === 'scrubMap') {
      const explanation = await session.scrubMap(request, signal);
      transfer = [explanation.map.buffer, explanation.photoMap.buffer, explanation.raw.data.buffer];
      value = explanation;
    } else if (request.type === 'filmstrip') {
      const frames = await session.filmstrip(request, signal);
      transfer = frames.map((f) => f.data.buffer);
      value = frames;
    } else {
      // Started (no longer queued): the page can tell a running request from a waiting one.
      scope.postMessage({ id, kind: 'progress', done: 0, total: 0, label: '' });
      let last = 0;
      const explain = request.inside ? session.explainInside.bind(session) : session.explain.bind(session);
      const explanation = await explain(request, signal, (done, total, label) => {
        // At most ~20 messages a second: the page only draws a bar.
        const now = performance.now();
        if (done < total && now - last < 50) return;
        last = now;
        scope.postMessage({ id, kind: 'progress', done, total, label });
      });
      transfer = [explanation.map.buffer, explanation.photoMap.buffer, explanation.raw.data.buffer];
      value = explanation;
    }
    scope.postMessage({ id, kind: 'done', value }, transfer);
  } catch (e) {
    scope.postMessage({ id, kind: 'error', error: errorInfo(e, request, signal) });
  }
}

/** The error, sorted by what the user can do about it. */
function errorInfo(e: unknown, request: Request, signal: AbortSignal): ErrorInfo {
  const err = e instanceof Error ? e : new Error(String(e));
  const base = { name: err.name, message: err.message };
  if (signal.aborted || err.name === 'AbortError') return { ...base, category: 'cancelled', message: 'cancelled' };
  if (e instanceof NoAdapterError || e instanceof DeviceLost) return { ...base, category: 'webgpu' };
  if (e instanceof UnsupportedOnnxOp) return { ...base, category: 'unsupported-op', op: e.opType, node: e.node };
  if (e instanceof ImageError) return { ...base, category: 'not-image' };
  if (request.type === 'open' && request.model && (e instanceof OnnxDecodeError || (e instanceof OnnxError && /decode|protobuf|ModelProto/i.test(err.message)))) {
    return { ...base, category: 'not-onnx', message: `'${request.model.name}' is not an ONNX model gradlens can read: ${err.message}` };
  }
  return { ...base, category: 'other' };
}

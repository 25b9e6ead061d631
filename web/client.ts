// The page's side of the worker protocol (protocol.ts): one promise per
// request, progress callbacks, cancellation by id. A worker that fails to
// start (a bundle that does not load) rejects everything in flight.

import type { ErrorInfo, FromWorker, Request, ToWorker } from './protocol.js';

export class WorkerError extends Error {
  constructor(readonly info: ErrorInfo) {
    super(info.message);
    this.name = info.name;
  }
}

export interface Call<T> {
  id: number;
  promise: Promise<T>;
}

interface Pending {
  resolve(value: unknown): void;
  reject(error: unknown): void;
  onProgress?: (done: number, total: number, label: string) => void;
}

export class EngineClient {
  private readonly worker: Worker;
  private next = 1;
  private readonly pending = new Map<number, Pending>();
  private broken: ErrorInfo | null = null;

  constructor(url: URL) {
    this.worker = new Worker(url, { type: 'module', name: 'gradlens-engine' });
    this.worker.onmessage = (ev: MessageEvent<FromWorker>) => {
      const msg = ev.data;
      const p = this.pending.get(msg.id);
      if (!p) return;
      if (msg.kind === 'progress') p.onProgress?.(msg.done, msg.total, msg.label);
      else {
        this.pending.delete(msg.id);
        if (msg.kind === 'done') p.resolve(msg.value);
        else p.reject(new WorkerError(msg.error));
      }
    };
    this.worker.onerror = (ev: ErrorEvent) => {
      ev.preventDefault();
      this.broken = { category: 'other', name: 'WorkerError', message: `the engine worker failed: ${ev.message || 'it could not be loaded'}` };
      for (const p of this.pending.values()) p.reject(new WorkerError(this.broken));
      this.pending.clear();
    };
  }

  call<T>(request: Request, options: { onProgress?: Pending['onProgress']; transfer?: Transferable[] } = {}): Call<T> {
    const id = this.next++;
    const promise = new Promise<T>((resolve, reject) => {
      if (this.broken) return reject(new WorkerError(this.broken));
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject, onProgress: options.onProgress });
      const msg: ToWorker = { id, request };
      this.worker.postMessage(msg, options.transfer ?? []);
    });
    return { id, promise };
  }

  cancel(id: number): void {
    if (!this.pending.has(id)) return;
    const msg: ToWorker = { id: 0, cancel: id };
    this.worker.postMessage(msg);
  }
}

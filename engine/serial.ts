// One async engine call at a time. Tensor scopes (tensor.ts) and the tape's
// recording state are global, and an async call keeps its scope open across
// every `await` on the GPU: a second call running in that gap would have its
// tensors tracked, and freed, by the first one's scope, and its ops recorded
// under the first one's rule overrides. JavaScript has no async context to
// tell the two apart (TF.js makes tidy() synchronous for the same reason), so
// the library's async entry points (explain, detect, ...) queue here instead:
// overlapping calls run one after the other, in call order, each with the
// results it gives alone. A call's AbortSignal takes it out of the queue, or
// stops it at its next checkpoint (signal.throwIfAborted()) once running.
//
// Your own engine work that awaits (reads back, loops over batches) while
// library calls may be in flight belongs in exclusive() too. Calls nest only
// through the unqueued internals: an entry point that awaited another entry
// point inside exclusive() would wait for itself.

let busy = false;
const waiting: Array<() => void> = [];

/** Runs `fn` once every earlier exclusive() call has settled; rejects with the signal's reason if it aborts first. */
export async function exclusive<T>(fn: () => Promise<T>, signal?: AbortSignal): Promise<T> {
  signal?.throwIfAborted();
  if (busy) await turn(signal);
  else busy = true;
  try {
    signal?.throwIfAborted();
    return await fn();
  } finally {
    const next = waiting.shift();
    if (next) next(); // the lock passes straight to the next in line
    else busy = false;
  }
}

function turn(signal: AbortSignal | undefined): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const onAbort = () => {
      waiting.splice(waiting.indexOf(wake), 1);
      reject(signal!.reason);
    };
    const wake = () => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    };
    waiting.push(wake);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}


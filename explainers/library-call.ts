// How the library's async entry points (explain, detect, the views and
// metrics) run their work: queued behind every other engine call (exclusive,
// engine/serial.ts), and with f32 as the storage of the tensors they create.
// The explainers' arithmetic is f32 (its 1e-30 guards and 3e38 clips, scores,
// masks), whatever runtime().setPrecision() says for the caller's own
// tensors; an f16 model hands them f32 at its boundary (LoadOptions.precision).

import { exclusive, runtime } from '../engine/index.js';

/** Runs `fn` in the engine queue with f32 as the precision of new tensors, restoring the caller's afterwards. */
export function libraryCall<T>(fn: () => Promise<T>, signal?: AbortSignal): Promise<T> {
  return exclusive(async () => {
    const rt = runtime();
    const saved = rt.precision;
    rt.setPrecision('f32');
    try {
      return await fn();
    } finally {
      rt.setPrecision(saved);
    }
  }, signal);
}

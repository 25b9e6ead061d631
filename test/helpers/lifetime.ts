// GPU memory across repeated calls: a call made a second time (its pipelines
// and cached uploads made by the first) must leave the pool's live buffers as
// they were and nothing on the tape.

import { expect } from 'vitest';
import { runtime, tape } from '../../engine/index.js';

/** Runs `call` twice (awaiting the GPU after each); the second leaves no buffer and no tape node behind. */
export async function expectNoGrowth(name: string, call: () => Promise<unknown>): Promise<void> {
  await call(); // first call: pipelines, cached uploads
  await runtime().sync();
  const before = runtime().pool.stats().liveBuffers;
  await call();
  await runtime().sync();
  expect({ name, live: runtime().pool.stats().liveBuffers }).toEqual({ name, live: before });
  expect({ name, tape: tape.liveNodes }).toEqual({ name, tape: 0 });
}

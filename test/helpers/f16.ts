// The f16 tests' adapter check: lavapipe (CI) has shader-f16.

import type { TestContext } from 'vitest';
import { runtime } from '../../engine/index.js';

/** Skips the test where the adapter has no shader-f16, except on CI, where its absence fails the test. */
export function needF16(ctx: TestContext): void {
  if (runtime().handle.features.has('shader-f16')) return;
  if (process.env.CI) throw new Error(`CI's adapter must have shader-f16: ${runtime().adapterDescription}`);
  ctx.skip();
}

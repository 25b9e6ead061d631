// Per-file setup: the engine on the shared device.
import { beforeAll } from 'vitest';
import { init } from '../engine/index.js';

beforeAll(async () => {
  await init();
});

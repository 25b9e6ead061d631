import { readFileSync } from 'node:fs';
import { defineConfig, type Plugin } from 'vitest/config';

/** Imports .wgsl files as strings (esbuild's `text` loader does the same for bundles). */
const wgsl: Plugin = {
  name: 'wgsl-text',
  load(id) {
    if (id.endsWith('.wgsl')) return `export default ${JSON.stringify(readFileSync(id, 'utf8'))};`;
  },
};

export default defineConfig({
  plugins: [wgsl],
  test: {
    include: ['test/**/*.test.ts'],
    // Two worker processes, each with one WebGPU device created once (software
    // adapters are slow to start) and shared by the files it runs. On a software
    // adapter a cold run is mostly llvmpipe compiling shaders, one thread per
    // compile: two workers keep both cores of a 2-core machine busy.
    pool: 'forks',
    fileParallelism: true,
    maxWorkers: Number(process.env.GRADLENS_TEST_WORKERS ?? 2),
    isolate: false,
    globalSetup: ['test/global-setup.ts'],
    setupFiles: ['test/setup.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    reporters: ['default', './test/slowest-reporter.ts'],
  },
});

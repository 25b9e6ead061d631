// Keeps scripts/fuzz.ts from rotting: 20 cases of its fuzzer (byte-level and
// structural mutations, decode -> prepare -> load -> forward on the GPU) on the
// committed resnet_mini end in success or a typed error (a GradlensError), none
// hangs, none leaves pool buffers live, and a case replays identically by id.
// The full runs are `npm run fuzz -- --cases N`.

import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, test } from 'vitest';
import { caseTimeoutS, DEFAULT_RUN_BUDGET, describeCase, Fuzzer, HANG_FACTOR, MIN_HANG_S, type CaseResult } from '../../scripts/fuzz/core.js';

const here = dirname(fileURLToPath(import.meta.url));
const CASES = 20;
const CASE_TIMEOUT_MS = 10_000;

test(`scripts/fuzz: ${CASES} mutated resnet_mini cases end ok or typed, no hang, no leak`, async () => {
  const files = [{ name: 'resnet_mini.onnx', path: resolve(here, '../fixtures/explain/resnet_mini.onnx') }];
  const fuzzer = await Fuzzer.create(files, { seed: 20240611, runBudget: DEFAULT_RUN_BUDGET, noRun: false });
  expect(fuzzer.baselines[0].roundTrip).toBe(true);
  const results: CaseResult[] = [];
  const hangs: number[] = [];
  for (let id = 0; id < CASES; id++) {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'hang'>((r) => (timer = setTimeout(() => r('hang'), CASE_TIMEOUT_MS)));
    const r = await Promise.race([fuzzer.run(id), timeout]);
    clearTimeout(timer);
    if (r === 'hang') {
      hangs.push(id);
      break;
    }
    results.push(r);
  }
  expect(hangs).toEqual([]);
  expect(results.filter((r) => !r.typed).map(describeCase)).toEqual([]);
  expect(results.filter((r) => r.leakedBuffers > 0).map(describeCase)).toEqual([]);
  // The mix reaches every stage: some cases fail to decode, some run their forward.
  expect(results.some((r) => r.stage === 'decode')).toBe(true);
  expect(results.some((r) => r.ran && r.outcome === 'ok')).toBe(true);
  // Replay by id: the same mutation and outcome.
  const again = await fuzzer.run(results[3].id);
  expect([again.kind, again.what, again.outcome]).toEqual([results[3].kind, results[3].what, results[3].outcome]);
});

test("scripts/fuzz: the watchdog's default timeout scales with the seed model's measured first forward, with a floor", async () => {
  expect(caseTimeoutS(undefined)).toBe(MIN_HANG_S);
  expect(caseTimeoutS(100)).toBe(MIN_HANG_S);
  expect(caseTimeoutS(30_000)).toBe(HANG_FACTOR * 30);
  const files = [{ name: 'resnet_mini.onnx', path: resolve(here, '../fixtures/explain/resnet_mini.onnx') }];
  const measured = await Fuzzer.create(files, { seed: 1, runBudget: DEFAULT_RUN_BUDGET, noRun: false, measureForward: true });
  expect(measured.baselines[0].forwardMs).toBeGreaterThan(0);
  // Measuring is opt-in (the script asks for it when no --timeout is given), and needs the GPU.
  const plain = await Fuzzer.create(files, { seed: 1, runBudget: DEFAULT_RUN_BUDGET, noRun: false });
  expect(plain.baselines[0].forwardMs).toBeUndefined();
  const noRun = await Fuzzer.create(files, { seed: 1, runBudget: DEFAULT_RUN_BUDGET, noRun: true, measureForward: true });
  expect(noRun.baselines[0].forwardMs).toBeUndefined();
});

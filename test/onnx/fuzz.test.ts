// Fuzzing the importer with mutated real models: bit flips, truncations,
// corrupted length fields, overwritten and spliced byte runs (seeded, so a
// failure reproduces). Every case must end in a successful decode + prepare or
// in an OnnxError, quickly: no hang, no RangeError from a huge allocation, no
// TypeError from a half-decoded structure.

import { describe, expect, test } from 'vitest';
import { OnnxError } from '../../importers/onnx/errors.js';
import { prepareGraph } from '../../importers/onnx/graph.js';
import { decodeModel } from '../../importers/onnx/proto.js';
import { readModel } from '../fixtures/onnx/models.js';
import { rng } from '../helpers/check.js';
import { byteMutations, isMessageTree, lengthFields, position, type ByteMutation } from '../../scripts/fuzz/mutate.js';

/** The fuzz script's byte mutations (scripts/fuzz/mutate.ts), plus random overwrites. */
const mutations: Record<string, ByteMutation> = {
  ...byteMutations,
  overwrite(buf, random, fields) {
    const out = Uint8Array.from(buf);
    const at = position(buf, random, fields);
    const n = 1 + Math.floor(random() * 8);
    for (let i = at; i < Math.min(out.length, at + n); i++) out[i] = Math.floor(random() * 256);
    return { bytes: out, what: `${n} random bytes at ${at}` };
  },
};

// Longer runs: GRADLENS_FUZZ_CASES=50000 GRADLENS_FUZZ_SEED=7 npx vitest run test/onnx-fuzz.test.ts
const CASES_PER_MODEL = Number(process.env.GRADLENS_FUZZ_CASES ?? 1500);
const SEED = Number(process.env.GRADLENS_FUZZ_SEED ?? 0);
const SLOW_CASE_MS = 2000;

const targets = [
  { file: 'face_detection_front_128x128_barracuda.onnx', inputShapes: undefined, seed: 0x6a3f01 },
  { file: 'ch_ppocr_mobile_v2.0_cls_infer.onnx', inputShapes: { x: [1, 3, 48, 192] }, seed: 0x51c0de },
];

describe('fuzzing decode + prepare with mutated real models', () => {
  for (const target of targets) {
    test(`${target.file}: ${CASES_PER_MODEL} seeded mutations end in success or an OnnxError`, () => {
      const original = readModel(target.file)!;
      expect(isMessageTree(original)).toBe(true);
      const fields = lengthFields(original);
      expect(fields.length).toBeGreaterThan(1000);
      const random = rng(target.seed + SEED);
      const names = Object.keys(mutations);
      const outcomes = new Map<string, number>();
      let slowest = 0;
      for (let i = 0; i < CASES_PER_MODEL; i++) {
        const kind = names[i % names.length];
        const { bytes, what } = mutations[kind](original, random, fields);
        const start = performance.now();
        let outcome = 'ok';
        try {
          prepareGraph(decodeModel(bytes), { inputShapes: target.inputShapes });
        } catch (e) {
          if (!(e instanceof OnnxError)) {
            throw new Error(`case ${i} (${kind}: ${what}) threw ${(e as Error)?.constructor?.name}: ${(e as Error)?.message}`, { cause: e });
          }
          outcome = e.constructor.name;
        }
        const ms = performance.now() - start;
        slowest = Math.max(slowest, ms);
        if (ms > SLOW_CASE_MS) throw new Error(`case ${i} (${kind}: ${what}) took ${ms.toFixed(0)} ms`);
        outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
      }
      console.log(`[fuzz] ${target.file}: ${JSON.stringify(Object.fromEntries(outcomes))}, slowest case ${slowest.toFixed(0)} ms`);
      // The mix must exercise both paths: some mutations still decode, most are caught.
      expect(outcomes.get('ok') ?? 0).toBeGreaterThan(0);
      expect(outcomes.get('OnnxDecodeError') ?? 0).toBeGreaterThan(CASES_PER_MODEL / 10);
    });
  }
});

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

function readVarint(buf: Uint8Array, pos: number, end: number): [value: number, next: number] | undefined {
  let value = 0;
  for (let i = 0; i < 10 && pos < end; i++) {
    const b = buf[pos++];
    value += (b & 0x7f) * 2 ** (7 * i);
    if (!(b & 0x80)) return [value, pos];
  }
  return undefined;
}

/**
 * Offsets of the length prefixes of every length-delimited field that is part
 * of a well-formed message tree (payloads that also parse as messages are
 * descended into, so nodes, attributes and tensors all contribute).
 */
function lengthFields(buf: Uint8Array, start: number, end: number, depth: number, out: number[]): boolean {
  let pos = start;
  const found: number[] = [];
  while (pos < end) {
    const tag = readVarint(buf, pos, end);
    if (!tag || tag[0] < 8) return false;
    pos = tag[1];
    const wire = tag[0] % 8;
    if (wire === 0) {
      const v = readVarint(buf, pos, end);
      if (!v) return false;
      pos = v[1];
    } else if (wire === 1 || wire === 5) pos += wire === 1 ? 8 : 4;
    else if (wire === 2) {
      const len = readVarint(buf, pos, end);
      if (!len || len[1] + len[0] > end) return false;
      found.push(pos);
      // Strings and raw_data rarely parse as messages; when they do, their "fields" are fair targets too.
      if (depth < 12 && len[0] > 0) lengthFields(buf, len[1], len[1] + len[0], depth + 1, found);
      pos = len[1] + len[0];
    } else return false;
  }
  if (pos !== end) return false;
  out.push(...found);
  return true;
}

function encodeVarint(v: number): number[] {
  const out: number[] = [];
  let x = BigInt(Math.floor(v));
  do {
    let b = Number(x & 0x7fn);
    x >>= 7n;
    if (x) b |= 0x80;
    out.push(b);
  } while (x);
  return out;
}

function splice(buf: Uint8Array, at: number, remove: number, insert: ArrayLike<number>): Uint8Array {
  const out = new Uint8Array(buf.length - remove + insert.length);
  out.set(buf.subarray(0, at));
  out.set(insert, at);
  out.set(buf.subarray(at + remove), at + insert.length);
  return out;
}

type Mutation = (buf: Uint8Array, random: () => number, fields: number[]) => { bytes: Uint8Array; what: string };

const pick = <T>(random: () => number, list: readonly T[]): T => list[Math.floor(random() * list.length)];
/** A position near the message structure most of the time, anywhere otherwise. */
const position = (buf: Uint8Array, random: () => number, fields: number[]) =>
  random() < 0.7 ? Math.min(buf.length - 1, pick(random, fields) + Math.floor(random() * 24)) : Math.floor(random() * buf.length);

const mutations: Record<string, Mutation> = {
  bitFlips(buf, random, fields) {
    const out = Uint8Array.from(buf);
    const flips = 1 + Math.floor(random() * 4);
    const at: number[] = [];
    for (let i = 0; i < flips; i++) {
      const p = position(buf, random, fields);
      out[p] ^= 1 << Math.floor(random() * 8);
      at.push(p);
    }
    return { bytes: out, what: `bit flips at ${at.join(', ')}` };
  },
  truncate(buf, random, fields) {
    const n = random() < 0.5 ? pick(random, fields) + Math.floor(random() * 4) : Math.floor(random() * buf.length);
    return { bytes: buf.subarray(0, n), what: `truncated to ${n} bytes` };
  },
  lengthField(buf, random, fields) {
    const at = pick(random, fields);
    const [len, next] = readVarint(buf, at, buf.length)!;
    const replacement = pick(random, [0, 1, len - 1, len + 1, len * 2, 2 ** 31 - 1, 2 ** 32, 2 ** 53, 2 ** 63, Math.floor(random() * 2 ** 20)]);
    const bytes = splice(buf, at, next - at, encodeVarint(Math.max(0, replacement)));
    return { bytes, what: `length at ${at}: ${len} -> ${replacement}` };
  },
  overwrite(buf, random, fields) {
    const out = Uint8Array.from(buf);
    const at = position(buf, random, fields);
    const n = 1 + Math.floor(random() * 8);
    for (let i = at; i < Math.min(out.length, at + n); i++) out[i] = Math.floor(random() * 256);
    return { bytes: out, what: `${n} random bytes at ${at}` };
  },
  spliceChunk(buf, random, fields) {
    const at = position(buf, random, fields);
    const n = 1 + Math.floor(random() * 64);
    if (random() < 0.5) return { bytes: splice(buf, at, Math.min(n, buf.length - at), []), what: `deleted ${n} bytes at ${at}` };
    const from = position(buf, random, fields);
    return { bytes: splice(buf, at, 0, buf.subarray(from, from + n)), what: `inserted ${n} bytes from ${from} at ${at}` };
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
      const fields: number[] = [];
      expect(lengthFields(original, 0, original.length, 0, fields)).toBe(true);
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

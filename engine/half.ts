// IEEE 754 binary16 on the host: what the f16 precision mode uploads and reads
// back (Node 20 has no Float16Array). Rounding is to nearest, ties to even, as
// a GPU's f32 -> f16 conversion does; subnormals are kept.

import { GradlensError } from './errors.js';

/** Largest finite f16. */
export const F16_MAX = 65504;

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** The binary16 bits of `value` (rounded to nearest even; past F16_MAX, infinity). */
export function toHalfBits(value: number): number {
  f32[0] = value;
  const x = u32[0];
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  const mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0); // inf, NaN (quiet)
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00; // overflow
  if (e <= 0) {
    // Subnormal (or zero): shift the mantissa with its implicit 1 into place.
    if (e < -10) return sign;
    const m = mant | 0x800000;
    const shift = 14 - e;
    const half = 1 << (shift - 1);
    const rest = m & ((1 << shift) - 1);
    let h = m >>> shift;
    if (rest > half || (rest === half && h & 1)) h++;
    return sign | h;
  }
  let h = (e << 10) | (mant >>> 13);
  const rest = mant & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && h & 1)) h++; // may carry into the exponent: still correct
  return sign | h;
}

/** The number that binary16 bits `h` hold. */
export function fromHalfBits(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant ? NaN : sign * Infinity;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

/**
 * `values` as binary16. A finite value beyond F16_MAX is an error naming
 * `what`, not an infinity: f16 mode must not change a model silently.
 */
export function toHalf(values: ArrayLike<number>, what: string): Uint16Array {
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (Math.abs(v) > F16_MAX && Number.isFinite(v)) {
      throw new PrecisionOverflow(what, v, i);
    }
    out[i] = toHalfBits(v);
  }
  return out;
}

let table: Float32Array | null = null;
/** binary16 values as float32 (exact: every f16 is an f32), through a 65536-entry table. */
export function fromHalf(bits: Uint16Array): Float32Array {
  if (!table) {
    table = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) table[h] = fromHalfBits(h);
  }
  const out = new Float32Array(bits.length);
  for (let i = 0; i < bits.length; i++) out[i] = table[bits[i]];
  return out;
}

/** A finite value that f16 cannot hold (|v| > 65504). */
export class PrecisionOverflow extends GradlensError {
  constructor(
    readonly tensor: string,
    readonly value: number,
    readonly index: number,
  ) {
    super(`${tensor}: value ${value} at index ${index} does not fit in f16 (largest finite ${F16_MAX}); run this model in f32`);
  }
}

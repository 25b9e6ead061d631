// Tensors that live on the host: initializers, Constant values and the results
// of constant folding. Each keeps its ONNX element type; int64 stays exact in a
// BigInt64Array, and arithmetic during folding goes through plain JS numbers.

import type { Shape } from '../../engine/host.js';

export type OnnxDType = 'float32' | 'float64' | 'int64' | 'int32' | 'int16' | 'uint16' | 'int8' | 'uint8' | 'bool';

export type HostData = Float32Array | Float64Array | BigInt64Array | Int32Array | Int16Array | Uint16Array | Int8Array | Uint8Array;

export interface HostTensor {
  readonly dtype: OnnxDType;
  readonly shape: Shape;
  /** Row-major values; bool is a Uint8Array of 0/1. */
  readonly data: HostData;
}

/** TensorProto.DataType codes, from onnx.proto. */
export const DataType = {
  UNDEFINED: 0,
  FLOAT: 1,
  UINT8: 2,
  INT8: 3,
  UINT16: 4,
  INT16: 5,
  INT32: 6,
  INT64: 7,
  STRING: 8,
  BOOL: 9,
  FLOAT16: 10,
  DOUBLE: 11,
  UINT32: 12,
  UINT64: 13,
  COMPLEX64: 14,
  COMPLEX128: 15,
  BFLOAT16: 16,
} as const;

const NAMES_BY_CODE = Object.fromEntries(Object.entries(DataType).map(([k, v]) => [v, k])) as Record<number, string>;

/** "FLOAT16", "STRING", or "code 42" for codes the spec did not have when this was written. */
export function dataTypeName(code: number): string {
  return NAMES_BY_CODE[code] ?? `code ${code}`;
}

/** The host dtype that holds a TensorProto data type (FLOAT16 widens to float32); undefined when unsupported. */
export function dtypeOfCode(code: number): OnnxDType | undefined {
  switch (code) {
    case DataType.FLOAT:
    case DataType.FLOAT16:
      return 'float32';
    case DataType.DOUBLE:
      return 'float64';
    case DataType.INT64:
      return 'int64';
    case DataType.INT32:
      return 'int32';
    case DataType.INT16:
      return 'int16';
    case DataType.UINT16:
      return 'uint16';
    case DataType.INT8:
      return 'int8';
    case DataType.UINT8:
      return 'uint8';
    case DataType.BOOL:
      return 'bool';
    default:
      return undefined;
  }
}

export function isFloatDType(dtype: OnnxDType): boolean {
  return dtype === 'float32' || dtype === 'float64';
}

/** An array of `n` zeros of the given dtype. */
export function allocate(dtype: OnnxDType, n: number): HostData {
  switch (dtype) {
    case 'float32':
      return new Float32Array(n);
    case 'float64':
      return new Float64Array(n);
    case 'int64':
      return new BigInt64Array(n);
    case 'int32':
      return new Int32Array(n);
    case 'int16':
      return new Int16Array(n);
    case 'uint16':
      return new Uint16Array(n);
    case 'int8':
      return new Int8Array(n);
    case 'uint8':
    case 'bool':
      return new Uint8Array(n);
  }
}

const INT64_MAX = 2 ** 63 - 1;
const INT64_MIN = -(2 ** 63);

/** Converts a JS number to the dtype the way a C cast would (truncation toward zero), saturating int64. */
function castValue(dtype: OnnxDType, v: number): number | bigint {
  switch (dtype) {
    case 'float32':
    case 'float64':
      return v;
    case 'bool':
      return v !== 0 && !Number.isNaN(v) ? 1 : 0;
    case 'int64': {
      if (Number.isNaN(v)) return 0n;
      // 2^63 - 1 rounds up to 2^63 as a double: saturate instead of wrapping to INT64_MIN.
      if (v >= INT64_MAX) return 0x7fffffffffffffffn;
      if (v <= INT64_MIN) return -0x8000000000000000n;
      return BigInt(Math.trunc(v));
    }
    default:
      // Typed-array stores wrap modulo 2^k like C; NaN and ±Infinity store as 0.
      return Number.isFinite(v) ? Math.trunc(v) : 0;
  }
}

/** A host tensor holding `values` cast to `dtype`. */
export function fromNumbers(dtype: OnnxDType, shape: Shape, values: ArrayLike<number>): HostTensor {
  const data = allocate(dtype, values.length);
  if (data instanceof BigInt64Array) for (let i = 0; i < values.length; i++) data[i] = castValue(dtype, values[i]) as bigint;
  else for (let i = 0; i < values.length; i++) data[i] = castValue(dtype, values[i]) as number;
  return { dtype, shape: [...shape], data };
}

/** The values as JS numbers (int64 beyond 2^53 loses precision but keeps its sign and magnitude). */
export function toNumbers(t: HostTensor): number[] {
  const out = new Array<number>(t.data.length);
  for (let i = 0; i < t.data.length; i++) out[i] = Number(t.data[i]);
  return out;
}

/** The values as float32, what GPU tensors hold. */
export function toFloat32(t: HostTensor): Float32Array {
  if (t.data instanceof Float32Array) return t.data;
  const out = new Float32Array(t.data.length);
  for (let i = 0; i < t.data.length; i++) out[i] = Number(t.data[i]);
  return out;
}

/** A scalar or single-element tensor's value. */
export function scalarOf(t: HostTensor): number {
  return Number(t.data[0]);
}


/** IEEE 754 half (as its 16 bits) to a JS number. */
export function float16ToNumber(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >> 10) & 0x1f;
  const fraction = bits & 0x3ff;
  if (exponent === 0) return sign * fraction * 2 ** -24; // subnormal (and zero)
  if (exponent === 0x1f) return fraction ? NaN : sign * Infinity;
  return sign * (1 + fraction / 1024) * 2 ** (exponent - 15);
}

/** Whether this host stores numbers little-endian (ONNX raw_data and .npy '<' data are). */
export const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Reverses each `width`-byte group in place: little-endian file data on a big-endian host. */
export function swapBytes(bytes: Uint8Array, width: number): void {
  for (let i = 0; i < bytes.length; i += width) bytes.subarray(i, i + width).reverse();
}

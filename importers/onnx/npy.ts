// NumPy .npy files (format versions 1, 2 and 3), for feeding inputs and saving
// outputs, maps and gradients. Layout: the magic "\x93NUMPY", a major and minor
// version byte, the header length (uint16 LE in v1, uint32 LE in v2/v3), then
// an ASCII (v3: UTF-8) Python dict literal such as
//   {'descr': '<f4', 'fortran_order': False, 'shape': (1, 3, 224, 224), }
// padded with spaces and a newline so the data starts on a 64-byte boundary,
// then the raw values. The header is parsed, never evaluated.

import { NpyError } from './errors.js';
import { allocate, LITTLE_ENDIAN, swapBytes, type HostTensor, type OnnxDType } from './host-tensor.js';

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY

/** NumPy type strings we read: little-endian (or byte-order-free '|') C-order arrays. */
const DESCRS: Record<string, { dtype: OnnxDType; width: number }> = {
  f4: { dtype: 'float32', width: 4 },
  f8: { dtype: 'float64', width: 8 },
  i8: { dtype: 'int64', width: 8 },
  i4: { dtype: 'int32', width: 4 },
  u1: { dtype: 'uint8', width: 1 },
  b1: { dtype: 'bool', width: 1 },
};

/** Reads a .npy file into a host tensor (float32, float64, int64, int32, uint8 or bool). */
export function readNpy(bytes: Uint8Array | ArrayBuffer): HostTensor {
  const buf = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  if (buf.length < 10 || MAGIC.some((b, i) => buf[i] !== b)) throw new NpyError('not a .npy file (missing the \\x93NUMPY magic)');
  const major = buf[6];
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  let headerStart: number;
  let headerLen: number;
  if (major === 1) {
    headerLen = view.getUint16(8, true);
    headerStart = 10;
  } else if (major === 2 || major === 3) {
    if (buf.length < 12) throw new NpyError('truncated header');
    headerLen = view.getUint32(8, true);
    headerStart = 12;
  } else throw new NpyError(`format version ${major}.${buf[7]} is not supported (1, 2 and 3 are)`);
  const dataStart = headerStart + headerLen;
  if (dataStart > buf.length) throw new NpyError(`header of ${headerLen} bytes runs past the end of the ${buf.length}-byte file`);
  const header = new TextDecoder(major === 3 ? 'utf-8' : 'latin1').decode(buf.subarray(headerStart, dataStart));
  const { descr, fortran, shape } = parseHeader(header);

  const order = descr[0];
  const kind = DESCRS[descr.slice(1)];
  if (!kind || !['<', '|', '='].includes(order) || (order === '|' && kind.width > 1)) {
    throw new NpyError(`dtype '${descr}' is not supported (little-endian f4, f8, i8, i4, u1 and b1 are)`);
  }
  if (fortran && shape.filter((d) => d > 1).length > 1) {
    throw new NpyError('fortran_order arrays are not supported: save with np.ascontiguousarray(a)');
  }
  const count = shape.reduce((n, d) => n * d, 1);
  const byteLength = count * kind.width;
  if (byteLength !== buf.length - dataStart) {
    throw new NpyError(`shape (${shape.join(', ')}) of ${descr} needs ${byteLength} data bytes, the file has ${buf.length - dataStart}`);
  }
  const data = allocate(kind.dtype, count);
  // Copy through bytes: the data offset need not be aligned for the element type.
  new Uint8Array(data.buffer).set(buf.subarray(dataStart, dataStart + byteLength));
  if (kind.dtype === 'bool') for (let i = 0; i < count; i++) data[i] = data[i] ? 1 : 0;
  if (!LITTLE_ENDIAN && kind.width > 1) swapBytes(new Uint8Array(data.buffer), kind.width);
  return { dtype: kind.dtype, shape, data };
}

/** Writes a float32, C-order, little-endian .npy file (version 1.0, or 2.0 for huge headers). */
export function writeNpy(values: ArrayLike<number>, shape: readonly number[]): Uint8Array {
  if (shape.some((d) => !Number.isSafeInteger(d) || d < 0)) throw new NpyError(`invalid shape [${shape.join(', ')}]`);
  const count = shape.reduce((n, d) => n * d, 1);
  if (values.length !== count) throw new NpyError(`${values.length} values do not fill shape (${shape.join(', ')})`);
  const tuple = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  const dict = `{'descr': '<f4', 'fortran_order': False, 'shape': ${tuple}, }`;
  const prefix = (version: number) => (version === 1 ? 10 : 12);
  const version = prefix(1) + dict.length + 1 <= 0xffff ? 1 : 2;
  // Spaces then '\n' so that the data begins at a multiple of 64 bytes.
  const unpadded = prefix(version) + dict.length + 1;
  const header = dict + ' '.repeat((64 - (unpadded % 64)) % 64) + '\n';
  const dataStart = prefix(version) + header.length;
  const out = new Uint8Array(dataStart + count * 4);
  out.set(MAGIC);
  out[6] = version;
  out[7] = 0;
  const view = new DataView(out.buffer);
  if (version === 1) view.setUint16(8, header.length, true);
  else view.setUint32(8, header.length, true);
  for (let i = 0; i < header.length; i++) out[prefix(version) + i] = header.charCodeAt(i);
  for (let i = 0; i < count; i++) view.setFloat32(dataStart + 4 * i, values[i], true);
  return out;
}

/** Parses the header dict: its three keys, in any order. */
function parseHeader(header: string): { descr: string; fortran: boolean; shape: number[] } {
  const descr = /['"]descr['"]\s*:\s*['"]([^'"]*)['"]/.exec(header)?.[1];
  const fortran = /['"]fortran_order['"]\s*:\s*(True|False)/.exec(header)?.[1];
  const shapeText = /['"]shape['"]\s*:\s*\(([^)]*)\)/.exec(header)?.[1];
  if (descr === undefined || fortran === undefined || shapeText === undefined) {
    throw new NpyError(`cannot parse the header ${JSON.stringify(header.trim().slice(0, 200))}`);
  }
  const parts = shapeText.split(',').map((s) => s.trim()).filter((s) => s.length);
  const shape = parts.map((s) => (/^\d+L?$/.test(s) ? Number.parseInt(s, 10) : NaN));
  if (shape.some((d) => !Number.isSafeInteger(d))) throw new NpyError(`invalid shape (${shapeText})`);
  if (descr.length < 2 || descr.includes('O')) throw new NpyError(`dtype '${descr}' is not supported`);
  return { descr, fortran: fortran === 'True', shape };
}

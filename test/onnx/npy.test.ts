// .npy reading (files written by NumPy 1.24, in test/fixtures/onnx/npy) and
// writing (float32, read back by our reader; NumPy loads it too).

import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, test } from 'vitest';
import { NpyError } from '../../importers/onnx/errors.js';
import { readNpy, writeNpy } from '../../importers/onnx/npy.js';
import type { HostData } from '../../importers/onnx/host-tensor.js';

const list = (d: HostData) => Array.from(d as ArrayLike<number | bigint>);

const fixture = (name: string) => readFileSync(resolve(__dirname, '../fixtures/onnx/npy', name));

describe('readNpy', () => {
  test('float32, float64, int64, uint8, bool, 0-d, format version 2', () => {
    const f4 = readNpy(fixture('f4_2x3.npy'));
    expect([f4.dtype, f4.shape, list(f4.data)]).toEqual(['float32', [2, 3], [0, 0.25, 0.5, 0.75, 1, 1.25]]);
    const f8 = readNpy(fixture('f8_3.npy'));
    expect([f8.dtype, list(f8.data)]).toEqual(['float64', [0.1, -2.5, 1e300]]);
    const i8 = readNpy(fixture('i8_2x2.npy'));
    expect([i8.dtype, i8.shape, list(i8.data)]).toEqual(['int64', [2, 2], [-1n, 2n ** 40n, 3n, -(2n ** 62n)]]);
    const u1 = readNpy(fixture('u1_4.npy'));
    expect([u1.dtype, list(u1.data)]).toEqual(['uint8', [0, 1, 128, 255]]);
    const b1 = readNpy(fixture('b1_3.npy'));
    expect([b1.dtype, list(b1.data)]).toEqual(['bool', [1, 0, 1]]);
    const scalar = readNpy(fixture('f4_scalar.npy'));
    expect([scalar.shape, list(scalar.data)]).toEqual([[], [3.5]]);
    const v2 = readNpy(fixture('f4_v2.npy'));
    expect([v2.shape, list(v2.data)]).toEqual([[1, 4], [0, 1, 2, 3]]);
  });

  test('Fortran order, big-endian and unsupported dtypes are NpyErrors', () => {
    expect(() => readNpy(fixture('f4_fortran.npy'))).toThrow(NpyError);
    expect(() => readNpy(fixture('f4_fortran.npy'))).toThrow(/fortran_order arrays are not supported: save with np.ascontiguousarray/);
    expect(() => readNpy(fixture('f4_bigendian.npy'))).toThrow(/dtype '>f4' is not supported/);
    expect(() => readNpy(fixture('c8_2.npy'))).toThrow(/dtype '<c8' is not supported/);
  });

  test('malformed files', () => {
    const good = fixture('f4_2x3.npy');
    expect(() => readNpy(new Uint8Array([1, 2, 3]))).toThrow(/missing the \\x93NUMPY magic/);
    expect(() => readNpy(good.subarray(0, good.length - 1))).toThrow(/needs 24 data bytes, the file has 23/);
    expect(() => readNpy(good.subarray(0, 40))).toThrow(/header of 118 bytes runs past the end/);
    const badVersion = Uint8Array.from(good);
    badVersion[6] = 9;
    expect(() => readNpy(badVersion)).toThrow(/format version 9.0 is not supported/);
    const huge = new TextEncoder().encode("\x00\x00{'descr': '<f4', 'fortran_order': False, 'shape': (100000, 100000, 100000), }\n");
    const file = new Uint8Array(10 + huge.length - 2);
    file.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0, huge.length - 2, 0]);
    file.set(huge.subarray(2), 10);
    expect(() => readNpy(file)).toThrow(/needs 4000000000000000 data bytes, the file has 0/);
  });
});

describe('writeNpy', () => {
  test('round trip at several ranks; the data starts on a 64-byte boundary', () => {
    for (const shape of [[], [5], [2, 3], [1, 3, 4, 5]]) {
      const n = shape.reduce((a, b) => a * b, 1);
      const values = Float32Array.from({ length: n }, (_, i) => Math.sin(i) * 100);
      const bytes = writeNpy(values, shape);
      const headerLen = bytes[8] | (bytes[9] << 8);
      expect((10 + headerLen) % 64).toBe(0);
      expect(bytes[10 + headerLen - 1]).toBe(0x0a);
      const back = readNpy(bytes);
      expect([back.dtype, back.shape]).toEqual(['float32', shape]);
      expect(list(back.data)).toEqual(Array.from(values));
    }
  });

  test('the header is what NumPy writes for the same array', () => {
    const ours = writeNpy(Float32Array.from([0, 0.25, 0.5, 0.75, 1, 1.25]), [2, 3]);
    expect(Array.from(ours)).toEqual(Array.from(fixture('f4_2x3.npy')));
  });

  test('values that do not fill the shape', () => {
    expect(() => writeNpy([1, 2, 3], [2, 2])).toThrow(/3 values do not fill shape \(2, 2\)/);
    expect(() => writeNpy([1], [-1])).toThrow(NpyError);
  });
});

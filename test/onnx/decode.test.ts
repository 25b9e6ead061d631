// The protobuf decoder: every real model, then each encoding feature on a
// synthetic model (typed data fields, float16, Constant attributes, external
// data, malformed bytes).

import { describe, expect, test } from 'vitest';
import { OnnxDecodeError, UnsupportedOnnxTensor } from '../../importers/onnx/errors.js';
import { decodeModel, MAX_DEPTH, type OnnxTensor } from '../../importers/onnx/proto.js';
import { encodeModel, floats, type GraphSpec, type TensorSpec } from '../fixtures/onnx/onnx-writer.js';
import { MODELS, readModel } from '../fixtures/onnx/models.js';
import type { HostData } from '../../importers/onnx/host-tensor.js';

const list = (d: HostData) => Array.from(d as ArrayLike<number | bigint>);

describe('real models', () => {
  for (const m of MODELS) {
    const bytes = readModel(m.file);
    test.skipIf(!bytes)(`${m.file}: op counts match the models README`, () => {
      const model = decodeModel(bytes!);
      const counts = new Map<string, number>();
      for (const n of model.graph.nodes) counts.set(n.opType, (counts.get(n.opType) ?? 0) + 1);
      for (const [op, n] of Object.entries(m.ops)) expect(counts.get(op) ?? 0, `${op} count`).toBe(n);
      for (const op of m.present ?? []) expect(counts.has(op), `${op} present`).toBe(true);
      expect(model.graph.outputs.map((o) => o.name).sort()).toEqual(Object.keys(m.outputs).sort());
      for (const t of model.graph.initializers) expect(t.data.length).toBe(t.shape.reduce((a, d) => a * d, 1));
    });
  }

  test.skipIf(!readModel('yolov5n_640.onnx'))('yolov5n: opset, producer and ultralytics metadata', () => {
    const model = decodeModel(readModel('yolov5n_640.onnx')!);
    expect(model.opsetImports).toEqual([{ domain: '', version: 12 }]);
    expect(model.producerName).toBe('pytorch');
    expect(model.metadata.get('stride')).toBe('32');
    expect(model.metadata.get('names')).toMatch(/^\['person', 'bicycle', 'car',/);
    const input = model.graph.inputs[0];
    expect(input).toMatchObject({ name: 'images', elemType: 1, shape: [1, 3, 640, 640] });
  });

  test('yolo-fastest: metadata names, Constant float tensors, raw_data initializers', () => {
    const model = decodeModel(readModel('yolo_fastest_1.1_coco.onnx')!);
    expect(JSON.parse(model.metadata.get('names')!)).toHaveLength(80);
    const constants = model.graph.nodes.filter((n) => n.opType === 'Constant');
    expect(constants).toHaveLength(2);
    for (const c of constants) expect(c.attributes.get('value')?.type).toBe('tensor');
    const conv = model.graph.nodes.find((n) => n.opType === 'Conv')!;
    expect(conv.attributes.get('kernel_shape')).toMatchObject({ type: 'ints' });
    const w = model.graph.initializers.find((t) => t.name === conv.inputs[1])!;
    expect(w.dtype).toBe('float32');
    expect(w.data).toBeInstanceOf(Float32Array);
    expect(w.shape).toHaveLength(4);
  });

  test('blazeface: int64 initializers from int64_data, symbolic-free value_info, doc strings', () => {
    const model = decodeModel(readModel('face_detection_front_128x128_barracuda.onnx')!);
    const ints = model.graph.initializers.filter((t) => t.dtype === 'int64');
    expect(ints.length).toBe(13);
    const shape = ints.find((t) => t.name === 'shape_1x4x64x64')!;
    expect(Array.from(shape.data as BigInt64Array)).toEqual([1n, 4n, 64n, 64n]);
    expect(model.graph.valueInfo.length).toBe(89);
    expect(model.graph.valueInfo.every((v) => v.shape?.every((d) => typeof d === 'number'))).toBe(true);
  });

  test('tiny face detector: model doc string and MaxPool auto_pad', () => {
    const model = decodeModel(readModel('tiny_face_detector_416.onnx')!);
    expect(model.docString).toMatch(/^face-api tiny_face_detector/);
    const pool = model.graph.nodes.find((n) => n.opType === 'MaxPool')!;
    expect(pool.attributes.get('auto_pad')?.type).toBe('string');
  });

  test('PaddleOCR cls: opset 9, dynamic input dims as dim_param, int32 Constant', () => {
    const model = decodeModel(readModel('ch_ppocr_mobile_v2.0_cls_infer.onnx')!);
    expect(model.opsetImports[0].version).toBe(9);
    expect(model.graph.inputs[0].shape).toEqual(['p2o.DynamicDimension.0', 3, 'p2o.DynamicDimension.1', 'p2o.DynamicDimension.2']);
    const int32 = model.graph.nodes.filter((n) => n.opType === 'Constant').map((n) => n.attributes.get('value')!.value as OnnxTensor).find((t) => t.dtype === 'int32');
    expect(list(int32!.data)).toEqual([200]);
  });

  test('accepts a Node Buffer, a Uint8Array view at an offset and an ArrayBuffer', () => {
    const bytes = readModel('face_detection_front_128x128_barracuda.onnx')!;
    const padded = new Uint8Array(bytes.length + 3);
    padded.set(bytes, 3);
    const a = decodeModel(bytes);
    const b = decodeModel(padded.subarray(3));
    const c = decodeModel(padded.slice(3).buffer);
    expect(b.graph.nodes.length).toBe(a.graph.nodes.length);
    expect(Array.from(c.graph.initializers[5].data as Float32Array)).toEqual(Array.from(a.graph.initializers[5].data as Float32Array));
  });
});

// ---- synthetic models ---------------------------------------------------------------------

/** A model whose graph holds the given initializers (and an Identity so it is a valid graph). */
function withInitializers(...initializers: TensorSpec[]): Uint8Array {
  return encodeModel({ initializers, nodes: [], outputs: [{ name: initializers[0].name! }] });
}

function tensorOf(spec: TensorSpec): OnnxTensor {
  return decodeModel(withInitializers(spec)).graph.initializers[0];
}

describe('TensorProto data fields', () => {
  test('float_data, packed and unpacked', () => {
    for (const unpacked of [false, true]) {
      const t = tensorOf({ name: 'w', dataType: 1, dims: [2, 2], floatData: [1, -2.5, 3, 1e-3], unpacked });
      expect(t.dtype).toBe('float32');
      expect(t.shape).toEqual([2, 2]);
      expect(list(t.data)).toEqual(Array.from(Float32Array.from([1, -2.5, 3, 1e-3])));
    }
  });

  test('int64_data keeps negative and 64-bit values exactly', () => {
    const big = 2n ** 62n + 1n;
    for (const unpacked of [false, true]) {
      const t = tensorOf({ name: 's', dataType: 7, dims: [4], int64Data: [-1n, 0n, 9223372036854775807n, big], unpacked });
      expect(t.data).toBeInstanceOf(BigInt64Array);
      expect(Array.from(t.data as BigInt64Array)).toEqual([-1n, 0n, 9223372036854775807n, big]);
    }
  });

  test('int32_data holds int32, int16, uint16, int8, uint8, bool and float16 bits', () => {
    expect(list(tensorOf({ name: 'a', dataType: 6, dims: [3], int32Data: [-7, 0, 2147483647] }).data)).toEqual([-7, 0, 2147483647]);
    expect(list(tensorOf({ name: 'a', dataType: 5, dims: [2], int32Data: [-300, 300] }).data)).toEqual([-300, 300]);
    expect(list(tensorOf({ name: 'a', dataType: 4, dims: [1], int32Data: [65535] }).data)).toEqual([65535]);
    const i8 = tensorOf({ name: 'a', dataType: 3, dims: [2], int32Data: [-128, 127] });
    expect([i8.dtype, ...list(i8.data)]).toEqual(['int8', -128, 127]);
    const u8 = tensorOf({ name: 'a', dataType: 2, dims: [2], int32Data: [0, 255] });
    expect([u8.dtype, ...list(u8.data)]).toEqual(['uint8', 0, 255]);
    const b = tensorOf({ name: 'a', dataType: 9, dims: [3], int32Data: [1, 0, 1] });
    expect([b.dtype, ...list(b.data)]).toEqual(['bool', 1, 0, 1]);
    // 1.0, -2.0, 0.5, smallest subnormal, +inf
    const h = tensorOf({ name: 'h', dataType: 10, dims: [5], int32Data: [0x3c00, 0xc000, 0x3800, 0x0001, 0x7c00] });
    expect(h.dtype).toBe('float32');
    expect(h.storedAs).toBe('float16');
    expect(list(h.data)).toEqual([1, -2, 0.5, Math.fround(2 ** -24), Infinity]);
  });

  test('double_data', () => {
    const t = tensorOf({ name: 'd', dataType: 11, dims: [2], doubleData: [0.1, -1e300] });
    expect(t.dtype).toBe('float64');
    expect(list(t.data)).toEqual([0.1, -1e300]);
  });

  test('raw_data of every supported type, little-endian, at unaligned offsets', () => {
    const raw = (a: ArrayBufferView) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
    const cases: [number, ArrayBufferView, string, unknown[]][] = [
      [1, Float32Array.from([1.5, -2]), 'float32', [1.5, -2]],
      [11, Float64Array.from([Math.PI]), 'float64', [Math.PI]],
      [7, BigInt64Array.from([-5n, 2n ** 40n]), 'int64', [-5n, 2n ** 40n]],
      [6, Int32Array.from([-1, 7]), 'int32', [-1, 7]],
      [3, Int8Array.from([-3, 4]), 'int8', [-3, 4]],
      [2, Uint8Array.from([200, 1]), 'uint8', [200, 1]],
      [9, Uint8Array.from([2, 0]), 'bool', [1, 0]],
      [10, Uint16Array.from([0x3c00, 0xbc00]), 'float32', [1, -1]],
    ];
    for (const [dataType, values, dtype, expected] of cases) {
      // A 1-byte name shifts raw_data to an odd offset in the file.
      const t = tensorOf({ name: 'r', dataType, dims: [expected.length], raw: raw(values) });
      expect(t.dtype).toBe(dtype);
      expect(Array.from(t.data as ArrayLike<unknown>)).toEqual(expected);
    }
  });

  test('a tensor with no elements and no data', () => {
    const t = tensorOf({ name: 'e', dataType: 1, dims: [0] });
    expect(t.shape).toEqual([0]);
    expect(t.data.length).toBe(0);
  });

  test('external data: an UnsupportedOnnxTensor naming the tensor and the file', () => {
    const bytes = withInitializers({ name: 'conv1.weight', dataType: 1, dims: [4], externalLocation: 'weights.bin' });
    expect(() => decodeModel(bytes)).toThrow(UnsupportedOnnxTensor);
    expect(() => decodeModel(bytes)).toThrow(/'conv1.weight'.*external file 'weights.bin'.*save_as_external_data=False/);
  });

  test('unsupported element types name the tensor', () => {
    expect(() => decodeModel(withInitializers({ name: 'labels', dataType: 8, dims: [1], stringData: ['cat'] }))).toThrow(
      /ONNX tensor 'labels': element type STRING is not supported/,
    );
    expect(() => decodeModel(withInitializers({ name: 'bf', dataType: 16, dims: [1], int32Data: [0] }))).toThrow(/'bf'.*BFLOAT16/);
    expect(() => decodeModel(withInitializers({ name: 'u64', dataType: 13, dims: [1] }))).toThrow(UnsupportedOnnxTensor);
  });

  test('data that does not fill dims is a decode error naming the tensor', () => {
    const short = withInitializers({ name: 'w', dataType: 1, dims: [3], floatData: [1, 2] });
    expect(() => decodeModel(short)).toThrow(OnnxDecodeError);
    expect(() => decodeModel(short)).toThrow(/TensorProto 'w'.*holds 2 values but dims \[3\] need 3/);
    const raw = withInitializers({ name: 'w', dataType: 1, dims: [1_000_000_000], raw: new Uint8Array(8) });
    expect(() => decodeModel(raw)).toThrow(/raw_data has 8 bytes but dims need 1000000000 x 4 bytes/);
  });
});

describe('nodes and attributes', () => {
  const graph = (attrs: GraphSpec['nodes'][number]['attrs'], untypedAttrs = false): Uint8Array =>
    encodeModel({ nodes: [{ opType: 'Constant', name: 'c', outputs: ['y'], attrs, untypedAttrs }], outputs: [{ name: 'y' }] });

  test('every attribute kind, with and without the type field (IR version 1 files omit it)', () => {
    for (const untyped of [false, true]) {
      const node = decodeModel(
        graph({ f: { f: 0.25 }, i: { i: -3 }, s: { s: 'nearest' }, fs: { floats: [1, 2] }, is: { ints: [-1, 9007199254740991] }, ss: { strings: ['a', 'b'] }, t: { t: floats('v', [2], [1, 2]) } }, untyped),
      ).graph.nodes[0];
      const a = Object.fromEntries([...node.attributes].map(([k, v]) => [k, [v.type, v.value]]));
      expect(a.f).toEqual(['float', 0.25]);
      expect(a.i).toEqual(['int', -3]);
      expect(a.s).toEqual(['string', 'nearest']);
      expect(a.fs).toEqual(['floats', [1, 2]]);
      expect(a.is).toEqual(['ints', [-1, 9007199254740991]]);
      expect(a.ss).toEqual(['strings', ['a', 'b']]);
      expect(a.t[0]).toBe('tensor');
    }
  });

  test('graph attributes (If/Loop bodies) decode recursively', () => {
    const body: GraphSpec = { nodes: [{ opType: 'Relu', inputs: ['a'], outputs: ['b'] }], outputs: [{ name: 'b' }] };
    const model = decodeModel(encodeModel({ nodes: [{ opType: 'If', inputs: ['c'], outputs: ['y'], attrs: { then_branch: { g: body } } }], outputs: [{ name: 'y' }] }));
    const g = model.graph.nodes[0].attributes.get('then_branch');
    expect(g?.type).toBe('graph');
    expect(g?.type === 'graph' && g.value.nodes[0].opType).toBe('Relu');
  });

  test('node fields: name, domain, omitted optional inputs', () => {
    const model = decodeModel(
      encodeModel({ nodes: [{ opType: 'Resize', name: 'up', domain: 'ai.onnx', inputs: ['x', '', 's'], outputs: ['y'] }], outputs: [{ name: 'y' }] }),
    );
    expect(model.graph.nodes[0]).toMatchObject({ name: 'up', opType: 'Resize', domain: 'ai.onnx', inputs: ['x', '', 's'], outputs: ['y'] });
  });

  test('model fields: ir_version, opset imports, producer, doc string, metadata', () => {
    const model = decodeModel(encodeModel({ irVersion: 7, opset: 17, producerName: 'me', docString: 'doc', metadata: { stride: '32', names: "{0: 'a'}" }, nodes: [], inputs: [{ name: 'x', dims: ['N', 3, null] }], outputs: [{ name: 'x' }] }));
    expect(model).toMatchObject({ irVersion: 7, producerName: 'me', docString: 'doc', opsetImports: [{ domain: '', version: 17 }] });
    expect([...model.metadata]).toEqual([['stride', '32'], ['names', "{0: 'a'}"]]);
    expect(model.graph.inputs[0]).toMatchObject({ name: 'x', elemType: 1, shape: ['N', 3, null] });
  });
});

describe('malformed bytes', () => {
  const valid = encodeModel({ nodes: [{ opType: 'Relu', inputs: ['x'], outputs: ['y'] }], inputs: [{ name: 'x', dims: [1] }], outputs: [{ name: 'y' }] });
  const decodeError = (bytes: Uint8Array) => {
    try {
      decodeModel(bytes);
    } catch (e) {
      expect(e).toBeInstanceOf(OnnxDecodeError);
      return e as OnnxDecodeError;
    }
    throw new Error('expected an OnnxDecodeError');
  };

  test('empty input and non-ONNX bytes', () => {
    expect(decodeError(new Uint8Array(0)).message).toMatch(/no graph/);
    expect(decodeError(new TextEncoder().encode('<html>not a model</html>')).message).toMatch(/ONNX decode error at byte \d+ in ModelProto/);
  });

  test('every truncation of a valid model fails cleanly', () => {
    for (let n = 1; n < valid.length; n++) {
      try {
        decodeModel(valid.subarray(0, n));
      } catch (e) {
        expect(e).toBeInstanceOf(OnnxDecodeError);
      }
    }
  });

  test('a length field beyond the buffer names the offset', () => {
    // Field 7 (graph), length-delimited, claiming 2^32 bytes.
    const bytes = Uint8Array.from([0x3a, 0x80, 0x80, 0x80, 0x80, 0x10, 0x00]);
    const e = decodeError(bytes);
    expect(e.offset).toBe(1);
    expect(e.message).toMatch(/GraphProto of 4294967296 bytes exceeds the 1 bytes left/);
  });

  test('varints longer than 10 bytes, group wire types, field number 0', () => {
    expect(decodeError(Uint8Array.from([0x08, ...new Array(11).fill(0xff), 0x01])).message).toMatch(/varint longer than 10 bytes/);
    expect(decodeError(Uint8Array.from([0x7b])).message).toMatch(/unsupported start-group wire type/); // field 15, wire type 3
    expect(decodeError(Uint8Array.from([0x00, 0x00])).message).toMatch(/invalid field number 0/);
  });

  test('a known field with the wrong wire type', () => {
    // ir_version (field 1) as a fixed32.
    expect(decodeError(Uint8Array.from([0x0d, 1, 2, 3, 4])).message).toMatch(/field 'ir_version' has wire type fixed32, expected varint/);
  });

  test(`messages nested deeper than ${MAX_DEPTH} are refused`, () => {
    let g: GraphSpec = { nodes: [], outputs: [{ name: 'y' }] };
    for (let i = 0; i < MAX_DEPTH; i++) g = { nodes: [{ opType: 'If', inputs: ['c'], outputs: ['y'], attrs: { then_branch: { g } } }], outputs: [{ name: 'y' }] };
    expect(decodeError(encodeModel(g)).message).toMatch(/nested deeper than 64/);
  });
});

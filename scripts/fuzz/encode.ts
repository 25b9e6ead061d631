// A mutable copy of a decoded ONNX model (ModelSpec) and its protobuf encoder,
// for the fuzzer's structural mutations: a mutation edits the spec, the spec is
// encoded back to bytes and those bytes go through the real decoder, so every
// structural case is a state that a file can actually produce.
//
// Tensors keep their values as raw little-endian bytes plus a TensorProto data
// type code, so a mutation can change dims, length or type independently.
// Field numbers are those of onnx.proto (as in importers/onnx/proto.ts).

import type { Dim, OnnxAttribute, OnnxGraph, OnnxModel, OnnxTensor, ValueInfo } from '../../importers/onnx/proto.js';
import type { OnnxDType } from '../../importers/onnx/host-tensor.js';

export interface TensorSpec {
  name: string;
  /** TensorProto.DataType code. */
  code: number;
  dims: number[];
  /** raw_data (little-endian). */
  raw: Uint8Array;
  docString: string;
}

export type AttrSpec =
  | { name: string; type: 'float' | 'int'; value: number }
  | { name: string; type: 'string'; value: string }
  | { name: string; type: 'floats' | 'ints'; value: number[] }
  | { name: string; type: 'strings'; value: string[] }
  | { name: string; type: 'tensor'; value: TensorSpec }
  | { name: string; type: 'tensors'; value: TensorSpec[] }
  | { name: string; type: 'graph'; value: GraphSpec }
  | { name: string; type: 'graphs'; value: GraphSpec[] }
  | { name: string; type: 'other'; code: number };

export interface NodeSpec {
  name: string;
  opType: string;
  domain: string;
  inputs: string[];
  outputs: string[];
  attrs: AttrSpec[];
}

export interface ValueSpec {
  name: string;
  elemType?: number;
  shape?: Dim[];
}

export interface GraphSpec {
  name: string;
  nodes: NodeSpec[];
  initializers: TensorSpec[];
  inputs: ValueSpec[];
  outputs: ValueSpec[];
  valueInfo: ValueSpec[];
}

export interface ModelSpec {
  irVersion: number;
  producerName: string;
  producerVersion: string;
  opsetImports: { domain: string; version: number }[];
  graph: GraphSpec;
  metadata: [string, string][];
}

export const DTYPE_CODE: Record<OnnxDType, number> = {
  float32: 1,
  uint8: 2,
  int8: 3,
  uint16: 4,
  int16: 5,
  int32: 6,
  int64: 7,
  bool: 9,
  float64: 11,
};

/** Element width in bytes of the data type codes the decoder reads (FLOAT16 included). */
export const CODE_WIDTH: Record<number, number> = { 1: 4, 2: 1, 3: 1, 4: 2, 5: 2, 6: 4, 7: 8, 9: 1, 10: 2, 11: 8 };

// ---- decoded model -> spec (no copies of tensor data) ----------------------------------

export function tensorSpec(t: OnnxTensor): TensorSpec {
  const raw = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
  return { name: t.name, code: DTYPE_CODE[t.dtype], dims: [...t.shape], raw, docString: t.docString };
}

function attrSpec(a: OnnxAttribute): AttrSpec {
  switch (a.type) {
    case 'float':
    case 'int':
      return { name: a.name, type: a.type, value: a.value };
    case 'string':
      return { name: a.name, type: a.type, value: a.value };
    case 'floats':
    case 'ints':
      return { name: a.name, type: a.type, value: [...a.value] };
    case 'strings':
      return { name: a.name, type: a.type, value: [...a.value] };
    case 'tensor':
      return { name: a.name, type: a.type, value: tensorSpec(a.value) };
    case 'tensors':
      return { name: a.name, type: a.type, value: a.value.map(tensorSpec) };
    case 'graph':
      return { name: a.name, type: a.type, value: graphSpec(a.value) };
    case 'graphs':
      return { name: a.name, type: a.type, value: a.value.map(graphSpec) };
    default:
      return { name: a.name, type: 'other', code: OTHER_CODES[a.type] ?? 0 };
  }
}

const OTHER_CODES: Record<string, number> = { undefined: 0, sparse_tensor: 11, sparse_tensors: 12, type_proto: 13, type_protos: 14 };

const valueSpec = (v: ValueInfo): ValueSpec => ({ name: v.name, elemType: v.elemType, shape: v.shape ? [...v.shape] : undefined });

export function graphSpec(g: OnnxGraph): GraphSpec {
  return {
    name: g.name,
    nodes: g.nodes.map((n) => ({
      name: n.name,
      opType: n.opType,
      domain: n.domain,
      inputs: [...n.inputs],
      outputs: [...n.outputs],
      attrs: [...n.attributes.values()].map(attrSpec),
    })),
    initializers: g.initializers.map(tensorSpec),
    inputs: g.inputs.map(valueSpec),
    outputs: g.outputs.map(valueSpec),
    valueInfo: g.valueInfo.map(valueSpec),
  };
}

/** A fresh, independently mutable spec of a decoded model (tensor bytes are shared views: replace, never write into, them). */
export function modelSpec(m: OnnxModel): ModelSpec {
  return {
    irVersion: m.irVersion,
    producerName: m.producerName,
    producerVersion: m.producerVersion,
    opsetImports: m.opsetImports.map((o) => ({ ...o })),
    graph: graphSpec(m.graph),
    metadata: [...m.metadata.entries()],
  };
}

// ---- encoder --------------------------------------------------------------------------

const utf8 = new TextEncoder();

/** Builds one message from parts (small scalars batched, large byte runs kept as views until finish()). */
class Writer {
  private parts: Uint8Array[] = [];
  private small: number[] = [];
  private size = 0;

  private flushSmall(): void {
    if (this.small.length) {
      this.parts.push(Uint8Array.from(this.small));
      this.small = [];
    }
  }

  varint(v: number | bigint): this {
    let x = BigInt.asUintN(64, BigInt(v));
    do {
      let b = Number(x & 0x7fn);
      x >>= 7n;
      if (x) b |= 0x80;
      this.small.push(b);
      this.size++;
    } while (x);
    return this;
  }

  tag(field: number, wire: number): this {
    return this.varint(field * 8 + wire);
  }

  int(field: number, v: number | bigint): this {
    return this.tag(field, 0).varint(typeof v === 'number' ? BigInt(Math.trunc(v)) : v);
  }

  float(field: number, v: number): this {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setFloat32(0, v, true);
    this.tag(field, 5);
    for (const x of b) this.small.push(x);
    this.size += 4;
    return this;
  }

  bytes(field: number, b: Uint8Array): this {
    this.tag(field, 2).varint(b.length);
    this.flushSmall();
    this.parts.push(b);
    this.size += b.length;
    return this;
  }

  string(field: number, s: string): this {
    return this.bytes(field, utf8.encode(s));
  }

  message(field: number, fill: (w: Writer) => void): this {
    const w = new Writer();
    fill(w);
    return this.bytes(field, w.finish());
  }

  finish(): Uint8Array {
    this.flushSmall();
    const out = new Uint8Array(this.size);
    let at = 0;
    for (const p of this.parts) {
      out.set(p, at);
      at += p.length;
    }
    return out;
  }
}

function writeTensor(w: Writer, t: TensorSpec): void {
  if (t.dims.length) {
    // Packed dims (as onnx writes them).
    const d = new Writer();
    for (const x of t.dims) d.varint(BigInt(Math.trunc(x)));
    w.bytes(1, d.finish());
  }
  w.int(2, t.code);
  if (t.name) w.string(8, t.name);
  w.bytes(9, t.raw);
  if (t.docString) w.string(12, t.docString);
}

const ATTR_CODE = { float: 1, int: 2, string: 3, tensor: 4, graph: 5, floats: 6, ints: 7, strings: 8, tensors: 9, graphs: 10 } as const;

function writeAttr(w: Writer, a: AttrSpec): void {
  w.string(1, a.name);
  switch (a.type) {
    case 'float':
      w.float(2, a.value);
      break;
    case 'int':
      w.int(3, a.value);
      break;
    case 'string':
      w.string(4, a.value);
      break;
    case 'tensor':
      w.message(5, (m) => writeTensor(m, a.value));
      break;
    case 'graph':
      w.message(6, (m) => writeGraph(m, a.value));
      break;
    case 'floats':
      for (const v of a.value) w.float(7, v);
      break;
    case 'ints':
      for (const v of a.value) w.int(8, v);
      break;
    case 'strings':
      for (const v of a.value) w.string(9, v);
      break;
    case 'tensors':
      for (const v of a.value) w.message(10, (m) => writeTensor(m, v));
      break;
    case 'graphs':
      for (const v of a.value) w.message(11, (m) => writeGraph(m, v));
      break;
  }
  w.int(20, a.type === 'other' ? a.code : ATTR_CODE[a.type]);
}

function writeValue(w: Writer, v: ValueSpec): void {
  w.string(1, v.name);
  if (v.elemType === undefined && !v.shape) return;
  w.message(2, (type) =>
    type.message(1, (tt) => {
      if (v.elemType !== undefined) tt.int(1, v.elemType);
      if (v.shape) {
        tt.message(2, (shape) => {
          for (const d of v.shape!) {
            shape.message(1, (dim) => {
              if (typeof d === 'number') dim.int(1, d);
              else if (typeof d === 'string') dim.string(2, d);
            });
          }
        });
      }
    }),
  );
}

function writeGraph(w: Writer, g: GraphSpec): void {
  for (const n of g.nodes) {
    w.message(1, (m) => {
      for (const i of n.inputs) m.string(1, i);
      for (const o of n.outputs) m.string(2, o);
      if (n.name) m.string(3, n.name);
      m.string(4, n.opType);
      for (const a of n.attrs) m.message(5, (am) => writeAttr(am, a));
      if (n.domain) m.string(7, n.domain);
    });
  }
  if (g.name) w.string(2, g.name);
  for (const t of g.initializers) w.message(5, (m) => writeTensor(m, t));
  for (const v of g.inputs) w.message(11, (m) => writeValue(m, v));
  for (const v of g.outputs) w.message(12, (m) => writeValue(m, v));
  for (const v of g.valueInfo) w.message(13, (m) => writeValue(m, v));
}

/** Encodes a ModelProto. */
export function encodeModel(spec: ModelSpec): Uint8Array {
  const w = new Writer();
  w.int(1, spec.irVersion);
  if (spec.producerName) w.string(2, spec.producerName);
  if (spec.producerVersion) w.string(3, spec.producerVersion);
  w.message(7, (g) => writeGraph(g, spec.graph));
  for (const o of spec.opsetImports) w.message(8, (m) => m.string(1, o.domain).int(2, o.version));
  for (const [key, value] of spec.metadata) w.message(14, (e) => e.string(1, key).string(2, value));
  return w.finish();
}

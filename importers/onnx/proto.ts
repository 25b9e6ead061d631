// A hand-written, bounded decoder for the parts of onnx.proto a CNN needs:
// ModelProto, GraphProto, NodeProto, AttributeProto, TensorProto,
// ValueInfoProto (TypeProto.Tensor, TensorShapeProto), OperatorSetIdProto and
// StringStringEntryProto. Field numbers are those of onnx.proto (proto2).
//
// Files are untrusted, so decoding is bounded: every length is checked against
// the bytes left in its enclosing message, varints stop at 10 bytes, messages
// nest at most MAX_DEPTH deep, and arrays are sized from bytes actually present
// (never from a length or dims field alone). Any malformed input ends in an
// OnnxDecodeError (byte offset + what was being decoded) or an
// UnsupportedOnnxTensor; nothing else escapes decodeModel.

import { OnnxDecodeError, UnsupportedOnnxTensor } from './errors.js';
import {
  DataType,
  dataTypeName,
  dtypeOfCode,
  float16ToNumber,
  LITTLE_ENDIAN,
  swapBytes,
  type HostData,
  type HostTensor,
  type OnnxDType,
} from './host-tensor.js';

// ---- decoded model ---------------------------------------------------------------

export interface OnnxModel {
  irVersion: number;
  /** Operator sets; the default ONNX domain is '' (some writers say 'ai.onnx'). */
  opsetImports: OpsetImport[];
  producerName: string;
  producerVersion: string;
  domain: string;
  modelVersion: number;
  docString: string;
  graph: OnnxGraph;
  /** metadata_props; ultralytics stores `names` and `stride` here. */
  metadata: Map<string, string>;
}

export interface OpsetImport {
  domain: string;
  version: number;
}

export interface OnnxGraph {
  name: string;
  nodes: OnnxNode[];
  initializers: OnnxTensor[];
  inputs: ValueInfo[];
  outputs: ValueInfo[];
  valueInfo: ValueInfo[];
  docString: string;
}

export interface OnnxNode {
  name: string;
  opType: string;
  domain: string;
  /** Input tensor names; '' marks an omitted optional input. */
  inputs: string[];
  outputs: string[];
  attributes: Map<string, OnnxAttribute>;
  docString: string;
}

/** A decoded TensorProto: a host tensor plus its ONNX name. */
export interface OnnxTensor extends HostTensor {
  name: string;
  /** The stored element type when it differs from `dtype` (float16 is widened to float32). */
  storedAs?: 'float16';
  docString: string;
}

/** A dimension: a size, a symbolic name (dim_param), or null when unknown. */
export type Dim = number | string | null;

export interface ValueInfo {
  name: string;
  /** TensorProto.DataType code; undefined for non-tensor types or when absent. */
  elemType?: number;
  /** undefined when the rank is unknown. */
  shape?: Dim[];
  docString: string;
}

export type AttributeType =
  | 'undefined'
  | 'float'
  | 'int'
  | 'string'
  | 'tensor'
  | 'graph'
  | 'floats'
  | 'ints'
  | 'strings'
  | 'tensors'
  | 'graphs'
  | 'sparse_tensor'
  | 'sparse_tensors'
  | 'type_proto'
  | 'type_protos';

export type OnnxAttribute =
  | { name: string; type: 'float' | 'int'; value: number }
  | { name: string; type: 'string'; value: string }
  | { name: string; type: 'floats' | 'ints'; value: number[] }
  | { name: string; type: 'strings'; value: string[] }
  | { name: string; type: 'tensor'; value: OnnxTensor }
  | { name: string; type: 'tensors'; value: OnnxTensor[] }
  | { name: string; type: 'graph'; value: OnnxGraph }
  | { name: string; type: 'graphs'; value: OnnxGraph[] }
  /** Kinds no CNN op uses; kept so a handler can name them in its error. */
  | { name: string; type: 'undefined' | 'sparse_tensor' | 'sparse_tensors' | 'type_proto' | 'type_protos'; value: undefined };

// AttributeProto.AttributeType codes, from onnx.proto.
const ATTRIBUTE_TYPES: Record<number, AttributeType> = {
  0: 'undefined',
  1: 'float',
  2: 'int',
  3: 'string',
  4: 'tensor',
  5: 'graph',
  6: 'floats',
  7: 'ints',
  8: 'strings',
  9: 'tensors',
  10: 'graphs',
  11: 'sparse_tensor',
  12: 'sparse_tensors',
  13: 'type_proto',
  14: 'type_protos',
};

// ---- wire format ---------------------------------------------------------------------

const WIRE_VARINT = 0;
const WIRE_FIXED64 = 1;
const WIRE_LEN = 2;
const WIRE_FIXED32 = 5;
const WIRE_NAMES = ['varint', 'fixed64', 'length-delimited', 'start-group', 'end-group', 'fixed32', 'wire type 6', 'wire type 7'];

/** Deepest message nesting accepted (graphs nest inside attributes, types inside types). */
export const MAX_DEPTH = 64;

const utf8 = new TextDecoder('utf-8');

/** Reads one message: the bytes [pos, end) of `buf`. */
class Reader {
  private view: DataView;

  constructor(
    readonly buf: Uint8Array,
    public pos: number,
    readonly end: number,
    readonly depth: number,
    /** What is being decoded, for error messages; updated once a name is known. */
    public context: string,
  ) {
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }

  get done(): boolean {
    return this.pos >= this.end;
  }

  fail(detail: string, at = this.pos): never {
    throw new OnnxDecodeError(at, this.context, detail);
  }

  /** A varint as [low 32 bits, high 32 bits]; at most 10 bytes. */
  private varint64(): [number, number] {
    const start = this.pos;
    let lo = 0;
    let hi = 0;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) this.fail('truncated varint', start);
      const b = this.buf[this.pos++];
      if (i < 4) lo |= (b & 0x7f) << (7 * i);
      else if (i === 4) {
        lo |= (b & 0x0f) << 28;
        hi |= (b & 0x7f) >> 4;
      } else hi |= (b & 0x7f) << (7 * i - 32);
      if ((b & 0x80) === 0) return [lo >>> 0, hi >>> 0];
    }
    this.fail('varint longer than 10 bytes', start);
  }

  /** An unsigned varint as a number (exact below 2^53; larger values only need to compare as large). */
  uint(): number {
    const [lo, hi] = this.varint64();
    return hi * 0x100000000 + lo;
  }

  /** A protobuf int64 as a number (two's complement; exact within ±2^53). */
  int64(): number {
    const [lo, hi] = this.varint64();
    return (hi | 0) * 0x100000000 + lo;
  }

  /** A protobuf int64, exactly. */
  bigint64(): bigint {
    const [lo, hi] = this.varint64();
    return BigInt.asIntN(64, (BigInt(hi) << 32n) | BigInt(lo));
  }

  /** A protobuf int32 (negative values are sign-extended to 10 bytes on the wire). */
  int32(): number {
    return this.varint64()[0] | 0;
  }

  tag(): { field: number; wire: number } {
    const at = this.pos;
    const key = this.uint();
    const field = Math.floor(key / 8);
    const wire = key % 8;
    if (field === 0 || field > 0x1fffffff) this.fail(`invalid field number ${field}`, at);
    return { field, wire };
  }

  /** Checks that `n` more bytes exist in this message. */
  private need(n: number, what: string, at = this.pos): void {
    if (n > this.end - this.pos) this.fail(`${what} of ${n} bytes exceeds the ${this.end - this.pos} bytes left`, at);
  }

  float(): number {
    this.need(4, 'float');
    const v = this.view.getFloat32(this.pos, true);
    this.pos += 4;
    return v;
  }

  double(): number {
    this.need(8, 'double');
    const v = this.view.getFloat64(this.pos, true);
    this.pos += 8;
    return v;
  }

  /** A length-delimited payload, as a view into the file (no copy). */
  bytes(): Uint8Array {
    const at = this.pos;
    const n = this.uint();
    this.need(n, 'length-delimited field', at);
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  string(): string {
    return utf8.decode(this.bytes());
  }

  /** A reader over an embedded message. */
  message(context: string): Reader {
    const at = this.pos;
    const n = this.uint();
    this.need(n, `${context}`, at);
    if (this.depth + 1 > MAX_DEPTH) this.fail(`messages nested deeper than ${MAX_DEPTH}`, at);
    const sub = new Reader(this.buf, this.pos, this.pos + n, this.depth + 1, context);
    this.pos += n;
    return sub;
  }

  /** Skips a field we do not read. */
  skip(wire: number): void {
    const at = this.pos;
    switch (wire) {
      case WIRE_VARINT:
        this.varint64();
        return;
      case WIRE_FIXED64:
        this.need(8, 'fixed64', at);
        this.pos += 8;
        return;
      case WIRE_LEN:
        this.bytes();
        return;
      case WIRE_FIXED32:
        this.need(4, 'fixed32', at);
        this.pos += 4;
        return;
      default:
        this.fail(`unsupported ${WIRE_NAMES[wire]} wire type`, at);
    }
  }

  expect(wire: number, expected: number, field: string): void {
    if (wire !== expected) this.fail(`field '${field}' has wire type ${WIRE_NAMES[wire]}, expected ${WIRE_NAMES[expected]}`);
  }

  // ---- repeated scalars: packed (one length-delimited run) or one element per tag ----

  /** Appends the varints of field `field` (packed or not) to `out` via `read`. */
  repeatedVarint<T>(wire: number, field: string, out: T[], read: (r: Reader) => T): void {
    if (wire === WIRE_VARINT) {
      out.push(read(this));
      return;
    }
    this.expect(wire, WIRE_LEN, field);
    const run = this.message(this.context);
    while (!run.done) out.push(read(run));
  }

  /** Appends fixed-width values (float: 4 bytes, double: 8) of field `field`, packed or not. */
  repeatedFixed(wire: number, field: string, out: number[], width: 4 | 8): void {
    const scalarWire = width === 4 ? WIRE_FIXED32 : WIRE_FIXED64;
    if (wire === scalarWire) {
      out.push(width === 4 ? this.float() : this.double());
      return;
    }
    this.expect(wire, WIRE_LEN, field);
    const at = this.pos;
    const run = this.bytes();
    if (run.length % width !== 0) this.fail(`packed '${field}' of ${run.length} bytes is not a multiple of ${width}`, at);
    const view = new DataView(run.buffer, run.byteOffset, run.byteLength);
    for (let i = 0; i < run.length; i += width) out.push(width === 4 ? view.getFloat32(i, true) : view.getFloat64(i, true));
  }
}

// ---- messages ---------------------------------------------------------------------

/**
 * Decodes an ONNX ModelProto. Throws OnnxDecodeError for malformed bytes and
 * UnsupportedOnnxTensor for tensors we cannot hold (external data, strings...).
 */
export function decodeModel(bytes: Uint8Array | ArrayBuffer): OnnxModel {
  // A plain Uint8Array view: Node's Buffer.slice() would alias instead of copying.
  const buf = bytes instanceof Uint8Array ? new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength) : new Uint8Array(bytes);
  const r = new Reader(buf, 0, buf.length, 0, 'ModelProto');
  const model: Partial<OnnxModel> & { opsetImports: OpsetImport[]; metadata: Map<string, string> } = {
    irVersion: 0,
    opsetImports: [],
    producerName: '',
    producerVersion: '',
    domain: '',
    modelVersion: 0,
    docString: '',
    metadata: new Map(),
  };
  while (!r.done) {
    const { field, wire } = r.tag();
    switch (field) {
      case 1:
        r.expect(wire, WIRE_VARINT, 'ir_version');
        model.irVersion = r.int64();
        break;
      case 2:
        r.expect(wire, WIRE_LEN, 'producer_name');
        model.producerName = r.string();
        break;
      case 3:
        r.expect(wire, WIRE_LEN, 'producer_version');
        model.producerVersion = r.string();
        break;
      case 4:
        r.expect(wire, WIRE_LEN, 'domain');
        model.domain = r.string();
        break;
      case 5:
        r.expect(wire, WIRE_VARINT, 'model_version');
        model.modelVersion = r.int64();
        break;
      case 6:
        r.expect(wire, WIRE_LEN, 'doc_string');
        model.docString = r.string();
        break;
      case 7:
        r.expect(wire, WIRE_LEN, 'graph');
        model.graph = decodeGraph(r.message('GraphProto'));
        break;
      case 8:
        r.expect(wire, WIRE_LEN, 'opset_import');
        model.opsetImports.push(decodeOpset(r.message('OperatorSetIdProto')));
        break;
      case 14: {
        r.expect(wire, WIRE_LEN, 'metadata_props');
        const [key, value] = decodeStringEntry(r.message('StringStringEntryProto (metadata_props)'));
        model.metadata.set(key, value);
        break;
      }
      default:
        r.skip(wire); // training_info, functions, ...
    }
  }
  if (!model.graph) r.fail('ModelProto has no graph (is this an ONNX model?)', 0);
  return model as OnnxModel;
}

function decodeOpset(r: Reader): OpsetImport {
  const out: OpsetImport = { domain: '', version: 0 };
  while (!r.done) {
    const { field, wire } = r.tag();
    if (field === 1) {
      r.expect(wire, WIRE_LEN, 'domain');
      out.domain = r.string();
    } else if (field === 2) {
      r.expect(wire, WIRE_VARINT, 'version');
      out.version = r.int64();
    } else r.skip(wire);
  }
  return out;
}

function decodeStringEntry(r: Reader): [string, string] {
  let key = '';
  let value = '';
  while (!r.done) {
    const { field, wire } = r.tag();
    if (field === 1) {
      r.expect(wire, WIRE_LEN, 'key');
      key = r.string();
    } else if (field === 2) {
      r.expect(wire, WIRE_LEN, 'value');
      value = r.string();
    } else r.skip(wire);
  }
  return [key, value];
}

function decodeGraph(r: Reader): OnnxGraph {
  const g: OnnxGraph = { name: '', nodes: [], initializers: [], inputs: [], outputs: [], valueInfo: [], docString: '' };
  while (!r.done) {
    const { field, wire } = r.tag();
    switch (field) {
      case 1:
        r.expect(wire, WIRE_LEN, 'node');
        g.nodes.push(decodeNode(r.message(`NodeProto #${g.nodes.length}`)));
        break;
      case 2:
        r.expect(wire, WIRE_LEN, 'name');
        g.name = r.string();
        r.context = `GraphProto '${g.name}'`;
        break;
      case 5:
        r.expect(wire, WIRE_LEN, 'initializer');
        g.initializers.push(decodeTensor(r.message(`TensorProto (initializer #${g.initializers.length})`)));
        break;
      case 10:
        r.expect(wire, WIRE_LEN, 'doc_string');
        g.docString = r.string();
        break;
      case 11:
        r.expect(wire, WIRE_LEN, 'input');
        g.inputs.push(decodeValueInfo(r.message('ValueInfoProto (input)')));
        break;
      case 12:
        r.expect(wire, WIRE_LEN, 'output');
        g.outputs.push(decodeValueInfo(r.message('ValueInfoProto (output)')));
        break;
      case 13:
        r.expect(wire, WIRE_LEN, 'value_info');
        g.valueInfo.push(decodeValueInfo(r.message('ValueInfoProto (value_info)')));
        break;
      case 15: {
        r.expect(wire, WIRE_LEN, 'sparse_initializer');
        const name = sparseTensorName(r.message('SparseTensorProto (sparse_initializer)'));
        throw new UnsupportedOnnxTensor(name, 'sparse initializers are not supported; densify it when exporting');
      }
      default:
        r.skip(wire); // quantization_annotation, ...
    }
  }
  return g;
}

/** The name of a SparseTensorProto (its values tensor's name), for the error. */
function sparseTensorName(r: Reader): string {
  while (!r.done) {
    const { field, wire } = r.tag();
    if (field === 1 && wire === WIRE_LEN) {
      const values = r.message('SparseTensorProto.values');
      while (!values.done) {
        const t = values.tag();
        if (t.field === 8 && t.wire === WIRE_LEN) return values.string();
        values.skip(t.wire);
      }
    } else r.skip(wire);
  }
  return '(unnamed)';
}

function decodeNode(r: Reader): OnnxNode {
  const node: OnnxNode = { name: '', opType: '', domain: '', inputs: [], outputs: [], attributes: new Map(), docString: '' };
  while (!r.done) {
    const { field, wire } = r.tag();
    switch (field) {
      case 1:
        r.expect(wire, WIRE_LEN, 'input');
        node.inputs.push(r.string());
        break;
      case 2:
        r.expect(wire, WIRE_LEN, 'output');
        node.outputs.push(r.string());
        break;
      case 3:
        r.expect(wire, WIRE_LEN, 'name');
        node.name = r.string();
        r.context = `NodeProto '${node.name}'`;
        break;
      case 4:
        r.expect(wire, WIRE_LEN, 'op_type');
        node.opType = r.string();
        break;
      case 5: {
        r.expect(wire, WIRE_LEN, 'attribute');
        const a = decodeAttribute(r.message(`AttributeProto of ${r.context}`));
        node.attributes.set(a.name, a);
        break;
      }
      case 6:
        r.expect(wire, WIRE_LEN, 'doc_string');
        node.docString = r.string();
        break;
      case 7:
        r.expect(wire, WIRE_LEN, 'domain');
        node.domain = r.string();
        break;
      default:
        r.skip(wire);
    }
  }
  return node;
}

function decodeAttribute(r: Reader): OnnxAttribute {
  const start = r.pos;
  let name = '';
  let typeCode: number | undefined;
  // Every field is collected; `type` (or, in old files without it, whichever field is set) picks the value.
  let f: number | undefined;
  let i: number | undefined;
  let s: string | undefined;
  let t: OnnxTensor | undefined;
  let g: OnnxGraph | undefined;
  const floats: number[] = [];
  const ints: number[] = [];
  const strings: string[] = [];
  const tensors: OnnxTensor[] = [];
  const graphs: OnnxGraph[] = [];
  let other: AttributeType | undefined;
  while (!r.done) {
    const { field, wire } = r.tag();
    switch (field) {
      case 1:
        r.expect(wire, WIRE_LEN, 'name');
        name = r.string();
        r.context = `AttributeProto '${name}'`;
        break;
      case 2:
        r.expect(wire, WIRE_FIXED32, 'f');
        f = r.float();
        break;
      case 3:
        r.expect(wire, WIRE_VARINT, 'i');
        i = r.int64();
        break;
      case 4:
        r.expect(wire, WIRE_LEN, 's');
        s = r.string();
        break;
      case 5:
        r.expect(wire, WIRE_LEN, 't');
        t = decodeTensor(r.message(`TensorProto (attribute '${name}')`));
        break;
      case 6:
        r.expect(wire, WIRE_LEN, 'g');
        g = decodeGraph(r.message(`GraphProto (attribute '${name}')`));
        break;
      case 7:
        r.repeatedFixed(wire, 'floats', floats, 4);
        break;
      case 8:
        r.repeatedVarint(wire, 'ints', ints, (x) => x.int64());
        break;
      case 9:
        r.expect(wire, WIRE_LEN, 'strings');
        strings.push(r.string());
        break;
      case 10:
        r.expect(wire, WIRE_LEN, 'tensors');
        tensors.push(decodeTensor(r.message(`TensorProto (attribute '${name}')`)));
        break;
      case 11:
        r.expect(wire, WIRE_LEN, 'graphs');
        graphs.push(decodeGraph(r.message(`GraphProto (attribute '${name}')`)));
        break;
      case 20:
        r.expect(wire, WIRE_VARINT, 'type');
        typeCode = r.int32();
        break;
      case 14:
      case 15:
      case 22:
      case 23:
        other = ({ 14: 'type_proto', 15: 'type_protos', 22: 'sparse_tensor', 23: 'sparse_tensors' } as const)[field];
        r.skip(wire);
        break;
      default:
        r.skip(wire); // doc_string, ref_attr_name
    }
  }
  let type: AttributeType | undefined;
  if (typeCode !== undefined) {
    type = ATTRIBUTE_TYPES[typeCode];
    if (!type) r.fail(`unknown attribute type code ${typeCode}`, start);
  } else {
    // IR version 1 files have no `type`: infer it from the field that is set.
    type =
      f !== undefined ? 'float'
      : i !== undefined ? 'int'
      : s !== undefined ? 'string'
      : t ? 'tensor'
      : g ? 'graph'
      : floats.length ? 'floats'
      : ints.length ? 'ints'
      : strings.length ? 'strings'
      : tensors.length ? 'tensors'
      : graphs.length ? 'graphs'
      : (other ?? 'undefined');
  }
  switch (type) {
    case 'float':
      return { name, type, value: f ?? 0 };
    case 'int':
      return { name, type, value: i ?? 0 };
    case 'string':
      return { name, type, value: s ?? '' };
    case 'floats':
      return { name, type, value: floats };
    case 'ints':
      return { name, type, value: ints };
    case 'strings':
      return { name, type, value: strings };
    case 'tensor':
      if (!t) r.fail(`attribute '${name}' of type TENSOR has no tensor`, start);
      return { name, type, value: t };
    case 'tensors':
      return { name, type, value: tensors };
    case 'graph':
      if (!g) r.fail(`attribute '${name}' of type GRAPH has no graph`, start);
      return { name, type, value: g };
    case 'graphs':
      return { name, type, value: graphs };
    default:
      return { name, type, value: undefined };
  }
}

function decodeValueInfo(r: Reader): ValueInfo {
  const info: ValueInfo = { name: '', docString: '' };
  while (!r.done) {
    const { field, wire } = r.tag();
    if (field === 1) {
      r.expect(wire, WIRE_LEN, 'name');
      info.name = r.string();
      r.context = `ValueInfoProto '${info.name}'`;
    } else if (field === 2) {
      r.expect(wire, WIRE_LEN, 'type');
      decodeType(r.message(`TypeProto of '${info.name}'`), info);
    } else if (field === 3) {
      r.expect(wire, WIRE_LEN, 'doc_string');
      info.docString = r.string();
    } else r.skip(wire);
  }
  return info;
}

/** TypeProto: only tensor_type (field 1) is read; sequences, maps and optionals are skipped. */
function decodeType(r: Reader, info: ValueInfo): void {
  while (!r.done) {
    const { field, wire } = r.tag();
    if (field !== 1) {
      r.skip(wire);
      continue;
    }
    r.expect(wire, WIRE_LEN, 'tensor_type');
    const tt = r.message('TypeProto.Tensor');
    while (!tt.done) {
      const t = tt.tag();
      if (t.field === 1) {
        tt.expect(t.wire, WIRE_VARINT, 'elem_type');
        info.elemType = tt.int32();
      } else if (t.field === 2) {
        tt.expect(t.wire, WIRE_LEN, 'shape');
        info.shape = decodeShape(tt.message('TensorShapeProto'));
      } else tt.skip(t.wire);
    }
  }
}

function decodeShape(r: Reader): Dim[] {
  const dims: Dim[] = [];
  while (!r.done) {
    const { field, wire } = r.tag();
    if (field !== 1) {
      r.skip(wire);
      continue;
    }
    r.expect(wire, WIRE_LEN, 'dim');
    const d = r.message('TensorShapeProto.Dimension');
    let dim: Dim = null;
    while (!d.done) {
      const t = d.tag();
      if (t.field === 1) {
        d.expect(t.wire, WIRE_VARINT, 'dim_value');
        dim = d.int64();
      } else if (t.field === 2) {
        d.expect(t.wire, WIRE_LEN, 'dim_param');
        dim = d.string();
      } else d.skip(t.wire);
    }
    dims.push(dim);
  }
  return dims;
}

// ---- TensorProto ----------------------------------------------------------------------

/** The typed fields a TensorProto may carry its values in. */
interface TensorFields {
  floatData: number[];
  int32Data: number[];
  int64Data: bigint[];
  doubleData: number[];
  raw?: Uint8Array;
  hasStrings: boolean;
  hasUint64: boolean;
}

function decodeTensor(r: Reader): OnnxTensor {
  const start = r.pos;
  let name = '';
  let docString = '';
  let dataType: number = DataType.UNDEFINED;
  const dims: number[] = [];
  const fields: TensorFields = { floatData: [], int32Data: [], int64Data: [], doubleData: [], hasStrings: false, hasUint64: false };
  let externalLocation: string | undefined;
  let external = false;
  let segmented = false;
  while (!r.done) {
    const { field, wire } = r.tag();
    switch (field) {
      case 1:
        r.repeatedVarint(wire, 'dims', dims, (x) => x.int64());
        break;
      case 2:
        r.expect(wire, WIRE_VARINT, 'data_type');
        dataType = r.int32();
        break;
      case 3:
        segmented = true;
        r.skip(wire);
        break;
      case 4:
        r.repeatedFixed(wire, 'float_data', fields.floatData, 4);
        break;
      case 5:
        r.repeatedVarint(wire, 'int32_data', fields.int32Data, (x) => x.int32());
        break;
      case 6:
        fields.hasStrings = true;
        r.skip(wire);
        break;
      case 7:
        r.repeatedVarint(wire, 'int64_data', fields.int64Data, (x) => x.bigint64());
        break;
      case 8:
        r.expect(wire, WIRE_LEN, 'name');
        name = r.string();
        r.context = `TensorProto '${name}'`;
        break;
      case 9:
        r.expect(wire, WIRE_LEN, 'raw_data');
        fields.raw = r.bytes();
        break;
      case 10:
        r.repeatedFixed(wire, 'double_data', fields.doubleData, 8);
        break;
      case 11:
        fields.hasUint64 = true;
        r.skip(wire);
        break;
      case 12:
        r.expect(wire, WIRE_LEN, 'doc_string');
        docString = r.string();
        break;
      case 13: {
        r.expect(wire, WIRE_LEN, 'external_data');
        external = true;
        const [key, value] = decodeStringEntry(r.message('StringStringEntryProto (external_data)'));
        if (key === 'location') externalLocation = value;
        break;
      }
      case 14:
        r.expect(wire, WIRE_VARINT, 'data_location');
        if (r.int32() === 1) external = true; // DataLocation.EXTERNAL
        break;
      default:
        r.skip(wire);
    }
  }
  const label = name || '(unnamed)';
  if (external) {
    const where = externalLocation ? ` in external file '${externalLocation}'` : ' in an external file';
    throw new UnsupportedOnnxTensor(
      label,
      `its data is stored${where}; external data is not supported: save the model with all tensors inside it ` +
        `(onnx.save_model(model, path, save_as_external_data=False))`,
    );
  }
  if (segmented) throw new UnsupportedOnnxTensor(label, 'segmented tensors are not supported');
  const dtype = dtypeOfCode(dataType);
  if (!dtype) throw new UnsupportedOnnxTensor(label, `element type ${dataTypeName(dataType)} is not supported`);
  if (dims.some((d) => d < 0)) r.fail(`negative dimension in dims [${dims.join(', ')}]`, start);
  const count = dims.reduce((n, d) => n * d, 1);
  const data = tensorData(r, start, dataType, dtype, fields, count);
  if (data.length !== count) {
    r.fail(`holds ${data.length} values but dims [${dims.join(', ')}] need ${count}`, start);
  }
  const t: OnnxTensor = { name, dtype, shape: dims, data, docString };
  if (dataType === DataType.FLOAT16) t.storedAs = 'float16';
  return t;
}

const BYTES_PER_ELEMENT: Record<OnnxDType, number> = {
  float32: 4,
  float64: 8,
  int64: 8,
  int32: 4,
  int16: 2,
  uint16: 2,
  int8: 1,
  uint8: 1,
  bool: 1,
};

/** The tensor's values from whichever field holds them; sized from the bytes present, not from dims. */
function tensorData(r: Reader, start: number, code: number, dtype: OnnxDType, f: TensorFields, count: number): HostData {
  if (f.raw) {
    const width = code === DataType.FLOAT16 ? 2 : BYTES_PER_ELEMENT[dtype];
    if (f.raw.length !== count * width) {
      r.fail(`raw_data has ${f.raw.length} bytes but dims need ${count} x ${width} bytes`, start);
    }
    return fromRaw(code, dtype, f.raw);
  }
  switch (code) {
    case DataType.FLOAT:
      return Float32Array.from(f.floatData);
    case DataType.DOUBLE:
      return Float64Array.from(f.doubleData);
    case DataType.INT64:
      return BigInt64Array.from(f.int64Data);
    case DataType.FLOAT16:
      // int32_data holds the 16 bits of each half.
      return Float32Array.from(f.int32Data, (bits) => float16ToNumber(bits & 0xffff));
    case DataType.INT32:
      return Int32Array.from(f.int32Data);
    case DataType.INT16:
      return Int16Array.from(f.int32Data);
    case DataType.UINT16:
      return Uint16Array.from(f.int32Data);
    case DataType.INT8:
      return Int8Array.from(f.int32Data);
    case DataType.UINT8:
      return Uint8Array.from(f.int32Data);
    case DataType.BOOL:
      return Uint8Array.from(f.int32Data, (v) => (v ? 1 : 0));
    default:
      r.fail(`no data field for element type ${dataTypeName(code)}`, start);
  }
}

/** Copies little-endian raw_data into an aligned typed array of the dtype. */
function fromRaw(code: number, dtype: OnnxDType, raw: Uint8Array): HostData {
  if (code === DataType.FLOAT16) {
    const out = new Float32Array(raw.length / 2);
    const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
    for (let i = 0; i < out.length; i++) out[i] = float16ToNumber(view.getUint16(2 * i, true));
    return out;
  }
  if (dtype === 'bool') return Uint8Array.from(raw, (v) => (v ? 1 : 0));
  const width = BYTES_PER_ELEMENT[dtype];
  // slice() copies into a fresh, aligned buffer; on a little-endian host the bytes are the values.
  const copy = Uint8Array.prototype.slice.call(raw).buffer;
  let out: HostData;
  switch (dtype) {
    case 'float32':
      out = new Float32Array(copy);
      break;
    case 'float64':
      out = new Float64Array(copy);
      break;
    case 'int64':
      out = new BigInt64Array(copy);
      break;
    case 'int32':
      out = new Int32Array(copy);
      break;
    case 'int16':
      out = new Int16Array(copy);
      break;
    case 'uint16':
      out = new Uint16Array(copy);
      break;
    case 'int8':
      out = new Int8Array(copy);
      break;
    default:
      out = new Uint8Array(copy);
  }
  if (!LITTLE_ENDIAN && width > 1) swapBytes(new Uint8Array(copy), width);
  return out;
}

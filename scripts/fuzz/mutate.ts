// The fuzzer's mutations. Each takes a seeded random source and returns a
// one-line description of what it did, so a case can be printed and replayed.
//
// - byte-level mutations work on the file: bit flips, truncation, a varint
//   length prefix overwritten, a run of bytes deleted or duplicated;
// - structural mutations edit a ModelSpec (encode.ts) that is then encoded and
//   decoded again: a tensor's dims, an initializer's length or element type, an
//   attribute (kernel_shape, strides, pads, group, axis...), an op type, the
//   opset, the values of a small (shape-like) constant, a dropped node, an input
//   renamed so it dangles or rewired to another tensor.

import type { Dim } from '../../importers/onnx/proto.js';
import { CODE_WIDTH, type AttrSpec, type ModelSpec, type NodeSpec, type TensorSpec, type ValueSpec } from './encode.js';

export type Random = () => number;

export const pick = <T>(random: Random, list: readonly T[]): T => list[Math.floor(random() * list.length)];
const int = (random: Random, lo: number, hi: number) => lo + Math.floor(random() * (hi - lo + 1));

// ---- byte level -----------------------------------------------------------------------

export function readVarint(buf: Uint8Array, pos: number, end: number): [value: number, next: number] | undefined {
  let value = 0;
  for (let i = 0; i < 10 && pos < end; i++) {
    const b = buf[pos++];
    value += (b & 0x7f) * 2 ** (7 * i);
    if (!(b & 0x80)) return [value, pos];
  }
  return undefined;
}

/**
 * Offsets of the length prefixes of the length-delimited fields of a
 * well-formed message tree (payloads that also parse as messages are descended
 * into, so nodes, attributes and tensors all contribute).
 */
export function lengthFields(buf: Uint8Array, start = 0, end = buf.length, depth = 0, out: number[] = []): number[] {
  scan(buf, start, end, depth, out);
  return out;
}

/** Whether the bytes parse as a well-formed protobuf message tree (what lengthFields walks). */
export function isMessageTree(buf: Uint8Array): boolean {
  return scan(buf, 0, buf.length, 0, []);
}

function scan(buf: Uint8Array, start: number, end: number, depth: number, out: number[]): boolean {
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
      // Large payloads are tensor data: not worth descending into.
      if (depth < 12 && len[0] > 0 && len[0] < 1 << 16) scan(buf, len[1], len[1] + len[0], depth + 1, found);
      else if (depth < 12 && len[0] >= 1 << 16) {
        // A graph or model-sized message still is: descend when it parses.
        const inner: number[] = [];
        if (scan(buf, len[1], len[1] + len[0], depth + 1, inner)) found.push(...inner);
      }
      pos = len[1] + len[0];
    } else return false;
  }
  if (pos !== end) return false;
  out.push(...found);
  return true;
}

function encodeVarint(v: number): number[] {
  const out: number[] = [];
  let x = BigInt.asUintN(64, BigInt(Math.floor(v)));
  do {
    let b = Number(x & 0x7fn);
    x >>= 7n;
    if (x) b |= 0x80;
    out.push(b);
  } while (x);
  return out;
}

export function splice(buf: Uint8Array, at: number, remove: number, insert: ArrayLike<number>): Uint8Array {
  const out = new Uint8Array(buf.length - remove + insert.length);
  out.set(buf.subarray(0, at));
  out.set(insert, at);
  out.set(buf.subarray(at + remove), at + insert.length);
  return out;
}

export type ByteMutation = (buf: Uint8Array, random: Random, fields: number[]) => { bytes: Uint8Array; what: string };

/** A position near the message structure most of the time, anywhere otherwise. */
export const position = (buf: Uint8Array, random: Random, fields: number[]) =>
  random() < 0.7 && fields.length ? Math.min(buf.length - 1, pick(random, fields) + Math.floor(random() * 24)) : Math.floor(random() * buf.length);

export const byteMutations: Record<string, ByteMutation> = {
  bitflip(buf, random, fields) {
    const out = Uint8Array.from(buf);
    const flips = 1 + Math.floor(random() * 4);
    const at: string[] = [];
    for (let i = 0; i < flips; i++) {
      const p = position(buf, random, fields);
      const bit = Math.floor(random() * 8);
      out[p] ^= 1 << bit;
      at.push(`${p}.${bit}`);
    }
    return { bytes: out, what: `bit flips at byte.bit ${at.join(', ')}` };
  },
  truncate(buf, random, fields) {
    const n = random() < 0.5 && fields.length ? pick(random, fields) + Math.floor(random() * 4) : Math.floor(random() * buf.length);
    return { bytes: buf.subarray(0, n), what: `truncated to ${n} of ${buf.length} bytes` };
  },
  lengthField(buf, random, fields) {
    const at = pick(random, fields);
    const [len, next] = readVarint(buf, at, buf.length)!;
    const replacement = pick(random, [0, 1, len - 1, len + 1, len * 2, 2 ** 31 - 1, 2 ** 32, 2 ** 53, 2 ** 63, Math.floor(random() * 2 ** 20)]);
    const bytes = splice(buf, at, next - at, encodeVarint(Math.max(0, replacement)));
    return { bytes, what: `varint length at byte ${at}: ${len} -> ${replacement}` };
  },
  splice(buf, random, fields) {
    const at = position(buf, random, fields);
    const n = 1 + Math.floor(random() * 64);
    if (random() < 0.5) return { bytes: splice(buf, at, Math.min(n, buf.length - at), []), what: `deleted ${n} bytes at ${at}` };
    const from = position(buf, random, fields);
    return { bytes: splice(buf, at, 0, buf.subarray(from, from + n)), what: `inserted ${n} bytes from ${from} at ${at}` };
  },
};

// ---- structural -----------------------------------------------------------------------

/** Returns what it did, or undefined when the model offers nothing to mutate this way. */
export type StructuralMutation = (spec: ModelSpec, random: Random, ctx: { supportedOps: readonly string[] }) => string | undefined;

/** Attributes that shape a CNN's computation: most attribute mutations target these. */
const INTERESTING_ATTRS = [
  'kernel_shape', 'strides', 'pads', 'dilations', 'group', 'axis', 'axes', 'perm', 'auto_pad', 'alpha', 'beta', 'epsilon',
  'keepdims', 'split', 'mode', 'coordinate_transformation_mode', 'nearest_mode', 'ceil_mode', 'count_include_pad', 'transA',
  'transB', 'to', 'starts', 'ends', 'output_padding', 'output_shape', 'min', 'max', 'shape', 'num_outputs', 'allowzero', 'storage_order',
];
const STRINGS = ['', 'NOTSET', 'SAME_UPPER', 'SAME_LOWER', 'VALID', 'nearest', 'linear', 'cubic', 'asymmetric', 'half_pixel', 'align_corners',
  'pytorch_half_pixel', 'round_prefer_floor', 'floor', 'ceil', 'constant', 'reflect', 'edge', 'wrap', 'xyz'];
const EDGE_INTS = [0, -1, 1, 2, 3, 2 ** 31 - 1, -(2 ** 31), 2 ** 40, -(2 ** 53)];

function mutateInt(random: Random, v: number): number {
  const r = random();
  if (r < 0.35) return pick(random, [v + 1, v - 1, -v, v * 2, v === 0 ? 1 : 0]);
  if (r < 0.7) return pick(random, EDGE_INTS);
  return int(random, -4, 16);
}

function mutateFloat(random: Random, v: number): number {
  return pick(random, [NaN, Infinity, -Infinity, 0, -v, v * 1e6, 1e-30, -1, 1, 3.5]);
}

function mutateList(random: Random, list: number[], one: (random: Random, v: number) => number): [number[], string] {
  const out = [...list];
  const r = random();
  if (r < 0.5 && out.length) {
    const i = Math.floor(random() * out.length);
    out[i] = one(random, out[i]);
    return [out, `element ${i}`];
  }
  if (r < 0.65 && out.length) return [out.slice(0, -1), 'dropped the last element'];
  if (r < 0.8) return [[...out, one(random, out.at(-1) ?? 1)], 'appended an element'];
  if (r < 0.87) return [[], 'emptied'];
  if (r < 0.94) return [[...out, ...out], 'doubled'];
  return [out.map(() => 0), 'zeroed'];
}

const fmt = (v: unknown): string => (Array.isArray(v) ? `[${v.map(fmt).join(',')}]` : typeof v === 'string' ? JSON.stringify(v) : String(v));

function describeAttr(a: AttrSpec): string {
  return a.type === 'other' ? `<type ${a.code}>` : a.type === 'tensor' || a.type === 'graph' || a.type === 'tensors' || a.type === 'graphs' ? `<${a.type}>` : fmt(a.value);
}

/** Every tensor a mutation may edit: initializers and Constant nodes' values. */
function tensors(spec: ModelSpec): { t: TensorSpec; where: string }[] {
  const out = spec.graph.initializers.map((t) => ({ t, where: `initializer '${t.name}'` }));
  for (const n of spec.graph.nodes) {
    for (const a of n.attrs) if (a.type === 'tensor') out.push({ t: a.value, where: `${n.opType} '${n.name || n.outputs[0]}' attribute '${a.name}'` });
  }
  return out;
}

const numel = (dims: readonly number[]) => dims.reduce((n, d) => n * d, 1);
const width = (code: number) => CODE_WIDTH[code] ?? 4;

function replaceTensor(spec: ModelSpec, old: TensorSpec, t: TensorSpec): void {
  const g = spec.graph;
  const i = g.initializers.indexOf(old);
  if (i >= 0) g.initializers[i] = t;
  for (const n of g.nodes) n.attrs = n.attrs.map((a) => (a.type === 'tensor' && a.value === old ? { ...a, value: t } : a));
}

const nodeName = (n: NodeSpec) => `${n.opType} '${n.name || n.outputs[0]}'`;

function mutateDims(random: Random, dims: number[]): [number[], string] {
  const out = [...dims];
  const r = random();
  if (r < 0.55 && out.length) {
    const i = Math.floor(random() * out.length);
    out[i] = pick(random, [out[i] + 1, out[i] - 1, 0, 1, 2 ** 31, 2 ** 40, -1, out[i] * 2]);
    return [out, `dim ${i}: ${dims[i]} -> ${out[i]}`];
  }
  if (r < 0.75 && out.length) return [out.slice(1), 'dropped dim 0'];
  return [[...out, pick(random, [1, 2, 0])], 'appended a dim'];
}

/** A dims change that keeps the element count (so the tensor still decodes): permute, merge or split dims, insert or remove 1s. */
function reshapeDims(random: Random, dims: number[]): [number[], string] | undefined {
  const r = random();
  if (dims.length >= 2 && r < 0.4) {
    const i = Math.floor(random() * dims.length);
    let j = Math.floor(random() * dims.length);
    if (j === i) j = (i + 1) % dims.length;
    const out = [...dims];
    [out[i], out[j]] = [out[j], out[i]];
    return [out, `swapped dims ${i} and ${j}`];
  }
  if (dims.length >= 2 && r < 0.6) {
    const i = Math.floor(random() * (dims.length - 1));
    return [[...dims.slice(0, i), dims[i] * dims[i + 1], ...dims.slice(i + 2)], `merged dims ${i} and ${i + 1}`];
  }
  if (r < 0.8) {
    const i = Math.floor(random() * (dims.length + 1));
    return [[...dims.slice(0, i), 1, ...dims.slice(i)], `inserted a 1 at ${i}`];
  }
  const ones = dims.flatMap((d, i) => (d === 1 ? [i] : []));
  if (ones.length) {
    const i = pick(random, ones);
    return [[...dims.slice(0, i), ...dims.slice(i + 1)], `removed the 1 at ${i}`];
  }
  return dims.length ? [[numel(dims)], 'flattened'] : undefined;
}

function mutateDim(random: Random, d: Dim): Dim {
  return pick<Dim>(random, [typeof d === 'number' ? d + 1 : 5, typeof d === 'number' ? d - 1 : 0, 0, -1, 1, 2 ** 20, 2 ** 31, 'N', null]);
}

function valueDims(random: Random, v: ValueSpec): string {
  const shape = v.shape ? [...v.shape] : [];
  const r = random();
  let what: string;
  if (r < 0.6 && shape.length) {
    const i = Math.floor(random() * shape.length);
    const old = shape[i];
    shape[i] = mutateDim(random, old);
    what = `dim ${i}: ${fmt(old)} -> ${fmt(shape[i])}`;
  } else if (r < 0.75 && shape.length) {
    shape.pop();
    what = 'dropped the last dim';
  } else if (r < 0.9) {
    shape.push(pick(random, [1, 3, 'W']));
    what = 'appended a dim';
  } else {
    v.shape = undefined;
    return 'removed its shape';
  }
  v.shape = shape;
  return what;
}

const BYTES_ZERO = (n: number) => new Uint8Array(Math.max(0, n));

export const structuralMutations: Record<string, StructuralMutation> = {
  /** A tensor's dims: 50% keeping its element count (decodes, wrong shape), 50% not (length mismatch). */
  tensorDims(spec, random) {
    const all = tensors(spec);
    if (!all.length) return undefined;
    const { t, where } = pick(random, all);
    let change = random() < 0.5 ? reshapeDims(random, t.dims) : undefined;
    change ??= mutateDims(random, t.dims);
    replaceTensor(spec, t, { ...t, dims: change[0] });
    return `${where} dims ${fmt(t.dims)} -> ${fmt(change[0])} (${change[1]})`;
  },
  /** A graph input's or output's declared dims. */
  valueDims(spec, random) {
    const g = spec.graph;
    const inits = new Set(g.initializers.map((t) => t.name));
    const inputs = g.inputs.filter((v) => !inits.has(v.name));
    const useInput = random() < 0.6 && inputs.length;
    const v = useInput ? pick(random, inputs) : pick(random, g.outputs);
    if (!v) return undefined;
    const old = v.shape ? fmt(v.shape) : 'none';
    const what = valueDims(random, v);
    return `${useInput ? 'input' : 'output'} '${v.name}' shape ${old}: ${what} -> ${v.shape ? fmt(v.shape) : 'none'}`;
  },
  /** An initializer's data length (dims unchanged), or dims and data grown together along dim 0. */
  initLength(spec, random) {
    const all = tensors(spec);
    if (!all.length) return undefined;
    const { t, where } = pick(random, all);
    const w = width(t.code);
    const r = random();
    if (r < 0.35 && t.dims.length) {
      const extra = pick(random, [1, t.dims[0]]);
      const dims = [t.dims[0] + extra, ...t.dims.slice(1)];
      const raw = new Uint8Array(numel(dims) * w);
      raw.set(t.raw.subarray(0, Math.min(t.raw.length, raw.length)));
      replaceTensor(spec, t, { ...t, dims, raw });
      return `${where} grown along dim 0 (dims and data): ${fmt(t.dims)} -> ${fmt(dims)}`;
    }
    if (r < 0.4 && t.dims.length && t.dims[0] > 1) {
      const dims = [t.dims[0] - 1, ...t.dims.slice(1)];
      replaceTensor(spec, t, { ...t, dims, raw: t.raw.subarray(0, numel(dims) * w) });
      return `${where} shrunk along dim 0 (dims and data): ${fmt(t.dims)} -> ${fmt(dims)}`;
    }
    const n = t.raw.length;
    const len = pick(random, [n - w, n + w, Math.floor(n / 2), n - 1, n + 1, 0, n * 2]);
    const raw = len <= n ? t.raw.subarray(0, Math.max(0, len)) : (() => {
      const b = BYTES_ZERO(len);
      b.set(t.raw);
      return b;
    })();
    replaceTensor(spec, t, { ...t, raw });
    return `${where} raw_data ${n} -> ${raw.length} bytes (dims ${fmt(t.dims)} kept)`;
  },
  /** One attribute's value or kind, or an attribute removed or added. */
  attribute(spec, random) {
    const nodes = spec.graph.nodes;
    if (!nodes.length) return undefined;
    const withInteresting = nodes.filter((n) => n.attrs.some((a) => INTERESTING_ATTRS.includes(a.name)));
    const withAny = nodes.filter((n) => n.attrs.length);
    const r0 = random();
    const node = r0 < 0.75 && withInteresting.length ? pick(random, withInteresting) : r0 < 0.9 && withAny.length ? pick(random, withAny) : pick(random, nodes);
    const r = random();
    if (r < 0.08 || !node.attrs.length) {
      const name = pick(random, INTERESTING_ATTRS);
      const a: AttrSpec = random() < 0.5 ? { name, type: 'int', value: mutateInt(random, 1) } : { name, type: 'ints', value: [mutateInt(random, 1), mutateInt(random, 1)] };
      node.attrs = [...node.attrs.filter((x) => x.name !== name), a];
      return `${nodeName(node)}: added attribute ${name}=${describeAttr(a)}`;
    }
    const interesting = node.attrs.filter((a) => INTERESTING_ATTRS.includes(a.name));
    const a = interesting.length && random() < 0.85 ? pick(random, interesting) : pick(random, node.attrs);
    const before = `${a.name}=${describeAttr(a)}`;
    let next: AttrSpec | undefined;
    let how = '';
    if (r < 0.14) {
      node.attrs = node.attrs.filter((x) => x !== a);
      return `${nodeName(node)}: removed attribute ${before}`;
    }
    if (r < 0.24) {
      // Another kind of value for the same name.
      const v = a.type === 'int' || a.type === 'float' ? a.value : a.type === 'ints' || a.type === 'floats' ? a.value[0] ?? 1 : 1;
      next = pick<AttrSpec>(random, [
        { name: a.name, type: 'int', value: Math.trunc(v) },
        { name: a.name, type: 'ints', value: [Math.trunc(v)] },
        { name: a.name, type: 'float', value: v + 0.5 },
        { name: a.name, type: 'string', value: String(v) },
        { name: a.name, type: 'other', code: pick(random, [0, 11, 13, 99]) },
      ]);
      how = 'kind changed';
    } else {
      switch (a.type) {
        case 'int':
          next = { ...a, value: mutateInt(random, a.value) };
          break;
        case 'float':
          next = { ...a, value: mutateFloat(random, a.value) };
          break;
        case 'ints': {
          const [value, h] = mutateList(random, a.value, mutateInt);
          next = { ...a, value };
          how = h;
          break;
        }
        case 'floats': {
          const [value, h] = mutateList(random, a.value, mutateFloat);
          next = { ...a, value };
          how = h;
          break;
        }
        case 'string':
          next = { ...a, value: pick(random, STRINGS) };
          break;
        case 'strings':
          next = { ...a, value: [...a.value, pick(random, STRINGS)] };
          break;
        case 'tensor': {
          const t = a.value;
          const change = reshapeDims(random, t.dims) ?? mutateDims(random, t.dims);
          next = { ...a, value: { ...t, dims: change[0] } };
          how = `tensor dims ${fmt(t.dims)} -> ${fmt(change[0])}`;
          break;
        }
        default:
          next = { name: a.name, type: 'int', value: 1 };
          how = 'replaced by an int';
      }
    }
    node.attrs = node.attrs.map((x) => (x === a ? next! : x));
    return `${nodeName(node)}: ${before} -> ${describeAttr(next)}${how ? ` (${how})` : ''}`;
  },
  /** A node's op type: another supported op, another op of the same model, or an unknown / foreign one. */
  opType(spec, random, ctx) {
    const nodes = spec.graph.nodes;
    if (!nodes.length) return undefined;
    const node = pick(random, nodes);
    const before = nodeName(node);
    const r = random();
    const others = (list: readonly string[]) => list.filter((op) => op !== node.opType);
    if (r < 0.6) node.opType = pick(random, others(ctx.supportedOps));
    else if (r < 0.85 && others([...new Set(nodes.map((n) => n.opType))]).length) node.opType = pick(random, others([...new Set(nodes.map((n) => n.opType))]));
    else if (r < 0.93) node.opType = pick(random, ['', 'conv', 'NoSuchOp', 'Conv2D', 'LSTM', 'If', 'Loop', 'Scan']);
    else {
      node.domain = pick(random, ['com.microsoft', 'ai.onnx.ml', 'ai.onnx']);
      return `${before}: domain -> '${node.domain}'`;
    }
    return `${before}: op type -> '${node.opType}'`;
  },
  /** A node removed: its outputs are produced by nothing. */
  dropNode(spec, random) {
    const nodes = spec.graph.nodes;
    if (!nodes.length) return undefined;
    const i = Math.floor(random() * nodes.length);
    const [node] = nodes.splice(i, 1);
    return `dropped node #${i} ${nodeName(node)}`;
  },
  /** A node input renamed so it dangles, omitted (''), or rewired to another tensor of the graph; or an output renamed. */
  dangle(spec, random) {
    const g = spec.graph;
    const nodes = g.nodes.filter((n) => n.inputs.length);
    if (!nodes.length) return undefined;
    const node = pick(random, nodes);
    const k = Math.floor(random() * node.inputs.length);
    const before = node.inputs[k];
    const r = random();
    if (r < 0.35) node.inputs[k] = `${before}_dangling`;
    else if (r < 0.5) node.inputs[k] = '';
    else if (r < 0.85) {
      const names = [...g.inputs.map((v) => v.name), ...g.initializers.map((t) => t.name), ...g.nodes.flatMap((n) => n.outputs)].filter(Boolean);
      node.inputs[k] = pick(random, names);
    } else {
      const o = Math.floor(random() * node.outputs.length);
      const old = node.outputs[o];
      node.outputs[o] = random() < 0.5 ? `${old}_renamed` : pick(random, [...g.nodes.flatMap((n) => n.outputs), ...g.inputs.map((v) => v.name)]);
      return `${nodeName(node)}: output ${o} '${old}' -> '${node.outputs[o]}'`;
    }
    return `${nodeName(node)}: input ${k} '${before}' -> '${node.inputs[k]}'`;
  },
  /** A tensor's element type (raw bytes kept: the same width decodes with other values), or a graph input's. */
  retype(spec, random) {
    if (random() < 0.3) {
      const g = spec.graph;
      const v = pick(random, [...g.inputs, ...g.outputs]);
      if (!v) return undefined;
      const old = v.elemType;
      v.elemType = pick(random, [0, 6, 7, 8, 9, 10, 11, 16, 99]);
      return `value '${v.name}' elem_type ${old} -> ${v.elemType}`;
    }
    const all = tensors(spec);
    if (!all.length) return undefined;
    const { t, where } = pick(random, all);
    const sameWidth = Object.entries(CODE_WIDTH).filter(([c, w]) => w === width(t.code) && Number(c) !== t.code).map(([c]) => Number(c));
    const code = random() < 0.6 && sameWidth.length ? pick(random, sameWidth) : pick(random, [0, 1, 6, 7, 8, 10, 11, 13, 16, 99]);
    replaceTensor(spec, t, { ...t, code });
    return `${where} data_type ${t.code} -> ${code}`;
  },
  /** The default opset version, or the opset imports removed. */
  opset(spec, random) {
    const imports = spec.opsetImports;
    const i = imports.findIndex((o) => o.domain === '' || o.domain === 'ai.onnx');
    if (random() < 0.1) {
      spec.opsetImports = [];
      return 'removed every opset import';
    }
    const version = pick(random, [0, 1, 6, 7, 9, 10, 11, 12, 13, 17, 18, 21, 99, -1]);
    const before = i >= 0 ? imports[i].version : undefined;
    if (i >= 0) imports[i] = { ...imports[i], version };
    else imports.push({ domain: '', version });
    return `default opset ${before ?? 'none'} -> ${version}`;
  },
  /** One value of a small constant (Reshape targets, Slice bounds, Resize scales, Clip bounds, Pad pads...). */
  intValues(spec, random) {
    const small = tensors(spec).filter(({ t }) => numel(t.dims) <= 64 && numel(t.dims) > 0 && t.raw.length === numel(t.dims) * width(t.code));
    if (!small.length) return undefined;
    const ints = small.filter(({ t }) => t.code === 7 || t.code === 6);
    const { t, where } = ints.length && random() < 0.75 ? pick(random, ints) : pick(random, small);
    const raw = Uint8Array.from(t.raw);
    const view = new DataView(raw.buffer);
    const n = numel(t.dims);
    const i = Math.floor(random() * n);
    let before: number | bigint;
    let after: number | bigint;
    if (t.code === 7) {
      before = view.getBigInt64(i * 8, true);
      const v = Number(before);
      after = BigInt(Math.trunc(pick(random, [0, -1, 1, v + 1, v - 1, -v, 2 ** 31, 2 ** 62, -(2 ** 62), int(random, -8, 64)])));
      if (random() < 0.1) after = -(2n ** 63n);
      view.setBigInt64(i * 8, BigInt.asIntN(64, after), true);
    } else if (t.code === 6) {
      before = view.getInt32(i * 4, true);
      after = pick(random, [0, -1, 1, before + 1, before - 1, -before, 2 ** 31 - 1, -(2 ** 31), int(random, -8, 64)]) | 0;
      view.setInt32(i * 4, after, true);
    } else if (t.code === 1) {
      before = view.getFloat32(i * 4, true);
      after = mutateFloat(random, before);
      view.setFloat32(i * 4, after, true);
    } else if (t.code === 11) {
      before = view.getFloat64(i * 8, true);
      after = mutateFloat(random, before);
      view.setFloat64(i * 8, after, true);
    } else {
      const w = width(t.code);
      before = raw[i * w];
      after = raw[i * w] ^ 0xff;
      raw[i * w] = after;
    }
    replaceTensor(spec, t, { ...t, raw });
    return `${where} ${fmt(t.dims)} value ${i}: ${before} -> ${after}`;
  },
};

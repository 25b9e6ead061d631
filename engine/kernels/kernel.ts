// A kernel is plain data: a name, WGSL source from shaders/, and an entry point.
// Everything the runtime needs to bind it (buffer names, access modes, the
// uniform struct layout, override constants) is reflected from the WGSL with
// wgsl_reflect, so a shader and its TypeScript caller cannot drift apart: the
// caller binds buffers and uniforms by the names the WGSL declares.

import { WgslReflect } from 'wgsl_reflect/wgsl_reflect.module.js';
import { KernelCompileError } from '../errors.js';

export type BindingKind = 'storage-read' | 'storage-write' | 'uniform';

export interface UniformField {
  name: string;
  offset: number;
  /** Scalar type of the field's components. */
  scalar: 'u32' | 'i32' | 'f32';
  /** Number of 4-byte components (a vec4 is 4, array<vec4<u32>, 2> is 8). */
  components: number;
}

export interface KernelBinding {
  name: string;
  binding: number;
  kind: BindingKind;
  /** For the uniform binding: its struct fields and byte size. */
  fields?: UniformField[];
  size?: number;
}

export interface KernelSpec {
  /** Direction-naming kernel name, e.g. 'conv2d_grad_weight'. */
  name: string;
  wgsl: string;
  entryPoint?: string;
}

export interface Kernel {
  readonly name: string;
  readonly wgsl: string;
  readonly entryPoint: string;
  readonly bindings: readonly KernelBinding[];
  readonly overrides: readonly string[];
  /** Unique per distinct source: part of every pipeline cache key. */
  readonly id: number;
}

/**
 * Tensor storage in WGSL is `array<Elem>` (or `array<vec4<Elem>>`); kernels
 * load with f32(...) and store with Elem(...), and compute in f32. The runtime
 * puts one of these lines before every source: f32 storage, or the opt-in f16
 * storage (runtime().precision). One line each, so compile errors keep the
 * file's line numbers plus one.
 */
export const STORAGE_PRELUDE = {
  f32: 'alias Elem = f32;\n',
  f16: 'enable f16; alias Elem = f16;\n',
} as const;

const bySource = new Map<string, Kernel>();
/** The reflection of each WGSL source text parsed so far. */
const reflected = new Map<string, WgslReflect>();
let nextId = 0;

/**
 * Fills `{{SLOT}}` placeholders of a WGSL template (how table-driven ops such as
 * the elementwise family get one kernel per row). Unfilled slots are an error.
 */
export function specialize(name: string, template: string, slots: Record<string, string>): string {
  const out = template.replace(/\{\{(\w+)\}\}/g, (_, slot: string) => {
    const value = slots[slot];
    if (value === undefined) throw new KernelCompileError(name, undefined, `template slot {{${slot}}} was not filled`);
    return value;
  });
  return out;
}

/** Parses and reflects a WGSL kernel; identical sources share one Kernel. */
export function defineKernel(spec: KernelSpec): Kernel {
  const cacheKey = `${spec.name}\u0000${spec.entryPoint ?? 'main'}\u0000${spec.wgsl}`;
  const cached = bySource.get(cacheKey);
  if (cached) return cached;
  // One parse per source: a file's entry points (conv2d's four, gemm's two) share it.
  let reflect = reflected.get(spec.wgsl);
  if (!reflect) {
    try {
      reflect = new WgslReflect(STORAGE_PRELUDE.f32 + spec.wgsl);
    } catch (e) {
      const msg = (e as Error).message;
      const line = /Line: (\d+)/.exec(msg)?.[1];
      throw new KernelCompileError(spec.name, line ? Number(line) - 1 : undefined, msg);
    }
    reflected.set(spec.wgsl, reflect);
  }
  const entryPoint = spec.entryPoint ?? 'main';
  const entry = reflect.entry.compute.find((e) => e.name === entryPoint);
  if (!entry) throw new KernelCompileError(spec.name, undefined, `no @compute entry point named '${entryPoint}'`);
  // Only the resources this entry point uses: one WGSL file may hold several entry points.
  const bindings: KernelBinding[] = [];
  for (const v of entry.resources) {
    if (v.group !== 0) throw new KernelCompileError(spec.name, undefined, `binding '${v.name}' must be in @group(0)`);
    const isUniform = reflect.uniforms.some((u) => u.name === v.name);
    if (isUniform) {
      bindings.push({ name: v.name, binding: v.binding, kind: 'uniform', fields: uniformFields(spec.name, v.type as unknown as ReflectedType), size: v.size });
    } else {
      bindings.push({ name: v.name, binding: v.binding, kind: v.access === 'read' ? 'storage-read' : 'storage-write' });
    }
  }
  bindings.sort((a, b) => a.binding - b.binding);
  const kernel: Kernel = {
    name: spec.name,
    wgsl: spec.wgsl,
    entryPoint,
    bindings,
    overrides: reflect.overrides.map((o) => o.name),
    id: nextId++,
  };
  bySource.set(cacheKey, kernel);
  return kernel;
}

// Minimal view of wgsl_reflect's TypeInfo that the packer needs.
interface ReflectedType {
  name: string;
  size: number;
  members?: { name: string; offset: number; size: number; type: ReflectedType }[];
  format?: ReflectedType;
  count?: number;
}

function uniformFields(kernel: string, type: ReflectedType): UniformField[] {
  if (!type.members) throw new KernelCompileError(kernel, undefined, 'the uniform binding must be a struct');
  return type.members.map((m) => {
    const scalar = scalarOf(m.type);
    if (!scalar) throw new KernelCompileError(kernel, undefined, `uniform field '${m.name}' has unsupported type ${m.type.name}`);
    return { name: m.name, offset: m.offset, scalar, components: m.size / 4 };
  });
}

function scalarOf(t: ReflectedType): UniformField['scalar'] | null {
  if (t.name === 'u32' || t.name === 'i32' || t.name === 'f32') return t.name;
  if (t.format) return scalarOf(t.format);
  // wgsl_reflect names vec4<u32> 'vec4u' style aliases too
  const m = /^vec[234]([uif])$/.exec(t.name);
  if (m) return m[1] === 'u' ? 'u32' : m[1] === 'i' ? 'i32' : 'f32';
  return null;
}

/**
 * Writes uniform values into `view` at `base` following the reflected layout.
 * Missing or surplus values are errors naming the kernel and field.
 */
export function packUniforms(
  kernel: Kernel,
  binding: KernelBinding,
  values: Record<string, number | readonly number[]>,
  view: DataView,
  base: number,
): void {
  const fields = binding.fields!;
  for (const name of Object.keys(values)) {
    if (!fields.some((f) => f.name === name)) {
      throw new KernelCompileError(kernel.name, undefined, `no uniform field '${name}' (fields: ${fields.map((f) => f.name).join(', ')})`);
    }
  }
  for (const f of fields) {
    const v = values[f.name];
    if (v === undefined) throw new KernelCompileError(kernel.name, undefined, `uniform field '${f.name}' was not given a value`);
    const arr = typeof v === 'number' ? [v] : v;
    if (arr.length > f.components) {
      throw new KernelCompileError(kernel.name, undefined, `uniform field '${f.name}' holds ${f.components} values, got ${arr.length}`);
    }
    for (let i = 0; i < arr.length; i++) {
      const at = base + f.offset + 4 * i;
      if (f.scalar === 'f32') view.setFloat32(at, arr[i], true);
      else if (f.scalar === 'i32') view.setInt32(at, arr[i], true);
      else view.setUint32(at, arr[i], true);
    }
  }
}

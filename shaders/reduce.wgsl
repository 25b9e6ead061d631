// Reductions (sum, max, min) over one contiguous run of axes.
//
// The caller views the input as [outer, R, inner] (R = product of the reduced
// axes) and the output as [outer, inner]; several runs of axes are reduced one
// after another. Two strategies:
//  - reduce_wide: one workgroup per output element, WG threads stride over R
//    and combine partial results with a tree in workgroup memory (long R).
//  - reduce_narrow: one thread per output element looping over R (short R,
//    many outputs). Neighbouring threads read neighbouring `inner` elements.
// Workgroup ids are linearized over a 2D grid for more than 65535 groups.
// `scale` multiplies the result (1/R turns a sum into a mean).
// NaN propagates: a sum with a NaN is NaN, and max / min return NaN when any
// input is NaN (WGSL's max / min may drop it, so combine tests for it).

struct Params {
  outer: u32,
  reduce: u32,
  inner: u32,
  scale: f32,
}

// 0 = sum, 1 = max, 2 = min
override OP: u32 = 0u;
override WG: u32 = 256u;

@group(0) @binding(0) var<storage, read> x: array<Elem>;
@group(0) @binding(1) var<storage, read_write> y: array<Elem>;
@group(0) @binding(2) var<uniform> p: Params;

var<workgroup> partial: array<f32, WG>;

// is_nan: from shaders/nan.wgsl.
{{NAN}}

// An infinity from its bit pattern. A constant infinity is a WGSL
// shader-creation error, so the bits pass through a run-time select.
fn infinity(bits: u32) -> f32 {
  return bitcast<f32>(select(bits, 0u, p.reduce == 0xffffffffu));
}

fn identity() -> f32 {
  switch OP {
    case 1u: { return infinity(0xff800000u); } // -inf: the max of -inf inputs is -inf
    case 2u: { return infinity(0x7f800000u); } // +inf
    default: { return 0.0; }
  }
}

// a + b is NaN when a or b is: the NaN-propagating result of max / min.
fn combine(a: f32, b: f32) -> f32 {
  switch OP {
    case 1u: { return select(max(a, b), a + b, is_nan(a) || is_nan(b)); }
    case 2u: { return select(min(a, b), a + b, is_nan(a) || is_nan(b)); }
    default: { return a + b; }
  }
}

@compute @workgroup_size(WG)
fn reduce_wide(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let o = wid.x + wid.y * nwg.x;
  let in_bounds = o < p.outer * p.inner;
  let outer = o / max(p.inner, 1u);
  let inner = o % max(p.inner, 1u);
  var acc = identity();
  if (in_bounds) {
    let base = outer * p.reduce * p.inner + inner;
    for (var r = lid; r < p.reduce; r += WG) {
      acc = combine(acc, f32(x[base + r * p.inner]));
    }
  }
  partial[lid] = acc;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride = stride / 2u) {
    if (lid < stride) {
      partial[lid] = combine(partial[lid], partial[lid + stride]);
    }
    workgroupBarrier();
  }
  if (lid == 0u && in_bounds) {
    y[o] = Elem(partial[0] * p.scale);
  }
}

@compute @workgroup_size(WG)
fn reduce_narrow(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let o = gid.x + gid.y * nwg.x * WG;
  if (o >= p.outer * p.inner) { return; }
  let outer = o / p.inner;
  let inner = o % p.inner;
  let base = outer * p.reduce * p.inner + inner;
  var acc = identity();
  for (var r = 0u; r < p.reduce; r++) {
    acc = combine(acc, f32(x[base + r * p.inner]));
  }
  y[o] = Elem(acc * p.scale);
}

// Softmax and log-softmax along one axis, and their gradients (LOG = 1 selects log-softmax).
//
// Layout: the contiguous f32 input is viewed as [outer, len, inner], len being
// the softmax axis. Row r = o * inner + i holds the len elements at
// (o * len + j) * inner + i. y has x's shape; gy and gx too.
//
// Numerically stable: m = max_j x_j first, then s = sum_j exp(x_j - m), and
//   softmax      y_j = exp(x_j - m) / s
//   log-softmax  y_j = x_j - m - log(s)
// so no exp overflows. Gradients, from the saved output y:
//   softmax      dx = y * (dy - sum_j dy_j * y_j)
//   log-softmax  dx = dy - exp(y) * sum_j dy_j
// Non-finite inputs: a row holding a NaN or a +inf is NaN throughout (exp(NaN)
// or exp(inf - inf) enters s, whatever max() does with NaN), as in onnxruntime;
// a -inf entry gets 0 (log-softmax: -inf) and leaves the rest finite.
//
// Two strategies, as in reduce.wgsl:
//  - *_wide: one workgroup per row; WG threads stride over the row and combine
//    the max and the sums with trees in workgroup memory (long rows). The
//    workgroup id is linearized over a 2D grid; workgroups past the last row do
//    no loads or stores but still reach every barrier.
//  - *_narrow: one thread per row looping over it (short rows, many of them);
//    the thread id is linearized over a 2D grid, threads past the last row return.

struct Params {
  rows: u32,
  len: u32,
  inner: u32,
}

override WG: u32 = 256u;
override LOG: u32 = 0u;

@group(0) @binding(0) var<storage, read> x: array<Elem>;
// Written by the forward kernels, read by the gradient kernels.
@group(0) @binding(1) var<storage, read_write> y: array<Elem>;
@group(0) @binding(2) var<storage, read> gy: array<Elem>;
@group(0) @binding(3) var<storage, read_write> gx: array<Elem>;
@group(0) @binding(4) var<uniform> p: Params;

const LOWEST = -3.4028234e38f;

fn row_start(r: u32) -> u32 {
  return (r / p.inner) * p.len * p.inner + r % p.inner;
}

// workgroup_max, workgroup_sum: from shaders/workgroup-reduce.wgsl.
{{WORKGROUP_REDUCE}}

// y_j from x_j, the row max m and the row sum s of exp(x - m).
fn output(v: f32, m: f32, s: f32) -> f32 {
  if (LOG == 1u) { return v - m - log(s); }
  return exp(v - m) / s;
}

// The term summed over the row by the gradient: dy * y (softmax) or dy (log-softmax).
fn grad_term(g: f32, v: f32) -> f32 {
  if (LOG == 1u) { return g; }
  return g * v;
}

// dx_j from dy_j, y_j and the row sum of grad_term.
fn grad_value(g: f32, v: f32, s: f32) -> f32 {
  if (LOG == 1u) { return g - exp(v) * s; }
  return v * (g - s);
}

@compute @workgroup_size(WG)
fn softmax_wide(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let r = wid.x + wid.y * nwg.x;
  let len = select(0u, p.len, r < p.rows);
  let base = row_start(r);
  var m = LOWEST;
  for (var j = lid; j < len; j += WG) { m = max(m, f32(x[base + j * p.inner])); }
  m = workgroup_max(m, lid);
  var s = 0.0;
  for (var j = lid; j < len; j += WG) { s += exp(f32(x[base + j * p.inner]) - m); }
  s = workgroup_sum(s, lid);
  for (var j = lid; j < len; j += WG) {
    let at = base + j * p.inner;
    y[at] = Elem(output(f32(x[at]), m, s));
  }
}

@compute @workgroup_size(WG)
fn softmax_narrow(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let r = gid.x + gid.y * nwg.x * WG;
  if (r >= p.rows) { return; }
  let base = row_start(r);
  var m = LOWEST;
  for (var j = 0u; j < p.len; j++) { m = max(m, f32(x[base + j * p.inner])); }
  var s = 0.0;
  for (var j = 0u; j < p.len; j++) { s += exp(f32(x[base + j * p.inner]) - m); }
  for (var j = 0u; j < p.len; j++) {
    let at = base + j * p.inner;
    y[at] = Elem(output(f32(x[at]), m, s));
  }
}

// softmax: dx = y * (dy - sum(dy * y)); log-softmax: dx = dy - exp(y) * sum(dy)
@compute @workgroup_size(WG)
fn softmax_grad_wide(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let r = wid.x + wid.y * nwg.x;
  let len = select(0u, p.len, r < p.rows);
  let base = row_start(r);
  var s = 0.0;
  for (var j = lid; j < len; j += WG) {
    let at = base + j * p.inner;
    s += grad_term(f32(gy[at]), f32(y[at]));
  }
  s = workgroup_sum(s, lid);
  for (var j = lid; j < len; j += WG) {
    let at = base + j * p.inner;
    gx[at] = Elem(grad_value(f32(gy[at]), f32(y[at]), s));
  }
}

@compute @workgroup_size(WG)
fn softmax_grad_narrow(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let r = gid.x + gid.y * nwg.x * WG;
  if (r >= p.rows) { return; }
  let base = row_start(r);
  var s = 0.0;
  for (var j = 0u; j < p.len; j++) {
    let at = base + j * p.inner;
    s += grad_term(f32(gy[at]), f32(y[at]));
  }
  for (var j = 0u; j < p.len; j++) {
    let at = base + j * p.inner;
    gx[at] = Elem(grad_value(f32(gy[at]), f32(y[at]), s));
  }
}

// Elementwise kernels: unary, binary with NumPy broadcasting, their gradients,
// and fill. The ops themselves are rows of a table in engine/ops/elementwise.ts;
// each row's WGSL expression is pasted into the {{...}} slots below as
// `r = <expression>;`, which gives one specialized kernel per op. On a software
// adapter, where every pipeline costs seconds of shader compilation at its first
// dispatch, a slot holds instead a switch over every row, selected by the row's
// code in p.op: one pipeline per entry point serves every op.
//
// Layout: every tensor is a contiguous f32 array. One thread per output element;
// the 1D index is split over a 2D grid when there are more than 65535
// workgroups (i = gid.x + gid.y * num_workgroups.x * WG). Threads past `n`
// return early. Broadcasting reads a and b through per-dimension strides that
// are 0 along broadcast dimensions (rank <= 8, packed as two vec4s).

struct Params {
  n: u32,
  rank: u32,
  // Op parameters (LeakyRelu alpha, Clip min/max, fill value...).
  alpha: f32,
  beta: f32,
  // The row's code when the slots hold every row (see the header); unused otherwise.
  op: u32,
  out_shape: array<vec4<u32>, 2>,
  a_strides: array<vec4<u32>, 2>,
  b_strides: array<vec4<u32>, 2>,
}

override WG: u32 = 256;

@group(0) @binding(0) var<storage, read> a_buf: array<Elem>;
@group(0) @binding(1) var<storage, read> b_buf: array<Elem>;
@group(0) @binding(2) var<storage, read> y_buf: array<Elem>;
@group(0) @binding(3) var<storage, read> gy_buf: array<Elem>;
@group(0) @binding(4) var<storage, read_write> out_buf: array<Elem>;
@group(0) @binding(5) var<uniform> p: Params;

fn linear_index(gid: vec3<u32>, nwg: vec3<u32>) -> u32 {
  return gid.x + gid.y * nwg.x * WG;
}

// Offsets of output element i in a and b under broadcasting.
fn broadcast_offsets(i: u32) -> vec2<u32> {
  var rest = i;
  var oa = 0u;
  var ob = 0u;
  for (var d = i32(p.rank) - 1; d >= 0; d--) {
    let k = u32(d);
    let size = p.out_shape[k / 4u][k % 4u];
    let c = rest % size;
    rest = rest / size;
    oa += c * p.a_strides[k / 4u][k % 4u];
    ob += c * p.b_strides[k / 4u][k % 4u];
  }
  return vec2<u32>(oa, ob);
}

fn unary_op(x: f32) -> f32 {
  let alpha = p.alpha;
  let beta = p.beta;
  var r = 0.0;
  {{UNARY}}
  return r;
}

// d y / d x, given x and y = f(x).
fn unary_derivative(x: f32, y: f32) -> f32 {
  let alpha = p.alpha;
  let beta = p.beta;
  var r = 0.0;
  {{DERIVATIVE}}
  return r;
}

fn binary_op(a: f32, b: f32) -> f32 {
  var r = 0.0;
  {{BINARY}}
  return r;
}

// Partial derivatives (d y/d a, d y/d b) given a, b and y.
fn binary_partial_a(a: f32, b: f32, y: f32) -> f32 {
  var r = 0.0;
  {{PARTIAL_A}}
  return r;
}
fn binary_partial_b(a: f32, b: f32, y: f32) -> f32 {
  var r = 0.0;
  {{PARTIAL_B}}
  return r;
}

@compute @workgroup_size(WG)
fn unary(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = linear_index(gid, nwg);
  if (i >= p.n) { return; }
  out_buf[i] = Elem(unary_op(f32(a_buf[i])));
}

// gx = gy * f'(x)
@compute @workgroup_size(WG)
fn unary_grad(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = linear_index(gid, nwg);
  if (i >= p.n) { return; }
  out_buf[i] = Elem(f32(gy_buf[i]) * unary_derivative(f32(a_buf[i]), f32(y_buf[i])));
}

@compute @workgroup_size(WG)
fn binary(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = linear_index(gid, nwg);
  if (i >= p.n) { return; }
  let o = broadcast_offsets(i);
  out_buf[i] = Elem(binary_op(f32(a_buf[o.x]), f32(b_buf[o.y])));
}

// Gradients at the broadcast output shape; the tape sums them down to each input's shape.
@compute @workgroup_size(WG)
fn binary_grad_a(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = linear_index(gid, nwg);
  if (i >= p.n) { return; }
  let o = broadcast_offsets(i);
  out_buf[i] = Elem(f32(gy_buf[i]) * binary_partial_a(f32(a_buf[o.x]), f32(b_buf[o.y]), f32(y_buf[i])));
}

@compute @workgroup_size(WG)
fn binary_grad_b(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = linear_index(gid, nwg);
  if (i >= p.n) { return; }
  let o = broadcast_offsets(i);
  out_buf[i] = Elem(f32(gy_buf[i]) * binary_partial_b(f32(a_buf[o.x]), f32(b_buf[o.y]), f32(y_buf[i])));
}

@compute @workgroup_size(WG)
fn fill(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = linear_index(gid, nwg);
  if (i >= p.n) { return; }
  out_buf[i] = Elem(p.alpha);
}

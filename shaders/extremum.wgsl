// Gradients of the max and min reductions (their forward is reduce.wgsl, OP = 1/2).
//
// Tie rule: the gradient of an output is split evenly among the input
// positions equal to it (the subgradient PyTorch's amax/amin use):
//   dx[i] = dy[o(i)] / count[o(i)]  where x[i] == y[o(i)], else 0,
// with count[o] = the number of positions equal to y[o]. Two passes:
// extremum_mask writes 1 where x equals its reduced value (the host sums the
// mask with reduce.wgsl into `count`), then extremum_grad routes dy.
//
// Layout: x, mask and gx are contiguous f32 with `shape` (rank <= 8, two
// vec4s). y, gy and count have the reduced axes kept as size 1; they are read
// through `y_strides`, the strides of that kept shape with 0 on the reduced
// axes, so o(i) = sum_d coord_d(i) * y_strides[d]. Equality is exact: the
// forward max/min returns one of the input values unchanged. A NaN extremum
// (the forward propagates NaN) matches the NaN inputs: they share its gradient.
//
// Tiling: none; one thread per element of x, 1D index split over a 2D grid
// past 65535 workgroups, threads past `n` return.

struct Params {
  n: u32,
  rank: u32,
  shape: array<vec4<u32>, 2>,
  y_strides: array<vec4<u32>, 2>,
}

override WG: u32 = 256u;

@group(0) @binding(0) var<storage, read> x: array<Elem>;
@group(0) @binding(1) var<storage, read> y: array<Elem>;
@group(0) @binding(2) var<storage, read> gy: array<Elem>;
@group(0) @binding(3) var<storage, read> count: array<Elem>;
@group(0) @binding(4) var<storage, read_write> mask: array<Elem>;
@group(0) @binding(5) var<storage, read_write> gx: array<Elem>;
@group(0) @binding(6) var<uniform> p: Params;

fn thread_index(gid: vec3<u32>, nwg: vec3<u32>) -> u32 {
  return gid.x + gid.y * nwg.x * WG;
}

// is_nan: from shaders/nan.wgsl.
{{NAN}}

// Whether input v is the extremum e (NaN == NaN here).
fn matches(v: f32, e: f32) -> bool {
  return v == e || (is_nan(v) && is_nan(e));
}

// Offset of x's element i in the reduced (kept-dims) tensors.
fn reduced_offset(i: u32) -> u32 {
  var rest = i;
  var o = 0u;
  for (var d = i32(p.rank) - 1; d >= 0; d--) {
    let k = u32(d);
    let size = p.shape[k / 4u][k % 4u];
    o += (rest % size) * p.y_strides[k / 4u][k % 4u];
    rest = rest / size;
  }
  return o;
}

@compute @workgroup_size(WG)
fn extremum_mask(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = thread_index(gid, nwg);
  if (i >= p.n) { return; }
  mask[i] = Elem(select(0.0, 1.0, matches(f32(x[i]), f32(y[reduced_offset(i)]))));
}

// dx[i] = dy[o] / count[o] where x[i] matches y[o], else 0
@compute @workgroup_size(WG)
fn extremum_grad(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = thread_index(gid, nwg);
  if (i >= p.n) { return; }
  let o = reduced_offset(i);
  gx[i] = Elem(select(0.0, f32(gy[o]) / f32(count[o]), matches(f32(x[i]), f32(y[o]))));
}

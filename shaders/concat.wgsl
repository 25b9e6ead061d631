// Concatenation: copies one input into its slab of the output.
//
// Layout: contiguous f32, viewed as three dimensions around the concat axis:
// the input x as [outer, src_axis, inner] and the output y as
// [outer, dst_axis, inner]; x lands at axis offset `dst_offset`, i.e.
// y[o, dst_offset + a, i] = x[o, a, i]. Concat launches this once per input
// (split's backward is the same concat of the output gradients). The slabs are
// disjoint and every thread writes one element of its own slab, so there are
// no races between threads or launches.
//
// One thread per input element; the 1D index is split over a 2D grid past
// 65535 workgroups and threads past `n` return early.

struct Params {
  n: u32,
  inner: u32,
  src_axis: u32,
  dst_axis: u32,
  dst_offset: u32,
}

override WG: u32 = 256u;

@group(0) @binding(0) var<storage, read> x: array<Elem>;
@group(0) @binding(1) var<storage, read_write> y: array<Elem>;
@group(0) @binding(2) var<uniform> p: Params;

@compute @workgroup_size(WG)
fn concat_slab(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= p.n) { return; }
  let inner = i % p.inner;
  let rest = i / p.inner;
  let a = rest % p.src_axis;
  let outer = rest / p.src_axis;
  y[(outer * p.dst_axis + p.dst_offset + a) * p.inner + inner] = x[i];
}

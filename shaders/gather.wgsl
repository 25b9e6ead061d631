// Index lists along one axis: y[o, j, i] = sum over k in list j of x[o, taps[k], i].
//
// Layout: contiguous f32 viewed as three dimensions around the axis: x is
// [outer, src_axis, inner], y is [outer, dst_axis, inner]. List j is
// taps[starts[j] .. starts[j + 1]) (CSR form; `starts` has dst_axis + 1
// entries, both tables are u32 and built on the CPU from constant indices).
// The same kernel serves three ops:
//  - gather forward: list k is the one index idx[k];
//  - gather backward: list j holds every k with idx[k] == j (duplicates sum);
//  - pad backward (reflect, edge, wrap), one axis at a time: list c holds
//    every output coordinate that copied input coordinate c.
// Backward passes are thus gathers too: each output element is written by one
// thread, which sums its list in a fixed order (no atomics, deterministic).
// An empty list gives 0.
//
// One thread per output element; the 1D index is split over a 2D grid past
// 65535 workgroups and threads past `n` return early.

struct Params {
  n: u32,
  inner: u32,
  src_axis: u32,
  dst_axis: u32,
}

override WG: u32 = 256u;

@group(0) @binding(0) var<storage, read> x: array<Elem>;
@group(0) @binding(1) var<storage, read> starts: array<u32>;
@group(0) @binding(2) var<storage, read> taps: array<u32>;
@group(0) @binding(3) var<storage, read_write> y: array<Elem>;
@group(0) @binding(4) var<uniform> p: Params;

@compute @workgroup_size(WG)
fn index_sum(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= p.n) { return; }
  let inner = i % p.inner;
  let rest = i / p.inner;
  let j = rest % p.dst_axis;
  let base = (rest / p.dst_axis) * p.src_axis * p.inner + inner;
  var acc = 0.0;
  for (var k = starts[j]; k < starts[j + 1u]; k++) {
    acc += f32(x[base + taps[k] * p.inner]);
  }
  y[i] = Elem(acc);
}

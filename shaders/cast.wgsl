// Precision casts between f32 and the storage element Elem, which is f16 in
// the f16 mode (engine/kernels/kernel.ts STORAGE_PRELUDE). to_f32 is compiled
// with Elem = the source's storage, from_f32 with Elem = the target's, so one
// file serves both directions. f32 -> f16 rounds to nearest; a finite value
// past 65504 becomes infinity (as the host's toHalf refuses it, the engine's
// finiteness checks report it).
//
// Layout: contiguous arrays of p.n elements. One thread per element; the 1D
// index is split over a 2D grid past 65535 workgroups.

struct Params {
  n: u32,
}

override WG: u32 = 256u;

@group(0) @binding(0) var<storage, read> x: array<Elem>;
@group(0) @binding(1) var<storage, read_write> y32: array<f32>;
@group(0) @binding(2) var<storage, read> x32: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<Elem>;
@group(0) @binding(4) var<uniform> p: Params;

@compute @workgroup_size(WG)
fn to_f32(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= p.n) { return; }
  y32[i] = f32(x[i]);
}

@compute @workgroup_size(WG)
fn from_f32(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= p.n) { return; }
  y[i] = Elem(x32[i]);
}

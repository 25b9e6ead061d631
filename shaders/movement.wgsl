// Data movement: one strided-gather kernel serves transpose, broadcast
// (expand), slice and any other permutation of a contiguous tensor.
//
// out[i] = x[offset + sum_d coord_d(i) * src_strides[d]], where coord_d(i) are
// the coordinates of output element i in `out_shape` (row-major). Transpose
// permutes the source strides, broadcast sets them to 0, a slice adds an
// offset and multiplies strides by its step. Rank <= 8 (two vec4s). One thread
// per output element, 2D grid past 65535 workgroups. Integer division is the
// cost on CPU-backed adapters: the host merges axes the source walks as one
// (engine/ops/movement.ts), and the first coordinate needs none.

struct Params {
  n: u32,
  rank: u32,
  offset: u32,
  out_shape: array<vec4<u32>, 2>,
  src_strides: array<vec4<i32>, 2>,
}

override WG: u32 = 256u;

@group(0) @binding(0) var<storage, read> x: array<Elem>;
@group(0) @binding(1) var<storage, read_write> y: array<Elem>;
@group(0) @binding(2) var<uniform> p: Params;

@compute @workgroup_size(WG)
fn strided_copy(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= p.n) { return; }
  var rest = i;
  var src = i32(p.offset);
  for (var d = i32(p.rank) - 1; d > 0; d--) {
    let k = u32(d);
    let size = p.out_shape[k / 4u][k % 4u];
    src += i32(rest % size) * p.src_strides[k / 4u][k % 4u];
    rest = rest / size;
  }
  // What is left is the first coordinate (i < n): no division for it.
  if (p.rank > 0u) { src += i32(rest) * p.src_strides[0].x; }
  y[i] = x[u32(src)];
}

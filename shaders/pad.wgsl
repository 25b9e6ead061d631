// Padding (ONNX Pad: constant, reflect, edge, wrap) and the gradient of a
// strided slice.
//
// Layout: contiguous f32 tensors of rank <= 8; shapes, strides and per-axis
// parameters are packed as two vec4s. One thread per output element, which
// finds its source by splitting its index into coordinates (last axis fastest);
// the 1D index is split over a 2D grid past 65535 workgroups and threads past
// `n` return early. Both kernels only read their source, so they have no races.
//
// pad: along each axis the input is first cropped to [crop, crop + kept)
// (negative pads), then padded by `pad_begin` before it. Output coordinate c
// reads cropped coordinate s = c - pad_begin; when s falls outside [0, kept),
// MODE decides: constant gives `value`, edge clamps, reflect mirrors about the
// end elements without repeating them (period 2 * (kept - 1), as NumPy's
// reflect, so pads longer than the axis keep reflecting), wrap is periodic.
// Pad's constant-mode backward is this kernel again with crop and pad swapped.
//
// slice_grad: dx for y = x[starts + q * steps] (steps may be negative). Each dx
// element checks, per axis, whether t = c - start is a multiple of the step
// with 0 <= t / step < count; if so it copies gy there, otherwise it is 0.

struct PadParams {
  n: u32,
  rank: u32,
  value: f32,
  out_shape: array<vec4<u32>, 2>,
  in_strides: array<vec4<u32>, 2>,
  pad_begin: array<vec4<i32>, 2>,
  crop: array<vec4<i32>, 2>,
  kept: array<vec4<i32>, 2>,
}

struct SliceParams {
  n: u32,
  rank: u32,
  in_shape: array<vec4<u32>, 2>,
  starts: array<vec4<i32>, 2>,
  steps: array<vec4<i32>, 2>,
  counts: array<vec4<i32>, 2>,
  gy_strides: array<vec4<u32>, 2>,
}

// 0 = constant, 1 = reflect, 2 = edge, 3 = wrap
override MODE: u32 = 0u;
override WG: u32 = 256u;

@group(0) @binding(0) var<storage, read> x: array<Elem>;
@group(0) @binding(1) var<storage, read_write> y: array<Elem>;
@group(0) @binding(2) var<uniform> pp: PadParams;
@group(0) @binding(3) var<storage, read> gy: array<Elem>;
@group(0) @binding(4) var<storage, read_write> gx: array<Elem>;
@group(0) @binding(5) var<uniform> sp: SliceParams;

// Non-negative remainder.
fn modulo(a: i32, m: i32) -> i32 {
  return ((a % m) + m) % m;
}

@compute @workgroup_size(WG)
fn pad(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= pp.n) { return; }
  var rest = i;
  var src = 0u;
  for (var d = i32(pp.rank) - 1; d >= 0; d--) {
    let k = u32(d);
    let size = pp.out_shape[k / 4u][k % 4u];
    let kept = pp.kept[k / 4u][k % 4u];
    var s = i32(rest % size) - pp.pad_begin[k / 4u][k % 4u];
    rest = rest / size;
    if (s < 0 || s >= kept) {
      switch MODE {
        case 1u: {
          if (kept == 1) {
            s = 0;
          } else {
            let r = modulo(s, 2 * (kept - 1));
            s = select(r, 2 * (kept - 1) - r, r >= kept);
          }
        }
        case 2u: { s = clamp(s, 0, kept - 1); }
        case 3u: { s = modulo(s, kept); }
        default: {
          y[i] = Elem(pp.value);
          return;
        }
      }
    }
    src += u32(pp.crop[k / 4u][k % 4u] + s) * pp.in_strides[k / 4u][k % 4u];
  }
  y[i] = x[src];
}

@compute @workgroup_size(WG)
fn slice_grad(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= sp.n) { return; }
  var rest = i;
  var src = 0u;
  var inside = true;
  for (var d = i32(sp.rank) - 1; d >= 0; d--) {
    let k = u32(d);
    let size = sp.in_shape[k / 4u][k % 4u];
    let step = sp.steps[k / 4u][k % 4u];
    let t = i32(rest % size) - sp.starts[k / 4u][k % 4u];
    rest = rest / size;
    // WGSL's i32 division truncates and % takes the dividend's sign: t % step == 0 tests divisibility for either sign.
    let q = t / step;
    if (t % step != 0 || q < 0 || q >= sp.counts[k / 4u][k % 4u]) {
      inside = false;
    } else {
      src += u32(q) * sp.gy_strides[k / 4u][k % 4u];
    }
  }
  gx[i] = Elem(select(0.0, f32(gy[src]), inside));
}

// Resize over H and W of an NCHW tensor (ONNX Resize, modes nearest and linear)
// and its gradient.
//
// Layout: x is [N, C, in_h, in_w], y is [N, C, out_h, out_w], both contiguous
// f32; N and C are folded into one plane index. One thread per output element
// (forward) or per input element (gradient); the 1D index is split over a 2D
// grid past 65535 workgroups and threads past `n` return early.
//
// Coordinates: every ONNX coordinate_transformation_mode is affine, so the
// caller passes per axis (a, b, d) and x_original = (x_resized * a + b) / d.
// When the scale is a ratio of sizes, a, b and d are small integers, and the
// floor and the remainder of that quotient are computed exactly (WGSL's f32
// division may be off by 2.5 ulp, so its floor is corrected with exact
// products): source coordinates that are exactly integers or halves are
// recognized as such, and the nearest_mode tie rules behave as specified.
//
// Taps: a coordinate becomes two source indices lo <= hi (clamped to the
// axis, which is ONNX's edge padding) and the weight w of hi (1 - w for lo).
// Nearest mode returns lo = hi and w = 0.
//
// Gradient without atomics: each input element (iy, ix) sums the output
// gradient over the output elements whose taps include it. Both taps are
// monotone non-decreasing in the output coordinate, so along each axis that
// set is one contiguous range [first o with hi(o) >= i, first o with lo(o) > i),
// found by binary search with the very function the forward pass uses. Every
// gradient element is written by exactly one thread: deterministic, race-free.

struct Params {
  n: u32,
  in_h: u32,
  in_w: u32,
  out_h: u32,
  out_w: u32,
  // (a, b, d, unused) per axis: x_original = (x_resized * a + b) / d.
  map_h: vec4<f32>,
  map_w: vec4<f32>,
}

// 0 = nearest, 1 = linear
override MODE: u32 = 0u;
// nearest_mode: 0 = round_prefer_floor, 1 = round_prefer_ceil, 2 = floor, 3 = ceil
override NEAREST: u32 = 0u;
override WG: u32 = 256u;

@group(0) @binding(0) var<storage, read> x: array<Elem>;
@group(0) @binding(1) var<storage, read_write> y: array<Elem>;
@group(0) @binding(2) var<storage, read> gy: array<Elem>;
@group(0) @binding(3) var<storage, read_write> gx: array<Elem>;
@group(0) @binding(4) var<uniform> p: Params;

struct Taps {
  lo: i32,
  hi: i32,
  // weight of `hi`; `lo` gets 1 - w
  w: f32,
}

// Source taps of output coordinate `o` along an axis of `len` input elements.
fn taps(o: u32, len: u32, m: vec4<f32>) -> Taps {
  let num = f32(o) * m.x + m.y;
  let d = m.z;
  var f = floor(num / d);
  if (f * d > num) {
    f -= 1.0;
  } else if ((f + 1.0) * d <= num) {
    f += 1.0;
  }
  // x_original = f + r / d with 0 <= r < d
  let r = num - f * d;
  let last = i32(len) - 1;
  if (MODE == 0u) {
    var up = false;
    switch NEAREST {
      case 1u: { up = 2.0 * r >= d; }
      case 2u: { up = false; }
      case 3u: { up = r > 0.0; }
      default: { up = 2.0 * r > d; }
    }
    let t = clamp(i32(f) + select(0, 1, up), 0, last);
    return Taps(t, t, 0.0);
  }
  return Taps(clamp(i32(f), 0, last), clamp(i32(f) + 1, 0, last), r / d);
}

// How much of output coordinate `o`'s value comes from input index t.
fn weight_of(tp: Taps, t: i32) -> f32 {
  return select(0.0, 1.0 - tp.w, tp.lo == t) + select(0.0, tp.w, tp.hi == t);
}

// First output coordinate in [0, out_len] whose tap (hi when use_hi, else lo) is >= t.
fn first_reaching(t: i32, use_hi: bool, out_len: u32, in_len: u32, m: vec4<f32>) -> u32 {
  var lo = 0u;
  var hi = out_len;
  while (lo < hi) {
    let mid = (lo + hi) / 2u;
    let tp = taps(mid, in_len, m);
    if (select(tp.lo, tp.hi, use_hi) >= t) {
      hi = mid;
    } else {
      lo = mid + 1u;
    }
  }
  return lo;
}

@compute @workgroup_size(WG)
fn resize(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= p.n) { return; }
  let ox = i % p.out_w;
  let oy = (i / p.out_w) % p.out_h;
  let plane = i / (p.out_w * p.out_h);
  let ty = taps(oy, p.in_h, p.map_h);
  let tx = taps(ox, p.in_w, p.map_w);
  let row_lo = plane * p.in_h * p.in_w + u32(ty.lo) * p.in_w;
  if (MODE == 0u) {
    y[i] = x[row_lo + u32(tx.lo)];
    return;
  }
  let row_hi = plane * p.in_h * p.in_w + u32(ty.hi) * p.in_w;
  let top = f32(x[row_lo + u32(tx.lo)]) * (1.0 - tx.w) + f32(x[row_lo + u32(tx.hi)]) * tx.w;
  let bottom = f32(x[row_hi + u32(tx.lo)]) * (1.0 - tx.w) + f32(x[row_hi + u32(tx.hi)]) * tx.w;
  y[i] = Elem(top * (1.0 - ty.w) + bottom * ty.w);
}

// gx[plane, iy, ix] = sum over (oy, ox) reading it of w_y(oy, iy) * w_x(ox, ix) * gy[plane, oy, ox]
@compute @workgroup_size(WG)
fn resize_grad(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= p.n) { return; }
  let ix = i32(i % p.in_w);
  let iy = i32((i / p.in_w) % p.in_h);
  let plane = i / (p.in_w * p.in_h);
  let y0 = first_reaching(iy, true, p.out_h, p.in_h, p.map_h);
  let y1 = first_reaching(iy + 1, false, p.out_h, p.in_h, p.map_h);
  let x0 = first_reaching(ix, true, p.out_w, p.in_w, p.map_w);
  let x1 = first_reaching(ix + 1, false, p.out_w, p.in_w, p.map_w);
  var acc = 0.0;
  for (var oy = y0; oy < y1; oy++) {
    let wy = weight_of(taps(oy, p.in_h, p.map_h), iy);
    let row = (plane * p.out_h + oy) * p.out_w;
    var sum = 0.0;
    for (var ox = x0; ox < x1; ox++) {
      sum += weight_of(taps(ox, p.in_w, p.map_w), ix) * f32(gy[row + ox]);
    }
    acc += wy * sum;
  }
  gx[i] = Elem(acc);
}

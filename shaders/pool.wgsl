// 2D pooling over NCHW: max_pool, average_pool, their gradients, and the
// gradient of global average pooling (its forward is a reduction, reduce.wgsl).
//
// Layout: x and gx are contiguous f32 [N, C, H, W]; y, indices and gy are
// [N, C, OH, OW]. Every (n, c) plane is pooled on its own: `plane` = n * C + c.
// Window (oh, ow) reads input rows oh * stride_h - pad_top + kh * dilation_h
// for kh < kernel_h (columns alike).
//
// Bounds: taps outside [0, H) x [0, W) are padding. max_pool skips them (as if
// they were -inf); average_pool skips them and divides by the number of taps
// inside the padded input [-pad_top, H + pad_bottom) x [-pad_left, W + pad_right)
// when count_include_pad = 1, or inside the input when it is 0 (the per-axis
// counts multiply, so the divisor is separable). The host guarantees that every
// window has at least one tap inside the input (ShapeError otherwise).
//
// Tiling: none. One thread per output element (forward) or per input element
// (backward); the 1D index is split over a 2D grid past 65535 workgroups and
// threads past `n` return.
//
// Backward is a gather, free of atomics: each input element visits the windows
// that contain it and sums their gradients: max_pool only from windows whose
// saved argmax is this element, average_pool each divided by that window's
// divisor. Along each axis the windows containing input index i are the o in
// a contiguous range (window_range) whose tap offset i + pad - o * stride is a
// multiple of the dilation: about kernel / stride candidates instead of one
// per tap, with a division per candidate only when dilated.
//
// max_pool writes the argmax as an offset inside its plane (ih * W + iw), a u32.
// Ties: the first maximal tap in
// row-major window order wins (strict >), and only it receives the gradient.
// NaN: a NaN tap always wins (the last one in window order, as in PyTorch), so
// a window holding a NaN outputs NaN and routes its gradient to that tap.

struct Params {
  n: u32,
  in_h: u32,
  in_w: u32,
  out_h: u32,
  out_w: u32,
  kernel_h: u32,
  kernel_w: u32,
  stride_h: u32,
  stride_w: u32,
  dilation_h: u32,
  dilation_w: u32,
  pad_top: i32,
  pad_left: i32,
  pad_bottom: i32,
  pad_right: i32,
  count_include_pad: u32,
}

override WG: u32 = 256u;

@group(0) @binding(0) var<storage, read> x: array<Elem>;
@group(0) @binding(1) var<storage, read_write> y: array<Elem>;
@group(0) @binding(2) var<storage, read_write> indices: array<u32>;
// The argmax offsets saved by max_pool, read by max_pool_grad.
@group(0) @binding(3) var<storage, read> argmax: array<u32>;
@group(0) @binding(4) var<storage, read> gy: array<Elem>;
@group(0) @binding(5) var<storage, read_write> gx: array<Elem>;
@group(0) @binding(6) var<uniform> p: Params;

fn thread_index(gid: vec3<u32>, nwg: vec3<u32>) -> u32 {
  return gid.x + gid.y * nwg.x * WG;
}

// is_nan: from shaders/nan.wgsl.
{{NAN}}

// Number of taps k < kernel with lo <= start + k * dilation < hi. A loop: kernels
// are small, and it measured faster than the closed form's two divisions.
fn taps_inside(start: i32, kernel: u32, dilation: u32, lo: i32, hi: i32) -> u32 {
  var count = 0u;
  for (var k = 0u; k < kernel; k++) {
    let at = start + i32(k * dilation);
    if (at >= lo && at < hi) { count++; }
  }
  return count;
}

// Taps of one window along one axis that count towards the average.
fn axis_divisor(o: u32, stride: u32, kernel: u32, dilation: u32, pad_begin: i32, pad_end: i32, size: u32) -> u32 {
  let start = i32(o * stride) - pad_begin;
  if (p.count_include_pad != 0u) {
    return taps_inside(start, kernel, dilation, -pad_begin, i32(size) + pad_end);
  }
  return taps_inside(start, kernel, dilation, 0, i32(size));
}

fn window_divisor(oh: u32, ow: u32) -> f32 {
  let rows = axis_divisor(oh, p.stride_h, p.kernel_h, p.dilation_h, p.pad_top, p.pad_bottom, p.in_h);
  let cols = axis_divisor(ow, p.stride_w, p.kernel_w, p.dilation_w, p.pad_left, p.pad_right, p.in_w);
  return f32(rows * cols);
}

// Windows [first, last] along one axis whose span covers input index i (some
// of them may hold i between two dilated taps: see is_tap). Empty when first > last.
fn window_range(i: u32, kernel: u32, dilation: u32, stride: u32, pad: i32, out_size: u32) -> vec2<i32> {
  let reach = i32(i) + pad;                            // = o * stride + tap * dilation
  let lowest = reach - i32((kernel - 1u) * dilation);  // o * stride for the last tap
  let first = select(0, (lowest + i32(stride) - 1) / i32(stride), lowest > 0);
  let last = min(i32(out_size) - 1, reach / i32(stride));
  return vec2<i32>(first, last);
}

// Whether window o reads input index i at a whole tap.
fn is_tap(i: u32, o: i32, dilation: u32, stride: u32, pad: i32) -> bool {
  let offset = u32(i32(i) + pad - o * i32(stride));
  return dilation == 1u || offset % dilation == 0u;
}

@compute @workgroup_size(WG)
fn max_pool(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = thread_index(gid, nwg);
  if (i >= p.n) { return; }
  let ow = i % p.out_w;
  let oh = (i / p.out_w) % p.out_h;
  let base = (i / (p.out_w * p.out_h)) * p.in_h * p.in_w;
  let top = i32(oh * p.stride_h) - p.pad_top;
  let left = i32(ow * p.stride_w) - p.pad_left;
  var best = 0.0;
  var best_at = -1;
  for (var kh = 0u; kh < p.kernel_h; kh++) {
    let ih = top + i32(kh * p.dilation_h);
    if (ih < 0 || ih >= i32(p.in_h)) { continue; }
    for (var kw = 0u; kw < p.kernel_w; kw++) {
      let iw = left + i32(kw * p.dilation_w);
      if (iw < 0 || iw >= i32(p.in_w)) { continue; }
      let at = ih * i32(p.in_w) + iw;
      let v = f32(x[base + u32(at)]);
      if (best_at < 0 || v > best || is_nan(v)) {
        best = v;
        best_at = at;
      }
    }
  }
  y[i] = Elem(best);
  indices[i] = u32(best_at);
}

// gx[i] = sum of gy over the windows whose argmax is i
@compute @workgroup_size(WG)
fn max_pool_grad(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = thread_index(gid, nwg);
  if (i >= p.n) { return; }
  let iw = i % p.in_w;
  let ih = (i / p.in_w) % p.in_h;
  let here = ih * p.in_w + iw;
  let out_base = (i / (p.in_w * p.in_h)) * p.out_h * p.out_w;
  let rows = window_range(ih, p.kernel_h, p.dilation_h, p.stride_h, p.pad_top, p.out_h);
  let cols = window_range(iw, p.kernel_w, p.dilation_w, p.stride_w, p.pad_left, p.out_w);
  var acc = 0.0;
  for (var oh = rows.x; oh <= rows.y; oh++) {
    if (!is_tap(ih, oh, p.dilation_h, p.stride_h, p.pad_top)) { continue; }
    for (var ow = cols.x; ow <= cols.y; ow++) {
      if (!is_tap(iw, ow, p.dilation_w, p.stride_w, p.pad_left)) { continue; }
      let o = out_base + u32(oh) * p.out_w + u32(ow);
      if (argmax[o] == here) { acc += f32(gy[o]); }
    }
  }
  gx[i] = Elem(acc);
}

// y[o] = x[plane(o) * H * W + argmax[o]]: the transpose of max_pool_grad (what the
// double backward of max pooling runs; here x is [N, C, H, W] and y [N, C, OH, OW])
@compute @workgroup_size(WG)
fn max_pool_gather(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = thread_index(gid, nwg);
  if (i >= p.n) { return; }
  let plane = i / (p.out_h * p.out_w);
  y[i] = x[plane * p.in_h * p.in_w + argmax[i]];
}

@compute @workgroup_size(WG)
fn average_pool(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = thread_index(gid, nwg);
  if (i >= p.n) { return; }
  let ow = i % p.out_w;
  let oh = (i / p.out_w) % p.out_h;
  let base = (i / (p.out_w * p.out_h)) * p.in_h * p.in_w;
  let top = i32(oh * p.stride_h) - p.pad_top;
  let left = i32(ow * p.stride_w) - p.pad_left;
  var acc = 0.0;
  for (var kh = 0u; kh < p.kernel_h; kh++) {
    let ih = top + i32(kh * p.dilation_h);
    if (ih < 0 || ih >= i32(p.in_h)) { continue; }
    for (var kw = 0u; kw < p.kernel_w; kw++) {
      let iw = left + i32(kw * p.dilation_w);
      if (iw < 0 || iw >= i32(p.in_w)) { continue; }
      acc += f32(x[base + u32(ih) * p.in_w + u32(iw)]);
    }
  }
  y[i] = Elem(acc / window_divisor(oh, ow));
}

// gx[i] = sum over the windows w containing i of gy[w] / divisor(w)
@compute @workgroup_size(WG)
fn average_pool_grad(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = thread_index(gid, nwg);
  if (i >= p.n) { return; }
  let iw = i % p.in_w;
  let ih = (i / p.in_w) % p.in_h;
  let out_base = (i / (p.in_w * p.in_h)) * p.out_h * p.out_w;
  let rows = window_range(ih, p.kernel_h, p.dilation_h, p.stride_h, p.pad_top, p.out_h);
  let cols = window_range(iw, p.kernel_w, p.dilation_w, p.stride_w, p.pad_left, p.out_w);
  var acc = 0.0;
  for (var oh = rows.x; oh <= rows.y; oh++) {
    if (!is_tap(ih, oh, p.dilation_h, p.stride_h, p.pad_top)) { continue; }
    let row_taps = axis_divisor(u32(oh), p.stride_h, p.kernel_h, p.dilation_h, p.pad_top, p.pad_bottom, p.in_h);
    for (var ow = cols.x; ow <= cols.y; ow++) {
      if (!is_tap(iw, ow, p.dilation_w, p.stride_w, p.pad_left)) { continue; }
      let col_taps = axis_divisor(u32(ow), p.stride_w, p.kernel_w, p.dilation_w, p.pad_left, p.pad_right, p.in_w);
      acc += f32(gy[out_base + u32(oh) * p.out_w + u32(ow)]) / f32(row_taps * col_taps);
    }
  }
  gx[i] = Elem(acc);
}

// Global average pooling: gx[i] = gy[plane(i)] / (H * W). Planes of any rank
// are passed as in_h = product of the spatial dims, in_w = 1.
@compute @workgroup_size(WG)
fn global_average_pool_grad(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = thread_index(gid, nwg);
  if (i >= p.n) { return; }
  let plane_size = p.in_h * p.in_w;
  gx[i] = Elem(f32(gy[i / plane_size]) / f32(plane_size));
}

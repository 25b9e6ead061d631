// 2-D convolution, gradient w.r.t. the weight:
//
//   dw[o, c, kh, kw] = sum over (n, oh, ow) of dy[n, o, oh, ow] * x[n, g * I + c, ih, iw]
//   with ih = oh * stride_h - pad_top + kh * dilation_h (likewise iw), g = o's group.
//
// Layout: x is NCHW [N, C, H, W], dy is [N, O, OH, OW], dw is OIHW [O, I, KH, KW]
// (I = C / groups); contiguous f32. (The bias gradient is a plain reduction of
// dy over N, OH, OW, done by the host with the reduce kernels.)
//
// Entry points:
//  - conv2d_grad_weight: per group a GEMM dw[M = O / groups, I * KH * KW] =
//    dy[M, P] x im2col(x)^T[P, I * KH * KW] whose reduction axis is every output
//    pixel of every image, P = N * OH * OW, p = (n, oh, ow). Tiling as in
//    gemm.wgsl: (4 WG_M) x (4 WG_N) output tiles, 4 x 4 per thread, P walked in
//    steps of TILE_K through workgroup memory, next tiles prefetched into
//    registers. dy groups are 4 consecutive pixels of one channel, 4
//    neighbouring threads per channel (a vec4 load when OH * OW % 4 == 0,
//    VEC_DY), transposed into the pixel-major tile whose rows are padded by
//    one vec4 to spread those stores over the banks. A thread always gathers
//    the same weight column (c, kh, kw), so its channel offset and tap offsets
//    are computed once; per 4 pixels it decomposes p into (n, oh, ow) once and
//    steps.
//    Split-K: P is long and dw small, so P is cut into `splits` chunks of
//    `chunk` pixels (a multiple of TILE_K), one per workgroup layer; each writes
//    its partial dw to partial[split] and the host sums them with the reduce
//    kernels (no float atomics; with one split the host binds dw as `partial`).
//    Workgroups: x = column tile, y = row tile, z = group * splits + split.
//  - conv2d_grad_weight_depthwise: for I == 1, one workgroup per (o, kh, kw,
//    split) reduces its chunk of pixels with a tree in workgroup memory.
//
// Bounds: pixels past the chunk or P, taps in the padding, rows past
// O / groups and columns past I * KH * KW contribute 0; only in-range dw
// entries are stored (vec4 stores when I * KH * KW % 4 == 0, VEC_OUT).
//
// Flags: VEC_DY and VEC_OUT choose code paths but size nothing (only WG_M,
// WG_N and TILE_K do). Each is an override that is either its value (0 / 1) or
// DYNAMIC, which makes the kernel read the uniform field of the same name
// (p.vec_dy for VEC_DY) through the helpers below. A GPU gets the values, so
// its compiler folds every branch away; a software adapter, where compiling one
// pipeline takes seconds, gets DYNAMIC, so one pipeline per tile shape serves
// every flag combination. The host decides (engine/ops/epilogue.ts flagArgs,
// the runtime's specializeFlags).

struct Params {
  // batch .. pad_left: the geometry fields of shaders/conv-geometry.wgsl.
{{CONV_GEOMETRY}}
  // Split-K: number of chunks of the pixel axis and pixels per chunk.
  splits: u32,
  chunk: u32,
  // Elements of dw (O * I * KH * KW): the stride between partial results.
  total: u32,
  // The flags, read when their override is DYNAMIC (0 / 1).
  vec_dy: u32,
  vec_out: u32,
}

// DYNAMIC and flag(): shaders/flags.wgsl.
{{FLAGS}}

override VEC_DY: u32 = DYNAMIC;
override VEC_OUT: u32 = DYNAMIC;
override WG_M: u32 = 16u;
override WG_N: u32 = 16u;
override TILE_K: u32 = 16u;
override WG_1D: u32 = 256u;

const MAX_LOADS: u32 = 4u;
// Groups of 4 each thread loads per tile of A and of B, derived from the tile
// overrides so each load loop unrolls to exactly its loads (see gemm.wgsl).
override LOADS_A: u32 = (TILE_K * WG_M + WG_M * WG_N - 1u) / (WG_M * WG_N);
override LOADS_B: u32 = (TILE_K * WG_N + WG_M * WG_N - 1u) / (WG_M * WG_N);
const FAR_OUTSIDE: i32 = -1073741824;

@group(0) @binding(0) var<storage, read> x: array<Elem>;
@group(0) @binding(1) var<storage, read> dy: array<vec4<Elem>>;
@group(0) @binding(2) var<storage, read_write> partial: array<vec4<Elem>>;
@group(0) @binding(3) var<uniform> p: Params;

var<workgroup> a_tile: array<vec4<f32>, TILE_K * (WG_M + 1u)>; // dy [p][o / 4], padded rows
var<workgroup> b_tile: array<vec4<f32>, TILE_K * WG_N>; // im2col(x) [p][column / 4]
var<workgroup> sums: array<f32, WG_1D>;

// The flags: the override's value, or the uniform's when it is DYNAMIC.
fn vec_dy() -> bool { return flag(VEC_DY, p.vec_dy); }
fn vec_out() -> bool { return flag(VEC_OUT, p.vec_out); }

fn dy_at(i: u32) -> f32 {
  return f32(dy[i >> 2u][i & 3u]);
}

// ---- conv2d_grad_weight: implicit GEMM with split-K ---------------------------

// Where pixel p of the reduction axis is: image n and output coordinate.
struct Pixel {
  n: u32,
  oh: u32,
  ow: u32,
}

fn pixel_of(q: u32) -> Pixel {
  let pixels = p.out_h * p.out_w;
  let n = q / pixels;
  let pix = q - n * pixels;
  let oh = pix / p.out_w;
  return Pixel(n, oh, pix - oh * p.out_w);
}

fn next_pixel(px: Pixel) -> Pixel {
  var r = px;
  r.ow += 1u;
  if (r.ow == p.out_w) {
    r.ow = 0u;
    r.oh += 1u;
    if (r.oh == p.out_h) {
      r.oh = 0u;
      r.n += 1u;
    }
  }
  return r;
}

// dy group g of the A tile: channel first_o + m, 4 consecutive pixels from q.
fn fetch_dy(g: u32, first_o: u32, row0: u32, q0: u32, q_end: u32) -> vec4<f32> {
  let m = row0 + g / (TILE_K / 4u);
  let q = q0 + (g % (TILE_K / 4u)) * 4u;
  var v = vec4<f32>(0.0);
  if (m >= p.group_out_c || q >= q_end) { return v; }
  let pixels = p.out_h * p.out_w;
  let o = first_o + m;
  if (vec_dy()) {
    // q % 4 == 0 and pixels % 4 == 0: the 4 pixels are in one image and q_end is a multiple of 4.
    let n = q / pixels;
    return vec4<f32>(dy[((n * p.out_c + o) * pixels + q - n * pixels) >> 2u]);
  }
  for (var j = 0u; j < 4u; j++) {
    if (q + j < q_end) {
      let n = (q + j) / pixels;
      v[j] = dy_at((n * p.out_c + o) * pixels + q + j - n * pixels);
    }
  }
  return v;
}

fn stage_dy(g: u32, v: vec4<f32>) {
  let m = g / (TILE_K / 4u);
  let k = (g % (TILE_K / 4u)) * 4u;
  for (var j = 0u; j < 4u; j++) { a_tile[(k + j) * (WG_M + 1u) + m / 4u][m % 4u] = v[j]; }
}

// A thread's weight column (c, kh, kw): channel offset within an image and the
// input offset of the tap relative to (oh * stride, ow * stride).
struct Column {
  channel: u32,
  dh: i32,
  dw: i32,
}

fn column_of(col: u32, group: u32) -> Column {
  let taps = p.kernel_h * p.kernel_w;
  let c = col / taps;
  let r = col - c * taps;
  let kh = r / p.kernel_w;
  let kw = r - kh * p.kernel_w;
  let valid = col < p.group_in_c * taps;
  return Column(
    (group * p.group_in_c + c) * p.in_h * p.in_w,
    select(FAR_OUTSIDE, i32(kh * p.dilation_h) - p.pad_top, valid),
    i32(kw * p.dilation_w) - p.pad_left,
  );
}

// im2col(x)[4 pixels from q][column]
fn gather(col: Column, q: u32, q_end: u32) -> vec4<f32> {
  var v = vec4<f32>(0.0);
  var px = pixel_of(q);
  for (var j = 0u; j < 4u; j++) {
    let ih = i32(px.oh * p.stride_h) + col.dh;
    let iw = i32(px.ow * p.stride_w) + col.dw;
    if (q + j < q_end && u32(ih) < p.in_h && u32(iw) < p.in_w) {
      v[j] = f32(x[px.n * p.in_c * p.in_h * p.in_w + col.channel + u32(ih) * p.in_w + u32(iw)]);
    }
    px = next_pixel(px);
  }
  return v;
}

@compute @workgroup_size(WG_N, WG_M)
fn conv2d_grad_weight(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(local_invocation_id) local: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let threads = WG_M * WG_N;
  let tile_n = 4u * WG_N;
  let group = wid.z / p.splits;
  let split = wid.z % p.splits;
  let row_tile = wid.y * 4u * WG_M;
  let col0 = wid.x * tile_n;
  let first_o = group * p.group_out_c;
  let cols = p.group_in_c * p.kernel_h * p.kernel_w;
  let q_begin = split * p.chunk;
  let q_end = min(q_begin + p.chunk, p.batch * p.out_h * p.out_w);

  // threads % tile_n == 0 (the host keeps WG_M % 4 == 0): a thread's column is fixed.
  let my_col = column_of(col0 + lid % tile_n, group);
  let groups_a = TILE_K * WG_M;
  let groups_b = TILE_K * WG_N;

  var acc: array<vec4<f32>, 4>;
  var a_next: array<vec4<f32>, MAX_LOADS>;
  var b_next: array<vec4<f32>, MAX_LOADS>;

  for (var i = 0u; i < LOADS_A; i++) {
    let g = lid + i * threads;
    if (g < groups_a) { a_next[i] = fetch_dy(g, first_o, row_tile, q_begin, q_end); }
  }
  for (var i = 0u; i < LOADS_B; i++) {
    let g = lid + i * threads;
    if (g < groups_b) { b_next[i] = gather(my_col, q_begin + (g / tile_n) * 4u, q_end); }
  }

  let tiles = (select(0u, q_end - q_begin, q_end > q_begin) + TILE_K - 1u) / TILE_K;
  for (var t = 0u; t < tiles; t++) {
    workgroupBarrier();
    for (var i = 0u; i < LOADS_A; i++) {
      let g = lid + i * threads;
      if (g < groups_a) { stage_dy(g, a_next[i]); }
    }
    for (var i = 0u; i < LOADS_B; i++) {
      let g = lid + i * threads;
      if (g < groups_b) {
        let k = (g / tile_n) * 4u;
        let n = g % tile_n;
        for (var j = 0u; j < 4u; j++) { b_tile[(k + j) * WG_N + n / 4u][n % 4u] = b_next[i][j]; }
      }
    }
    workgroupBarrier();
    if (t + 1u < tiles) {
      let q0 = q_begin + (t + 1u) * TILE_K;
      for (var i = 0u; i < LOADS_A; i++) {
        let g = lid + i * threads;
        if (g < groups_a) { a_next[i] = fetch_dy(g, first_o, row_tile, q0, q_end); }
      }
      for (var i = 0u; i < LOADS_B; i++) {
        let g = lid + i * threads;
        if (g < groups_b) { b_next[i] = gather(my_col, q0 + (g / tile_n) * 4u, q_end); }
      }
    }
    for (var kk = 0u; kk < TILE_K; kk++) {
      let av = a_tile[kk * (WG_M + 1u) + local.y];
      let bv = b_tile[kk * WG_N + local.x];
      acc[0] += av.x * bv;
      acc[1] += av.y * bv;
      acc[2] += av.z * bv;
      acc[3] += av.w * bv;
    }
  }

  let col = col0 + local.x * 4u;
  if (col >= cols) { return; }
  for (var i = 0u; i < 4u; i++) {
    let m = row_tile + local.y * 4u + i;
    if (m >= p.group_out_c) { continue; } // not break: keeps acc in registers
    let at = split * p.total + (first_o + m) * cols + col;
    if (vec_out()) {
      partial[at >> 2u] = vec4<Elem>(acc[i]);
    } else {
      for (var j = 0u; j < 4u; j++) {
        if (col + j < cols) { let o = at + j; partial[o >> 2u][o & 3u] = Elem(acc[i][j]); }
      }
    }
  }
}

// ---- conv2d_grad_weight_depthwise: I == 1 ----------------------------------------

@compute @workgroup_size(WG_1D)
fn conv2d_grad_weight_depthwise(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  // Workgroup (x + y * nwg.x) is dw element (o, kh, kw); z is the split.
  let taps = p.kernel_h * p.kernel_w;
  let entry = wid.x + wid.y * nwg.x;
  let valid = entry < p.total;
  let o = entry / taps;
  let kh = (entry % taps) / p.kernel_w;
  let kw = entry % p.kernel_w;
  let c = o / p.group_out_c;
  let pixels = p.out_h * p.out_w;
  let q_begin = wid.z * p.chunk;
  let q_end = min(q_begin + p.chunk, p.batch * pixels);
  var acc = 0.0;
  if (valid) {
    for (var q = q_begin + lid; q < q_end; q += WG_1D) {
      let px = pixel_of(q);
      let ih = i32(px.oh * p.stride_h + kh * p.dilation_h) - p.pad_top;
      let iw = i32(px.ow * p.stride_w + kw * p.dilation_w) - p.pad_left;
      if (u32(ih) < p.in_h && u32(iw) < p.in_w) {
        let g = dy_at((px.n * p.out_c + o) * pixels + px.oh * p.out_w + px.ow);
        acc += g * f32(x[((px.n * p.in_c + c) * p.in_h + u32(ih)) * p.in_w + u32(iw)]);
      }
    }
  }
  sums[lid] = acc;
  workgroupBarrier();
  for (var stride = WG_1D / 2u; stride > 0u; stride = stride / 2u) {
    if (lid < stride) { sums[lid] += sums[lid + stride]; }
    workgroupBarrier();
  }
  if (lid == 0u && valid) {
    let at = wid.z * p.total + entry;
    partial[at >> 2u][at & 3u] = Elem(sums[0]);
  }
}

// 2-D convolution, forward: y = act(conv(x, w) + bias).
//
// Layout: x is NCHW [N, C, H, W], w is OIHW [O, C / groups, KH, KW], bias [O],
// y is [N, O, OH, OW], all contiguous f32. Pads are [top, left] here (the bottom
// and right pads only set OH and OW, which the host computes). Output channel o
// belongs to group g = o / (O / groups) and sees input channels
// g * I .. g * I + I - 1 (I = C / groups).
//
// Entry points:
//  - conv2d: implicit GEMM, the fast path. Per group, y = W x im2col(x) with
//    rows = output channels of the group (M = O / groups), columns = every output
//    pixel of every image (N * OH * OW: tiles may straddle images) and
//    K = I * KH * KW, k = (c, kh, kw), the weight's own order. im2col is never
//    materialized: the B tile is gathered from x while it is staged.
//    Tiling as in gemm.wgsl: a WG_N x WG_M workgroup computes a (4 * WG_M) x
//    (4 * WG_N) tile, 4 x 4 outputs per thread, K in steps of TILE_K through
//    workgroup memory, next tiles prefetched into registers. Weight groups are
//    4 consecutive k of one output channel, 4 neighbouring threads per row (a
//    warp reads whole row segments), vec4 loads when K % 4 == 0 (VEC_W); they
//    are transposed into the k-major tile, whose rows are padded by one vec4 to
//    spread those stores over the banks. A thread always gathers the same 4
//    consecutive output pixels, so their image offset and top-left input
//    coordinate are computed once; per k it only decomposes k into (c, kh, kw).
//    Workgroups: x = column tile, y = row tile, z = group * col_fold + fold
//    (column tiles past 65535 fold into z: tile = x + fold * num_workgroups.x).
//  - conv2d_direct: the same implicit GEMM without workgroup memory, for
//    CPU-backed adapters (the host's choice, DeviceHandle.workgroupTiles; why:
//    gemm.wgsl's gemm_direct). A thread walks k = (c, kh, kw) as three nested
//    loops (no division per k), gathering its 4 pixels' taps and reading the
//    4 output channels' weights directly: 4 + 4 loads, 16 FMAs per k.
//  - conv2d_depthwise: direct kernel for I == 1 (depthwise, any channel
//    multiplier), where a GEMM tile would be one row of useful work. Each
//    thread computes 4 consecutive output pixels of one row and reuses each
//    weight for all 4.
//  - conv2d_naive: one thread per output element, no tiling, no reuse. The
//    benchmark's floor; not used by the ops.
//
// Bounds: taps that fall in the padding read 0 (unsigned compare against H and
// W also rejects negative coordinates). Columns past N * OH * OW get a top-left
// coordinate far outside the image, so every tap reads 0 and nothing is stored.
// Rows past M load 0 and are not stored. With VEC_OUT (OH * OW % 4 == 0) a
// thread's 4 pixels lie in one image and are stored as one vec4.
//
// Epilogue (all entry points): + bias[o] when has_bias, then the activation
// selected by ACT (override; 0 none, the other codes from the ACTIVATIONS table
// in engine/activations.ts) with parameters act_alpha / act_beta.
//
// Flags: VEC_W, VEC_OUT and ACT choose code paths but size nothing (only WG_M,
// WG_N and TILE_K do). Each is an override that is either its value (0 / 1, an
// ACT code) or DYNAMIC, which makes the kernel read the uniform field of the
// same name (p.vec_w for VEC_W) through the helpers below. A GPU gets the
// values, so its compiler folds every branch away; a software adapter, where
// compiling one pipeline takes seconds, gets DYNAMIC, so one pipeline per tile
// shape serves every flag combination. The host decides (engine/ops/epilogue.ts
// flagArgs, the runtime's specializeFlags).

struct Params {
  // batch .. pad_left: the geometry fields of shaders/conv-geometry.wgsl.
{{CONV_GEOMETRY}}
  col_fold: u32,
  has_bias: u32,
  act_alpha: f32,
  act_beta: f32,
  // The flags, read when their override is DYNAMIC (0 / 1; act: an ACT code).
  vec_w: u32,
  vec_out: u32,
  act: u32,
}

// DYNAMIC and flag(): shaders/flags.wgsl.
{{FLAGS}}

override VEC_W: u32 = DYNAMIC;
override VEC_OUT: u32 = DYNAMIC;
override ACT: u32 = DYNAMIC;
override WG_M: u32 = 16u;
override WG_N: u32 = 16u;
override TILE_K: u32 = 16u;
override WG_1D: u32 = 256u;

const MAX_LOADS: u32 = 4u;
// Groups of 4 each thread loads per tile of A and of B, derived from the tile
// overrides so each load loop unrolls to exactly its loads (see gemm.wgsl).
override LOADS_A: u32 = (TILE_K * WG_M + WG_M * WG_N - 1u) / (WG_M * WG_N);
override LOADS_B: u32 = (TILE_K * WG_N + WG_M * WG_N - 1u) / (WG_M * WG_N);
// Top-left coordinate of a column past the last pixel: every tap stays negative.
const FAR_OUTSIDE: i32 = -1073741824;

@group(0) @binding(0) var<storage, read> x: array<Elem>;
@group(0) @binding(1) var<storage, read> w: array<vec4<Elem>>;
@group(0) @binding(2) var<storage, read> bias: array<Elem>;
@group(0) @binding(3) var<storage, read_write> y: array<vec4<Elem>>;
@group(0) @binding(4) var<uniform> p: Params;

var<workgroup> a_tile: array<vec4<f32>, TILE_K * (WG_M + 1u)>; // weights [k][m / 4], padded rows
var<workgroup> b_tile: array<vec4<f32>, TILE_K * WG_N>; // im2col [k][column / 4]

// The flags: the override's value, or the uniform's when it is DYNAMIC.
fn vec_w() -> bool { return flag(VEC_W, p.vec_w); }
fn vec_out() -> bool { return flag(VEC_OUT, p.vec_out); }

// activate(v): the fused activation, from shaders/epilogue.wgsl.
{{EPILOGUE}}

fn weight(i: u32) -> f32 {
  return f32(w[i >> 2u][i & 3u]);
}

fn store_y(i: u32, v: f32) {
  y[i >> 2u][i & 3u] = Elem(v);
}

fn bias_of(o: u32) -> f32 {
  return select(0.0, f32(bias[o]), p.has_bias != 0u);
}

// ---- conv2d: implicit GEMM ---------------------------------------------------

// What a thread needs to gather its 4 columns (output pixels): offset of the
// image's first channel of the group, and the input coordinate of tap (0, 0).
struct Columns {
  base: vec4<u32>,
  ih: vec4<i32>,
  iw: vec4<i32>,
}

fn columns_of(first: u32, group: u32) -> Columns {
  let pixels = p.out_h * p.out_w;
  let total = p.batch * pixels;
  var cols: Columns;
  for (var j = 0u; j < 4u; j++) {
    let q = first + j;
    let n = q / pixels;
    let pix = q - n * pixels;
    let oh = pix / p.out_w;
    let ow = pix - oh * p.out_w;
    cols.base[j] = (n * p.in_c + group * p.group_in_c) * p.in_h * p.in_w;
    cols.ih[j] = select(FAR_OUTSIDE, i32(oh * p.stride_h) - p.pad_top, q < total);
    cols.iw[j] = i32(ow * p.stride_w) - p.pad_left;
  }
  return cols;
}

// im2col(x)[k][4 columns]: k = (c, kh, kw) decomposed once for the 4 gathers.
fn gather(cols: Columns, k: u32, k_len: u32) -> vec4<f32> {
  var v = vec4<f32>(0.0);
  if (k >= k_len) { return v; }
  let taps = p.kernel_h * p.kernel_w;
  let c = k / taps;
  let r = k - c * taps;
  let kh = r / p.kernel_w;
  let kw = r - kh * p.kernel_w;
  let ih = cols.ih + vec4<i32>(i32(kh * p.dilation_h));
  let iw = cols.iw + vec4<i32>(i32(kw * p.dilation_w));
  let inside = (vec4<u32>(ih) < vec4<u32>(p.in_h)) & (vec4<u32>(iw) < vec4<u32>(p.in_w));
  let at = cols.base + vec4<u32>(c * p.in_h * p.in_w) + vec4<u32>(ih) * p.in_w + vec4<u32>(iw);
  for (var j = 0u; j < 4u; j++) {
    if (inside[j]) { v[j] = f32(x[at[j]]); }
  }
  return v;
}

// Weight group g of the A tile: 4 consecutive k of output channel first_o + m.
fn fetch_w(g: u32, first_o: u32, row0: u32, k0: u32, k_len: u32) -> vec4<f32> {
  let m = row0 + g / (TILE_K / 4u);
  let k = k0 + (g % (TILE_K / 4u)) * 4u;
  var v = vec4<f32>(0.0);
  if (m >= p.group_out_c || k >= k_len) { return v; }
  let at = (first_o + m) * k_len + k;
  if (vec_w() && k + 3u < k_len) { return vec4<f32>(w[at >> 2u]); }
  for (var j = 0u; j < 4u; j++) {
    if (k + j < k_len) { v[j] = weight(at + j); }
  }
  return v;
}

fn stage_w(g: u32, v: vec4<f32>) {
  let m = g / (TILE_K / 4u);
  let k = (g % (TILE_K / 4u)) * 4u;
  for (var j = 0u; j < 4u; j++) { a_tile[(k + j) * (WG_M + 1u) + m / 4u][m % 4u] = v[j]; }
}

@compute @workgroup_size(WG_N, WG_M)
fn conv2d(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_id) local: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let threads = WG_M * WG_N;
  let group = wid.z / p.col_fold;
  let col_tile = wid.x + (wid.z % p.col_fold) * nwg.x;
  let row_tile = wid.y * 4u * WG_M; // within the group
  let col0 = col_tile * 4u * WG_N;
  let k_len = p.group_in_c * p.kernel_h * p.kernel_w;
  // Weight rows of this group start at its first output channel.
  let w_row0 = group * p.group_out_c;

  // This thread's gather columns are the same for every k (threads % WG_N == 0).
  let my_cols = columns_of(col0 + (lid % WG_N) * 4u, group);
  let gather_rows = threads / WG_N; // k rows gathered per pass

  var acc: array<vec4<f32>, 4>;
  var a_next: array<vec4<f32>, MAX_LOADS>;
  var b_next: array<vec4<f32>, MAX_LOADS>;
  let groups_a = TILE_K * WG_M;

  for (var i = 0u; i < LOADS_A; i++) {
    let g = lid + i * threads;
    if (g < groups_a) { a_next[i] = fetch_w(g, w_row0, row_tile, 0u, k_len); }
  }
  for (var i = 0u; i < LOADS_B; i++) {
    let kr = lid / WG_N + i * gather_rows;
    if (kr < TILE_K) { b_next[i] = gather(my_cols, kr, k_len); }
  }

  let tiles = (k_len + TILE_K - 1u) / TILE_K;
  for (var t = 0u; t < tiles; t++) {
    workgroupBarrier();
    for (var i = 0u; i < LOADS_A; i++) {
      let g = lid + i * threads;
      if (g < groups_a) { stage_w(g, a_next[i]); }
    }
    for (var i = 0u; i < LOADS_B; i++) {
      let kr = lid / WG_N + i * gather_rows;
      if (kr < TILE_K) { b_tile[kr * WG_N + lid % WG_N] = b_next[i]; }
    }
    workgroupBarrier();
    if (t + 1u < tiles) {
      let k0 = (t + 1u) * TILE_K;
      for (var i = 0u; i < LOADS_A; i++) {
        let g = lid + i * threads;
        if (g < groups_a) { a_next[i] = fetch_w(g, w_row0, row_tile, k0, k_len); }
      }
      for (var i = 0u; i < LOADS_B; i++) {
        let kr = lid / WG_N + i * gather_rows;
        if (kr < TILE_K) { b_next[i] = gather(my_cols, k0 + kr, k_len); }
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

  store_block(acc, row_tile + local.y * 4u, col0 + local.x * 4u, w_row0);
}

// Epilogue of the GEMM-style entry points: a thread's 4 x 4 block, rows m0..m0+3 of
// the group (output channels w_row0 + m) by columns q0..q0+3 (pixel pix of image n),
// plus bias, activation, stored.
fn store_block(acc: array<vec4<f32>, 4>, m0: u32, q0: u32, w_row0: u32) {
  let pixels = p.out_h * p.out_w;
  if (q0 >= p.batch * pixels) { return; }
  for (var i = 0u; i < 4u; i++) {
    let m = m0 + i;
    if (m >= p.group_out_c) { continue; } // not break: keeps acc in registers
    let o = w_row0 + m;
    let v = activate(acc[i] + vec4<f32>(bias_of(o)));
    if (vec_out()) {
      let n = q0 / pixels;
      let at = (n * p.out_c + o) * pixels + (q0 - n * pixels);
      y[at >> 2u] = vec4<Elem>(v);
    } else {
      for (var j = 0u; j < 4u; j++) {
        let q = q0 + j;
        if (q < p.batch * pixels) {
          let n = q / pixels;
          store_y((n * p.out_c + o) * pixels + (q - n * pixels), v[j]);
        }
      }
    }
  }
}

// ---- conv2d_direct: implicit GEMM without workgroup memory (see the header) ------

@compute @workgroup_size(WG_N, WG_M)
fn conv2d_direct(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_id) local: vec3<u32>,
) {
  let group = wid.z / p.col_fold;
  let col_tile = wid.x + (wid.z % p.col_fold) * nwg.x;
  let m0 = wid.y * 4u * WG_M + local.y * 4u;
  let q0 = col_tile * 4u * WG_N + local.x * 4u;
  let w_row0 = group * p.group_out_c;
  let k_len = p.group_in_c * p.kernel_h * p.kernel_w;
  let cols = columns_of(q0, group);
  // Weight rows of the 4 output channels (a row past the group reads row 0: its sums are never stored).
  var w_at: vec4<u32>;
  for (var i = 0u; i < 4u; i++) { w_at[i] = select(0u, (w_row0 + m0 + i) * k_len, m0 + i < p.group_out_c); }
  var acc: array<vec4<f32>, 4>;
  var k = 0u;
  for (var c = 0u; c < p.group_in_c; c++) {
    let plane = cols.base + vec4<u32>(c * p.in_h * p.in_w);
    for (var kh = 0u; kh < p.kernel_h; kh++) {
      let ih = cols.ih + vec4<i32>(i32(kh * p.dilation_h));
      let row_in = vec4<u32>(ih) < vec4<u32>(p.in_h);
      let row_at = plane + vec4<u32>(ih) * p.in_w;
      for (var kw = 0u; kw < p.kernel_w; kw++) {
        let iw = cols.iw + vec4<i32>(i32(kw * p.dilation_w));
        let inside = row_in & (vec4<u32>(iw) < vec4<u32>(p.in_w));
        let at = row_at + vec4<u32>(iw);
        var xv = vec4<f32>(0.0);
        for (var j = 0u; j < 4u; j++) {
          if (inside[j]) { xv[j] = f32(x[at[j]]); }
        }
        acc[0] += weight(w_at[0] + k) * xv;
        acc[1] += weight(w_at[1] + k) * xv;
        acc[2] += weight(w_at[2] + k) * xv;
        acc[3] += weight(w_at[3] + k) * xv;
        k++;
      }
    }
  }
  store_block(acc, m0, q0, w_row0);
}

// ---- conv2d_depthwise: I == 1 ---------------------------------------------------

@compute @workgroup_size(WG_1D)
fn conv2d_depthwise(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  // One thread per 4-pixel strip of an output row: index = ((n * O + o) * OH + oh) * strips + strip.
  let strips = (p.out_w + 3u) / 4u;
  let t = gid.x + gid.y * nwg.x * WG_1D;
  if (t >= p.batch * p.out_c * p.out_h * strips) { return; }
  let strip = t % strips;
  let row = t / strips; // (n * O + o) * OH + oh
  let oh = row % p.out_h;
  let o = (row / p.out_h) % p.out_c;
  let n = row / (p.out_h * p.out_c);
  let c = o / p.group_out_c; // the one input channel of o's group
  let ow0 = strip * 4u;
  let plane = (n * p.in_c + c) * p.in_h * p.in_w;

  var acc = vec4<f32>(0.0);
  for (var kh = 0u; kh < p.kernel_h; kh++) {
    let ih = i32(oh * p.stride_h + kh * p.dilation_h) - p.pad_top;
    if (ih < 0 || ih >= i32(p.in_h)) { continue; }
    for (var kw = 0u; kw < p.kernel_w; kw++) {
      let wv = weight((o * p.kernel_h + kh) * p.kernel_w + kw);
      for (var j = 0u; j < 4u; j++) {
        let iw = i32((ow0 + j) * p.stride_w + kw * p.dilation_w) - p.pad_left;
        if (iw >= 0 && iw < i32(p.in_w)) {
          acc[j] += wv * f32(x[plane + u32(ih) * p.in_w + u32(iw)]);
        }
      }
    }
  }
  let v = activate(acc + vec4<f32>(bias_of(o)));
  for (var j = 0u; j < 4u; j++) {
    if (ow0 + j < p.out_w) { store_y(row * p.out_w + ow0 + j, v[j]); }
  }
}

// ---- conv2d_naive: the floor ---------------------------------------------------

@compute @workgroup_size(WG_1D)
fn conv2d_naive(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * WG_1D;
  if (i >= p.batch * p.out_c * p.out_h * p.out_w) { return; }
  let ow = i % p.out_w;
  let oh = (i / p.out_w) % p.out_h;
  let o = (i / (p.out_w * p.out_h)) % p.out_c;
  let n = i / (p.out_w * p.out_h * p.out_c);
  let c0 = (o / p.group_out_c) * p.group_in_c;
  var acc = 0.0;
  for (var c = 0u; c < p.group_in_c; c++) {
    for (var kh = 0u; kh < p.kernel_h; kh++) {
      for (var kw = 0u; kw < p.kernel_w; kw++) {
        let ih = i32(oh * p.stride_h + kh * p.dilation_h) - p.pad_top;
        let iw = i32(ow * p.stride_w + kw * p.dilation_w) - p.pad_left;
        if (ih >= 0 && ih < i32(p.in_h) && iw >= 0 && iw < i32(p.in_w)) {
          let xv = f32(x[((n * p.in_c + c0 + c) * p.in_h + u32(ih)) * p.in_w + u32(iw)]);
          acc += xv * weight(((o * p.group_in_c + c) * p.kernel_h + kh) * p.kernel_w + kw);
        }
      }
    }
  }
  store_y(i, activate(vec4<f32>(acc + bias_of(o))).x);
}

// 2-D convolution, gradient w.r.t. the input: dx = conv_transpose(dy, w).
// Also ConvTranspose's forward (dy is then its input, dx its output; with bias
// and activation in the epilogue).
//
// Layout: dy is [N, O, OH, OW], w is OIHW [O, I, KH, KW] (I = C / groups),
// dx is [N, C, H, W], bias [C]; contiguous f32. Gather formulation, no atomics:
//
//   dx[n, c, ih, iw] = sum over o of c's group, kh, kw of dy[n, o, oh, ow] * w[o, c, kh, kw]
//   where oh * stride_h = ih + pad_top - kh * dilation_h (and likewise for ow).
//
// Stride phases: with stride s, an input row ih receives taps only from the kh
// with kh * dilation = ih + pad_top (mod s). Gathering every tap for every
// pixel would multiply mostly zeros (3/4 of them at s = 2), so dx is split
// into its s_h * s_w phases, each a separate GEMM with only the taps that hit
// it (axis_phase below): phase r of an axis holds the rows ih = first + s * j
// (j < count) with (ih + pad) % s == r; its taps are kh = first_tap +
// t * tap_step (t < taps), and then oh = base + j - t * step exactly, with no
// division in the inner loop. A phase with no taps has K = 0 and its pixels
// are written as act(bias) (0 for a gradient). Stride 1 is one phase. All
// phases run in one dispatch (workgroup z), each workgroup computing its
// phase's constants once.
//
// Entry points:
//  - conv2d_grad_input: implicit GEMM per group and phase: rows = input channels
//    of the group (M = I), columns = the phase's pixels of every image
//    (N * rows_h * rows_w), K = (O / groups) * taps_h * taps_w with
//    k = (o, th, tw). Tiling as in conv2d.wgsl / gemm.wgsl: (4 WG_M) x (4 WG_N)
//    tiles, 4 x 4 per thread, TILE_K through workgroup memory, register
//    prefetch. A thread's 4 gather columns (image offset, oh / ow for tap 0)
//    are computed once; per k it decomposes k into (o, th, tw) once for 4 loads.
//    Weight groups are 4 consecutive input channels of one k (stride KH*KW).
//    Workgroups: x = column tile (sized for the largest phase), y = row tile,
//    z = (group * phases + phase) * col_fold + fold.
//  - conv2d_grad_input_direct: the same without workgroup memory, for
//    CPU-backed adapters (DeviceHandle.workgroupTiles false).
//  - conv2d_grad_input_depthwise: one thread per dx element for I == 1.
//
// Bounds: dy taps outside [0, OH) x [0, OW) read 0 (unsigned compares);
// columns past the phase's pixel count get a coordinate far outside dy; rows
// past I load 0 and are not stored. With VEC_OUT (stride 1 and H * W % 4 == 0)
// a thread's 4 pixels are stored as one vec4.
//
// Flags: VEC_OUT and ACT choose code paths but size nothing (only WG_M, WG_N
// and TILE_K do). Each is an override that is either its value (0 / 1, an ACT
// code) or DYNAMIC, which makes the kernel read the uniform field of the same
// name (p.vec_out for VEC_OUT) through the helpers below. A GPU gets the
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
  vec_out: u32,
  act: u32,
}

// DYNAMIC and flag(): shaders/flags.wgsl.
{{FLAGS}}

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
const FAR_OUTSIDE: i32 = -1073741824;

@group(0) @binding(0) var<storage, read> dy: array<Elem>;
@group(0) @binding(1) var<storage, read> w: array<Elem>;
@group(0) @binding(2) var<storage, read> bias: array<Elem>;
@group(0) @binding(3) var<storage, read_write> dx: array<vec4<Elem>>;
@group(0) @binding(4) var<uniform> p: Params;

var<workgroup> a_tile: array<vec4<f32>, TILE_K * WG_M>; // weights [k][c / 4]
var<workgroup> b_tile: array<vec4<f32>, TILE_K * WG_N>; // dy taps [k][column / 4]

// The flags: the override's value, or the uniform's when it is DYNAMIC.
fn vec_out() -> bool { return flag(VEC_OUT, p.vec_out); }

// activate(v): the fused activation, from shaders/epilogue.wgsl.
{{EPILOGUE}}

fn store_dx(i: u32, v: f32) {
  dx[i >> 2u][i & 3u] = Elem(v);
}

fn bias_of(c: u32) -> f32 {
  return select(0.0, f32(bias[c]), p.has_bias != 0u);
}

// ---- conv2d_grad_input: implicit GEMM ----------------------------------------

// One axis of a stride phase (see the header).
struct AxisPhase {
  first: u32,     // first dx coordinate of the phase
  count: u32,     // dx coordinates in the phase
  first_tap: u32, // kernel taps reaching it: first_tap + t * tap_step, t < taps
  tap_step: u32,
  taps: u32,
  base: i32,      // dy coordinate of tap 0 for the phase's first coordinate
  step: u32,      // its decrease per tap
}

fn gcd(a0: u32, b0: u32) -> u32 {
  var a = a0;
  var b = b0;
  while (b != 0u) {
    let t = a % b;
    a = b;
    b = t;
  }
  return a;
}

// Phase r of an axis: dx coordinates i with (i + pad) % stride == r.
fn axis_phase(r: u32, size: u32, kernel: u32, stride: u32, dilation: u32, pad: u32) -> AxisPhase {
  var ph: AxisPhase;
  ph.first = (r + stride - pad % stride) % stride;
  ph.count = select(0u, (size - ph.first + stride - 1u) / stride, ph.first < size);
  // Tap k reaches the phase when k * dilation == r (mod stride); solutions repeat every tap_step.
  ph.tap_step = stride / gcd(stride, dilation);
  ph.first_tap = kernel;
  for (var k = 0u; k < min(kernel, ph.tap_step); k++) {
    if ((k * dilation) % stride == r) {
      ph.first_tap = k;
      break;
    }
  }
  if (ph.first_tap < kernel) {
    ph.taps = (kernel - ph.first_tap + ph.tap_step - 1u) / ph.tap_step;
    ph.base = (i32(ph.first + pad) - i32(ph.first_tap * dilation)) / i32(stride); // exact
    ph.step = ph.tap_step * dilation / stride;
  }
  return ph;
}

// Where a GEMM-style workgroup works: its group, the stride phase's two axes
// and its column tile (workgroup z = (group * phases + phase) * col_fold + fold).
struct Place {
  group: u32,
  ph: AxisPhase,
  pw: AxisPhase,
  col_tile: u32,
}

fn place_of(wid: vec3<u32>, nwg: vec3<u32>) -> Place {
  let phases = p.stride_h * p.stride_w;
  let group_phase = wid.z / p.col_fold;
  let phase = group_phase % phases;
  var at: Place;
  at.group = group_phase / phases;
  at.ph = axis_phase(phase / p.stride_w, p.in_h, p.kernel_h, p.stride_h, p.dilation_h, u32(p.pad_top));
  at.pw = axis_phase(phase % p.stride_w, p.in_w, p.kernel_w, p.stride_w, p.dilation_w, u32(p.pad_left));
  at.col_tile = wid.x + (wid.z % p.col_fold) * nwg.x;
  return at;
}

// A thread's 4 columns: dy offset of (n, group's first channel), and the dy
// coordinate that tap (th, tw) = (0, 0) reads.
struct Columns {
  base: vec4<u32>,
  oh: vec4<i32>,
  ow: vec4<i32>,
}

fn columns_of(first: u32, group: u32, ph: AxisPhase, pw: AxisPhase) -> Columns {
  let pixels = ph.count * pw.count;
  let total = p.batch * pixels;
  var cols: Columns;
  for (var j = 0u; j < 4u; j++) {
    let q = first + j;
    let n = q / max(pixels, 1u);
    let pix = q - n * pixels;
    let jh = pix / max(pw.count, 1u);
    let jw = pix - jh * pw.count;
    cols.base[j] = (n * p.out_c + group * p.group_out_c) * p.out_h * p.out_w;
    cols.oh[j] = select(FAR_OUTSIDE, ph.base + i32(jh), q < total);
    cols.ow[j] = pw.base + i32(jw);
  }
  return cols;
}

// k = (o, th, tw) as a vector.
fn split_k(k: u32, ph: AxisPhase, pw: AxisPhase) -> vec3<u32> {
  let taps = ph.taps * pw.taps;
  let o = k / taps;
  let r = k - o * taps;
  let th = r / pw.taps;
  return vec3<u32>(o, th, r - th * pw.taps);
}

fn gather(cols: Columns, k: u32, k_len: u32, ph: AxisPhase, pw: AxisPhase) -> vec4<f32> {
  var v = vec4<f32>(0.0);
  if (k >= k_len) { return v; }
  let t = split_k(k, ph, pw);
  let oh = cols.oh - vec4<i32>(i32(t.y * ph.step));
  let ow = cols.ow - vec4<i32>(i32(t.z * pw.step));
  let inside = (vec4<u32>(oh) < vec4<u32>(p.out_h)) & (vec4<u32>(ow) < vec4<u32>(p.out_w));
  let at = cols.base + vec4<u32>(t.x * p.out_h * p.out_w) + vec4<u32>(oh) * p.out_w + vec4<u32>(ow);
  for (var j = 0u; j < 4u; j++) {
    if (inside[j]) { v[j] = f32(dy[at[j]]); }
  }
  return v;
}

// Weight group g: w[first_o + o, c .. c + 3, kh, kw] for one k = (o, th, tw).
fn fetch_w(g: u32, first_o: u32, row0: u32, k0: u32, k_len: u32, ph: AxisPhase, pw: AxisPhase) -> vec4<f32> {
  let c = row0 + (g % WG_M) * 4u;
  let k = k0 + g / WG_M;
  var v = vec4<f32>(0.0);
  if (k >= k_len) { return v; }
  let t = split_k(k, ph, pw);
  let kh = ph.first_tap + t.y * ph.tap_step;
  let kw = pw.first_tap + t.z * pw.tap_step;
  let taps = p.kernel_h * p.kernel_w;
  let at = (first_o + t.x) * p.group_in_c * taps + kh * p.kernel_w + kw;
  for (var j = 0u; j < 4u; j++) {
    if (c + j < p.group_in_c) { v[j] = f32(w[at + (c + j) * taps]); }
  }
  return v;
}

@compute @workgroup_size(WG_N, WG_M)
fn conv2d_grad_input(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_id) local: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let threads = WG_M * WG_N;
  let place = place_of(wid, nwg);
  let group = place.group;
  let ph = place.ph;
  let pw = place.pw;
  let col_tile = place.col_tile;
  let row_tile = wid.y * 4u * WG_M;
  let col0 = col_tile * 4u * WG_N;
  let k_len = p.group_out_c * ph.taps * pw.taps;
  let first_o = group * p.group_out_c;

  let my_cols = columns_of(col0 + (lid % WG_N) * 4u, group, ph, pw);
  let gather_rows = threads / WG_N;
  let groups_a = TILE_K * WG_M;

  var acc: array<vec4<f32>, 4>;
  var a_next: array<vec4<f32>, MAX_LOADS>;
  var b_next: array<vec4<f32>, MAX_LOADS>;

  for (var i = 0u; i < LOADS_A; i++) {
    let g = lid + i * threads;
    if (g < groups_a) { a_next[i] = fetch_w(g, first_o, row_tile, 0u, k_len, ph, pw); }
  }
  for (var i = 0u; i < LOADS_B; i++) {
    let kr = lid / WG_N + i * gather_rows;
    if (kr < TILE_K) { b_next[i] = gather(my_cols, kr, k_len, ph, pw); }
  }

  let tiles = (k_len + TILE_K - 1u) / TILE_K;
  for (var t = 0u; t < tiles; t++) {
    workgroupBarrier();
    for (var i = 0u; i < LOADS_A; i++) {
      let g = lid + i * threads;
      if (g < groups_a) { a_tile[g] = a_next[i]; } // g = k * WG_M + c / 4
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
        if (g < groups_a) { a_next[i] = fetch_w(g, first_o, row_tile, k0, k_len, ph, pw); }
      }
      for (var i = 0u; i < LOADS_B; i++) {
        let kr = lid / WG_N + i * gather_rows;
        if (kr < TILE_K) { b_next[i] = gather(my_cols, k0 + kr, k_len, ph, pw); }
      }
    }
    for (var kk = 0u; kk < TILE_K; kk++) {
      let av = a_tile[kk * WG_M + local.y];
      let bv = b_tile[kk * WG_N + local.x];
      acc[0] += av.x * bv;
      acc[1] += av.y * bv;
      acc[2] += av.z * bv;
      acc[3] += av.w * bv;
    }
  }

  store_block(acc, row_tile + local.y * 4u, col0 + local.x * 4u, group, ph, pw);
}

// Epilogue of the GEMM-style entry points: a thread's 4 x 4 block, input
// channels m0..m0+3 of the group by the phase's columns q0..q0+3 (phase pixel
// (jh, jw) of image n), plus bias, activation, stored.
fn store_block(acc: array<vec4<f32>, 4>, m0: u32, q0: u32, group: u32, ph: AxisPhase, pw: AxisPhase) {
  let pixels = ph.count * pw.count;
  let total = p.batch * pixels;
  if (q0 >= total) { return; }
  let plane = p.in_h * p.in_w;
  for (var i = 0u; i < 4u; i++) {
    let m = m0 + i;
    if (m >= p.group_in_c) { continue; } // not break: keeps acc in registers
    let c = group * p.group_in_c + m;
    let v = activate(acc[i] + vec4<f32>(bias_of(c)));
    if (vec_out()) {
      // Stride 1: the phase is the whole image and 4 columns are 4 adjacent pixels.
      let n = q0 / pixels;
      let at = (n * p.in_c + c) * plane + (q0 - n * pixels);
      dx[at >> 2u] = vec4<Elem>(v);
    } else {
      for (var j = 0u; j < 4u; j++) {
        let q = q0 + j;
        if (q < total) {
          let n = q / pixels;
          let pix = q - n * pixels;
          let jh = pix / pw.count;
          let ih = ph.first + jh * p.stride_h;
          let iw = pw.first + (pix - jh * pw.count) * p.stride_w;
          store_dx((n * p.in_c + c) * plane + ih * p.in_w + iw, v[j]);
        }
      }
    }
  }
}

// ---- conv2d_grad_input_direct: the implicit GEMM without workgroup memory -------
//
// For CPU-backed adapters (DeviceHandle.workgroupTiles false; why: gemm.wgsl's
// gemm_direct). Same phases, columns and epilogue as conv2d_grad_input; a
// thread walks k = (o, th, tw) as three nested loops (no division per k),
// gathering its 4 columns' dy taps and reading its 4 input channels' weights
// directly: 4 + 4 loads, 16 FMAs per k, no barrier.

@compute @workgroup_size(WG_N, WG_M)
fn conv2d_grad_input_direct(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_id) local: vec3<u32>,
) {
  let place = place_of(wid, nwg);
  let group = place.group;
  let ph = place.ph;
  let pw = place.pw;
  let col_tile = place.col_tile;
  let m0 = wid.y * 4u * WG_M + local.y * 4u;
  let q0 = col_tile * 4u * WG_N + local.x * 4u;
  let first_o = group * p.group_out_c;
  let cols = columns_of(q0, group, ph, pw);
  let taps = p.kernel_h * p.kernel_w;
  // Weight offsets of the 4 input channels (a channel past the group reads the last: never stored).
  var w_c: vec4<u32>;
  for (var i = 0u; i < 4u; i++) { w_c[i] = min(m0 + i, p.group_in_c - 1u) * taps; }
  var acc: array<vec4<f32>, 4>;
  for (var o = 0u; o < p.group_out_c; o++) {
    let plane = cols.base + vec4<u32>(o * p.out_h * p.out_w);
    let w_o = (first_o + o) * p.group_in_c * taps;
    for (var th = 0u; th < ph.taps; th++) {
      let oh = cols.oh - vec4<i32>(i32(th * ph.step));
      let row_in = vec4<u32>(oh) < vec4<u32>(p.out_h);
      let row_at = plane + vec4<u32>(oh) * p.out_w;
      let w_h = w_o + (ph.first_tap + th * ph.tap_step) * p.kernel_w;
      for (var tw = 0u; tw < pw.taps; tw++) {
        let ow = cols.ow - vec4<i32>(i32(tw * pw.step));
        let inside = row_in & (vec4<u32>(ow) < vec4<u32>(p.out_w));
        let at = row_at + vec4<u32>(ow);
        var bv = vec4<f32>(0.0);
        for (var j = 0u; j < 4u; j++) {
          if (inside[j]) { bv[j] = f32(dy[at[j]]); }
        }
        let wk = w_h + pw.first_tap + tw * pw.tap_step;
        acc[0] += f32(w[wk + w_c[0]]) * bv;
        acc[1] += f32(w[wk + w_c[1]]) * bv;
        acc[2] += f32(w[wk + w_c[2]]) * bv;
        acc[3] += f32(w[wk + w_c[3]]) * bv;
      }
    }
  }
  store_block(acc, m0, q0, group, ph, pw);
}

// ---- direct kernels (depthwise, narrow) -------------------------------------------

// The dy row (or column) that dx coordinate `i` reads through kernel tap `k`:
// i + pad - k * dilation = o * stride. -1 when the tap falls between strides
// or outside dy.
fn tap_source(i: u32, pad: i32, k: u32, dilation: u32, stride: u32, out_len: u32) -> i32 {
  let t = i32(i) + pad - i32(k * dilation);
  if (t < 0 || t % i32(stride) != 0) { return -1; }
  let o = u32(t) / stride;
  return select(-1, i32(o), o < out_len);
}

// ---- conv2d_grad_input_depthwise: I == 1 ---------------------------------------

@compute @workgroup_size(WG_1D)
fn conv2d_grad_input_depthwise(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * WG_1D;
  if (i >= p.batch * p.in_c * p.in_h * p.in_w) { return; }
  let iw = i % p.in_w;
  let ih = (i / p.in_w) % p.in_h;
  let c = (i / (p.in_w * p.in_h)) % p.in_c;
  let n = i / (p.in_w * p.in_h * p.in_c);
  var acc = 0.0;
  // Channel c feeds output channels c * multiplier .. c * multiplier + multiplier - 1.
  for (var m = 0u; m < p.group_out_c; m++) {
    let o = c * p.group_out_c + m;
    let dy_plane = (n * p.out_c + o) * p.out_h * p.out_w;
    for (var kh = 0u; kh < p.kernel_h; kh++) {
      let oh = tap_source(ih, p.pad_top, kh, p.dilation_h, p.stride_h, p.out_h);
      if (oh < 0) { continue; }
      for (var kw = 0u; kw < p.kernel_w; kw++) {
        let ow = tap_source(iw, p.pad_left, kw, p.dilation_w, p.stride_w, p.out_w);
        if (ow < 0) { continue; }
        acc += f32(dy[dy_plane + u32(oh) * p.out_w + u32(ow)]) * f32(w[(o * p.kernel_h + kh) * p.kernel_w + kw]);
      }
    }
  }
  store_dx(i, activate(vec4<f32>(acc + bias_of(c))).x);
}

// ---- conv2d_grad_input_narrow: 1 < I <= 4 (an RGB first layer) -----------------
//
// With few input channels per group the GEMM's rows (M = I) fill a 16-row tile
// to 3/16, so most of its work is padding. Here one thread owns one pixel of
// one group and keeps all I (<= 4) input channels in a vec4 accumulator: every
// dy value it loads is used I times. Threads are ordered by stride phase
// (n, group, phase_h, phase_w, jh, jw with ih = phase_h + stride_h * jh), so a
// run of neighbouring threads takes the same taps: no divergence on the
// `% stride` tests, and their dy reads are contiguous.

@compute @workgroup_size(WG_1D)
fn conv2d_grad_input_narrow(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let groups = p.in_c / p.group_in_c;
  let rows_h = (p.in_h + p.stride_h - 1u) / p.stride_h;
  let rows_w = (p.in_w + p.stride_w - 1u) / p.stride_w;
  let i = gid.x + gid.y * nwg.x * WG_1D;
  if (i >= p.batch * groups * p.stride_h * p.stride_w * rows_h * rows_w) { return; }
  let jw = i % rows_w;
  let jh = (i / rows_w) % rows_h;
  let phase = (i / (rows_w * rows_h)) % (p.stride_h * p.stride_w);
  let grp = (i / (rows_w * rows_h * p.stride_h * p.stride_w)) % groups;
  let n = i / (rows_w * rows_h * p.stride_h * p.stride_w * groups);
  let ih = phase / p.stride_w + p.stride_h * jh;
  let iw = phase % p.stride_w + p.stride_w * jw;
  if (ih >= p.in_h || iw >= p.in_w) { return; }
  let taps = p.kernel_h * p.kernel_w;
  var acc = vec4<f32>(0.0);
  for (var kh = 0u; kh < p.kernel_h; kh++) {
    let oh = tap_source(ih, p.pad_top, kh, p.dilation_h, p.stride_h, p.out_h);
    if (oh < 0) { continue; }
    for (var kw = 0u; kw < p.kernel_w; kw++) {
      let ow = tap_source(iw, p.pad_left, kw, p.dilation_w, p.stride_w, p.out_w);
      if (ow < 0) { continue; }
      let tap = kh * p.kernel_w + kw;
      for (var m = 0u; m < p.group_out_c; m++) {
        let o = grp * p.group_out_c + m;
        let g = f32(dy[((n * p.out_c + o) * p.out_h + u32(oh)) * p.out_w + u32(ow)]);
        // w[o, ci, kh, kw] for ci = 0..I-1 are `taps` apart; lanes past I stay 0.
        let base = o * p.group_in_c * taps + tap;
        let wv = vec4<f32>(
          f32(w[base]),
          select(0.0, f32(w[min(base + taps, base + (p.group_in_c - 1u) * taps)]), p.group_in_c > 1u),
          select(0.0, f32(w[min(base + 2u * taps, base + (p.group_in_c - 1u) * taps)]), p.group_in_c > 2u),
          select(0.0, f32(w[min(base + 3u * taps, base + (p.group_in_c - 1u) * taps)]), p.group_in_c > 3u),
        );
        acc += g * wv;
      }
    }
  }
  for (var ci = 0u; ci < p.group_in_c; ci++) {
    let c = grp * p.group_in_c + ci;
    let out = ((n * p.in_c + c) * p.in_h + ih) * p.in_w + iw;
    store_dx(out, activate(vec4<f32>(acc[ci] + bias_of(c))).x);
  }
}

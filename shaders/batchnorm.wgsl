// Batch normalization over [N, C, spatial...], forward and backward, for both
// the inference form (given mean and variance) and the training form (batch
// statistics).  y = (x - mean[c]) / sqrt(variance[c] + epsilon) * scale[c] + bias[c].
//
// Layout: x, y, gy and gx are contiguous f32 viewed as [N, C, S] (S = product
// of the dims after C, 1 for [N, C]); per-channel vectors are [C]. Element e
// (e < M = N * S) of channel c sits at ((e / S) * C + c) * S + e % S.
//
// Three kinds of kernels:
//  - per element (batchnorm_apply, batchnorm_grad_input, batchnorm_train_grad_input):
//    one thread per element of x, channel (i / S) % C; the 1D index is split
//    over a 2D grid past 65535 workgroups and threads past `n` return.
//  - per (channel, part) (batchnorm_partial_stats, batchnorm_partial_grad): the
//    channel reductions in parallel. Each channel's M elements are cut into
//    `parts` chunks of `chunk` consecutive e (the last may be shorter, none is
//    empty); workgroup w = c * parts + part (linearized over a 2D grid) reduces
//    one chunk: its WG threads stride over it, so neighbouring threads read
//    neighbouring spatial positions, and combine with a tree in workgroup
//    memory. The host picks `parts` so that a chunk is about 16 elements per
//    thread: small channels get one workgroup, large ones many (no thread loops
//    over a whole channel). Workgroups past the last load and store nothing but
//    still reach every barrier.
//  - per channel (batchnorm_combine_*): one thread per channel folds its
//    `parts` partial results (at most a few thousand) into the final values.
//
// Statistics are two-pass inside a chunk (chunk mean, then the sum of squared
// deviations from it, avoiding the cancellation of E[x^2] - E[x]^2); chunks
// combine exactly: M2 = sum_p M2_p + n_p (mean_p - mean)^2. The variance is the
// biased (population) one that PyTorch and ONNX normalize with.

struct Params {
  n: u32,
  channels: u32,
  spatial: u32,
  batch: u32,
  epsilon: f32,
  parts: u32,
  chunk: u32,
}

override WG: u32 = 256u;

@group(0) @binding(0) var<storage, read> x: array<Elem>;
@group(0) @binding(1) var<storage, read> scale: array<Elem>;
@group(0) @binding(2) var<storage, read> bias: array<Elem>;
// The statistics normalized with: running ones (inference) or the batch's (training).
@group(0) @binding(3) var<storage, read> mean: array<Elem>;
@group(0) @binding(4) var<storage, read> variance: array<Elem>;
@group(0) @binding(5) var<storage, read_write> y: array<Elem>;
// Batch statistics written by batchnorm_stats.
@group(0) @binding(6) var<storage, read_write> batch_mean: array<Elem>;
@group(0) @binding(7) var<storage, read_write> batch_var: array<Elem>;
@group(0) @binding(8) var<storage, read> gy: array<Elem>;
@group(0) @binding(9) var<storage, read_write> gx: array<Elem>;
// Per-channel sums written by batchnorm_combine_grad*: gbias = sum gy,
// gscale = sum gy * xhat (read back by batchnorm_train_grad_input).
@group(0) @binding(10) var<storage, read_write> gscale: array<Elem>;
@group(0) @binding(11) var<storage, read_write> gbias: array<Elem>;
// Inference form: gradients of the mean and variance inputs.
@group(0) @binding(12) var<storage, read_write> gmean: array<Elem>;
@group(0) @binding(13) var<storage, read_write> gvar: array<Elem>;
// Training form: gradients arriving at the batch mean and variance outputs.
@group(0) @binding(14) var<storage, read> gy_mean: array<Elem>;
@group(0) @binding(15) var<storage, read> gy_var: array<Elem>;
// Partial results per (channel, part), indexed c * parts + part: chunk mean and
// sum of squared deviations (forward), sums of gy and gy * (x - mean) (backward);
// f32 in every storage precision (a chunk's sum of squares would overflow f16).
@group(0) @binding(16) var<storage, read_write> part_mean: array<f32>;
@group(0) @binding(17) var<storage, read_write> part_m2: array<f32>;
@group(0) @binding(18) var<storage, read_write> part_gy: array<f32>;
@group(0) @binding(19) var<storage, read_write> part_gyc: array<f32>;
@group(0) @binding(20) var<uniform> p: Params;

fn thread_index(gid: vec3<u32>, nwg: vec3<u32>) -> u32 {
  return gid.x + gid.y * nwg.x * WG;
}

fn channel_of(i: u32) -> u32 {
  return (i / p.spatial) % p.channels;
}

// Offset of element e of channel c.
fn channel_offset(c: u32, e: u32) -> u32 {
  return ((e / p.spatial) * p.channels + c) * p.spatial + e % p.spatial;
}

fn inv_std(c: u32) -> f32 {
  return 1.0 / sqrt(f32(variance[c]) + p.epsilon);
}

// workgroup_sum: from shaders/workgroup-reduce.wgsl.
{{WORKGROUP_REDUCE}}

// Elements of chunk `part` (the last chunk may be shorter).
fn part_count(part: u32) -> u32 {
  return min(p.chunk, p.batch * p.spatial - part * p.chunk);
}

// ---- forward -------------------------------------------------------------------

// part_mean[w] = mean of the chunk; part_m2[w] = sum over the chunk of (x - part_mean[w])^2
@compute @workgroup_size(WG)
fn batchnorm_partial_stats(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let w = wid.x + wid.y * nwg.x;
  let c = w / p.parts;
  let first = (w % p.parts) * p.chunk;
  let in_range = c < p.channels;
  let count = select(0u, part_count(w % p.parts), in_range);
  var s = 0.0;
  for (var k = lid; k < count; k += WG) { s += f32(x[channel_offset(c, first + k)]); }
  let m = workgroup_sum(s, lid) / f32(max(count, 1u));
  var q = 0.0;
  for (var k = lid; k < count; k += WG) {
    let d = f32(x[channel_offset(c, first + k)]) - m;
    q += d * d;
  }
  let m2 = workgroup_sum(q, lid);
  if (in_range && lid == 0u) {
    part_mean[w] = m;
    part_m2[w] = m2;
  }
}

// mean = sum_p n_p mean_p / M;  var = sum_p (M2_p + n_p (mean_p - mean)^2) / M
@compute @workgroup_size(WG)
fn batchnorm_combine_stats(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let c = thread_index(gid, nwg);
  if (c >= p.channels) { return; }
  let base = c * p.parts;
  let total = f32(p.batch * p.spatial);
  var s = 0.0;
  for (var q = 0u; q < p.parts; q++) { s += f32(part_count(q)) * part_mean[base + q]; }
  let m = s / total;
  var m2 = 0.0;
  for (var q = 0u; q < p.parts; q++) {
    let d = part_mean[base + q] - m;
    m2 += part_m2[base + q] + f32(part_count(q)) * d * d;
  }
  batch_mean[c] = Elem(m);
  batch_var[c] = Elem(m2 / total);
}

@compute @workgroup_size(WG)
fn batchnorm_apply(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = thread_index(gid, nwg);
  if (i >= p.n) { return; }
  let c = channel_of(i);
  y[i] = Elem((f32(x[i]) - f32(mean[c])) * inv_std(c) * f32(scale[c]) + f32(bias[c]));
}

// ---- backward ------------------------------------------------------------------

// part_gy[w] = sum of gy over the chunk; part_gyc[w] = sum of gy * (x - mean[c])
@compute @workgroup_size(WG)
fn batchnorm_partial_grad(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let w = wid.x + wid.y * nwg.x;
  let c = w / p.parts;
  let first = (w % p.parts) * p.chunk;
  let in_range = c < p.channels;
  let count = select(0u, part_count(w % p.parts), in_range);
  var mu = 0.0;
  if (in_range) { mu = f32(mean[c]); }
  var sum_gy = 0.0;
  var sum_gyc = 0.0;
  for (var k = lid; k < count; k += WG) {
    let at = channel_offset(c, first + k);
    let g = f32(gy[at]);
    sum_gy += g;
    sum_gyc += g * (f32(x[at]) - mu);
  }
  let total_gy = workgroup_sum(sum_gy, lid);
  let total_gyc = workgroup_sum(sum_gyc, lid);
  if (in_range && lid == 0u) {
    part_gy[w] = total_gy;
    part_gyc[w] = total_gyc;
  }
}

// (sum dy, sum dy * xhat) of channel c from its parts.
fn combined_grad_sums(c: u32) -> vec2<f32> {
  var sum_gy = 0.0;
  var sum_gyc = 0.0;
  for (var q = 0u; q < p.parts; q++) {
    sum_gy += part_gy[c * p.parts + q];
    sum_gyc += part_gyc[c * p.parts + q];
  }
  return vec2<f32>(sum_gy, sum_gyc * inv_std(c));
}

// dbias[c] = sum dy;  dscale[c] = sum dy * xhat
@compute @workgroup_size(WG)
fn batchnorm_combine_grad(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let c = thread_index(gid, nwg);
  if (c >= p.channels) { return; }
  let sums = combined_grad_sums(c);
  gbias[c] = Elem(sums.x);
  gscale[c] = Elem(sums.y);
}

// As batchnorm_combine_grad, plus the inference form's statistics inputs:
// dmean[c] = -scale * inv_std * sum dy;  dvar[c] = -scale * inv_std^2 / 2 * sum dy * xhat
@compute @workgroup_size(WG)
fn batchnorm_combine_grad_stats(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let c = thread_index(gid, nwg);
  if (c >= p.channels) { return; }
  let sums = combined_grad_sums(c);
  let inv = inv_std(c);
  gbias[c] = Elem(sums.x);
  gscale[c] = Elem(sums.y);
  gmean[c] = Elem(-f32(scale[c]) * inv * sums.x);
  gvar[c] = Elem(-0.5 * f32(scale[c]) * inv * inv * sums.y);
}

// Inference form: dx = dy * scale * inv_std
@compute @workgroup_size(WG)
fn batchnorm_grad_input(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = thread_index(gid, nwg);
  if (i >= p.n) { return; }
  let c = channel_of(i);
  gx[i] = Elem(f32(gy[i]) * f32(scale[c]) * inv_std(c));
}

// Training form, through the batch statistics (M = N * S elements per channel):
// dx = scale * inv_std * (dy - (sum dy + xhat * sum dy * xhat) / M) + (dmean_out + 2 (x - mean) dvar_out) / M
@compute @workgroup_size(WG)
fn batchnorm_train_grad_input(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = thread_index(gid, nwg);
  if (i >= p.n) { return; }
  let c = channel_of(i);
  let m = f32(p.batch * p.spatial);
  let inv = inv_std(c);
  let centered = f32(x[i]) - f32(mean[c]);
  let xhat = centered * inv;
  let through_stats = (f32(gy_mean[c]) + 2.0 * centered * f32(gy_var[c])) / m;
  gx[i] = Elem(f32(scale[c]) * inv * (f32(gy[i]) - (f32(gbias[c]) + xhat * f32(gscale[c])) / m) + through_stats);
}

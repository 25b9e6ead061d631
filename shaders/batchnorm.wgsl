// Batch normalization over [N, C, spatial...], forward and backward, for both
// the inference form (given mean and variance) and the training form (batch
// statistics).  y = (x - mean[c]) / sqrt(variance[c] + epsilon) * scale[c] + bias[c].
//
// Layout: x, y, gy and gx are contiguous f32 viewed as [N, C, S] (S = product
// of the dims after C, 1 for [N, C]); per-channel vectors are [C]. Element e
// (e < N * S) of channel c sits at ((e / S) * C + c) * S + e % S.
//
// Two kinds of kernels:
//  - per element (batchnorm_apply, batchnorm_grad_input, batchnorm_train_grad_input):
//    one thread per element of x, channel (i / S) % C; the 1D index is split
//    over a 2D grid past 65535 workgroups and threads past `n` return.
//  - per channel (batchnorm_stats, batchnorm_channel_grad, batchnorm_channel_grad_stats):
//    one workgroup per channel (id linearized over a 2D grid). The WG threads
//    stride over the channel's N * S elements, so neighbouring threads read
//    neighbouring spatial positions, and combine their partial sums with a
//    tree in workgroup memory. Workgroups past C load and store nothing but
//    still reach every barrier.
//
// Statistics take two passes over x (mean, then mean squared deviation), which
// avoids the cancellation of E[x^2] - E[x]^2. The variance is the biased
// (population) one that PyTorch and ONNX normalize with.

struct Params {
  n: u32,
  channels: u32,
  spatial: u32,
  batch: u32,
  epsilon: f32,
}

override WG: u32 = 256u;

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> scale: array<f32>;
@group(0) @binding(2) var<storage, read> bias: array<f32>;
// The statistics normalized with: running ones (inference) or the batch's (training).
@group(0) @binding(3) var<storage, read> mean: array<f32>;
@group(0) @binding(4) var<storage, read> variance: array<f32>;
@group(0) @binding(5) var<storage, read_write> y: array<f32>;
// Batch statistics written by batchnorm_stats.
@group(0) @binding(6) var<storage, read_write> batch_mean: array<f32>;
@group(0) @binding(7) var<storage, read_write> batch_var: array<f32>;
@group(0) @binding(8) var<storage, read> gy: array<f32>;
@group(0) @binding(9) var<storage, read_write> gx: array<f32>;
// Per-channel sums written by the channel-gradient kernels: gbias = sum gy,
// gscale = sum gy * xhat (read back by batchnorm_train_grad_input).
@group(0) @binding(10) var<storage, read_write> gscale: array<f32>;
@group(0) @binding(11) var<storage, read_write> gbias: array<f32>;
// Inference form: gradients of the mean and variance inputs.
@group(0) @binding(12) var<storage, read_write> gmean: array<f32>;
@group(0) @binding(13) var<storage, read_write> gvar: array<f32>;
// Training form: gradients arriving at the batch mean and variance outputs.
@group(0) @binding(14) var<storage, read> gy_mean: array<f32>;
@group(0) @binding(15) var<storage, read> gy_var: array<f32>;
@group(0) @binding(16) var<uniform> p: Params;

var<workgroup> partial: array<f32, WG>;

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
  return 1.0 / sqrt(variance[c] + p.epsilon);
}

// Sum over the workgroup; every thread gets it. Call from uniform control flow.
fn workgroup_sum(v: f32, lid: u32) -> f32 {
  partial[lid] = v;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride = stride / 2u) {
    if (lid < stride) { partial[lid] += partial[lid + stride]; }
    workgroupBarrier();
  }
  let total = partial[0];
  workgroupBarrier(); // everyone has read partial[0] before it is reused
  return total;
}

// ---- forward -------------------------------------------------------------------

// batch_mean[c] = mean of x over N and S; batch_var[c] = mean of (x - batch_mean[c])^2
@compute @workgroup_size(WG)
fn batchnorm_stats(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let c = wid.x + wid.y * nwg.x;
  let in_range = c < p.channels;
  let count = select(0u, p.batch * p.spatial, in_range);
  var s = 0.0;
  for (var e = lid; e < count; e += WG) { s += x[channel_offset(c, e)]; }
  let m = workgroup_sum(s, lid) / f32(max(count, 1u));
  var q = 0.0;
  for (var e = lid; e < count; e += WG) {
    let d = x[channel_offset(c, e)] - m;
    q += d * d;
  }
  let v = workgroup_sum(q, lid) / f32(max(count, 1u));
  if (in_range && lid == 0u) {
    batch_mean[c] = m;
    batch_var[c] = v;
  }
}

@compute @workgroup_size(WG)
fn batchnorm_apply(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = thread_index(gid, nwg);
  if (i >= p.n) { return; }
  let c = channel_of(i);
  y[i] = (x[i] - mean[c]) * inv_std(c) * scale[c] + bias[c];
}

// ---- backward ------------------------------------------------------------------

// (sum of gy, sum of gy * xhat) over channel c, xhat = (x - mean) * inv_std.
fn channel_grad_sums(c: u32, in_range: bool, lid: u32) -> vec2<f32> {
  let count = select(0u, p.batch * p.spatial, in_range);
  var mu = 0.0;
  if (in_range) { mu = mean[c]; }
  var sum_gy = 0.0;
  var sum_gy_centered = 0.0;
  for (var e = lid; e < count; e += WG) {
    let at = channel_offset(c, e);
    let g = gy[at];
    sum_gy += g;
    sum_gy_centered += g * (x[at] - mu);
  }
  var inv = 0.0;
  if (in_range) { inv = inv_std(c); }
  return vec2<f32>(workgroup_sum(sum_gy, lid), workgroup_sum(sum_gy_centered, lid) * inv);
}

// dbias[c] = sum dy;  dscale[c] = sum dy * xhat
@compute @workgroup_size(WG)
fn batchnorm_channel_grad(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let c = wid.x + wid.y * nwg.x;
  let in_range = c < p.channels;
  let sums = channel_grad_sums(c, in_range, lid);
  if (in_range && lid == 0u) {
    gbias[c] = sums.x;
    gscale[c] = sums.y;
  }
}

// As batchnorm_channel_grad, plus the inference form's statistics inputs:
// dmean[c] = -scale * inv_std * sum dy;  dvar[c] = -scale * inv_std^2 / 2 * sum dy * xhat
@compute @workgroup_size(WG)
fn batchnorm_channel_grad_stats(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let c = wid.x + wid.y * nwg.x;
  let in_range = c < p.channels;
  let sums = channel_grad_sums(c, in_range, lid);
  if (in_range && lid == 0u) {
    let inv = inv_std(c);
    gbias[c] = sums.x;
    gscale[c] = sums.y;
    gmean[c] = -scale[c] * inv * sums.x;
    gvar[c] = -0.5 * scale[c] * inv * inv * sums.y;
  }
}

// Inference form: dx = dy * scale * inv_std
@compute @workgroup_size(WG)
fn batchnorm_grad_input(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = thread_index(gid, nwg);
  if (i >= p.n) { return; }
  let c = channel_of(i);
  gx[i] = gy[i] * scale[c] * inv_std(c);
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
  let centered = x[i] - mean[c];
  let xhat = centered * inv;
  let through_stats = (gy_mean[c] + 2.0 * centered * gy_var[c]) / m;
  gx[i] = scale[c] * inv * (gy[i] - (gbias[c] + xhat * gscale[c]) / m) + through_stats;
}

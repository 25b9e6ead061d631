// Tree reductions over one workgroup, pasted into batchnorm.wgsl and
// softmax.wgsl at their {{WORKGROUP_REDUCE}} slot (those files declare the
// override WG, a power of two). Every thread gets the result; call from
// uniform control flow. The last barrier lets every thread read partial[0]
// before the next reduction overwrites it.

var<workgroup> partial: array<f32, WG>;

fn workgroup_sum(v: f32, lid: u32) -> f32 {
  partial[lid] = v;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride = stride / 2u) {
    if (lid < stride) { partial[lid] += partial[lid + stride]; }
    workgroupBarrier();
  }
  let total = partial[0];
  workgroupBarrier();
  return total;
}

fn workgroup_max(v: f32, lid: u32) -> f32 {
  partial[lid] = v;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride = stride / 2u) {
    if (lid < stride) { partial[lid] = max(partial[lid], partial[lid + stride]); }
    workgroupBarrier();
  }
  let best = partial[0];
  workgroupBarrier();
  return best;
}

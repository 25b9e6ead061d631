// The fused activation of the conv and gemm epilogues, pasted into
// conv2d.wgsl, conv2d_grad_input.wgsl (ConvTranspose's forward) and gemm.wgsl
// at their {{EPILOGUE}} slot. Those files declare the override ACT and the
// uniform fields p.act_alpha / p.act_beta it reads. ACT codes:
// 0 none, 1 relu, 2 leakyRelu(act_alpha), 3 sigmoid, 4 silu,
// 5 clip(act_alpha, act_beta) (engine/ops/epilogue.ts activationCode).
fn activate(v: vec4<f32>) -> vec4<f32> {
  switch ACT {
    case 1u: { return max(v, vec4<f32>(0.0)); }
    case 2u: { return select(p.act_alpha * v, v, v > vec4<f32>(0.0)); }
    case 3u: { return 1.0 / (1.0 + exp(-v)); }
    case 4u: { return v / (1.0 + exp(-v)); }
    case 5u: { return clamp(v, vec4<f32>(p.act_alpha), vec4<f32>(p.act_beta)); }
    default: { return v; }
  }
}

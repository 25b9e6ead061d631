// The fused activation of the conv and gemm epilogues, pasted into
// conv2d.wgsl, conv2d_grad_input.wgsl (ConvTranspose's forward) and gemm.wgsl
// at their EPILOGUE slot. Those files declare the override ACT, the constant
// DYNAMIC (shaders/flags.wgsl) and the uniform fields p.act, p.act_alpha and p.act_beta it reads.
//
// The cases are generated: engine/ops/epilogue.ts fills the slot in the switch
// below from the ACTIVATIONS table in engine/activations.ts, one case per row,
// `case <ACT code>u: { return <the row's forward>; }`. The code of a kind is its
// position in the table plus one; ACT 0 (none) is the default, the identity.
// Each case is the same f32 expression the kind's elementwise op runs, so a
// fused activation and the unfused op compute the same function, NaN included
// (a NaN stays NaN: the table's rows avoid max / min / clamp).
//
// ACT is a flag like the kernels' others: an ACT code, which the pipeline
// compiler folds the switch to (one case, or nothing), or DYNAMIC, and then the
// switch runs on the uniform p.act, so one pipeline serves every activation
// (the host's choice on a software adapter, where each pipeline compiles for
// seconds; see the kernels' headers).
fn act_code() -> u32 {
  if (ACT == DYNAMIC) { return p.act; }
  return ACT;
}

fn activate_scalar(x: f32) -> f32 {
  let alpha = p.act_alpha;
  let beta = p.act_beta;
  switch act_code() {
{{ACTIVATION_CASES}}
    default: { return x; }
  }
}

// activate(v): the activation on each component.
fn activate(v: vec4<f32>) -> vec4<f32> {
  return vec4<f32>(activate_scalar(v.x), activate_scalar(v.y), activate_scalar(v.z), activate_scalar(v.w));
}

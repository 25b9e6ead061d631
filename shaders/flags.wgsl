// The flags of the GEMM-family kernels (gemm, conv2d, conv2d_grad_input,
// conv2d_grad_weight), pasted at their {{FLAGS}} slot. A flag override holds
// its value (0 / 1, or an ACT code) or DYNAMIC, and then the kernel reads the
// uniform field of the same name instead (engine/ops/epilogue.ts flagArgs).
const DYNAMIC: u32 = 0xffffffffu;

// A flag: the override's value, or the uniform's when it is DYNAMIC.
fn flag(value: u32, in_p: u32) -> bool {
  if (value == DYNAMIC) { return in_p != 0u; }
  return value != 0u;
}

// The NaN test of the kernels that must let a NaN win a comparison (max_pool,
// the max / min reductions, the extremum gradient), pasted at their {{NAN}}
// slot. WGSL's max / min / clamp are unspecified for NaN (Mesa's llvmpipe
// returns the other operand) and compilers may fold `x != x` to false (llvmpipe
// does), so the test reads the bits: a NaN has an all-ones exponent and a
// nonzero mantissa. Integer operations cannot be folded under no-NaN
// assumptions.
fn is_nan(v: f32) -> bool {
  return (bitcast<u32>(v) & 0x7fffffffu) > 0x7f800000u;
}

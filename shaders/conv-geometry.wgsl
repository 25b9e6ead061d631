// The convolution geometry fields, pasted at the {{CONV_GEOMETRY}} slot that
// opens the Params struct of conv2d.wgsl, conv2d_grad_input.wgsl and
// conv2d_grad_weight.wgsl (a struct-body fragment, not a shader on its own).
// engine/ops/conv-kernels.ts convUniforms() fills them by these names.
  batch: u32,
  in_c: u32,
  in_h: u32,
  in_w: u32,
  out_c: u32,
  out_h: u32,
  out_w: u32,
  // Channels per group: I (the weight's second dimension) and O / groups.
  group_in_c: u32,
  group_out_c: u32,
  kernel_h: u32,
  kernel_w: u32,
  stride_h: u32,
  stride_w: u32,
  dilation_h: u32,
  dilation_w: u32,
  pad_top: i32,
  pad_left: i32,

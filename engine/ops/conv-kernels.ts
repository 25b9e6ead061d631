// Convolution kernels on raw tensors: geometry (validated, ShapeError naming the
// op), the forward / grad_input / grad_weight launchers with their path choices,
// and the naive floor. The ops in conv.ts and the benchmark both call these.
//
// Paths:
//  - forward: 1x1 stride-1 unpadded ungrouped convs are a plain batched matmul
//    (gemm.wgsl, W broadcast over images); I == 1 (depthwise) uses a direct
//    kernel; everything else the implicit GEMM of conv2d.wgsl.
//  - grad_input: the same 1x1 case is W^T x dY (gemm.wgsl); depthwise a direct
//    gather; everything else the implicit GEMM of conv2d_grad_input.wgsl, one
//    dispatch per stride phase.
//  - grad_weight: the split-K implicit GEMM of conv2d_grad_weight.wgsl
//    (depthwise: a per-weight tree reduction), then a reduce pass over splits.

import conv2dWgsl from '../../shaders/conv2d.wgsl';
import gradInputWgsl from '../../shaders/conv2d_grad_input.wgsl';
import gradWeightWgsl from '../../shaders/conv2d_grad_weight.wgsl';
import convGeometryWgsl from '../../shaders/conv-geometry.wgsl';
import { defineKernel } from '../kernels/kernel.js';
import type { Shape } from '../shape.js';
import { BYTES, Tensor } from '../tensor.js';
import { chooseTiles, flagArgs, foldTiles, launchVec4, withEpilogue } from './epilogue.js';
import { gemmFits, gemmKernelRun } from './gemm.js';
import { grid1d } from './op.js';
import { runtime } from '../runtime.js';
import { reduceKeepDims } from './reduce.js';
import { activationCode, activationParams, type Activation } from '../activations.js';
import { convGeometry, type ConvGeometry, type ConvOptions } from '../geometry/conv.js';

/** A conv shader with its shared fragments pasted in: the geometry fields and the fused activation. */
function convSource(name: string, wgsl: string): string {
  return withEpilogue(name, wgsl, { CONV_GEOMETRY: convGeometryWgsl });
}

const sources = {
  conv2d: convSource('conv2d', conv2dWgsl),
  gradInput: convSource('conv2d_grad_input', gradInputWgsl),
  gradWeight: convSource('conv2d_grad_weight', gradWeightWgsl),
};

const kernels = {
  conv2d: defineKernel({ name: 'conv2d', wgsl: sources.conv2d, entryPoint: 'conv2d' }),
  // CPU-backed adapters: no workgroup memory, no barriers (runtime().workgroupTiles false).
  conv2dDirect: defineKernel({ name: 'conv2d_direct', wgsl: sources.conv2d, entryPoint: 'conv2d_direct' }),
  depthwise: defineKernel({ name: 'conv2d_depthwise', wgsl: sources.conv2d, entryPoint: 'conv2d_depthwise' }),
  naive: defineKernel({ name: 'conv2d_naive', wgsl: sources.conv2d, entryPoint: 'conv2d_naive' }),
  gradInput: defineKernel({ name: 'conv2d_grad_input', wgsl: sources.gradInput, entryPoint: 'conv2d_grad_input' }),
  gradInputDirect: defineKernel({ name: 'conv2d_grad_input_direct', wgsl: sources.gradInput, entryPoint: 'conv2d_grad_input_direct' }),
  gradInputNarrow: defineKernel({ name: 'conv2d_grad_input_narrow', wgsl: sources.gradInput, entryPoint: 'conv2d_grad_input_narrow' }),
  gradInputDepthwise: defineKernel({ name: 'conv2d_grad_input_depthwise', wgsl: sources.gradInput, entryPoint: 'conv2d_grad_input_depthwise' }),
  gradWeight: defineKernel({ name: 'conv2d_grad_weight', wgsl: sources.gradWeight, entryPoint: 'conv2d_grad_weight' }),
  gradWeightDepthwise: defineKernel({ name: 'conv2d_grad_weight_depthwise', wgsl: sources.gradWeight, entryPoint: 'conv2d_grad_weight_depthwise' }),
};

/** Uniform fields common to every conv kernel. */
function convUniforms(g: ConvGeometry): Record<string, number> {
  return {
    batch: g.batch,
    in_c: g.inC,
    in_h: g.inH,
    in_w: g.inW,
    out_c: g.outC,
    out_h: g.outH,
    out_w: g.outW,
    group_in_c: g.groupInC,
    group_out_c: g.groupOutC,
    kernel_h: g.kernelH,
    kernel_w: g.kernelW,
    stride_h: g.strideH,
    stride_w: g.strideW,
    dilation_h: g.dilationH,
    dilation_w: g.dilationW,
    pad_top: g.padTop,
    pad_left: g.padLeft,
  };
}

/** conv2d.wgsl's flag fields that its direct entry points (depthwise, naive) do not read; the shared Params has them. */
const UNREAD_CONV2D_FLAGS = { vec_w: 0, vec_out: 0 };

/** Input channels per group up to which grad_input runs one thread per pixel (vec4 accumulator). */
const NARROW_IN_C = 4;

const isDepthwise = (g: ConvGeometry) => g.groupInC === 1 && g.groups > 1;
// Same H x W in and out too: ConvTranspose's output padding can add rows a 1x1 stride-1 kernel never writes.
const isPointwise = (g: ConvGeometry) =>
  g.kernelH === 1 && g.kernelW === 1 && g.strideH === 1 && g.strideW === 1 && g.groups === 1 &&
  g.padTop + g.padLeft + g.padBottom + g.padRight === 0 && g.inH === g.outH && g.inW === g.outW;

// ---- forward --------------------------------------------------------------------

/** y = act(conv(x, w) + bias) by the fastest kernel for the geometry. */
export function conv2dForwardKernel(x: Tensor, w: Tensor, bias: Tensor | null, g: ConvGeometry, activation?: Activation): Tensor {
  const yShape = [g.batch, g.outC, g.outH, g.outW];
  if (isPointwise(g) && gemmFits(g.outC, g.inH * g.inW, g.inC, g.batch)) {
    // y[n] = W[O, C] x X[n][C, HW] + bias (one column of c per row): a plain matmul.
    const pixels = g.inH * g.inW;
    const y = gemmKernelRun(w, x, {
      m: g.outC,
      n: pixels,
      k: g.inC,
      batch: g.batch,
      aBatchStride: 0,
      bBatchStride: g.inC * pixels,
      c: bias ? { tensor: bias, rowStride: 1, colStride: 0 } : undefined,
      activation,
    });
    return reshapedTo(y, yShape);
  }
  const y = Tensor.empty(yShape);
  const uniforms = {
    ...convUniforms(g),
    has_bias: bias ? 1 : 0,
    ...activationParams(activation),
  };
  // Without a bias, w stands in for the unread bias binding.
  const tensors = { x, w, bias: bias ?? w, y };
  if (isDepthwise(g)) {
    const strips = Math.ceil(g.outW / 4);
    const flags = flagArgs({ ACT: activationCode(activation) });
    launchVec4(kernels.depthwise, tensors, {
      workgroups: grid1d(g.batch * g.outC * g.outH * strips),
      uniforms: { ...uniforms, col_fold: 1, ...UNREAD_CONV2D_FLAGS, ...flags.uniforms },
      constants: flags.constants,
    });
    return y;
  }
  const cols = g.batch * g.outH * g.outW;
  const k = g.groupInC * g.kernelH * g.kernelW;
  const tiles = chooseTiles(g.groupOutC, cols, k);
  const { x: colTiles, fold } = foldTiles(Math.ceil(cols / (4 * tiles.WG_N)));
  const flags = flagArgs({
    VEC_W: k % 4 === 0,
    VEC_OUT: (g.outH * g.outW) % 4 === 0,
    ACT: activationCode(activation),
  });
  launchVec4(runtime().workgroupTiles ? kernels.conv2d : kernels.conv2dDirect, tensors, {
    workgroups: [colTiles, Math.ceil(g.groupOutC / (4 * tiles.WG_M)), g.groups * fold],
    uniforms: { ...uniforms, col_fold: fold, ...flags.uniforms },
    constants: { ...tiles, ...flags.constants },
  });
  return y;
}

/** The benchmark's floor: one thread per output, no tiling (not used by the ops). */
export function conv2dNaiveKernel(x: Tensor, w: Tensor, bias: Tensor | null, g: ConvGeometry, activation?: Activation): Tensor {
  const y = Tensor.empty([g.batch, g.outC, g.outH, g.outW]);
  const flags = flagArgs({ ACT: activationCode(activation) });
  launchVec4(kernels.naive, { x, w, bias: bias ?? w, y }, {
    workgroups: grid1d(y.size),
    uniforms: { ...convUniforms(g), col_fold: 1, has_bias: bias ? 1 : 0, ...activationParams(activation), ...UNREAD_CONV2D_FLAGS, ...flags.uniforms },
    constants: flags.constants,
  });
  return y;
}

function reshapedTo(t: Tensor, shape: Shape): Tensor {
  const v = t.view(shape);
  t.dispose();
  return v;
}

// ---- grad_input -------------------------------------------------------------------

/**
 * dx = conv_transpose(dy, w) for the conv of geometry g (dx has g's input
 * shape). With `bias` / `activation` this is ConvTranspose's forward.
 */
export function conv2dGradInputKernel(dy: Tensor, w: Tensor, g: ConvGeometry, bias: Tensor | null = null, activation?: Activation): Tensor {
  const dxShape = [g.batch, g.inC, g.inH, g.inW];
  if (isPointwise(g) && gemmFits(g.inC, g.inH * g.inW, g.outC, g.batch)) {
    // dx[n] = W^T[C, O] x dY[n][O, HW]
    const pixels = g.inH * g.inW;
    const dx = gemmKernelRun(w, dy, {
      m: g.inC,
      n: pixels,
      k: g.outC,
      batch: g.batch,
      transA: true,
      aBatchStride: 0,
      bBatchStride: g.outC * pixels,
      c: bias ? { tensor: bias, rowStride: 1, colStride: 0 } : undefined,
      activation,
    });
    return reshapedTo(dx, dxShape);
  }
  const dx = Tensor.empty(dxShape);
  const common = { ...convUniforms(g), has_bias: bias ? 1 : 0, ...activationParams(activation) };
  const tensors = { dy, w, bias: bias ?? w, dx };
  // The direct kernels read ACT of the flags (vec_out only has a value in the shared Params).
  const directFlags = flagArgs({ ACT: activationCode(activation) });
  if (isDepthwise(g)) {
    launchVec4(kernels.gradInputDepthwise, tensors, {
      workgroups: grid1d(dx.size),
      uniforms: { ...common, col_fold: 1, vec_out: 0, ...directFlags.uniforms },
      constants: directFlags.constants,
    });
    return dx;
  }
  if (g.groupInC <= NARROW_IN_C) {
    // Few input channels per group: a GEMM tile would be mostly padding rows.
    launchVec4(kernels.gradInputNarrow, tensors, {
      workgroups: grid1d(g.batch * g.groups * g.strideH * g.strideW * Math.ceil(g.inH / g.strideH) * Math.ceil(g.inW / g.strideW)),
      uniforms: { ...common, col_fold: 1, vec_out: 0, ...directFlags.uniforms },
      constants: directFlags.constants,
    });
    return dx;
  }
  // One dispatch for all stride phases (workgroup z); column tiles cover the largest phase.
  const phases = g.strideH * g.strideW;
  const cols = g.batch * Math.ceil(g.inH / g.strideH) * Math.ceil(g.inW / g.strideW);
  const tiles = chooseTiles(g.groupInC, cols, (g.groupOutC * g.kernelH * g.kernelW) / phases);
  const { x: colTiles, fold } = foldTiles(Math.ceil(cols / (4 * tiles.WG_N)));
  const flags = flagArgs({
    VEC_OUT: phases === 1 && (g.inH * g.inW) % 4 === 0,
    ACT: activationCode(activation),
  });
  launchVec4(runtime().workgroupTiles ? kernels.gradInput : kernels.gradInputDirect, tensors, {
    workgroups: [colTiles, Math.ceil(g.groupInC / (4 * tiles.WG_M)), g.groups * phases * fold],
    uniforms: { ...common, col_fold: fold, ...flags.uniforms },
    constants: { ...tiles, ...flags.constants },
  });
  return dx;
}

// ---- grad_weight ---------------------------------------------------------------

/** Enough workgroups to fill a large GPU; split-K adds reduction chunks until there are this many. */
const TARGET_WORKGROUPS = 1024;
/** Shortest reduction chunk worth its own workgroup (pixels). */
const MIN_CHUNK = 256;
/** Upper bound on the split-K scratch buffer. */
const MAX_PARTIAL_BYTES = 256 << 20;

/** Splits of the pixel axis (length `pixels`) for `workgroups` output workgroups; chunk is a multiple of `align`. */
function splitK(pixels: number, workgroups: number, total: number, align: number, minChunk: number): { splits: number; chunk: number } {
  const wanted = Math.ceil(TARGET_WORKGROUPS / Math.max(1, workgroups));
  const byLength = Math.max(1, Math.floor(pixels / minChunk));
  // The partials are bound whole: within one binding too.
  const byMemory = Math.max(1, Math.floor(Math.min(MAX_PARTIAL_BYTES, runtime().maxBindingBytes) / (BYTES[runtime().precision] * Math.max(1, total))));
  const splits = Math.max(1, Math.min(wanted, byLength, byMemory));
  const chunk = Math.max(align, Math.ceil(pixels / splits / align) * align);
  return { splits: Math.max(1, Math.ceil(pixels / chunk)), chunk };
}

/** dw = conv's weight gradient for input x and output gradient dy; shape [O, I, KH, KW]. */
export function conv2dGradWeightKernel(x: Tensor, dy: Tensor, g: ConvGeometry): Tensor {
  const wShape = [g.outC, g.groupInC, g.kernelH, g.kernelW];
  const total = g.outC * g.groupInC * g.kernelH * g.kernelW;
  const pixels = g.batch * g.outH * g.outW;
  const base = { ...convUniforms(g), total };
  let splits: number;
  let chunk: number;
  let launchPartial: (partial: Tensor) => void;
  if (isDepthwise(g)) {
    ({ splits, chunk } = splitK(pixels, total, total, 1, 2048));
    const [gx, gy] = grid1d(total, 1);
    launchPartial = (partial) =>
      launchVec4(kernels.gradWeightDepthwise, { x, dy, partial }, {
        workgroups: [gx, gy, splits],
        // It reads no flags; the shared Params has their fields.
        uniforms: { ...base, splits, chunk, vec_dy: 0, vec_out: 0 },
      });
  } else {
    const cols = g.groupInC * g.kernelH * g.kernelW;
    const tiles = chooseTiles(g.groupOutC, cols, pixels);
    const tilesM = Math.ceil(g.groupOutC / (4 * tiles.WG_M));
    const tilesN = Math.ceil(cols / (4 * tiles.WG_N));
    ({ splits, chunk } = splitK(pixels, tilesM * tilesN * g.groups, total, tiles.TILE_K, MIN_CHUNK));
    const flags = flagArgs({
      VEC_DY: (g.outH * g.outW) % 4 === 0,
      VEC_OUT: cols % 4 === 0,
    });
    launchPartial = (partial) =>
      launchVec4(kernels.gradWeight, { x, dy, partial }, {
        workgroups: [tilesN, tilesM, g.groups * splits],
        uniforms: { ...base, splits, chunk, ...flags.uniforms },
        constants: { ...tiles, ...flags.constants },
      });
  }
  if (splits === 1) {
    const dw = Tensor.empty(wShape);
    launchPartial(dw);
    return dw;
  }
  // Sum the partials over splits with the reduce kernels (one workgroup per weight when splits are many).
  const partial = Tensor.empty([splits, total]);
  launchPartial(partial);
  const summed = reduceKeepDims('sum', partial, [0]);
  partial.dispose();
  return reshapedTo(summed, wShape);
}

/** Bias gradient: dy summed over images and pixels, shape [O]. */
export function conv2dGradBias(dy: Tensor): Tensor {
  const summed = reduceKeepDims('sum', dy, [0, 2, 3]);
  return reshapedTo(summed, [dy.shape[1]]);
}

// ---- entry points on raw tensors (the benchmark's; no tape) ----------------------

/** y = act(conv2d(x, w) + b) with the ops' kernel choice. */
export function conv2dForward(x: Tensor, w: Tensor, b: Tensor | null, options: ConvOptions & { activation?: Activation } = {}): Tensor {
  return conv2dForwardKernel(x, w, b, convGeometry('conv2d', x.shape, w.shape, options, b?.shape), options.activation);
}

/** dx of a conv whose input has shape `xShape`, given dy and w. */
export function conv2dGradInput(dy: Tensor, w: Tensor, xShape: Shape, options: ConvOptions = {}): Tensor {
  return conv2dGradInputKernel(dy, w, convGeometry('conv2d', xShape, w.shape, options));
}

/** dw (shape `wShape`) of a conv of x, given dy. */
export function conv2dGradWeight(x: Tensor, dy: Tensor, wShape: Shape, options: ConvOptions = {}): Tensor {
  return conv2dGradWeightKernel(x, dy, convGeometry('conv2d', x.shape, wShape, options));
}

/** The naive direct conv (one thread per output): the benchmark's floor. */
export function conv2dNaive(x: Tensor, w: Tensor, b: Tensor | null, options: ConvOptions & { activation?: Activation } = {}): Tensor {
  return conv2dNaiveKernel(x, w, b, convGeometry('conv2d', x.shape, w.shape, options, b?.shape), options.activation);
}

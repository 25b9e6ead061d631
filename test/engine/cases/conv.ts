// Convolution and matrix-product cases. The grids cover every kernel path:
// implicit GEMM (odd sizes, stride 2, dilation 2, groups 2, asymmetric pads,
// channel counts that are not multiples of the tile: 65 and 33), the 1x1
// matmul path, depthwise direct kernels (with a channel multiplier), stride
// phases of grad_input that receive no taps (stride 3, dilation 2), split-K in
// grad_weight (long pixel axes), vec4 and scalar loads (K and H * W multiples
// of 4 or not), batch 2, with and without bias. Shapes stay small: the
// reference runs on the CPU and finite differences check 64 points per input.
import type { OpCases } from '../op-cases.js';

// Sums of up to a few hundred float32 products: compare to 1e-4 of the output's scale.
const tolerance = { rtol: 1e-4, atol: 1e-4 };

export const convCases: OpCases = {
  conv2d: [
    { label: 'k3 pad 1, bias, batch 2, 17x13', inputs: [[2, 3, 17, 13], [8, 3, 3, 3], [8]], attrs: { pads: [1, 1, 1, 1] } },
    { label: 'k3 stride 2, asymmetric pads, odd sizes', inputs: [[1, 4, 9, 8], [5, 4, 3, 3]], attrs: { strides: [2, 2], pads: [1, 0, 2, 1] } },
    { label: 'dilation 2, bias', inputs: [[1, 3, 11, 10], [4, 3, 3, 3], [4]], attrs: { dilations: [2, 2], pads: [2, 2, 2, 2] } },
    { label: 'groups 2, stride 1x2, bias, batch 2', inputs: [[2, 6, 7, 7], [4, 3, 3, 3], [4]], attrs: { groups: 2, strides: [1, 2], pads: [1, 1, 1, 1] } },
    { label: 'depthwise, bias, batch 2', inputs: [[2, 5, 8, 7], [5, 1, 3, 3], [5]], attrs: { groups: 5, pads: [1, 1, 1, 1] } },
    { label: 'depthwise multiplier 2, stride 2, asymmetric pads', inputs: [[1, 3, 9, 9], [6, 1, 3, 3]], attrs: { groups: 3, strides: [2, 2], pads: [0, 1, 1, 0] } },
    { label: '1x1 (matmul path), bias, batch 2', inputs: [[2, 6, 5, 7], [9, 6, 1, 1], [9]], attrs: {} },
    { label: '1x1 stride 2 (grad_input phases without taps)', inputs: [[1, 4, 7, 6], [5, 4, 1, 1]], attrs: { strides: [2, 2] } },
    { label: '33 -> 65 channels, partial tiles, bias', inputs: [[1, 33, 6, 5], [65, 33, 3, 3], [65]], attrs: { pads: [1, 1, 1, 1] } },
    { label: 'K and H*W multiples of 4 (vec4 paths), batch 2', inputs: [[2, 8, 8, 8], [12, 8, 3, 3], [12]], attrs: { pads: [1, 1, 1, 1] } },
    { label: 'k2 stride 3, dilation 2 (a phase gets no taps)', inputs: [[1, 2, 10, 11], [3, 2, 2, 2]], attrs: { strides: [3, 3], dilations: [2, 2], pads: [1, 0, 0, 1] } },
    { label: 'long pixel axis (split-K grad_weight)', inputs: [[2, 2, 20, 20], [3, 2, 3, 3], [3]], attrs: { pads: [1, 1, 1, 1] } },
    { label: 'depthwise, long pixel axis (split-K)', inputs: [[2, 2, 48, 48], [2, 1, 3, 3]], attrs: { groups: 2, pads: [1, 1, 1, 1] } },
    { label: 'fused silu (recomputed in backward)', inputs: [[1, 3, 6, 6], [4, 3, 3, 3], [4]], attrs: { pads: [1, 1, 1, 1], activation: { kind: 'silu' } } },
    { label: 'fused sigmoid, 1x1', inputs: [[1, 4, 3, 5], [3, 4, 1, 1], [3]], attrs: { activation: { kind: 'sigmoid' } } },
    // More than 4 input channels per group: grad_input takes the phased GEMM path, not the narrow kernel.
    { label: 'GEMM grad_input: 6 channels, stride 2, asymmetric pads', inputs: [[1, 6, 9, 8], [5, 6, 3, 3]], attrs: { strides: [2, 2], pads: [1, 0, 2, 1] } },
    { label: 'GEMM grad_input: stride 3, dilation 2 (a phase gets no taps)', inputs: [[1, 5, 10, 11], [3, 5, 2, 2]], attrs: { strides: [3, 3], dilations: [2, 2], pads: [1, 0, 0, 1] } },
    { label: 'GEMM grad_input: groups 2 of 5 channels, stride 2', inputs: [[2, 10, 7, 6], [4, 5, 3, 3], [4]], attrs: { groups: 2, strides: [2, 2], pads: [1, 1, 1, 1] } },
  ].map((c) => ({ ...c, tolerance })) as OpCases['conv2d'],
  convTranspose2d: [
    { label: 'k3 stride 2, output padding 1, bias', inputs: [[1, 4, 5, 4], [4, 3, 3, 3], [3]], attrs: { strides: [2, 2], pads: [1, 1, 1, 1], outputPadding: [1, 1] } },
    { label: '1x1, dilation 2, output padding 1 (not the pointwise matmul: output is larger)', inputs: [[1, 2, 3, 3], [2, 2, 1, 1]], attrs: { dilations: [2, 2], outputPadding: [1, 1] } },
    { label: 'k4 stride 2, 6 output channels (GEMM path)', inputs: [[1, 5, 4, 3], [5, 6, 4, 4], [6]], attrs: { strides: [2, 2], pads: [1, 1, 1, 1] } },
    { label: 'groups 2, dilation 2x1, asymmetric pads, batch 2', inputs: [[2, 4, 4, 5], [4, 2, 3, 2]], attrs: { groups: 2, dilations: [2, 1], pads: [1, 0, 0, 1] } },
    { label: 'k4 stride 2, bias', inputs: [[1, 3, 3, 3], [3, 5, 4, 4], [5]], attrs: { strides: [2, 2] } },
    { label: '1x1 (matmul path), bias, batch 2', inputs: [[2, 6, 4, 5], [6, 7, 1, 1], [7]], attrs: {} },
    { label: 'depthwise, stride 2', inputs: [[1, 3, 5, 5], [3, 1, 3, 3]], attrs: { groups: 3, strides: [2, 2], pads: [1, 1, 1, 1] } },
  ].map((c) => ({ ...c, tolerance })) as OpCases['convTranspose2d'],
  matmul: [
    { inputs: [[5, 7], [7, 3]], attrs: {} },
    { label: 'partial tiles 65x33 x 33x17', inputs: [[65, 33], [33, 17]], attrs: {} },
    { label: 'batched, B broadcast, vec4 loads', inputs: [[3, 8, 12], [12, 20]], attrs: {} },
    { label: 'A broadcast over B batch', inputs: [[1, 20, 16], [2, 16, 24]], attrs: {} },
    { label: 'batch [2, 1] x [3] (materialized broadcast)', inputs: [[2, 1, 4, 6], [3, 6, 5]], attrs: {} },
    { label: '1-D x 2-D', inputs: [[7], [7, 4]], attrs: {} },
    { label: 'batched x 1-D', inputs: [[2, 4, 6], [6]], attrs: {} },
    { label: '1-D x 1-D', inputs: [[5], [5]], attrs: {} },
  ],
  gemm: [
    { inputs: [[4, 6], [6, 5]], attrs: {} },
    { label: 'transA, C [N], alpha 2, beta 0.5', inputs: [[6, 4], [6, 5], [5]], attrs: { transA: true, alpha: 2, beta: 0.5 } },
    { label: 'transB, C [M, 1]', inputs: [[4, 6], [5, 6], [4, 1]], attrs: { transB: true } },
    { label: 'transA and transB, full C, partial tiles', inputs: [[33, 17], [9, 33], [17, 9]], attrs: { transA: true, transB: true, alpha: 0.7, beta: -1.3 } },
    { label: '70x36 x 36x68, scalar C', inputs: [[70, 36], [36, 68], []], attrs: { beta: 2 } },
  ],
};

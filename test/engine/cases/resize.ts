// Resize cases: every mode, transform and nearest rounding rule on tiny NCHW
// shapes, with non-integer size ratios (13x7 -> 20x11, 9x9 -> 4x5), fractional
// scales and the x2 nearest upsample of YOLO necks. Ratios are chosen so no
// source coordinate lies within float32 rounding of a rounding boundary unless
// it lies exactly on it (ties are exact in both the kernel and the oracle).
import type { OpCases } from '../op-cases.js';

export const resizeCases: OpCases = {
  resize: [
    // YOLO / PyTorch nn.Upsample(scale_factor=2, mode='nearest')
    { label: 'nearest x2 asymmetric floor (YOLO)', inputs: [[1, 3, 4, 5]], attrs: { mode: 'nearest', coordinateTransformationMode: 'asymmetric', nearestMode: 'floor', scales: [1, 1, 2, 2] } },
    // asymmetric x2 puts every odd output exactly on a .5 tie
    { label: 'nearest x2 asymmetric round_prefer_floor (ties)', inputs: [[1, 2, 3, 3]], attrs: { coordinateTransformationMode: 'asymmetric', scales: [2, 2] } },
    { label: 'nearest x2 asymmetric round_prefer_ceil (ties)', inputs: [[1, 2, 3, 3]], attrs: { coordinateTransformationMode: 'asymmetric', nearestMode: 'round_prefer_ceil', scales: [2, 2] } },
    { label: 'nearest 13x7->20x11 half_pixel round_prefer_floor', inputs: [[1, 2, 13, 7]], attrs: { mode: 'nearest', sizes: [20, 11] } },
    { label: 'nearest 13x7->20x11 half_pixel round_prefer_ceil', inputs: [[1, 1, 13, 7]], attrs: { sizes: [20, 11], nearestMode: 'round_prefer_ceil' } },
    // 7 -> 11 half_pixel hits the exact integer 3 at x = 5: floor and ceil must both keep it
    { label: 'nearest 13x7->20x11 pytorch_half_pixel floor', inputs: [[1, 1, 13, 7]], attrs: { sizes: [1, 1, 20, 11], coordinateTransformationMode: 'pytorch_half_pixel', nearestMode: 'floor' } },
    { label: 'nearest 13x7->20x11 half_pixel ceil', inputs: [[1, 1, 13, 7]], attrs: { sizes: [20, 11], nearestMode: 'ceil' } },
    { label: 'nearest 9x9->4x5 half_pixel (downsample)', inputs: [[2, 1, 9, 9]], attrs: { sizes: [4, 5] } },
    { label: 'nearest 9x9->4x5 align_corners ceil', inputs: [[1, 2, 9, 9]], attrs: { sizes: [4, 5], coordinateTransformationMode: 'align_corners', nearestMode: 'ceil' } },
    { label: 'nearest 5x6->8x4 tf_half_pixel_for_nn', inputs: [[1, 2, 5, 6]], attrs: { sizes: [8, 4], coordinateTransformationMode: 'tf_half_pixel_for_nn' } },
    { label: 'nearest scales 1.5x0.75 asymmetric', inputs: [[1, 2, 6, 8]], attrs: { scales: [1.5, 0.75], coordinateTransformationMode: 'asymmetric' } },
    { label: 'linear x2 half_pixel', inputs: [[1, 2, 4, 5]], attrs: { mode: 'linear', scales: [2, 2] } },
    { label: 'linear x2 asymmetric', inputs: [[1, 2, 4, 5]], attrs: { mode: 'linear', scales: [1, 1, 2, 2], coordinateTransformationMode: 'asymmetric' } },
    { label: 'linear 13x7->20x11 half_pixel', inputs: [[2, 2, 13, 7]], attrs: { mode: 'linear', sizes: [20, 11] } },
    { label: 'linear 13x7->20x11 align_corners', inputs: [[1, 2, 13, 7]], attrs: { mode: 'linear', sizes: [20, 11], coordinateTransformationMode: 'align_corners' } },
    { label: 'linear 9x9->4x5 half_pixel (downsample)', inputs: [[1, 3, 9, 9]], attrs: { mode: 'linear', sizes: [4, 5] } },
    { label: 'linear 9x9->4x5 pytorch_half_pixel', inputs: [[1, 2, 9, 9]], attrs: { mode: 'linear', sizes: [4, 5], coordinateTransformationMode: 'pytorch_half_pixel' } },
    { label: 'linear 4x6->1x5 pytorch_half_pixel (length-1 output)', inputs: [[1, 2, 4, 6]], attrs: { mode: 'linear', sizes: [1, 5], coordinateTransformationMode: 'pytorch_half_pixel' } },
    { label: 'linear 4x6->1x9 align_corners (length-1 output)', inputs: [[1, 1, 4, 6]], attrs: { mode: 'linear', sizes: [1, 9], coordinateTransformationMode: 'align_corners' } },
    { label: 'linear scales 1.5x0.75 half_pixel', inputs: [[1, 2, 6, 8]], attrs: { mode: 'linear', scales: [1.5, 0.75] } },
    { label: 'linear scales 2.5x3 tf_half_pixel_for_nn', inputs: [[1, 1, 3, 2]], attrs: { mode: 'linear', scales: [2.5, 3], coordinateTransformationMode: 'tf_half_pixel_for_nn' } },
  ],
};

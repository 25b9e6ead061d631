// Batch normalization cases: rank 2 to 5, several channels, batch > 1,
// channels long enough that a workgroup's threads loop (N * S > 256), and
// channels split into several parts (N * S > 4096; 9001 = 3001 + 3001 + 2999).
import type { OpCases } from '../op-cases.js';

// x, scale, bias, mean, var (kept positive)
const inference: [number, number][] = [[-2, 2], [-2, 2], [-1, 1], [-1, 1], [0.3, 2]];

export const batchNormCases: OpCases = {
  batchNorm: [
    { inputs: [[2, 3, 4, 5], [3], [3], [3], [3]], attrs: {}, range: inference },
    { label: 'rank 2', inputs: [[4, 2], [2], [2], [2], [2]], attrs: { epsilon: 1e-3 }, range: inference },
    { label: 'frozen statistics (no mean/var gradients)', inputs: [[2, 3, 5], [3], [3], [3], [3]], attrs: {}, range: inference, noGrad: [3, 4] },
    { label: 'gradient for x only (explainers)', inputs: [[2, 3, 5], [3], [3], [3], [3]], attrs: {}, range: inference, noGrad: [1, 2, 3, 4] },
    { label: 'rank 5', inputs: [[2, 2, 3, 2, 3], [2], [2], [2], [2]], attrs: {}, range: inference },
    { label: 'N * S = 600 per channel', inputs: [[2, 3, 15, 20], [3], [3], [3], [3]], attrs: {}, range: inference },
    { label: 'N * S = 4096 per channel', inputs: [[4, 2, 32, 32], [2], [2], [2], [2]], attrs: {}, range: inference },
    { label: 'N * S = 9001: three parts per channel', inputs: [[1, 2, 9001], [2], [2], [2], [2]], attrs: {}, range: inference },
  ],
  batchNormTrain: [
    { inputs: [[2, 3, 4, 5], [3], [3]], attrs: {} },
    { label: 'rank 2', inputs: [[4, 2], [2], [2]], attrs: { epsilon: 1e-3 } },
    { label: 'rank 3, odd', inputs: [[3, 5, 7], [5], [5]], attrs: {} },
    { label: 'N * S = 600 per channel', inputs: [[2, 3, 15, 20], [3], [3]], attrs: {} },
    { label: 'N * S = 4096 per channel', inputs: [[4, 2, 32, 32], [2], [2]], attrs: {} },
    { label: 'N * S = 9001: three parts per channel', inputs: [[1, 2, 9001], [2], [2]], attrs: {} },
    { label: 'N * S = 9000: batch 3, three parts', inputs: [[3, 2, 50, 60], [2], [2]], attrs: {} },
  ],
};

// ShapeErrors of the nn ops (batch norm, pooling, softmax, max/min): each
// message names the op and the shapes involved, and says what is wrong.
import { describe, expect, test } from 'vitest';
import { ops, scope, ShapeError, tensor, type Tensor } from '../../engine/index.js';

const zeros = (shape: number[]) => tensor(new Float32Array(shape.reduce((a, b) => a * b, 1)), shape);

/** Runs fn and returns the ShapeError it throws (fails the test otherwise). */
function shapeError(fn: () => unknown): ShapeError {
  try {
    scope(fn);
  } catch (e) {
    expect(e).toBeInstanceOf(ShapeError);
    return e as ShapeError;
  }
  throw new Error('expected a ShapeError, nothing was thrown');
}

function expectError(fn: () => unknown, op: string, shapes: number[][], detail: RegExp): void {
  const e = shapeError(fn);
  expect(e.op).toBe(op);
  expect(e.message.startsWith(`${op}: `)).toBe(true);
  for (const s of shapes) expect(e.message).toContain(`[${s.join(', ')}]`);
  expect(e.message).toMatch(detail);
}

describe('pooling', () => {
  const pool = (name: 'maxPool' | 'averagePool', shape: number[], attrs: Parameters<typeof ops.maxPool>[1]) => () => ops[name]([zeros(shape)], attrs);

  test('wrong rank', () => {
    expectError(pool('maxPool', [1, 3, 5], { kernelShape: [2, 2] }), 'maxPool', [[1, 3, 5]], /NCHW input \(rank 4\), got rank 3/);
    expectError(pool('averagePool', [2, 1, 3, 5, 5], { kernelShape: [2, 2] }), 'averagePool', [[2, 1, 3, 5, 5]], /rank 5/);
  });

  test('kernel larger than the padded input', () => {
    expectError(pool('maxPool', [1, 1, 3, 4], { kernelShape: [5, 2] }), 'maxPool', [[1, 1, 3, 4]], /kernel extent 5 along H exceeds the padded input \(3 \+ 0 \+ 0\)/);
    // dilation 3 makes a 2-tap kernel span 4 > 2 + 1 + 0
    expectError(pool('averagePool', [1, 1, 4, 2], { kernelShape: [2, 2], dilations: [1, 3], pads: [0, 1, 0, 0] }), 'averagePool', [[1, 1, 4, 2]], /kernel extent 4 along W/);
  });

  test('a window of more than 2^24 taps (fuzzing: kernel_shape 2^31 with SAME padding ran for minutes on the GPU)', () => {
    const same = { kernelShape: [2 ** 31 - 1, 2], pads: [2 ** 30 - 1, 0, 2 ** 30, 1] };
    expectError(pool('maxPool', [1, 1, 13, 13], same), 'maxPool', [[1, 1, 13, 13]], /kernel \[2147483647, 2\] has 4294967294 taps per window, over the 16777216 supported/);
  });

  test('a window made only of padding', () => {
    expectError(pool('maxPool', [1, 1, 4, 4], { kernelShape: [2, 2], pads: [2, 0, 0, 0] }), 'maxPool', [[1, 1, 4, 4]], /window 0 along H covers only padding/);
  });

  test('malformed attributes', () => {
    expectError(pool('maxPool', [1, 1, 4, 4], { kernelShape: [2] }), 'maxPool', [[1, 1, 4, 4]], /kernelShape must be two integers >= 1, got \[2\]/);
    expectError(pool('maxPool', [1, 1, 4, 4], { kernelShape: [2, 2], strides: [0, 1] }), 'maxPool', [[1, 1, 4, 4]], /strides/);
    expectError(pool('averagePool', [1, 1, 4, 4], { kernelShape: [2, 2], pads: [1, 1] }), 'averagePool', [[1, 1, 4, 4]], /pads must be four integers >= 0/);
    expectError(pool('averagePool', [1, 1, 4, 4], { kernelShape: [2, 2], pads: [0, -1, 0, 0] }), 'averagePool', [[1, 1, 4, 4]], /pads/);
  });

  test('global pools need [N, C, spatial...]', () => {
    expectError(() => ops.globalAveragePool([zeros([2, 3])], {}), 'globalAveragePool', [[2, 3]], /rank >= 3/);
    expectError(() => ops.globalMaxPool([zeros([4])], {}), 'globalMaxPool', [[4]], /rank >= 3/);
  });
});

describe('batch norm', () => {
  test('per-channel inputs must be [C]', () => {
    const x = [2, 3, 4, 4];
    const inputs = (scale: number[]) => [zeros(x), zeros(scale), zeros([3]), zeros([3]), zeros([3])];
    expectError(() => ops.batchNorm(inputs([4]), {}), 'batchNorm', [x, [4]], /scale must have shape \[3\] \(one value per channel of x\), got \[4\]/);
    expectError(() => ops.batchNorm(inputs([1, 3]), {}), 'batchNorm', [x, [1, 3]], /scale must have shape \[3\]/);
    expectError(() => ops.batchNormTrain([zeros(x), zeros([3]), zeros([2])], {}), 'batchNormTrain', [x, [2]], /bias must have shape \[3\]/);
  });

  test('x needs a channel axis', () => {
    expectError(() => ops.batchNormTrain([zeros([5]), zeros([5]), zeros([5])], {}), 'batchNormTrain', [[5]], /rank >= 2\), got rank 1/);
  });

  test('input count', () => {
    expectError(() => ops.batchNorm([zeros([2, 3]), zeros([3]), zeros([3])], {}), 'batchNorm', [[2, 3], [3]], /expects 5 inputs \[x, scale, bias, mean, var\], got 3/);
  });

  test('negative epsilon', () => {
    expectError(() => ops.batchNormTrain([zeros([2, 3]), zeros([3]), zeros([3])], { epsilon: -1 }), 'batchNormTrain', [[2, 3]], /epsilon must be >= 0/);
  });
});

describe('softmax and reductions', () => {
  test('axis out of range', () => {
    expectError(() => ops.softmax([zeros([2, 3])], { axis: 2 }), 'softmax', [[2, 3]], /axis 2 is out of range for rank 2/);
    expectError(() => ops.logSoftmax([zeros([2, 3])], { axis: -3 }), 'logSoftmax', [[2, 3]], /axis -3/);
    expectError(() => ops.max([zeros([2, 3, 4])], { axes: [3] }), 'max', [[2, 3, 4]], /axis 3 is out of range for rank 3/);
  });

  test('repeated axis', () => {
    expectError(() => ops.min([zeros([2, 3, 4])], { axes: [1, -2] }), 'min', [[2, 3, 4]], /repeated axis in \[1, -2\]/);
  });
});

// Keep the helper honest: a call that does not throw must fail.
test('shapeError rejects calls that succeed', () => {
  expect(() => shapeError((): Tensor => zeros([1]))).toThrow(/expected a ShapeError/);
});

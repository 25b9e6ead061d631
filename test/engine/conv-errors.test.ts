// ShapeErrors of conv2d, convTranspose2d, matmul and gemm: each message names
// the op and every shape involved, and says what is wrong.
import { describe, expect, test } from 'vitest';
import { ops, scope, ShapeError, tensor, type Tensor } from '../../engine/index.js';

const zeros = (shape: number[]) => tensor(new Float32Array(shape.reduce((a, b) => a * b, 1)), shape);

function expectError(fn: () => unknown, op: string, shapes: number[][], detail: RegExp): void {
  let error: unknown = null;
  try {
    scope(fn);
  } catch (e) {
    error = e;
  }
  expect(error, 'expected a ShapeError').toBeInstanceOf(ShapeError);
  const e = error as ShapeError;
  expect(e.op).toBe(op);
  expect(e.message.startsWith(`${op}: `)).toBe(true);
  for (const s of shapes) expect(e.message).toContain(`[${s.join(', ')}]`);
  expect(e.message).toMatch(detail);
}

const run = (op: 'conv2d' | 'convTranspose2d', shapes: number[][], attrs: Parameters<typeof ops.conv2d>[1] = {}) => () =>
  ops[op](shapes.map(zeros) as Tensor[], attrs);

describe('conv2d', () => {
  test('wrong ranks', () => {
    expectError(run('conv2d', [[1, 3, 5], [2, 3, 3, 3]]), 'conv2d', [[1, 3, 5], [2, 3, 3, 3]], /input must be 4-D NCHW, got rank 3/);
    expectError(run('conv2d', [[1, 3, 5, 5], [2, 3, 3]]), 'conv2d', [[1, 3, 5, 5], [2, 3, 3]], /weight must be 4-D \[O, C \/ groups, KH, KW\], got rank 3/);
  });

  test('channels mismatch', () => {
    expectError(run('conv2d', [[1, 4, 5, 5], [2, 3, 3, 3]]), 'conv2d', [[1, 4, 5, 5], [2, 3, 3, 3]], /input has 4 channels but the weight expects 3 x 1 groups = 3/);
    expectError(run('conv2d', [[1, 6, 5, 5], [4, 2, 3, 3]], { groups: 2 }), 'conv2d', [[1, 6, 5, 5]], /weight expects 2 x 2 groups = 4/);
  });

  test('groups not dividing the channels', () => {
    expectError(run('conv2d', [[1, 6, 5, 5], [4, 2, 3, 3]], { groups: 4 }), 'conv2d', [[1, 6, 5, 5], [4, 2, 3, 3]], /groups 4 does not divide the 6 input channels/);
    expectError(run('conv2d', [[1, 4, 5, 5], [3, 2, 3, 3]], { groups: 2 }), 'conv2d', [[1, 4, 5, 5], [3, 2, 3, 3]], /groups 2 does not divide the 3 output channels/);
  });

  test('kernel larger than the padded input', () => {
    expectError(run('conv2d', [[1, 1, 3, 4], [1, 1, 5, 3]]), 'conv2d', [[1, 1, 3, 4], [1, 1, 5, 3]], /kernel height extent 5 .* larger than the padded input height 3/);
    // dilation 3 makes a 2-tap kernel span 4 > 2 + 1 + 0
    expectError(run('conv2d', [[1, 1, 4, 2], [1, 1, 2, 2]], { dilations: [1, 3], pads: [0, 1, 0, 0] }), 'conv2d', [[1, 1, 4, 2]], /kernel width extent 4 \(kernel 2, dilation 3\) is larger than the padded input width 3/);
  });

  test('bias length mismatch', () => {
    expectError(run('conv2d', [[1, 3, 5, 5], [4, 3, 3, 3], [5]]), 'conv2d', [[1, 3, 5, 5], [4, 3, 3, 3], [5]], /bias must be \[4\] \(one per output channel\), got \[5\]/);
  });

  test('bad attributes', () => {
    expectError(run('conv2d', [[1, 3, 5, 5], [4, 3, 3, 3]], { strides: [0, 1] }), 'conv2d', [], /strides must be 2 integer\(s\) >= 1, got \[0, 1\]/);
    expectError(run('conv2d', [[1, 3, 5, 5], [4, 3, 3, 3]], { pads: [1, 1, -1, 1] }), 'conv2d', [], /pads \[top, left, bottom, right\] must be 4 integer\(s\) >= 0/);
    expectError(run('conv2d', [[1, 3, 5, 5]]), 'conv2d', [], /expects inputs \[x, w\] or \[x, w, bias\], got 1/);
  });
});

describe('convTranspose2d', () => {
  test('channels mismatch', () => {
    expectError(run('convTranspose2d', [[1, 4, 5, 5], [3, 2, 3, 3]]), 'convTranspose2d', [[1, 4, 5, 5], [3, 2, 3, 3]], /input has 4 channels but the weight's first dimension is 3/);
  });

  test('negative output size', () => {
    expectError(run('convTranspose2d', [[1, 1, 2, 2], [1, 1, 3, 3]], { pads: [3, 3, 3, 3] }), 'convTranspose2d', [[1, 1, 2, 2], [1, 1, 3, 3]], /output size -2 x -2 is not positive/);
  });

  test('bias length mismatch and groups', () => {
    expectError(run('convTranspose2d', [[1, 4, 5, 5], [4, 2, 3, 3], [2]], { groups: 2 }), 'convTranspose2d', [[4, 2, 3, 3], [2]], /bias must be \[4\]/);
    expectError(run('convTranspose2d', [[1, 3, 5, 5], [3, 2, 3, 3]], { groups: 2 }), 'convTranspose2d', [[1, 3, 5, 5]], /groups 2 does not divide the 3 input channels/);
  });
});

describe('matmul and gemm', () => {
  test('matmul inner dimension mismatch', () => {
    expectError(() => ops.matmul([zeros([2, 3]), zeros([4, 5])], {}), 'matmul', [[2, 3], [4, 5]], /inner dimensions differ: \[2, 3\] x \[4, 5\] needs 3 == 4/);
    expectError(() => ops.matmul([zeros([6]), zeros([2, 5])], {}), 'matmul', [[6], [2, 5]], /needs 6 == 2/);
  });

  test('matmul batch dimensions that do not broadcast', () => {
    expectError(() => ops.matmul([zeros([2, 3, 4]), zeros([3, 4, 5])], {}), 'matmul', [[2], [3]], /cannot broadcast/);
  });

  test('gemm shapes', () => {
    expectError(() => ops.gemm([zeros([2, 3]), zeros([4, 5])], {}), 'gemm', [[2, 3], [4, 5]], /op\(A\) is 2x3, op\(B\) is 4x5 \(check transA \/ transB\)/);
    expectError(() => ops.gemm([zeros([2, 3, 1]), zeros([3, 5])], {}), 'gemm', [[2, 3, 1]], /A and B must be 2-D/);
    expectError(() => ops.gemm([zeros([2, 3]), zeros([3, 5]), zeros([3, 5])], {}), 'gemm', [[3, 5]], /C does not broadcast to \[2, 5\]|cannot broadcast/);
  });
});

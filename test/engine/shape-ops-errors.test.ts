// Shape ops and resize reject bad shapes and attributes with a ShapeError that
// names the op and the input shapes, before any kernel runs.

import { describe, expect, test } from 'vitest';
import { concat, flatten, gather, ops, pad, resize, ShapeError, slice, split, tensor, zeros, type Tensor } from '../../engine/index.js';

/** Runs fn and returns the ShapeError it throws (fails the test otherwise). */
function shapeError(fn: () => unknown): ShapeError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(ShapeError);
    return e as ShapeError;
  }
  throw new Error('expected a ShapeError, but nothing was thrown');
}

function expectShapeError(fn: () => unknown, op: string, shapes: number[][], detail: RegExp): void {
  const e = shapeError(fn);
  expect(e.op).toBe(op);
  expect(e.shapes).toEqual(shapes);
  expect(e.message.startsWith(`${op}: `)).toBe(true);
  for (const s of shapes) expect(e.message).toContain(`[${s.join(', ')}]`);
  expect(e.message).toMatch(detail);
}

const t = (shape: number[]): Tensor => zeros(shape);

describe('concat', () => {
  test('rank mismatch', () => {
    expectShapeError(() => concat([t([2, 3]), t([2, 3, 1])], 0), 'concat', [[2, 3], [2, 3, 1]], /input 1 has rank 3 but input 0 has rank 2/);
  });
  test('dimension mismatch off the axis', () => {
    expectShapeError(() => concat([t([2, 3]), t([3, 3]), t([2, 4])], 1), 'concat', [[2, 3], [3, 3], [2, 4]], /input 1 has size 3 in dimension 0 but input 0 has 2; only axis 1 may differ/);
  });
  test('bad axis', () => {
    expectShapeError(() => concat([t([2, 3]), t([2, 3])], 2), 'concat', [[2, 3], [2, 3]], /axis 2 is out of range for rank 2/);
  });
  test('no inputs', () => {
    expect(shapeError(() => ops.concat([], { axis: 0 })).message).toMatch(/^concat: needs at least one input/);
  });
});

describe('split', () => {
  test('sizes that do not sum to the axis', () => {
    expectShapeError(() => split(t([2, 6]), 1, [2, 3]), 'split', [[2, 6]], /sizes \[2, 3\] sum to 5 but axis 1 has size 6/);
  });
  test('bad axis', () => {
    expectShapeError(() => split(t([2, 6]), -3, [1, 1]), 'split', [[2, 6]], /axis -3 is out of range/);
  });
  test('more parts than fit', () => {
    expectShapeError(() => split(t([5]), 0, 4), 'split', [[5]], /cannot be split into 4 parts/);
  });
});

describe('slice', () => {
  test('zero step', () => {
    expectShapeError(() => slice(t([4, 4]), [0], [4], [1], [0]), 'slice', [[4, 4]], /step 0 on axis 1 must be a non-zero integer/);
  });
  test('mismatched lists', () => {
    expectShapeError(() => slice(t([4, 4]), [0, 1], [4]), 'slice', [[4, 4]], /one entry each per sliced axis/);
  });
  test('repeated axis', () => {
    expectShapeError(() => slice(t([4, 4]), [0, 1], [4, 3], [1, -1]), 'slice', [[4, 4]], /axis -1 is sliced twice/);
  });
});

describe('pad', () => {
  test('wrong number of pads', () => {
    expectShapeError(() => pad(t([2, 3]), [1, 1, 1]), 'pad', [[2, 3]], /pads has 3 values; expected 2 per padded axis \(4\)/);
  });
  test('cropping more than the axis', () => {
    expectShapeError(() => pad(t([2, 3]), [0, -2, 0, -2]), 'pad', [[2, 3]], /crop more than the 3 elements of axis 1/);
  });
  test('reflect with nothing to copy', () => {
    expectShapeError(() => pad(t([2, 0]), [0, 1, 0, 0], 'reflect'), 'pad', [[2, 0]], /mode 'reflect' cannot pad axis 1/);
  });
});

describe('gather', () => {
  test('index out of range', () => {
    expectShapeError(() => gather(t([5, 2]), [0, 5], 0), 'gather', [[5, 2]], /index 5 \(position 1\) is out of range for axis 0 of size 5 \(valid: -5..4\)/);
    expectShapeError(() => gather(t([5, 2]), [-3], 1), 'gather', [[5, 2]], /index -3 \(position 0\) is out of range for axis 1 of size 2/);
  });
  test('indices that do not fill their shape', () => {
    expectShapeError(() => gather(t([5, 2]), [0, 1, 2], 0, [2, 2]), 'gather', [[5, 2]], /3 indices do not fill indicesShape \[2, 2\]/);
  });
  test('bad axis', () => {
    expectShapeError(() => gather(t([5, 2]), [0], 2), 'gather', [[5, 2]], /axis 2 is out of range for rank 2/);
  });
});

describe('flatten', () => {
  test('bad axis', () => {
    expectShapeError(() => flatten(t([2, 3]), 3), 'flatten', [[2, 3]], /axis 3 is out of range for rank 2 \(valid: -2..2\)/);
  });
});

describe('resize', () => {
  const x = () => t([1, 2, 4, 4]);
  test('non-positive or non-finite scales', () => {
    expectShapeError(() => resize(x(), { scales: [2, -1] }), 'resize', [[1, 2, 4, 4]], /scales \[2, -1\] must be positive and finite/);
    expectShapeError(() => resize(x(), { scales: [2, Infinity] }), 'resize', [[1, 2, 4, 4]], /must be positive and finite/);
  });
  test('scales that empty the output', () => {
    expectShapeError(() => resize(x(), { scales: [0.1, 1] }), 'resize', [[1, 2, 4, 4]], /give an empty output/);
  });
  test('scales on N or C', () => {
    expectShapeError(() => resize(x(), { scales: [1, 2, 2, 2] }), 'resize', [[1, 2, 4, 4]], /only H and W can be resized/);
    expectShapeError(() => resize(x(), { sizes: [1, 3, 8, 8] }), 'resize', [[1, 2, 4, 4]], /only H and W can be resized/);
  });
  test('wrong number of scales', () => {
    expectShapeError(() => resize(x(), { scales: [2, 2, 2] }), 'resize', [[1, 2, 4, 4]], /must have 2 \(H, W\) or 4 \(N, C, H, W\) entries/);
  });
  test('both or neither of scales and sizes', () => {
    expectShapeError(() => resize(x(), { scales: [2, 2], sizes: [8, 8] }), 'resize', [[1, 2, 4, 4]], /exactly one of scales and sizes/);
    expectShapeError(() => resize(x(), {}), 'resize', [[1, 2, 4, 4]], /exactly one of scales and sizes/);
  });
  test('non-integer sizes', () => {
    expectShapeError(() => resize(x(), { sizes: [8, 7.5] }), 'resize', [[1, 2, 4, 4]], /sizes \[8, 7.5\] must be positive integers/);
  });
  test('input that is not NCHW', () => {
    expectShapeError(() => resize(t([2, 4, 4]), { scales: [2, 2] }), 'resize', [[2, 4, 4]], /expects an NCHW input of rank 4, got rank 3/);
  });
  test('unsupported mode', () => {
    expectShapeError(() => resize(x(), { scales: [2, 2], mode: 'cubic' as 'linear' }), 'resize', [[1, 2, 4, 4]], /unknown mode 'cubic' \(supported: nearest, linear\)/);
  });
});

test('valid calls of the convenience API give the documented shapes', async () => {
  const x = tensor([...Array(24).keys()], [1, 2, 3, 4]);
  expect(concat([x, x], 1).shape).toEqual([1, 4, 3, 4]);
  expect(split(x, 3, [1, 3]).map((p) => p.shape)).toEqual([[1, 2, 3, 1], [1, 2, 3, 3]]);
  expect(Array.from(await slice(x, [-1], [-Infinity], [3], [-1]).data()).slice(0, 4)).toEqual([3, 2, 1, 0]);
  expect(pad(x, [1, 2], 'edge', 0, [2]).shape).toEqual([1, 2, 6, 4]);
  expect(gather(x, [2, 0], 2).shape).toEqual([1, 2, 2, 4]);
  expect(flatten(x).shape).toEqual([1, 24]);
  expect(Array.from(await resize(tensor([1, 2, 3, 4], [1, 1, 2, 2]), { scales: [2, 2], coordinateTransformationMode: 'asymmetric', nearestMode: 'floor' }).data())).toEqual([
    1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4,
  ]);
});

// Host checks for non-finite values (GPU-free), for the boundaries where data
// enters or results leave: the kernels propagate NaN and infinities (see
// engine/activations.ts and test/engine/nonfinite.test.ts), and these say where
// one came from instead of letting it reach an explanation.

import { NonFiniteError } from './errors.js';
import { numel, type Shape } from './shape.js';

/** The flat index of the first NaN or infinity in `data`, or -1 when every value is finite. */
export function firstNonFinite(data: ArrayLike<number>): number {
  for (let i = 0; i < data.length; i++) {
    if (!Number.isFinite(data[i])) return i;
  }
  return -1;
}

/**
 * Throws NonFiniteError naming `what` (e.g. "input 'images'") and the first
 * non-finite element of `data`, with its coordinates when `shape` is given
 * (it must have data.length elements).
 */
export function assertFinite(what: string, data: ArrayLike<number>, shape?: Shape): void {
  if (shape && numel(shape) !== data.length) {
    throw new RangeError(`assertFinite(${what}): shape [${shape.join(', ')}] has ${numel(shape)} elements, data has ${data.length}`);
  }
  const i = firstNonFinite(data);
  if (i >= 0) throw new NonFiniteError(what, i, data[i], shape);
}

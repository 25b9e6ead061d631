// BatchNormalization in inference mode (running statistics), on the engine's
// batchNorm: y = scale * (x - mean) / sqrt(var + epsilon) + bias per channel.

import type { InferContext, OpHandler } from './handler.js';

function check(ctx: InferContext): void {
  const x = ctx.input(0).shape;
  if (x.length < 2) throw ctx.error(`expects x of shape [N, C, ...], got [${x.join(', ')}]`);
  if (ctx.attrs.int('training_mode', 0) !== 0) throw ctx.error('training_mode = 1 is not supported (export the model in eval mode)');
  if (ctx.attrs.int('spatial', 1) !== 1) throw ctx.error('spatial = 0 (per-activation statistics) is not supported');
  if (ctx.node.outputs.slice(1).some(Boolean)) throw ctx.error('the training outputs (running mean/var, saved statistics) are not supported');
  ['scale', 'B', 'input_mean', 'input_var'].forEach((what, k) => {
    const p = ctx.input(k + 1).shape;
    if (p.length !== 1 || p[0] !== x[1]) throw ctx.error(`${what} must have shape [${x[1]}] (one value per channel), got [${p.join(', ')}]`);
  });
}

export const BatchNormalization: OpHandler = {
  inferShape(ctx) {
    check(ctx);
    return [{ shape: ctx.input(0).shape, dtype: ctx.input(0).dtype }];
  },
  run: (ctx) => ctx.ops.batchNorm([0, 1, 2, 3, 4].map((i) => ctx.tensor(i)), { epsilon: ctx.attrs.float('epsilon', 1e-5) }),
};

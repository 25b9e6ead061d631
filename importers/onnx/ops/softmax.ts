// Softmax and LogSoftmax. From opset 13 they normalize one axis (default -1);
// before, the input is seen as 2-D [d0 * ... * d(axis-1), d(axis) * ... ] and
// each row is normalized (default axis 1): run reshapes around the engine op.

import { numel } from '../../../engine/host.js';
import type { InferContext, OpHandler } from './handler.js';
import { axisOf } from './util.js';

function softmaxHandler(op: 'softmax' | 'logSoftmax'): OpHandler {
  const axis = (ctx: InferContext) => axisOf(ctx, ctx.attrs.int('axis', ctx.opset < 13 ? 1 : -1), ctx.input(0).shape.length);
  return {
    inferShape(ctx) {
      axis(ctx);
      return [{ shape: ctx.input(0).shape, dtype: ctx.input(0).dtype }];
    },
    run(ctx) {
      const x = ctx.tensor(0);
      const a = axis(ctx);
      if (ctx.opset >= 13 || a === x.shape.length - 1) return ctx.ops[op]([x], { axis: a });
      const [rows] = ctx.ops.reshape([x], { shape: [numel(x.shape.slice(0, a)), numel(x.shape.slice(a))] });
      const [y] = ctx.ops[op]([rows], { axis: 1 });
      ctx.backend.release(rows);
      const out = ctx.ops.reshape([y], { shape: x.shape });
      ctx.backend.release(y);
      return out;
    },
  };
}

export const Softmax = softmaxHandler('softmax');
export const LogSoftmax = softmaxHandler('logSoftmax');

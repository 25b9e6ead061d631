// Softmax and LogSoftmax. From opset 13 they normalize one axis (default -1);
// before, the input is seen as 2-D [d0 * ... * d(axis-1), d(axis) * ... ] and
// each row is normalized (default axis 1): run reshapes around the engine op.

import { reshape } from '../../../engine/ops/movement.js';
import { logSoftmax, softmax } from '../../../engine/ops/softmax.js';
import { numel } from '../../../engine/shape.js';
import type { InferContext, OpHandler } from './handler.js';
import { axisOf } from './util.js';

function softmaxHandler(op: typeof softmax): OpHandler {
  const axis = (ctx: InferContext) => axisOf(ctx, ctx.attrs.int('axis', ctx.opset < 13 ? 1 : -1), ctx.input(0).shape.length);
  return {
    inferShape(ctx) {
      axis(ctx);
      return [{ shape: ctx.input(0).shape, dtype: ctx.input(0).dtype }];
    },
    run(ctx) {
      const x = ctx.tensor(0);
      const a = axis(ctx);
      if (ctx.opset >= 13 || a === x.shape.length - 1) return op([x], { axis: a });
      const [rows] = reshape([x], { shape: [numel(x.shape.slice(0, a)), numel(x.shape.slice(a))] });
      const [y] = op([rows], { axis: 1 });
      rows.dispose();
      const out = reshape([y], { shape: x.shape });
      y.dispose();
      return out;
    },
  };
}

export const Softmax = softmaxHandler(softmax);
export const LogSoftmax = softmaxHandler(logSoftmax);

// Gemm (Y = alpha op(A) op(B) + beta C, the fully connected layer) and MatMul
// (NumPy matmul: 1-D operands promoted, batch dimensions broadcast).

import { broadcastShapes, type GemmAttrs } from '../../../engine/host.js';
import type { InferContext, OpHandler } from './handler.js';

function gemmAttrs(ctx: InferContext): GemmAttrs {
  return {
    transA: ctx.attrs.int('transA', 0) === 1,
    transB: ctx.attrs.int('transB', 0) === 1,
    alpha: ctx.attrs.float('alpha', 1),
    beta: ctx.attrs.float('beta', 1),
  };
}

function gemmShape(ctx: InferContext): number[] {
  const a = ctx.input(0).shape;
  const b = ctx.input(1).shape;
  if (a.length !== 2 || b.length !== 2) throw ctx.error(`A and B must be 2-D, got [${a.join(', ')}] and [${b.join(', ')}]`);
  const { transA, transB } = gemmAttrs(ctx);
  const [m, k] = transA ? [a[1], a[0]] : a;
  const [kb, n] = transB ? [b[1], b[0]] : b;
  if (k !== kb) throw ctx.error(`inner dimensions differ: op(A) is ${m}x${k}, op(B) is ${kb}x${n}`);
  const c = ctx.inputs[2]?.shape;
  if (c) {
    const full = c.length <= 2 ? broadcastShapes('Gemm', c, [m, n]) : [];
    if (full.length !== 2 || full[0] !== m || full[1] !== n) throw ctx.error(`C [${c.join(', ')}] does not broadcast to [${m}, ${n}]`);
  }
  return [m, n];
}

export const Gemm: OpHandler = {
  inferShape: (ctx) => [{ shape: gemmShape(ctx), dtype: ctx.input(0).dtype }],
  run: (ctx) => ctx.ops.gemm((ctx.inputs[2] ? [0, 1, 2] : [0, 1]).map((i) => ctx.tensor(i)), gemmAttrs(ctx)),
};

function matmulShape(ctx: InferContext): number[] {
  const a = ctx.input(0).shape;
  const b = ctx.input(1).shape;
  if (!a.length || !b.length) throw ctx.error('operands must have rank >= 1');
  const pa = a.length === 1 ? [1, a[0]] : a;
  const pb = b.length === 1 ? [b[0], 1] : b;
  const [m, k] = pa.slice(-2);
  const [kb, n] = pb.slice(-2);
  if (k !== kb) throw ctx.error(`inner dimensions differ: [${a.join(', ')}] x [${b.join(', ')}]`);
  const batch = broadcastShapes('MatMul', pa.slice(0, -2), pb.slice(0, -2));
  return [...batch, ...(a.length === 1 ? [] : [m]), ...(b.length === 1 ? [] : [n])];
}

export const MatMul: OpHandler = {
  inferShape: (ctx) => [{ shape: matmulShape(ctx), dtype: ctx.input(0).dtype }],
  run: (ctx) => ctx.ops.matmul([ctx.tensor(0), ctx.tensor(1)], {}),
};

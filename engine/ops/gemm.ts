// Matrix products: matmul (NumPy semantics: 1-D operands, batched N-D with
// broadcast batch dimensions) and ONNX Gemm (transA, transB, alpha, beta, C).
// Both run the tiled kernel of shaders/gemm.wgsl; backward rules are products
// of the same kernel with transposition flags, so no transpose is materialized.

import gemmWgsl from '../../shaders/gemm.wgsl';
import { MissingDoubleBackward, ShapeError } from '../errors.js';
import { defineKernel } from '../kernels/kernel.js';
import { runtime } from '../runtime.js';
import { broadcastShapes, broadcastStrides, formatShape, numel, type Shape } from '../shape.js';
import { Tensor } from '../tensor.js';
import { binaryOps, fill } from './elementwise.js';
import { chooseTiles, flagArgs, launchVec4, withEpilogue } from './epilogue.js';
import { stridedCopy, transpose } from './movement.js';
import { defineOp, type Op } from './op.js';
import type { SplitAxis } from './split.js';
import { activationCode, activationParams, type Activation } from '../activations.js';

const gemmSource = withEpilogue('gemm', gemmWgsl);
const gemmKernels = {
  tiled: defineKernel({ name: 'gemm', wgsl: gemmSource, entryPoint: 'gemm' }),
  // CPU-backed adapters: no workgroup memory, no barriers (runtime().workgroupTiles false).
  direct: defineKernel({ name: 'gemm_direct', wgsl: gemmSource, entryPoint: 'gemm_direct' }),
};

/** One launch of the gemm kernel: out[z] = act(alpha * op(A[z]) op(B[z]) + beta * c). */
export interface GemmSpec {
  m: number;
  n: number;
  k: number;
  /** Number of products (workgroup z); default 1. */
  batch?: number;
  /** Elements between consecutive batch matrices of A / B; 0 broadcasts (default). */
  aBatchStride?: number;
  bBatchStride?: number;
  transA?: boolean;
  transB?: boolean;
  alpha?: number;
  /** The addend, read at batch * cBatch + row * cRow + col * cCol (0 strides broadcast). */
  c?: { tensor: Tensor; beta?: number; rowStride: number; colStride: number; batchStride?: number };
  activation?: Activation;
}

/** WebGPU's guaranteed workgroups per grid dimension. */
const MAX_GROUPS = 65535;

/** The gemm kernel's grid: column tiles, row tiles, batch. */
function gemmGrid(m: number, n: number, k: number, batch: number): [number, number, number] {
  const tiles = chooseTiles(m, n, k);
  return [Math.ceil(n / (4 * tiles.WG_N)), Math.ceil(m / (4 * tiles.WG_M)), batch];
}

/** Whether one gemm launch can cover these sizes (callers with another kernel fall back to it). */
export function gemmFits(m: number, n: number, k: number, batch = 1): boolean {
  return gemmGrid(m, n, k, batch).every((d) => d <= MAX_GROUPS);
}

/** Runs the tiled GEMM kernel on raw operands (contiguous, shapes given by `spec`); returns [batch * m * n]. */
export function gemmKernelRun(a: Tensor, b: Tensor, spec: GemmSpec): Tensor {
  const { m, n, k, batch = 1, transA = false, transB = false } = spec;
  const workgroups = gemmGrid(m, n, k, batch);
  if (workgroups.some((d) => d > MAX_GROUPS)) {
    throw new ShapeError('matmul', `[${m}, ${k}] x [${k}, ${n}] in a batch of ${batch} needs a [${workgroups.join(', ')}] workgroup grid; at most ${MAX_GROUPS} per dimension`, [a.shape, b.shape]);
  }
  const out = Tensor.empty([batch * m * n]);
  const tiles = chooseTiles(m, n, k);
  const c = spec.c;
  const flags = flagArgs({
    TRANS_A: transA,
    TRANS_B: transB,
    // A group of 4 along the contiguous axis is one vec4 when that axis' length is a multiple of 4.
    VEC_A: (transA ? m : k) % 4 === 0,
    VEC_B: (transB ? k : n) % 4 === 0,
    VEC_OUT: n % 4 === 0,
    HAS_C: !!c,
    ACT: activationCode(spec.activation),
  });
  launchVec4(runtime().workgroupTiles ? gemmKernels.tiled : gemmKernels.direct, { a, b, c: c?.tensor ?? a, out }, {
    workgroups,
    uniforms: {
      m,
      n,
      k,
      a_batch: spec.aBatchStride ?? 0,
      b_batch: spec.bBatchStride ?? 0,
      c_batch: c?.batchStride ?? 0,
      c_row: c?.rowStride ?? 0,
      c_col: c?.colStride ?? 0,
      alpha: spec.alpha ?? 1,
      beta: c?.beta ?? 1,
      ...activationParams(spec.activation),
      ...flags.uniforms,
    },
    constants: { ...tiles, ...flags.constants },
  });
  return out;
}

/**
 * The fastest matrix product for the benchmark: C[m, n] = A[m, k] x B[k, n]
 * on flat row-major operands (batch > 1: A and B hold `batch` matrices each).
 */
export function bestMatmul(a: Tensor, b: Tensor, m: number, n: number, k: number, batch = 1): Tensor {
  return gemmKernelRun(a, b, { m, n, k, batch, aBatchStride: batch > 1 ? m * k : 0, bBatchStride: batch > 1 ? k * n : 0 });
}

// ---- matmul ----------------------------------------------------------------------

export type MatmulAttrs = Record<string, never>;

/** Shapes of a matmul with 1-D operands promoted to matrices, as NumPy does. */
interface MatmulShapes {
  batch: number[];
  m: number;
  n: number;
  k: number;
  /** Output shape (promoted dimensions removed). */
  out: number[];
}

function matmulShapes(a: Shape, b: Shape): MatmulShapes {
  if (a.length < 1 || b.length < 1) throw new ShapeError('matmul', 'operands must have rank >= 1', [a, b]);
  const pa = a.length === 1 ? [1, a[0]] : [...a];
  const pb = b.length === 1 ? [b[0], 1] : [...b];
  const [m, k] = pa.slice(-2);
  const [kb, n] = pb.slice(-2);
  if (k !== kb) {
    throw new ShapeError('matmul', `inner dimensions differ: ${formatShape(a)} x ${formatShape(b)} needs ${k} == ${kb}`, [a, b]);
  }
  const batch = broadcastShapes('matmul', pa.slice(0, -2), pb.slice(0, -2));
  const out = [...batch, ...(a.length === 1 ? [] : [m]), ...(b.length === 1 ? [] : [n])];
  return { batch, m, n, k, out };
}

/**
 * A batch of `rows x cols` matrices of tensor `t` as gemm operands: its batch
 * stride (0 when it is one matrix for the whole batch), materializing the
 * broadcast only when a stride cannot express it (e.g. [2, 1] against [1, 3]).
 */
function batchOperand(t: Tensor, rows: number, cols: number, batch: number[]): { tensor: Tensor; stride: number; owned: boolean } {
  const own = numel(t.shape) / (rows * cols);
  if (own === numel(batch)) return { tensor: t, stride: rows * cols, owned: false };
  if (own === 1) return { tensor: t, stride: 0, owned: false };
  const full = [...batch, rows, cols];
  return { tensor: stridedCopy(t, full, broadcastStrides(t.shape, full)), stride: rows * cols, owned: true };
}

/** out = op(A) x op(B) over the broadcast batch of the two operands. */
function batchedProduct(
  a: Tensor,
  aRows: number,
  aCols: number,
  b: Tensor,
  bRows: number,
  bCols: number,
  batch: number[],
  spec: Omit<GemmSpec, 'batch' | 'aBatchStride' | 'bBatchStride'>,
): Tensor {
  const A = batchOperand(a, aRows, aCols, batch);
  const B = batchOperand(b, bRows, bCols, batch);
  const out = gemmKernelRun(A.tensor, B.tensor, { ...spec, batch: numel(batch), aBatchStride: A.stride, bBatchStride: B.stride });
  if (A.owned) A.tensor.dispose();
  if (B.owned) B.tensor.dispose();
  return out;
}

function reshaped(t: Tensor, shape: Shape): Tensor {
  const v = t.view(shape);
  t.dispose();
  return v;
}

export const matmul: Op<MatmulAttrs> = defineOp<MatmulAttrs>({
  name: 'matmul',
  forward([a, b]) {
    if (!a || !b) throw new ShapeError('matmul', 'expects two inputs');
    const s = matmulShapes(a.shape, b.shape);
    return [reshaped(batchedProduct(a, s.m, s.k, b, s.k, s.n, s.batch, { m: s.m, n: s.n, k: s.k }), s.out)];
  },
  save: ([a, b]) => [a, b],
  // In parts along the batch axes (an operand that broadcasts is read whole), then rows of A, then columns of B.
  split([a, b], _attrs, [y]) {
    if (a.length < 2 || b.length < 2) return [];
    const r = y.length;
    const follows = (s: Shape, i: number) => {
      const j = i - (r - s.length);
      return j >= 0 && s[j] === y[i] ? j : null;
    };
    const batch = y.slice(0, -2).map((_, i): SplitAxis<MatmulAttrs> => ({ name: `batch axis ${i}`, outputs: [i], inputs: [follows(a, i), follows(b, i)] }));
    return [...batch, { name: 'rows', outputs: [r - 2], inputs: [a.length - 2, null] }, { name: 'columns', outputs: [r - 1], inputs: [null, b.length - 1] }];
  },
  // dA = dY x B^T, dB = A^T x dY per batch matrix (the tape sums broadcast batch axes)
  backward({ saved: [a, b], needsInputGrad }, [gy]) {
    const { batch, m, n, k } = matmulShapes(a.shape, b.shape);
    // Gradients at the broadcast batch shape; a promoted 1-D operand drops its unit dimension.
    const ga = needsInputGrad[0]
      ? reshaped(batchedProduct(gy, m, n, b, k, n, batch, { m, n: k, k: n, transB: true }), [...batch, ...(a.shape.length === 1 ? [k] : [m, k])])
      : null;
    const gb = needsInputGrad[1]
      ? reshaped(batchedProduct(a, m, k, gy, m, n, batch, { m: k, n, k: m, transA: true }), [...batch, ...(b.shape.length === 1 ? [k] : [k, n])])
      : null;
    return [ga, gb];
  },
  // the same with ops: dA = dY x B^T, dB = A^T x dY (transposing the last two axes; batch axes un-broadcast by the tape)
  backwardOps({ saved: [a, b], needsInputGrad }, [gy]): (Tensor | null)[] {
    if (a.shape.length < 2 || b.shape.length < 2) throw new MissingDoubleBackward('matmul', 'a 1-D operand has no differentiable rule');
    const swapLast = (t: Tensor): Tensor => {
      const perm = [...t.shape.keys()];
      perm.splice(-2, 2, perm.length - 1, perm.length - 2);
      return transpose([t], { perm })[0];
    };
    return [needsInputGrad[0] ? matmul([gy, swapLast(b)], {})[0] : null, needsInputGrad[1] ? matmul([swapLast(a), gy], {})[0] : null];
  },
});

// ---- gemm (ONNX) ----------------------------------------------------------------------

export interface GemmAttrs {
  transA?: boolean;
  transB?: boolean;
  alpha?: number;
  beta?: number;
}

function gemmShapes(a: Shape, b: Shape, c: Shape | undefined, attrs: GemmAttrs) {
  if (a.length !== 2 || b.length !== 2) throw new ShapeError('gemm', 'A and B must be 2-D', [a, b]);
  const [m, k] = attrs.transA ? [a[1], a[0]] : [a[0], a[1]];
  const [kb, n] = attrs.transB ? [b[1], b[0]] : [b[0], b[1]];
  if (k !== kb) {
    throw new ShapeError('gemm', `inner dimensions differ: op(A) is ${m}x${k}, op(B) is ${kb}x${n} (check transA / transB)`, [a, b]);
  }
  if (c) {
    if (c.length > 2) throw new ShapeError('gemm', `C must have rank <= 2 to broadcast to [${m}, ${n}]`, [a, b, c]);
    const full = broadcastShapes('gemm', c, [m, n]);
    if (full[0] !== m || full[1] !== n) throw new ShapeError('gemm', `C does not broadcast to [${m}, ${n}]`, [a, b, c]);
  }
  return { m, n, k };
}

export const gemm = defineOp<GemmAttrs>({
  name: 'gemm',
  forward([a, b, c], attrs) {
    if (!a || !b) throw new ShapeError('gemm', 'expects inputs A, B and optionally C');
    const { m, n, k } = gemmShapes(a.shape, b.shape, c?.shape, attrs);
    const [rowStride, colStride] = c ? broadcastStrides(c.shape, [m, n]) : [0, 0];
    const out = gemmKernelRun(a, b, {
      m,
      n,
      k,
      transA: attrs.transA,
      transB: attrs.transB,
      alpha: attrs.alpha ?? 1,
      c: c ? { tensor: c, beta: attrs.beta ?? 1, rowStride, colStride } : undefined,
    });
    return [reshaped(out, [m, n])];
  },
  save: ([a, b]) => [a, b],
  // In parts along rows of op(A) or columns of op(B); C follows where it does not broadcast.
  split([, , c], attrs, [y]) {
    const cAxis = (axis: number) => (c && c.length > 1 - axis && c[c.length - 2 + axis] === y[axis] ? c.length - 2 + axis : null);
    const rest = (axis: number) => (c ? [cAxis(axis)] : []);
    return [
      { name: 'rows', outputs: [0], inputs: [attrs.transA ? 1 : 0, null, ...rest(0)] },
      { name: 'columns', outputs: [1], inputs: [null, attrs.transB ? 0 : 1, ...rest(1)] },
    ];
  },
  // Y = alpha op(A) op(B) + beta C:
  // d op(A) = alpha dY op(B)^T, d op(B) = alpha op(A)^T dY, dC = beta dY (un-broadcast by the tape)
  backward({ saved: [a, b], attrs, needsInputGrad }, [gy]) {
    const { transA = false, transB = false, alpha = 1, beta = 1 } = attrs;
    const { m, n, k } = gemmShapes(a.shape, b.shape, undefined, attrs);
    let ga: Tensor | null = null;
    let gb: Tensor | null = null;
    if (needsInputGrad[0]) {
      // dA = alpha dY op(B)^T, or its transpose op(B) dY^T when A is stored transposed
      ga = transA
        ? gemmKernelRun(b, gy, { m: k, n: m, k: n, transA: transB, transB: true, alpha })
        : gemmKernelRun(gy, b, { m, n: k, k: n, transB: !transB, alpha });
      ga = reshaped(ga, a.shape);
    }
    if (needsInputGrad[1]) {
      // dB = alpha op(A)^T dY, or its transpose dY^T op(A) when B is stored transposed
      gb = transB
        ? gemmKernelRun(gy, a, { m: n, n: k, k: m, transA: true, transB: transA, alpha })
        : gemmKernelRun(a, gy, { m: k, n, k: m, transA: !transA, alpha });
      gb = reshaped(gb, b.shape);
    }
    let gc: Tensor | null = null;
    if (needsInputGrad[2]) {
      if (beta === 1) gc = gy.view(gy.shape);
      else {
        const scale = fill([], beta);
        gc = binaryOps.mul([gy, scale], {})[0];
        scale.dispose();
      }
    }
    return needsInputGrad.length > 2 ? [ga, gb, gc] : [ga, gb];
  },
  // the same products as gemm ops (recorded): each gradient is itself a gemm of dY and the other operand
  backwardOps({ saved: [a, b], attrs, needsInputGrad }, [gy]): (Tensor | null)[] {
    const { transA = false, transB = false, alpha = 1, beta = 1 } = attrs;
    const product = (x: Tensor, y: Tensor, t: GemmAttrs): Tensor => gemm([x, y], { ...t, alpha })[0];
    const ga: Tensor | null = !needsInputGrad[0] ? null : transA ? product(b, gy, { transA: transB, transB: true }) : product(gy, b, { transB: !transB });
    const gb = !needsInputGrad[1] ? null : transB ? product(gy, a, { transA: true, transB: transA }) : product(a, gy, { transA: !transA });
    const gc = !needsInputGrad[2] ? null : beta === 1 ? gy : binaryOps.mul([gy, fill([], beta)], {})[0];
    return needsInputGrad.length > 2 ? [ga, gb, gc] : [ga, gb];
  },
});

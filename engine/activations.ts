// Activations the GEMM-family kernels can fuse into their epilogue (conv2d,
// conv2d_grad_input, gemm): one table, ACTIVATIONS, and everything derived from
// it. Pure (no GPU, no WGSL imports): the importer's planning and folding read it
// without a GPU.
//
// A row is the single source of an activation's formulas:
//  - `forward` / `derivative`: the WGSL of the elementwise op of the same name
//    (engine/ops/elementwise.ts makes its forward and backward kernels from them);
//  - `forward` is also the conv/gemm epilogue's case for the kind
//    (engine/ops/epilogue.ts generates the `activate` switch of
//    shaders/epilogue.wgsl from the table, applied per component);
//  - the kind's ACT code is its position in the table plus one (0 is none);
//  - `cpu`: the importer's constant folding (importers/onnx/ops/elementwise.ts),
//    whose fusable list is the table's kinds;
//  - `params`: which of alpha / beta the kind reads, with their defaults.
// NaN contract: a NaN x gives a NaN value and a NaN derivative (as onnxruntime
// and IEEE arithmetic; a NaN must not turn into a confident number). WGSL's
// max / min / clamp are unspecified for NaN (llvmpipe drops it), so piecewise
// rows are selects on ordered comparisons, which are false for NaN: the
// innermost `select(x, ...)` lets a NaN fall through (test/engine/nonfinite.test.ts).
// Adding a fusable activation is one row here plus its float64 oracle row in
// engine/reference/elementwise.ts (typed over the ops: without it nothing
// compiles) and its op test case (test/engine/op-cases.ts).

export interface ActivationRow {
  /**
   * y = f(x): a WGSL f32 expression in `x` and the f32 parameters `alpha`,
   * `beta`. The epilogue applies it to each component of a vec4, so it needs
   * no vector form.
   */
  forward: string;
  /** dy/dx: a WGSL f32 expression in `x`, `y` (= f(x)), `alpha`, `beta`. */
  derivative: string;
  /**
   * The forward on the CPU, for constant folding: the same formula as
   * `forward` in float64 (rounded to the tensor's dtype when stored), NaN in,
   * NaN out, as the kernels (Math.max / Math.min propagate NaN).
   */
  cpu(x: number, alpha: number, beta: number): number;
  /** The parameters the kind reads, with their defaults; the others are passed as 0. */
  params: { alpha?: number; beta?: number };
}

/** The fusable activations, in ACT-code order (code = index + 1). */
export const ACTIVATIONS = {
  relu: {
    forward: 'select(x, 0.0, x < 0.0)',
    derivative: 'select(select(x, 0.0, x <= 0.0), 1.0, x > 0.0)',
    cpu: (x) => Math.max(x, 0),
    params: {},
  },
  // alpha = negative slope
  leakyRelu: {
    forward: 'select(alpha * x, x, x > 0.0)',
    derivative: 'select(select(x, alpha, x <= 0.0), 1.0, x > 0.0)',
    cpu: (x, alpha) => (x > 0 ? x : alpha * x),
    params: { alpha: 0.01 },
  },
  sigmoid: {
    forward: '1.0 / (1.0 + exp(-x))',
    derivative: 'y * (1.0 - y)',
    cpu: (x) => 1 / (1 + Math.exp(-x)),
    params: {},
  },
  // silu(x) = x * s(x);  silu' = s(x) * (1 + x * (1 - s(x)))
  silu: {
    forward: 'x / (1.0 + exp(-x))',
    derivative: '(1.0 / (1.0 + exp(-x))) * (1.0 + x * (1.0 - 1.0 / (1.0 + exp(-x))))',
    cpu: (x) => x / (1 + Math.exp(-x)),
    params: {},
  },
  // alpha = min, beta = max (ReLU6 is clip(0, 6)); gradient passes where min <= x <= max, as in PyTorch
  clip: {
    forward: 'select(select(x, alpha, x < alpha), beta, x > beta)',
    derivative: 'select(select(x, 0.0, x < alpha || x > beta), 1.0, x >= alpha && x <= beta)',
    cpu: (x, alpha, beta) => Math.min(beta, Math.max(alpha, x)),
    params: { alpha: -3.4e38, beta: 3.4e38 },
  },
} satisfies Record<string, ActivationRow>;

/** An activation the kernels can fuse. */
export type FusableKind = keyof typeof ACTIVATIONS;
export type ActivationKind = 'none' | FusableKind;

/** leakyRelu: alpha = negative slope (default 0.01). clip: alpha = min, beta = max (ReLU6 = clip 0, 6). */
export interface Activation {
  kind: ActivationKind;
  alpha?: number;
  beta?: number;
}

/** The fusable kinds in table order: kind k has ACT code FUSABLE_KINDS.indexOf(k) + 1. */
export const FUSABLE_KINDS = Object.keys(ACTIVATIONS) as readonly FusableKind[];

export function isFusable(kind: string): kind is FusableKind {
  return Object.hasOwn(ACTIVATIONS, kind);
}

export function isIdentity(act: Activation | undefined): boolean {
  return !act || act.kind === 'none';
}

function rowOf(kind: string): ActivationRow {
  if (!isFusable(kind)) throw new Error(`unknown activation kind '${kind}'`);
  return ACTIVATIONS[kind];
}

/** The ACT override constant for `act`: 0 for none, else the kind's table position + 1. */
export function activationCode(act: Activation | undefined): number {
  if (isIdentity(act)) return 0;
  rowOf(act!.kind);
  return FUSABLE_KINDS.indexOf(act!.kind as FusableKind) + 1;
}

/** Uniform values act_alpha / act_beta: the parameters the kind reads (given, else its defaults), 0 for the rest. */
export function activationParams(act: Activation | undefined): { act_alpha: number; act_beta: number } {
  if (isIdentity(act)) return { act_alpha: 0, act_beta: 0 };
  const { params } = rowOf(act!.kind);
  return {
    act_alpha: params.alpha === undefined ? 0 : (act!.alpha ?? params.alpha),
    act_beta: params.beta === undefined ? 0 : (act!.beta ?? params.beta),
  };
}

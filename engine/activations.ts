// Activations the GEMM-family kernels can fuse into their epilogue (conv2d,
// conv2d_grad_input, gemm): the kinds, their parameters and kernel codes. Pure:
// the importer's planning reads it without a GPU.


export type ActivationKind = 'none' | 'relu' | 'leakyRelu' | 'sigmoid' | 'silu' | 'clip';

/** leakyRelu: alpha = negative slope (default 0.01). clip: alpha = min, beta = max (ReLU6 = clip 0, 6). */
export interface Activation {
  kind: ActivationKind;
  alpha?: number;
  beta?: number;
}

/** The kernels' ACT codes (the `activate` switch in the WGSL). */
const ACT_CODE: Record<ActivationKind, number> = { none: 0, relu: 1, leakyRelu: 2, sigmoid: 3, silu: 4, clip: 5 };

export function isIdentity(act: Activation | undefined): boolean {
  return !act || act.kind === 'none';
}

/** The ACT override constant for `act`. */
export function activationCode(act: Activation | undefined): number {
  return ACT_CODE[act?.kind ?? 'none'];
}

/** Uniform values act_alpha / act_beta, with the defaults of the elementwise ops. */
export function activationParams(act: Activation | undefined): { act_alpha: number; act_beta: number } {
  switch (act?.kind) {
    case 'leakyRelu':
      return { act_alpha: act.alpha ?? 0.01, act_beta: 0 };
    case 'clip':
      return { act_alpha: act.alpha ?? -3.4e38, act_beta: act.beta ?? 3.4e38 };
    default:
      return { act_alpha: 0, act_beta: 0 };
  }
}

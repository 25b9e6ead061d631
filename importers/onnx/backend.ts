// What handlers compute with. A handler's run() calls the engine's registry
// ops through `ctx.ops` (same names, same attributes), never the GPU functions
// directly, so one prepared graph runs on either backend:
//   gpuBackend        engine ops on WebGPU tensors, recorded on the tape;
//   referenceBackend  engine/reference's float64 CPU ops (reference-backend.ts),
//                     the oracle the importer's gradients are checked against.

import type { AttrsOf, OpName, Shape } from '../../engine/host.js';
import { Tensor, fill, ops as registry } from '../../engine/index.js';

/** All a handler needs of a tensor besides the ops: its shape. */
export interface BackendTensor {
  readonly shape: Shape;
}

/** Every registry op as (inputs, attrs) -> outputs. */
export type BackendOps<T> = { readonly [K in OpName]: (inputs: readonly T[], attrs: AttrsOf<K>) => T[] };

export interface Backend<T extends BackendTensor> {
  readonly name: string;
  readonly ops: BackendOps<T>;
  /** A tensor holding host values (constants, and values computed from shapes). */
  fromValues(values: ArrayLike<number>, shape: Shape): T;
  fill(shape: Shape, value: number): T;
  /** Frees a tensor a handler made and does not return (maxPool's indices, temporaries). */
  release(t: T): void;
  /** Names a node output after its ONNX tensor (the tape shows it). */
  label(t: T, name: string): void;
}

export const gpuBackend: Backend<Tensor> = {
  name: 'gpu',
  ops: registry,
  fromValues: (values, shape) => Tensor.fromData(values, shape),
  fill,
  release: (t) => t.dispose(),
  label(t, name) {
    t.name = name;
  },
};

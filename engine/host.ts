// The engine's host side: everything that runs without a GPU. Shape arithmetic,
// each op's attributes and geometry, the activations the kernels can fuse,
// typed errors, the non-finite checks, the model contract, the seeded PRNG, and
// the float64 reference ops with their tape (the oracle). Importers prepare and
// plan graphs with this entry alone, so graph preparation never loads the GPU
// runtime; the public entry (engine/index.ts) re-exports all of it.

export * from './errors.js';
export { assertFinite, firstNonFinite } from './finite.js';
export * from './shape.js';
export * from './activations.js';
export * from './geometry/conv.js';
export * from './geometry/pool.js';
export * from './geometry/resize.js';
export * from './geometry/shape-ops.js';
export * from './model.js';
export { seededRandom } from './random.js';
export type { OpName, AttrsOf } from './ops/registry.js';
export type { GemmAttrs } from './ops/gemm.js';
export type { UnaryAttrs, BinaryName, UnaryName } from './ops/elementwise.js';
export { reference, refTensor, type RefOp, type RefTensor } from './reference/index.js';
export { ReferenceTape } from './reference/tape.js';

// The float64 CPU backend: engine/reference's ops behind the Backend interface,
// so a prepared graph runs in float64 through the very handlers the GPU runs.
// With a ReferenceTape (engine/reference/tape.ts) it also differentiates: the
// oracle the importer's GPU gradients are compared with (it shares no code with
// the engine's tape or kernels).

import { numel, reference, refTensor, type AttrsOf, type OpName, type RefOp, type RefTensor, type ReferenceTape, type Shape } from '../../engine/host.js';
import type { Backend, BackendOps } from './backend.js';

/** The reference ops as a Backend; with a tape, calls are recorded for backward(). */
export function referenceBackend(tape?: ReferenceTape): Backend<RefTensor> {
  const ops = Object.fromEntries(
    (Object.keys(reference) as OpName[]).map((name) => [
      name,
      (inputs: readonly RefTensor[], attrs: AttrsOf<typeof name>) => {
        const ins = [...inputs];
        const outs = (reference[name] as RefOp<unknown>).forward(ins, attrs);
        tape?.record(name, ins, attrs, outs);
        return outs;
      },
    ]),
  ) as unknown as BackendOps<RefTensor>;
  return {
    name: 'reference',
    ops,
    fromValues: (values, shape) => refTensor(shape, values),
    fill: (shape: Shape, value: number) => refTensor(shape, new Float64Array(numel(shape)).fill(value)),
    release: () => {}, // garbage collected
    label: () => {},
  };
}

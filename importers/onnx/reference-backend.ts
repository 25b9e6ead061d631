// The float64 CPU backend: engine/reference's ops behind the Backend interface,
// so a prepared graph runs in float64 through the very handlers the GPU runs.
// With a ReferenceTape it also differentiates: the tape records the ops whose
// inputs depend on a watched tensor, and backward() walks them in reverse
// through the reference ops' own vector-Jacobian products. This is the oracle
// the importer's GPU gradients are compared with (it shares no code with the
// engine's tape or kernels).

import type { AttrsOf, OpName, RefOp, RefTensor, Shape } from '../../engine/host.js';
import { numel, refTensor, reference } from '../../engine/index.js';
import type { Backend, BackendOps } from './backend.js';

interface RefRecord {
  op: OpName;
  inputs: RefTensor[];
  attrs: unknown;
  outputs: RefTensor[];
}

type AnyRefOp = RefOp<unknown>;

export class ReferenceTape {
  private readonly records: RefRecord[] = [];
  private readonly tracked = new Set<RefTensor>();

  /** Gradients are wanted at `t`: ops that read it (or anything computed from it) are recorded. */
  watch(t: RefTensor): void {
    this.tracked.add(t);
  }

  record(op: OpName, inputs: RefTensor[], attrs: unknown, outputs: RefTensor[]): void {
    if (!inputs.some((t) => this.tracked.has(t))) return;
    this.records.push({ op, inputs, attrs, outputs });
    for (const o of outputs) this.tracked.add(o);
  }

  /**
   * Reverse mode from `y` with seed `gy` (the gradient of sum(gy * y)):
   * returns the gradient at every watched-or-downstream tensor it reached.
   */
  backward(y: RefTensor, gy: RefTensor): Map<RefTensor, RefTensor> {
    const grads = new Map<RefTensor, RefTensor>([[y, gy]]);
    for (let r = this.records.length - 1; r >= 0; r--) {
      const { op, inputs, attrs, outputs } = this.records[r];
      if (!outputs.some((o) => grads.has(o))) continue;
      const gys = outputs.map((o) => grads.get(o) ?? refTensor(o.shape));
      const gxs = (reference[op] as AnyRefOp).backward(inputs, attrs, outputs, gys);
      inputs.forEach((x, j) => {
        const g = gxs[j];
        if (!g || !this.tracked.has(x)) return;
        const prev = grads.get(x);
        if (prev) g.data.forEach((v, i) => (prev.data[i] += v));
        else grads.set(x, g);
      });
    }
    return grads;
  }
}

/** The reference ops as a Backend; with a tape, calls are recorded for backward(). */
export function referenceBackend(tape?: ReferenceTape): Backend<RefTensor> {
  const ops = Object.fromEntries(
    (Object.keys(reference) as OpName[]).map((name) => [
      name,
      (inputs: readonly RefTensor[], attrs: AttrsOf<typeof name>) => {
        const ins = [...inputs];
        const outs = (reference[name] as AnyRefOp).forward(ins, attrs);
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

// The float64 twin of engine/tape.ts, for teaching and as an oracle: the same
// algorithm with nothing around it. Ops append records (op, inputs, attrs,
// outputs) while any input depends on a watched tensor; backward() walks the
// records in reverse (recording order is already a topological order) and
// sums (+=) each reference op's vector-Jacobian product into its inputs'
// gradients. It shares no code with the GPU tape or kernels, so the tape-twin
// test can judge one with the other.

import type { AttrsOf, OpName } from '../ops/registry.js';
import { reference } from './index.js';
import { refTensor, type RefTensor } from './tensor.js';
import type { RefOp } from './types.js';

interface RefRecord {
  op: OpName;
  inputs: RefTensor[];
  attrs: unknown;
  outputs: RefTensor[];
}

export class ReferenceTape {
  private readonly records: RefRecord[] = [];
  private readonly tracked = new Set<RefTensor>();

  /** Gradients are wanted at `t`: ops that read it (or anything computed from it) are recorded. */
  watch(t: RefTensor): void {
    this.tracked.add(t);
  }

  /** Runs reference op `op` and records it. */
  apply<K extends OpName>(op: K, inputs: RefTensor[], attrs: AttrsOf<K>): RefTensor[] {
    const outputs = (reference[op] as RefOp<unknown>).forward(inputs, attrs);
    this.record(op, inputs, attrs, outputs);
    return outputs;
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
      const gxs = (reference[op] as RefOp<unknown>).backward(inputs, attrs, outputs, gys);
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

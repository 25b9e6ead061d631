// Float64 oracle for concat, split, slice, pad, gather and flatten. Every op is
// written as "which input element does output element i copy" (plain loops);
// backward scatters each output gradient back to that element, sequentially.

import { contiguousStrides } from '../shape.js';
import { forEachIndex, refTensor, type RefTensor } from './tensor.js';
import type { RefOp } from './types.js';
import { ConcatAttrs, FlattenAttrs, GatherAttrs, PadAttrs, SliceAttrs, SplitAttrs } from '../geometry/shape-ops.js';

const norm = (axis: number, rank: number) => (axis < 0 ? axis + rank : axis);
const offsetOf = (shape: number[], coords: readonly number[]) => coords.reduce((o, c, d) => o + c * contiguousStrides(shape)[d], 0);

/**
 * A movement op as a source map: for each output element, the input element
 * (and input number) it copies, or null for a constant.
 */
interface Movement {
  shapes: number[][];
  source(out: number, coords: number[]): { input: number; offset: number } | null;
}

function moveForward(inputs: RefTensor[], m: Movement, constant = 0): RefTensor[] {
  return m.shapes.map((shape, out) => {
    const y = refTensor(shape);
    forEachIndex(shape, (i, c) => {
      const s = m.source(out, c);
      y.data[i] = s ? inputs[s.input].data[s.offset] : constant;
    });
    return y;
  });
}

function moveBackward(inputs: RefTensor[], m: Movement, gys: RefTensor[]): RefTensor[] {
  const gxs = inputs.map((x) => refTensor(x.shape));
  gys.forEach((gy, out) => {
    forEachIndex(gy.shape, (i, c) => {
      const s = m.source(out, c);
      if (s) gxs[s.input].data[s.offset] += gy.data[i];
    });
  });
  return gxs;
}

function movementRef<A>(plan: (inputs: RefTensor[], attrs: A) => Movement, constant?: (attrs: A) => number): RefOp<A> {
  return {
    forward: (inputs, attrs) => moveForward(inputs, plan(inputs, attrs), constant?.(attrs)),
    backward: (inputs, attrs, _ys, gys) => moveBackward(inputs, plan(inputs, attrs), gys),
  };
}

export const concatRef = movementRef<ConcatAttrs>((xs, { axis }) => {
  const a = norm(axis, xs[0].shape.length);
  const shape = [...xs[0].shape];
  shape[a] = xs.reduce((n, x) => n + x.shape[a], 0);
  return {
    shapes: [shape],
    source(_out, c) {
      let along = c[a];
      let k = 0;
      while (along >= xs[k].shape[a]) along -= xs[k++].shape[a];
      const coords = [...c];
      coords[a] = along;
      return { input: k, offset: offsetOf(xs[k].shape, coords) };
    },
  };
});

export const splitRef = movementRef<SplitAttrs>(([x], { axis = 0, sizes, numOutputs }) => {
  const a = norm(axis, x.shape.length);
  let parts = sizes ? [...sizes] : [];
  if (!sizes) {
    const chunk = Math.ceil(x.shape[a] / numOutputs!);
    for (let k = 0; k < numOutputs!; k++) parts.push(Math.min(chunk, x.shape[a] - k * chunk));
  }
  const starts = parts.map((_, k) => parts.slice(0, k).reduce((n, s) => n + s, 0));
  return {
    shapes: parts.map((len) => x.shape.map((d, i) => (i === a ? len : d))),
    source(out, c) {
      const coords = [...c];
      coords[a] += starts[out];
      return { input: 0, offset: offsetOf(x.shape, coords) };
    },
  };
});

/** The input indices an ONNX slice selects along one axis, in output order. */
function sliceIndices(dim: number, start: number, end: number, step: number): number[] {
  const s = start < 0 ? start + dim : start;
  const e = end < 0 ? end + dim : end;
  const out: number[] = [];
  if (step > 0) {
    for (let i = Math.max(s, 0); i < Math.min(e, dim); i += step) out.push(i);
  } else {
    for (let i = Math.min(s, dim - 1); i > Math.max(e, -1); i += step) out.push(i);
  }
  return out;
}

export const sliceRef = movementRef<SliceAttrs>(([x], { starts, ends, axes, steps }) => {
  const picks = x.shape.map((d) => [...Array(d).keys()]);
  starts.forEach((start, i) => {
    const a = norm(axes?.[i] ?? i, x.shape.length);
    picks[a] = sliceIndices(x.shape[a], start, ends[i], steps?.[i] ?? 1);
  });
  return {
    shapes: [picks.map((p) => p.length)],
    source: (_out, c) => ({ input: 0, offset: offsetOf(x.shape, c.map((v, d) => picks[d][v])) }),
  };
});

export const padRef = movementRef<PadAttrs>(
  ([x], { pads, mode = 'constant', axes }) => {
    const rank = x.shape.length;
    const list = (axes ?? [...Array(rank).keys()]).map((a) => norm(a, rank));
    const before = new Array<number>(rank).fill(0);
    const after = new Array<number>(rank).fill(0);
    list.forEach((a, i) => {
      before[a] = pads[i];
      after[a] = pads[i + list.length];
    });
    // Negative pads crop the input first; positive pads then extend the cropped window.
    const lo = before.map((b) => Math.max(0, -b));
    const len = x.shape.map((d, a) => d - lo[a] - Math.max(0, -after[a]));
    const shape = x.shape.map((d, a) => d + before[a] + after[a]);
    const sourceAlong = (s: number, n: number): number | null => {
      if (s >= 0 && s < n) return s;
      if (mode === 'constant') return null;
      if (mode === 'edge') return s < 0 ? 0 : n - 1;
      if (mode === 'wrap') {
        while (s < 0) s += n;
        while (s >= n) s -= n;
        return s;
      }
      if (n === 1) return 0;
      // reflect: mirror about the end elements until inside (NumPy's repeated reflection)
      while (s < 0 || s >= n) s = s < 0 ? -s : 2 * (n - 1) - s;
      return s;
    };
    return {
      shapes: [shape],
      source(_out, c) {
        const coords: number[] = [];
        for (let a = 0; a < rank; a++) {
          const s = sourceAlong(c[a] - Math.max(0, before[a]), len[a]);
          if (s === null) return null;
          coords.push(lo[a] + s);
        }
        return { input: 0, offset: offsetOf(x.shape, coords) };
      },
    };
  },
  ({ value = 0 }) => value,
);

export const gatherRef = movementRef<GatherAttrs>(([x], { indices, indicesShape, axis = 0 }) => {
  const rank = x.shape.length;
  const a = norm(axis, rank);
  const idxShape = indicesShape ?? [indices.length];
  const q = idxShape.length;
  return {
    shapes: [[...x.shape.slice(0, a), ...idxShape, ...x.shape.slice(a + 1)]],
    source(_out, c) {
      const index = indices[offsetOf([...idxShape], c.slice(a, a + q))];
      const coords = [...c.slice(0, a), index < 0 ? index + x.shape[a] : index, ...c.slice(a + q)];
      return { input: 0, offset: offsetOf(x.shape, coords) };
    },
  };
});

export const flattenRef: RefOp<FlattenAttrs> = {
  forward([x], { axis = 1 }) {
    const a = norm(axis, x.shape.length);
    const product = (dims: number[]) => dims.reduce((n, d) => n * d, 1);
    return [refTensor([product(x.shape.slice(0, a)), product(x.shape.slice(a))], x.data)];
  },
  backward: ([x], _a, _y, [gy]) => [refTensor(x.shape, gy.data)],
};

// Finer-CAM. Zhang, Gu, Chowdhury, Mai, Carlyn, Berger-Wolf, Su, Chao,
// "Finer-CAM: Spotting the Difference Reveals Finer Details for Visual
// Explanation", CVPR 2025. Grad-CAM (eq. 1-2) of a comparative score: the
// main class's logit minus alpha times the logits of the classes it is most
// easily confused with, so the map keeps what tells the main class apart from
// its look-alikes and drops what they share. As pytorch-grad-cam's FinerCAM
// and FinerWeightedTarget, for comparison classes d_1..d_J weighted by their
// softmax probabilities p_d:
//
//   y = sum_j p_dj (y_c - alpha y_dj) / (sum_j p_dj + 1e-9)
//
// (the gradient flows through p too, as there). The comparison classes
// default to the `similar` (3) classes whose logits are closest to the main
// class's, |y_d - y_c| ascending (pytorch-grad-cam's comparison_categories
// [1, 2, 3] over that ordering); alpha = 0 gives Grad-CAM of the main class.
//
// Targets: the main class is the target's class (a class or softmax target;
// pytorch-grad-cam's target_idx), else the predicted class. Other targets have
// no class to compare: MethodNotApplicable. Choosing the comparison classes
// needs the logits on the host before the score is built, so the pass runs one
// forward without the tape and reads the logits (pytorch-grad-cam reads them
// from the same forward); then Grad-CAM's standard pass runs on the comparative
// target, which is what ExplainResult.target and score report. Under augSmooth
// the classes chosen on the unaugmented input are kept for every pass.

import { add, div, gather, mul, reshape, scope, softmax, sub, sum, tape } from '../engine/index.js';
import { scalar } from './cam-math.js';
import { MethodNotApplicable, TargetError } from './errors.js';
import { gradCam } from './grad-cam.js';
import type { CamContext, CamMethod } from './method.js';
import { standardPass } from './pass.js';
import { resolveLayers } from './target-layers.js';
import { argmaxRows, type Target } from './targets.js';

export interface FinerCamOptions {
  /** The comparison classes (the same for every image); default: the `similar` classes closest in logit to the main class. */
  comparison?: readonly number[];
  /** How many most-similar classes to compare with when `comparison` is not given (default 3). */
  similar?: number;
  /** Comparison strength alpha (default 1; 0 is Grad-CAM of the main class). */
  alpha?: number;
}

/** What a Finer-CAM target compares, per batch item. */
export interface FinerComparison {
  /** The main class per item. */
  main: readonly number[];
  /** The comparison classes per item (the same count for each). */
  comparison: readonly (readonly number[])[];
  alpha: number;
  /** The tensor holding the class logits (default: the first output). */
  output?: string;
}

/** The Finer-CAM targets built by this file: later augSmooth passes reuse them. */
const built = new WeakSet<Target>();

/** pytorch-grad-cam's FinerWeightedTarget for every item of a batch: [N] scores. */
export function finerTarget(spec: FinerComparison): Target {
  const { main, comparison, alpha, output } = spec;
  const n = main.length;
  const j = comparison[0]?.length ?? 0;
  if (comparison.length !== n || !j || comparison.some((c) => c.length !== j)) {
    throw new TargetError(`Finer-CAM target: ${n} main classes need as many non-empty comparison lists of one length`);
  }
  const same = main.every((m) => m === main[0]) && comparison.every((c) => c.join() === comparison[0].join());
  const label = `Finer-CAM: class ${same ? main[0] : main.join(',')} vs ${same ? comparison[0].join(',') : comparison.map((c) => `[${c.join(',')}]`).join(' ')} (alpha ${alpha})${output ? ` of '${output}'` : ''}`;
  const target: Target = {
    label,
    category: same ? [main[0]] : [...main],
    output,
    tensors: output ? [output] : [],
    score(values, first) {
      const t = values[output ?? first];
      if (!t) throw new TargetError(`${label}: no tensor '${output ?? first}'`);
      // One comparison for all items applies to any batch (SmoothGrad's noisy copies); per-item ones to their own.
      const rowsIn = t.shape.length > 1 ? t.shape[0] : 1;
      const b = same ? rowsIn : n;
      const k = t.size / b;
      if (!Number.isInteger(k) || rowsIn !== b) throw new TargetError(`${label}: expects class scores [${b}, K], got [${t.shape.join(', ')}]`);
      for (const c of [...main, ...comparison.flat()]) {
        if (!Number.isInteger(c) || c < 0 || c >= k) throw new TargetError(`${label}: class ${c} is out of range for ${k} classes`);
      }
      const mains = same ? Array<number>(b).fill(main[0]) : main;
      const lists = same ? Array<readonly number[]>(b).fill(comparison[0]) : comparison;
      const rows = reshape(t, [b, k]);
      const at = lists.flatMap((c, i) => c.map((d) => i * k + d));
      const yc = reshape(gather(reshape(rows, [b * k]), mains.map((c, i) => i * k + c)), [b, 1]);
      const yd = reshape(gather(reshape(rows, [b * k]), at), [b, j]);
      const p = reshape(gather(reshape(softmax(rows, -1), [b * k]), at), [b, j]);
      const numerator = sum(mul(p, sub(yc, mul(yd, scalar(alpha)))), [1]);
      return div(numerator, add(sum(p, [1]), scalar(1e-9))); // [N]
    },
  };
  built.add(target);
  return target;
}

/**
 * The classes closest in logit to `main` (|y_d - y_c| ascending, ties by
 * index), `count` of them, `main` excluded: pytorch-grad-cam's choice.
 */
export function similarClasses(logits: ArrayLike<number>, main: number, count: number): number[] {
  const order = Array.from({ length: logits.length }, (_, d) => d).filter((d) => d !== main);
  order.sort((a, b) => Math.abs(logits[a] - logits[main]) - Math.abs(logits[b] - logits[main]) || a - b);
  return order.slice(0, count);
}

/** Reads the class logits of ctx.inputs with one forward outside the tape and builds the comparative target. */
async function comparisonTarget(ctx: CamContext<FinerCamOptions>): Promise<Target> {
  const name = 'finercam';
  const given = ctx.target;
  if (given && !given.category) throw new MethodNotApplicable(name, `the target (${given.label}) is not a class score; Finer-CAM compares one class with the classes most similar to it`);
  const { comparison, similar = 3, alpha = 1 } = ctx.options;
  if (typeof alpha !== 'number' || !Number.isFinite(alpha)) throw new MethodNotApplicable(name, `alpha must be a finite number, got ${String(alpha)}`);
  if (!Number.isInteger(similar) || similar < 1) throw new MethodNotApplicable(name, `similar must be a positive integer, got ${String(similar)}`);
  if (comparison !== undefined && (!Array.isArray(comparison) || !comparison.length)) throw new MethodNotApplicable(name, 'comparison must be a non-empty array of class indices');
  const output = given?.output;
  const read = output ?? ctx.defaultOutput;
  const logits = scope(() =>
    tape.noGrad(() => {
      const { outputs, kept } = ctx.model.run(ctx.inputs, { keep: output ? [output] : [] });
      return { ...outputs, ...kept }[read];
    }),
  );
  const shape = [...logits.shape];
  const data = await logits.data();
  logits.dispose();
  const n = shape.length > 1 ? shape[0] : 1;
  if (shape.length > 2 && shape.slice(2).some((d) => d !== 1)) {
    throw new MethodNotApplicable(name, `'${read}' of shape [${shape.join(', ')}] is not class scores [N, K]; pass \`output\` naming the logits`);
  }
  const k = data.length / n;
  const mains = given?.category ? (given.category.length === 1 ? Array<number>(n).fill(given.category[0]) : [...given.category]) : argmaxRows(data, n);
  if (mains.length !== n) throw new MethodNotApplicable(name, `${mains.length} classes for a batch of ${n}`);
  const lists = mains.map((m, i) => {
    if (!Number.isInteger(m) || m < 0 || m >= k) throw new MethodNotApplicable(name, `class ${m} is out of range for ${k} classes`);
    if (comparison) {
      for (const d of comparison) {
        if (!Number.isInteger(d) || d < 0 || d >= k) throw new MethodNotApplicable(name, `comparison class ${d} is out of range for ${k} classes`);
        if (d === m) throw new MethodNotApplicable(name, `comparison class ${d} is the explained class itself`);
      }
      return [...comparison];
    }
    if (k < 2) throw new MethodNotApplicable(name, `'${read}' has ${k} class: there is nothing to compare with`);
    return similarClasses(data.subarray(i * k, (i + 1) * k), m, Math.min(similar, k - 1));
  });
  return finerTarget({ main: mains, comparison: lists, alpha, output });
}

export const finerCam: CamMethod<FinerCamOptions> = {
  name: 'finercam',
  title: 'Finer-CAM',
  paper: 'Zhang et al., Finer-CAM, CVPR 2025: Grad-CAM of sum_j p_dj (y_c - alpha y_dj) / sum_j p_dj over the classes d_j most similar to c',
  usesGradients: true,
  inputSpace: false,
  classTargetsOnly: true,
  async pass(ctx) {
    const layers = resolveLayers(ctx.model, ctx.options.layers);
    if (!ctx.target || !built.has(ctx.target)) ctx.target = await comparisonTarget(ctx);
    return standardPass<object>(gradCam, { ...ctx, layers });
  },
};

/** Finer-CAM's comparison of a target built here (for callers reporting it); undefined for other targets. */
export function isFinerTarget(target: Target | null | undefined): boolean {
  return !!target && built.has(target);
}

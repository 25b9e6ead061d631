// The ACTIVATIONS table (engine/activations.ts) drives every place a fusable
// activation appears: the ACT codes, the generated `activate` switch of the
// conv/gemm epilogue, the elementwise ops' WGSL, and the importer's fusable
// list and constant folding. Each check here reads the table, so a new row is
// covered without editing this file. (That the fused kernels equal conv + the
// elementwise op on the GPU, per table kind, is test/engine/conv-fused.test.ts.)

import { describe, expect, test } from 'vitest';
import { ACTIVATIONS, activationCode, activationParams, FUSABLE_KINDS, isFusable, type FusableKind } from '../../engine/activations.js';
import { unaryRows } from '../../engine/ops/elementwise.js';
import { epilogueWgsl } from '../../engine/ops/epilogue.js';
import { unaryReference } from '../../engine/reference/elementwise.js';
import * as onnxElementwise from '../../importers/onnx/ops/elementwise.js';
import { inferContext, nodeContext, type OpHandler, type RunContext } from '../../importers/onnx/ops/handler.js';
import { Attributes } from '../../importers/onnx/attributes.js';
import { fromNumbers } from '../../importers/onnx/host-tensor.js';
import type { OnnxAttribute, OnnxNode } from '../../importers/onnx/proto.js';

/** Non-default parameters per kind, so the parameters are exercised (typed over the table). */
const params: { [K in FusableKind]: { alpha?: number; beta?: number } } = {
  relu: {},
  leakyRelu: { alpha: 0.3 },
  sigmoid: {},
  silu: {},
  clip: { alpha: -0.75, beta: 1.25 },
};

test('ACT codes: 0 is none, then each kind its table position + 1', () => {
  expect(activationCode(undefined)).toBe(0);
  expect(activationCode({ kind: 'none' })).toBe(0);
  expect(FUSABLE_KINDS.map((kind) => activationCode({ kind }))).toEqual(FUSABLE_KINDS.map((_, i) => i + 1));
  expect(() => activationCode({ kind: 'elu' as FusableKind })).toThrow(/unknown activation kind 'elu'/);
});

test('the generated epilogue switch has one case per kind, returning its forward', () => {
  const cases = [...epilogueWgsl.matchAll(/case (\d+)u: \{ return (.*); \}/g)].map((m) => [Number(m[1]), m[2]]);
  expect(cases).toEqual(FUSABLE_KINDS.map((kind) => [activationCode({ kind }), ACTIVATIONS[kind].forward]));
  expect(epilogueWgsl).toMatch(/default: \{ return x; \}/);
  expect(epilogueWgsl).not.toMatch(/\{\{\w+\}\}/);
});

test('the elementwise op of each kind runs the table row', () => {
  for (const kind of FUSABLE_KINDS) {
    expect(unaryRows[kind].forward).toBe(ACTIVATIONS[kind].forward);
    expect(unaryRows[kind].derivative).toBe(ACTIVATIONS[kind].derivative);
  }
});

test('activationParams: the parameters a kind reads, given or defaulted, and 0 for the rest', () => {
  for (const kind of FUSABLE_KINDS) {
    const { params: defaults } = ACTIVATIONS[kind] as { params: { alpha?: number; beta?: number } };
    expect(activationParams({ kind })).toEqual({ act_alpha: defaults.alpha ?? 0, act_beta: defaults.beta ?? 0 });
    const p = params[kind];
    expect(activationParams({ kind, alpha: 7, beta: 9 })).toEqual({
      act_alpha: defaults.alpha === undefined ? 0 : 7,
      act_beta: defaults.beta === undefined ? 0 : 9,
    });
    expect(activationParams({ kind, ...p })).toEqual({ act_alpha: p.alpha ?? defaults.alpha ?? 0, act_beta: p.beta ?? defaults.beta ?? 0 });
  }
  expect(activationParams({ kind: 'none', alpha: 3 })).toEqual({ act_alpha: 0, act_beta: 0 });
});

describe.each(FUSABLE_KINDS)('%s', (kind) => {
  test('has a float64 reference row, and its CPU folding formula agrees with it', () => {
    const ref = unaryReference[kind];
    expect(ref).toBeDefined();
    const { act_alpha, act_beta } = activationParams({ kind, ...params[kind] });
    for (let x = -4; x <= 4; x += 0.125) {
      const expected = ref.f(x, act_alpha, act_beta);
      expect(ACTIVATIONS[kind].cpu(x, act_alpha, act_beta)).toBeCloseTo(expected, 12);
    }
  });
});

describe("the importer's activations", () => {
  // One float input; attributes every activation handler may read (LeakyRelu alpha, Clip min/max before opset 11).
  const xs = [-4, -1.5, -0.25, 0, 0.5, 2, 5, NaN, Infinity, -Infinity];
  const node: OnnxNode = {
    name: 'n',
    opType: 'Activation',
    domain: '',
    inputs: ['x'],
    outputs: ['y'],
    attributes: new Map<string, OnnxAttribute>([
      ['alpha', { name: 'alpha', type: 'float', value: 0.3 }],
      ['min', { name: 'min', type: 'float', value: -0.75 }],
      ['max', { name: 'max', type: 'float', value: 1.25 }],
    ]),
    docString: '',
  };
  const ctx = inferContext(nodeContext(node, 'n', new Attributes(node, 'n'), 10), [
    { shape: [xs.length], dtype: 'float32', value: fromNumbers('float32', [xs.length], xs) },
  ]);

  /** The engine op a handler runs, found by running it on a stub backend. */
  function engineOf(h: OpHandler): string | undefined {
    let name: string | undefined;
    const ops = new Proxy({}, { get: (_, k) => () => ((name = String(k)), []) });
    h.run({ ...ctx, ops, tensor: () => ({}), outputShapes: [[xs.length]] } as unknown as RunContext);
    return name;
  }

  const unary = Object.entries(onnxElementwise as Record<string, OpHandler>)
    .map(([opType, h]) => [opType, h, engineOf(h)] as const)
    .filter(([, , engine]) => engine !== undefined && Object.hasOwn(unaryRows, engine));

  test('fuse exactly when their engine op is a table kind, and fold with its CPU formula', () => {
    expect(unary.length).toBeGreaterThan(FUSABLE_KINDS.length - 1);
    for (const [opType, h, engine] of unary) {
      expect(!!h.epilogue, opType).toBe(isFusable(engine!));
      if (!isFusable(engine!)) continue;
      const act = h.epilogue!(ctx);
      expect(act.kind, opType).toBe(engine);
      const { act_alpha, act_beta } = activationParams(act);
      const expected = fromNumbers('float32', [xs.length], xs.map((x) => ACTIVATIONS[engine].cpu(x, act_alpha, act_beta)));
      expect(h.fold!(ctx)[0].data, opType).toEqual(expected.data);
    }
  });

  test('isFusable is the table, not the prototype', () => {
    expect(isFusable('tanh')).toBe(false);
    expect(isFusable('toString')).toBe(false);
  });
});

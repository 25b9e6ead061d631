// Every registered op: (1) its reference backward matches finite differences
// of its reference forward (float64); (2) GPU forward matches the reference;
// (3) GPU backward through the tape matches the reference backward.

import { describe, expect, test } from 'vitest';
import { ops, runtime } from '../../engine/index.js';
import { allCases } from './cases/index.js';
import { caseLabels, checkCase } from '../helpers/op-check.js';

const names = Object.keys(ops) as (keyof typeof ops)[];

test('every registered op has test cases', () => {
  const missing = names.filter((n) => !allCases[n]?.length);
  expect(missing, `ops without cases in test/cases: ${missing.join(', ')}`).toEqual([]);
});

describe.each(names)('%s', (name) => {
  test.each(caseLabels(name))('%s', (_label, i) => checkCase(name, i));
});

// gemm and conv2d have two kernels each, workgroup-tiled (GPUs) and direct
// (CPU-backed adapters; DeviceHandle.workgroupTiles): the ops that reach them
// run again on the kernels this adapter does not pick.
describe.each(['conv2d', 'convTranspose2d', 'matmul', 'gemm'] as const)('%s on the other GEMM kernels (workgroupTiles flipped)', (name) => {
  test.each(caseLabels(name))('%s', async (_label, i) => {
    const rt = runtime();
    const saved = rt.workgroupTiles;
    rt.workgroupTiles = !saved;
    try {
      await checkCase(name, i);
    } finally {
      rt.workgroupTiles = saved;
    }
  });
});

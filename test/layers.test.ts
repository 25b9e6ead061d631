// The layering rule (scripts/layers.mjs): shaders <- engine <- importers <-
// explainers <- cli / web, the engine reached only through its two entries,
// graph preparation free of the GPU runtime, no node: imports in the library.

import { describe, expect, test } from 'vitest';
// @ts-expect-error: a plain .mjs script without declarations
import { checkLayers, importGraph } from '../scripts/layers.mjs';

type Edge = { from: string; to: string; typeOnly: boolean };
type Graph = { files: string[]; edges: Edge[] };
const check = checkLayers as (g: Graph) => string[];

describe('layers', () => {
  const graph = (importGraph as (root: string) => Graph)('.');

  test('the repository has no upward, sideways or internal-entry import', () => {
    expect(graph.files.length).toBeGreaterThan(100);
    expect(check(graph)).toEqual([]);
  });

  test('the check catches each kind of violation', () => {
    const files = [...graph.files, 'engine/ops/x.ts'];
    const withEdge = (e: Edge) => check({ files, edges: [...graph.edges, e] });
    expect(withEdge({ from: 'engine/tape.ts', to: 'explainers/targets.ts', typeOnly: false })[0]).toMatch(/engine may not import explainers/);
    expect(withEdge({ from: 'importers/onnx/model.ts', to: 'explainers/targets.ts', typeOnly: true })[0]).toMatch(/upward/);
    expect(withEdge({ from: 'explainers/grad-cam.ts', to: 'engine/tensor.ts', typeOnly: false })[0]).toMatch(/use engine\/index.ts or engine\/host.ts/);
    expect(withEdge({ from: 'explainers/grad-cam.ts', to: 'node:fs', typeOnly: false })[0]).toMatch(/browser worker/);
    // a run-time import that pulls the GPU into graph preparation, and the same edge as a type import
    expect(withEdge({ from: 'importers/onnx/plan.ts', to: 'engine/index.ts', typeOnly: false }).join('\n')).toMatch(/plan.ts loads the GPU runtime/);
    expect(withEdge({ from: 'importers/onnx/plan.ts', to: 'engine/index.ts', typeOnly: true })).toEqual([]);
  });
});

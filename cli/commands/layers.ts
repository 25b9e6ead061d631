// gradlens layers: the tensors of a model, in execution order, with the op
// that makes each and its shape: the names `run --output` and the explainers'
// --layer accept. Prepares the graph only (no GPU needed).

import { formatShape } from '../../engine/index.js';
import { feedInputs, prepareGraph } from '../../importers/onnx/graph.js';
import { graphLayers } from '../../importers/onnx/model.js';
import { decodeModel } from '../../importers/onnx/proto.js';
import { parseArgs, parseShapeFlag, UsageError } from '../args.js';
import { symbolicInputMessage } from '../detector.js';
import { readFile } from '../files.js';

export const usage = `usage: gradlens layers <model.onnx> [--input-shape name=1x3xHxW] [--json]
  Lists every tensor a run can return or start gradients at: inputs first, then
  each node's outputs in execution order, with the op and the shape.
  --input-shape  static shape for an input with symbolic dimensions (repeatable)
  --json         print a JSON array of { name, op, shape } instead of a table`;

export async function run(argv: string[]): Promise<number> {
  const { flags, positionals } = parseArgs(argv, {
    'input-shape': { type: 'string', multiple: true },
    json: { type: 'boolean' },
  });
  if (positionals.length !== 1) throw new UsageError(`expected one model file, got ${positionals.length ? positionals.join(' ') : 'none'}`);
  const [file] = positionals;
  const inputShapes = Object.fromEntries(flags['input-shape'].map(parseShapeFlag));
  const decoded = decodeModel(readFile(file, 'model'));
  // Checked here: the importer's own message names its option (inputShapes), not the flag.
  for (const input of feedInputs(decoded)) {
    const fixed = input.shape?.every((d) => typeof d === 'number' && d > 0);
    if (!fixed && !Object.hasOwn(inputShapes, input.name)) throw new UsageError(symbolicInputMessage(input.name, input.shape));
  }
  const graph = prepareGraph(decoded, { inputShapes });
  const layers = graphLayers(graph);
  if (flags.json) {
    console.log(JSON.stringify(layers));
    return 0;
  }
  const rows = layers.map((l, i) => [String(i), l.name, l.op, formatShape(l.shape)]);
  const header = ['#', 'name', 'op', 'shape'];
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map((r) => r[c].length)));
  const line = (r: string[]) => r.map((v, c) => (c === r.length - 1 ? v : v.padEnd(widths[c]))).join('  ');
  console.log(`${file}: opset ${graph.opset}, ${layers.length} tensors (${graph.nodes.length} nodes run, ${graph.folded} folded at load, ${graph.pruned} unused)`);
  console.log(line(header));
  for (const r of rows) console.log(line(r));
  console.log(`outputs: ${graph.outputs.map((o) => `${o.name} ${formatShape(o.shape)}`).join(', ')}`);
  return 0;
}

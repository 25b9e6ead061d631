// gradlens run: one forward pass on the GPU, from a .npy input to a .npy of a
// graph output or of any inner tensor (by the names `gradlens layers` lists).

import { Tensor, assertFinite, formatShape, init, scopeAsync } from '../../engine/index.js';
import { toFloat32 } from '../../importers/onnx/host-tensor.js';
import { OnnxGraphModel } from '../../importers/onnx/model.js';
import { feedInputs } from '../../importers/onnx/graph.js';
import { readNpy, writeNpy } from '../../importers/onnx/npy.js';
import { decodeModel } from '../../importers/onnx/proto.js';
import { parseArgs, UsageError } from '../args.js';
import { withCliWording } from '../errors.js';
import { readFile, writeFile } from '../files.js';

export const usage = `usage: gradlens run --model <model.onnx> --input <x.npy> --out <y.npy> [--output <name>] [--no-fuse]
  Runs the model on the GPU and writes one tensor as float32 .npy.
  --model    the ONNX file (single-input models)
  --input    the input as .npy (any numeric dtype; its shape is the input shape,
             the batch may differ from the model's)
  --out      where to write the result
  --output   the tensor to write: a graph output (default: the first) or any
             name from \`gradlens layers\`
  --no-fuse  run every node as in the file (no Conv+BatchNormalization/activation fusion, no Pad folded into a Conv)`;

export async function run(argv: string[]): Promise<number> {
  const { flags, positionals } = parseArgs(argv, {
    model: { type: 'string', required: true },
    input: { type: 'string', required: true },
    out: { type: 'string', required: true },
    output: { type: 'string' },
    'no-fuse': { type: 'boolean' },
  });
  if (positionals.length) throw new UsageError(`unexpected argument '${positionals[0]}'`);
  const decoded = decodeModel(readFile(flags.model, 'model'));
  const x = readNpy(readFile(flags.input, 'input'));
  assertFinite(`--input '${flags.input}'`, toFloat32(x), x.shape);
  const inputs = feedInputs(decoded);
  if (inputs.length !== 1) {
    throw new UsageError(`the model has ${inputs.length} inputs (${inputs.map((v) => v.name).join(', ')}); run takes single-input models`);
  }
  const input = inputs[0];
  // Symbolic dimensions take the .npy's sizes; a fixed shape stays, and a different batch re-prepares at run time.
  const declaredStatic = input.shape?.every((d) => typeof d === 'number' && d > 0) ?? false;
  await init();
  const fuse = !flags['no-fuse'];
  const model = new OnnxGraphModel(decoded, {
    inputShapes: declaredStatic ? undefined : { [input.name]: x.shape },
    fuseBatchNorm: fuse,
    fuseActivations: fuse,
    foldPads: fuse,
  });
  try {
    return await withCliWording({ model: flags.model, layerFlag: '--output' }, async () => {
      const name = flags.output ?? model.outputs[0].name;
      const isOutput = model.outputs.some((o) => o.name === name);
      const started = performance.now();
      const y = await scopeAsync(async () => {
        const { outputs, kept } = model.run({ [input.name]: Tensor.fromData(toFloat32(x), x.shape) }, { keep: isOutput ? [] : [name] });
        const t = isOutput ? outputs[name] : kept[name];
        return { shape: t.shape, values: await t.data() };
      });
      const ms = performance.now() - started;
      writeFile(flags.out, writeNpy(y.values, y.shape), 'output');
      console.log(`wrote '${name}' ${formatShape(y.shape)} to ${flags.out} (forward ${ms.toFixed(0)} ms)`);
      return 0;
    });
  } finally {
    model.dispose();
  }
}

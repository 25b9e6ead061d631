// The ONNX importer's public API: loadOnnx() returns an ExplainableModel; the
// lower layers (decode, prepare, plan, execute on a backend) are exported for
// tools and tests that need them.

export { graphLayers, loadOnnx, OnnxGraphModel, type LoadOptions } from './model.js';
export {
  NpyError,
  OnnxBatchError,
  OnnxDecodeError,
  OnnxError,
  OnnxGraphError,
  OnnxInputError,
  UnsupportedOnnxOp,
  UnsupportedOnnxTensor,
} from './errors.js';
// LayerNotFound belongs to the model contract (engine/model.ts): one class wherever a layer name is checked.
export { closeMatches, LayerNotFound } from '../../engine/host.js';
export { decodeModel, type OnnxModel } from './proto.js';
export { prepareGraph, type PreparedGraph, type PreparedNode, type PrepareOptions } from './graph.js';
export { findFusions, planGraph, type Plan, type Step } from './plan.js';
export { executePlan, runNode, type ExecuteHooks } from './executor.js';
export { gpuBackend, type Backend } from './backend.js';
export { readNpy, writeNpy } from './npy.js';

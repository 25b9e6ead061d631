// The importers' package entry: loadOnnx (an ExplainableModel from ONNX bytes),
// its options and typed errors, and the lower layers for tools.
export * from './onnx/index.js';

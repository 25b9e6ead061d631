# Lists the distinct Conv layer shapes of a YOLOv5n ONNX export (development-time
# helper; its output is committed in bench/shapes.ts). Needs python3-onnx.
#   /usr/bin/python3 bench/tools/yolov5n_conv_shapes.py ../shared/models/yolov5n_640.onnx
import sys

import onnx
from onnx import shape_inference

model = shape_inference.infer_shapes(onnx.load(sys.argv[1]))
graph = model.graph
shapes = {
    vi.name: [d.dim_value for d in vi.type.tensor_type.shape.dim]
    for vi in list(graph.value_info) + list(graph.input) + list(graph.output)
}
weights = {init.name: list(init.dims) for init in graph.initializer}
seen = {}
for node in graph.node:
    if node.op_type != "Conv":
        continue
    attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
    x = shapes[node.input[0]]
    key = (
        tuple(x[1:]),
        tuple(weights[node.input[1]]),
        tuple(attrs.get("strides", [1, 1])),
        tuple(attrs.get("pads", [0, 0, 0, 0])),
        attrs.get("group", 1),
    )
    seen.setdefault(key, []).append(node.name)
for (x, w, s, p, g), names in seen.items():
    print(f"  {{ layer: '{names[0]}', count: {len(names)}, c: {x[0]}, h: {x[1]}, w: {x[2]}, o: {w[0]}, k: [{w[2]}, {w[3]}], stride: [{s[0]}, {s[1]}], pads: [{', '.join(map(str, p))}], groups: {g} }},")

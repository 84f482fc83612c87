"""Small, separate clean-ups of an ONNX working copy before a TensorFlow-based converter
(onnx2tf) reads it. Each returns what it changed, for the report; none touches the
user's file.

- names: TensorFlow rejects node/tensor names with characters outside [A-Za-z0-9_./-]
  (e.g. `@`, `:`, spaces, common in Paddle2ONNX and hand-edited graphs); renamed
  consistently everywhere they occur (graph inputs and outputs keep their names).
- constants: weights stored as Constant nodes become initializers, which converters fold.
"""
from __future__ import annotations

import re

_BAD = re.compile(r"[^A-Za-z0-9_./-]")


def sanitize_names(model) -> str | None:
    graph = model.graph
    keep = {v.name for v in graph.input} | {v.name for v in graph.output}
    mapping = {}
    for node in graph.node:
        for name in list(node.output):
            if name and name not in keep and _BAD.search(name):
                mapping[name] = _unique(_BAD.sub("_", name), mapping)
    renamed_nodes = 0
    for node in graph.node:
        node.input[:] = [mapping.get(v, v) for v in node.input]
        node.output[:] = [mapping.get(v, v) for v in node.output]
        if _BAD.search(node.name):
            node.name = _BAD.sub("_", node.name)
            renamed_nodes += 1
    for init in graph.initializer:
        init.name = mapping.get(init.name, init.name)
    for info in graph.value_info:
        info.name = mapping.get(info.name, info.name)
    if not mapping and not renamed_nodes:
        return None
    return (f"renamed {len(mapping)} tensor(s) and {renamed_nodes} node(s) whose names "
            "TensorFlow rejects")


def constants_to_initializers(model) -> str | None:
    graph = model.graph
    constants = [n for n in graph.node if n.op_type == "Constant" and len(n.attribute) == 1
                 and n.attribute[0].name == "value"]
    if not constants:
        return None
    for node in constants:
        tensor = node.attribute[0].t
        tensor.name = node.output[0]
        graph.initializer.append(tensor)
        graph.node.remove(node)
    return f"moved {len(constants)} Constant node weight(s) into initializers"


def _unique(name: str, taken: dict) -> str:
    used = set(taken.values())
    candidate, number = name, 1
    while candidate in used:
        candidate, number = f"{name}_{number}", number + 1
    return candidate


STEPS = (constants_to_initializers, sanitize_names)


def normalize(path) -> list[str]:
    """Apply every step to the ONNX file at `path` (a working copy) in place."""
    import onnx
    model = onnx.load(str(path))
    changes = [change for step in STEPS if (change := step(model))]
    if changes:
        onnx.save(model, str(path))
    return changes

"""Small, separate clean-ups of an ONNX working copy before a TensorFlow-based converter
(onnx2tf) reads it. Each returns what it changed, for the report; none touches the
user's file.

- names: TensorFlow rejects node/tensor names with characters outside [A-Za-z0-9_./-]
  (e.g. `@`, `:`, spaces, common in Paddle2ONNX and hand-edited graphs); renamed
  consistently everywhere they occur (graph inputs and outputs keep their names).
- constants: weights stored as Constant nodes become initializers, which converters fold.
- slices: a Slice over several axes becomes one Slice per axis it really cuts. onnx2tf
  1.29 maps a Slice's axes to channels-last but keeps its starts/ends in ONNX order, so a
  Slice listing the channel axis and another one of a transposed tensor cuts the wrong
  dimension and the model computes garbage (magika, a tf2onnx export: tf.strided_slice
  becomes a Slice over all four axes). Slices on distinct axes commute: same result.
"""
from __future__ import annotations

import re

import numpy as np

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


FULL = 2**31 - 1  # an end at or past this keeps the whole dimension (INT_MAX, INT64_MAX)


def split_multi_axis_slices(model) -> str | None:
    from onnx import helper, numpy_helper
    graph = model.graph
    constants = {init.name: numpy_helper.to_array(init) for init in graph.initializer}
    dims = _known_dims(model)
    rewritten, nodes = 0, []
    for node in graph.node:
        cuts = _cuts(node, constants, dims)
        if cuts is None:
            nodes.append(node)
            continue
        rewritten += 1
        value = node.input[0]
        if not cuts:  # cuts nothing at all
            nodes.append(helper.make_node("Identity", [value], [node.output[0]], name=node.name))
        for number, (start, end, axis, step) in enumerate(cuts):
            last = number == len(cuts) - 1
            out = node.output[0] if last else f"{node.output[0]}__axis{axis}"
            # no steps input when the step is 1: onnxsim fuses chains of Slices that all have
            # one back into a single Slice (measured), which would undo the split
            params = {"starts": start, "ends": end, "axes": axis, **({"steps": step} if step != 1 else {})}
            names = []
            for what, number_value in params.items():
                name = f"{node.name}__axis{axis}_{what}"
                graph.initializer.append(numpy_helper.from_array(np.array([number_value], np.int64), name))
                names.append(name)
            nodes.append(helper.make_node("Slice", [value, *names], [out], name=f"{node.name}__axis{axis}"))
            value = out
    if not rewritten:
        return None
    del graph.node[:]
    graph.node.extend(nodes)
    return f"split {rewritten} Slice(s) over several axes into one Slice per axis (for onnx2tf)"


def _cuts(node, constants: dict, dims: dict) -> list | None:
    """(start, end, axis, step) of each axis a multi-axis Slice with constant parameters
    really cuts; None for any other node (or a Slice with one axis, or a dynamic one)."""
    inputs = list(node.input) + [""] * (5 - len(node.input))
    if node.op_type != "Slice" or len(node.input) < 3 or any(
            name and name not in constants for name in inputs[1:5]):
        return None
    starts, ends = constants[inputs[1]].astype(np.int64), constants[inputs[2]].astype(np.int64)
    if len(starts) < 2:
        return None
    axes = constants[inputs[3]].astype(np.int64) if inputs[3] else np.arange(len(starts))
    steps = constants[inputs[4]].astype(np.int64) if inputs[4] else np.ones_like(starts)
    shape = dims.get(node.input[0])
    cuts = []
    for start, end, axis, step in zip(starts, ends, axes, steps):
        axis = int(axis) + (len(shape) if shape is not None and axis < 0 else 0)
        size = shape[axis] if shape is not None and 0 <= axis < len(shape) else None
        whole = step == 1 and start == 0 and (end >= FULL or (size is not None and end >= size))
        if not whole:
            cuts.append((int(start), int(end), axis, int(step)))
    return cuts


def _known_dims(model) -> dict:
    """Tensor name -> its dimensions (None where unknown), from ONNX shape inference."""
    from onnx import shape_inference
    try:
        graph = shape_inference.infer_shapes(model).graph
    except Exception:  # shapes are an optimisation here: without them, fewer axes are dropped
        return {}
    return {value.name: [d.dim_value if d.HasField("dim_value") else None
                         for d in value.type.tensor_type.shape.dim]
            for value in (*graph.value_info, *graph.input, *graph.output)
            if value.type.tensor_type.HasField("shape")}


def _unique(name: str, taken: dict) -> str:
    used = set(taken.values())
    candidate, number = name, 1
    while candidate in used:
        candidate, number = f"{name}_{number}", number + 1
    return candidate


STEPS = (constants_to_initializers, sanitize_names, split_multi_axis_slices)


def normalize(path) -> list[str]:
    """Apply every step to the ONNX file at `path` (a working copy) in place."""
    import onnx
    model = onnx.load(str(path))
    changes = [change for step in STEPS if (change := step(model))]
    if changes:
        onnx.save(model, str(path))
    return changes

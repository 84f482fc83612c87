"""Rewrites of the graph tensorflowjs 4.22 builds, for graphs TF.js can then run.

tensorflowjs optimizes the SavedModel's graph with grappler before writing model.json, and
grappler fuses ops into kernels TF.js does not have. Both fixes below were measured: the
artifact converted, then failed at run time in TF.js (wasm, cpu).
- Residual and scalar adds after a Conv2D/MatMul become "biases" (normalize_bias_add takes
  every Add for one), then get fused: "FusedConv2D only supports rank-1 bias"
  (keras.applications ResNet50, EfficientNetB0, MobileNetV3Small). Only an add of a rank-1
  constant is kept as a bias.
- HardSwish (x * relu6(x + 3) / 6, PaddleOCR and MobileNetV3 models via onnx2tf) is fused
  as an activation of _FusedConv2D: "_fusedhardswish activation not yet supported for
  FusedConv2D". Such activations are taken out of the fused op again and written as the
  plain ops TF.js runs (AddV2, Relu6, Mul).
- A depthwise convolution whose strides differ per axis (stride (2, 1) in PaddleOCR's text
  classifier) reaches TensorFlow as a grouped Conv2D (one input channel per group: TF's
  depthwise kernel wants equal strides), which TF.js lacks: "depth of input (8) must match
  input depth for filter 1". TF.js's depthwise kernel takes any strides, so such a Conv2D
  becomes a DepthwiseConv2dNative (same weights, [h, w, 1, C*m] read as [h, w, C, m]).
The patches apply only while one conversion runs (`patched`), never to the process.
"""
from __future__ import annotations

import re
from contextlib import contextmanager

FUSED_OPS = {"_FusedConv2D", "_FusedMatMul", "FusedDepthwiseConv2dNative"}


@contextmanager
def patched(conversion_module, remap: bool = True):
    """tensorflowjs' tf_saved_model_conversion_v2 with both rewrites, for one conversion.
    remap=False also drops grappler's "remap" pass (all fusions), for graphs whose fused
    kernels TF.js lacks (_MklLayerNorm in transformers: "Unsupported Ops in the model
    after optimization")."""
    from tensorflowjs.converters import normalize_bias_add
    original_bias, original_optimize, original_grappler = (
        normalize_bias_add.normalize_bias_add_op, conversion_module.optimize_graph,
        conversion_module._run_grappler)
    normalize_bias_add.normalize_bias_add_op = strict_bias_add(original_bias)

    def optimize_graph(*args, **kwargs):
        return unfuse_activations(depthwise_convolutions(original_optimize(*args, **kwargs)))

    def run_grappler(config, *args, **kwargs):
        optimizers = config.graph_options.rewrite_options.optimizers
        kept = [name for name in optimizers if name != "remap"]
        del optimizers[:]
        optimizers.extend(kept)
        return original_grappler(config, *args, **kwargs)
    conversion_module.optimize_graph = optimize_graph
    if not remap:
        conversion_module._run_grappler = run_grappler
    try:
        yield conversion_module
    finally:
        normalize_bias_add.normalize_bias_add_op = original_bias
        conversion_module.optimize_graph = original_optimize
        conversion_module._run_grappler = original_grappler


def variants(reason: str):
    """Variants of the tensorflowjs step worth a try after a failure (see `patched`)."""
    from ...search import Variant
    if re.search(r"Unsupported Ops in the model after optimization|not yet supported|_Mkl", reason):
        return (Variant("tfjs-no-fusion", options=((TOOL, "no-remap"),),
                        note="tensorflowjs told not to fuse ops (grappler's remap pass): the "
                             "fused kernels are ones TF.js lacks"),)
    return ()


TOOL = "tensorflowjs"


def strict_bias_add(original):
    """normalize_bias_add, keeping as Add every add that is not of a rank-1 constant."""
    def normalize(graph_def):
        nodes = {node.name: node for node in graph_def.node}

        def is_bias(name: str) -> bool:
            node = nodes.get(name.split(":")[0].lstrip("^"))
            return node is not None and node.op == "Const" and \
                len(node.attr["value"].tensor.tensor_shape.dim) == 1

        keep = {node.name: node.op for node in graph_def.node
                if node.op in ("Add", "AddV2") and not is_bias(node.input[1])}
        result = original(graph_def)
        for node in result.node:
            if node.name in keep and node.op == "BiasAdd":
                node.op = keep[node.name]
                del node.attr["data_format"]
        return result
    return normalize


def unfuse_activations(graph_def):
    """Each fused op whose last fused activation TF.js lacks (UNFUSED) loses it; the
    activation follows as plain ops under the fused op's old name, so consumers are
    unchanged."""
    for node in list(graph_def.node):
        fused = list(node.attr["fused_ops"].list.s) if node.op in FUSED_OPS else []
        if not fused or fused[-1] not in UNFUSED:
            continue
        activation = fused[-1]
        name = node.name
        node.name = f"{name}/unfused"
        del node.attr["fused_ops"].list.s[-1]
        UNFUSED[activation](graph_def, node.name, name, node.attr["T"].type)
    return graph_def


DEPTHWISE = {"Conv2D": "DepthwiseConv2dNative", "_FusedConv2D": "FusedDepthwiseConv2dNative"}


def depthwise_convolutions(graph_def):
    """Each NHWC Conv2D with one input channel per group (a depthwise convolution TF could
    not write as one) becomes the depthwise op TF.js has; see the module docstring."""
    nodes = {node.name: node for node in graph_def.node}
    grouped = []
    for node in graph_def.node:
        weights = nodes.get(node.input[1].split(":")[0]) if node.op in DEPTHWISE else None
        if weights is None or weights.op != "Const" or \
                node.attr["data_format"].s not in (b"", b"NHWC"):
            continue
        shape = [d.size for d in weights.attr["value"].tensor.tensor_shape.dim]
        if len(shape) == 4 and shape[2] == 1:
            grouped.append((node, weights, shape))
    if not grouped:
        return graph_def
    channels = _input_channels(graph_def, [node.name for node, _, _ in grouped])
    for node, weights, (height, width, _, outputs) in grouped:
        depth = channels.get(node.name)
        if not depth or depth == 1 or outputs % depth:
            continue  # an ordinary convolution of a one-channel input, or unknown
        node.op = DEPTHWISE[node.op]
        node.attr.pop("use_cudnn_on_gpu", None)  # Conv2D's only attribute the depthwise op lacks
        dims = weights.attr["value"].tensor.tensor_shape.dim
        dims[2].size, dims[3].size = depth, outputs // depth
    return graph_def


# TF.js-only op -> (TensorFlow op, inputs and attributes it keeps); any other: Identity
STAND_INS = {"FusedDepthwiseConv2dNative": ("DepthwiseConv2dNative", 2, (
    "T", "strides", "padding", "dilations", "data_format", "explicit_paddings"))}


def _input_channels(graph_def, names: list[str]) -> dict[str, int | None]:
    """The static channel count of each named op's first input, from TensorFlow's shape
    inference over a copy of the graph in which the ops only TF.js knows (tensorflowjs fuses
    FusedDepthwiseConv2dNative, Prelu) stand in as TensorFlow ops of the same output shape.
    Empty when TensorFlow cannot read the graph even so: nothing is rewritten then."""
    import tensorflow as tf
    from tensorflow.python.framework import op_def_registry
    copy = tf.compat.v1.GraphDef()
    copy.CopyFrom(graph_def)
    for node in copy.node:
        if op_def_registry.get(node.op) is not None:
            continue
        node.op, inputs, kept = STAND_INS.get(node.op, ("Identity", 1, ("T",)))
        del node.input[inputs:]
        for attribute in [a for a in node.attr if a not in kept]:
            del node.attr[attribute]
    graph = tf.Graph()
    try:
        with graph.as_default():
            tf.graph_util.import_graph_def(copy, name="")
    except (ValueError, tf.errors.OpError):
        return {}
    return {name: graph.get_operation_by_name(name).inputs[0].shape[-1] for name in names}


def _hard_swish(graph_def, x: str, name: str, dtype) -> None:
    """hard_swish(x) = x * relu6(x + 3) * (1/6), ending in a node called `name`."""
    three = _constant(graph_def, f"{name}/three", 3.0, dtype)
    sixth = _constant(graph_def, f"{name}/one_sixth", 1.0 / 6.0, dtype)
    shifted = _op(graph_def, "AddV2", f"{name}/plus_three", [x, three], dtype)
    gate = _op(graph_def, "Relu6", f"{name}/relu6", [shifted], dtype)
    gated = _op(graph_def, "Mul", f"{name}/gated", [x, gate], dtype)
    _op(graph_def, "Mul", name, [gated, sixth], dtype)


UNFUSED = {b"_FusedHardSwish": _hard_swish}  # fused activation -> the plain ops it becomes


def _constant(graph_def, name: str, value: float, dtype) -> str:
    from tensorflow.python.framework import tensor_util
    node = graph_def.node.add(name=name, op="Const")
    node.attr["dtype"].type = dtype
    node.attr["value"].tensor.CopyFrom(tensor_util.make_tensor_proto(value, dtype=dtype))
    return name


def _op(graph_def, op: str, name: str, inputs: list[str], dtype) -> str:
    node = graph_def.node.add(name=name, op=op, input=inputs)
    node.attr["T"].type = dtype
    return name

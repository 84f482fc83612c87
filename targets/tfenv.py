"""Importing TensorFlow and its converters the way that works with this stack."""
from __future__ import annotations

import os
import sys
import types
import warnings

from .quiet import silenced


def quiet() -> None:
    """TensorFlow's C++ logging floods stderr; keep warnings and errors only."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def tensorflow():
    quiet()
    if "tensorflow" not in sys.modules:
        with silenced():
            import tensorflow as tf
            tf.config.list_physical_devices()  # probes CUDA now: "failed call to cuInit" on CPU hosts
    import tensorflow as tf
    return tf


def tensorflow_with_keras2():
    """TensorFlow with tf_keras imported first: SavedModels written by Keras 2 (with
    optimizer slot variables) fail to load under Keras 3 otherwise ('add_slot')."""
    tf = tensorflow()
    import tf_keras  # noqa: F401  (import side effect registers Keras 2 objects)
    return tf


def tfjs_converter():
    """tensorflowjs' SavedModel converter. tensorflowjs imports tensorflow_decision_forests
    at import time only to support decision-forest models; that package cannot be installed
    beside TF 2.21, so an empty stand-in module is registered when it is missing."""
    quiet()
    try:
        import tensorflow_decision_forests  # noqa: F401
    except ImportError:
        sys.modules.setdefault("tensorflow_decision_forests",
                               types.ModuleType("tensorflow_decision_forests"))
    with warnings.catch_warnings():  # tensorflow_hub warns that pkg_resources is deprecated
        warnings.simplefilter("ignore")
        from tensorflowjs.converters import normalize_bias_add, tf_saved_model_conversion_v2
    if not getattr(normalize_bias_add.normalize_bias_add_op, "edgekit_strict", False):
        normalize_bias_add.normalize_bias_add_op = _strict_bias_add(normalize_bias_add.normalize_bias_add_op)
    return tf_saved_model_conversion_v2


def _strict_bias_add(original):
    """tensorflowjs 4.22 turns *every* Add after a Conv2D/MatMul into a BiasAdd, including
    residual adds (a rank-4 operand) and scalar adds, which then get fused into
    _FusedConv2D nodes that TF.js refuses at run time ("FusedConv2D only supports rank-1
    bias"; measured on keras.applications ResNet50, EfficientNetB0, MobileNetV3Small).
    Only an add of a rank-1 constant is a bias: the others are put back as they were."""
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
    normalize.edgekit_strict = True
    return normalize

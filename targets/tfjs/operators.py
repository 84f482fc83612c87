"""The TensorFlow ops a model runs that TF.js has no kernel for, read before converting.

tensorflowjs ships its table of supported TensorFlow ops (op_list/*.json, the `tfOpName`s)
and refuses a model with others only after freezing and optimizing it. The same check is
made here on the SavedModel's serving function, or on a Keras model traced once, before
any conversion. Ops the converter's freezing removes (variable reads, function calls) are
not counted; ops grappler would fuse away are, which errs on the side of a warning that
names them: a route is only skipped, and a format refused, when it would fail anyway.
"""
from __future__ import annotations

import importlib.util
import json
from functools import lru_cache
from pathlib import Path

# what tensorflowjs removes before it checks ops: freezing turns variables into constants
# and inlines function calls; edgekit converts with strip_debug_ops (tensorflowjs's list)
FROZEN_AWAY = {"ReadVariableOp", "VarHandleOp", "StatefulPartitionedCall", "PartitionedCall",
               "NoOp", "AssignVariableOp", "VarIsInitializedOp",
               "Assert", "CheckNumerics", "Print", "PrintV2"}


@lru_cache(maxsize=1)
def supported_ops() -> frozenset[str]:
    """TF.js's table, read without importing tensorflowjs (which imports TensorFlow)."""
    spec = importlib.util.find_spec("tensorflowjs")
    if spec is None or not spec.submodule_search_locations:
        return frozenset()
    folder = Path(next(iter(spec.submodule_search_locations))) / "op_list"
    return frozenset(op["tfOpName"] for path in folder.glob("*.json")
                     for op in json.loads(path.read_text()))


def lacking(ops: dict[str, list[str]]) -> dict[str, list[str]]:
    table = supported_ops()
    if not table:  # tensorflowjs not installed: the plan names the missing package instead
        return {}
    return {op: nodes for op, nodes in ops.items() if op not in table and op not in FROZEN_AWAY}


WHO = "TF.js"


def lacking_in_savedmodel(source, destination: str) -> tuple[str, dict[str, list[str]]]:
    from ..savedmodel.safety import serving_ops
    return WHO, lacking(serving_ops(Path(source.path)))


def lacking_in_keras(source, destination: str) -> tuple[str, dict[str, list[str]]]:
    """The Keras model traced once at its input shapes, when the route ends in TF.js."""
    if destination != "tfjs":
        return WHO, {}
    from .. import keras as keras_format
    from .. import tfenv
    tf = tfenv.tensorflow()
    model = keras_format.model_of(source)
    specs = [tf.TensorSpec(spec.shape, spec.dtype) for spec in source.inputs]
    graph = tf.function(lambda *inputs: model(*inputs)).get_concrete_function(*specs).graph
    found: dict[str, list[str]] = {}
    for operation in graph.get_operations():
        found.setdefault(operation.type, []).append(operation.name)
    for function in graph.as_graph_def().library.function:
        for node in function.node_def:
            found.setdefault(node.op, []).append(node.name)
    return WHO, lacking(found)

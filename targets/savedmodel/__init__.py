"""TensorFlow SavedModel directories: a source format and the hub between converters.

Keras models and onnx2tf output reach TFLite, ONNX (tf2onnx) and TF.js through here.
SavedModels written by Keras 2 load because tf_keras is imported first.
"""
from __future__ import annotations

import shutil
from collections import Counter
from dataclasses import replace
from functools import lru_cache
from pathlib import Path

import numpy as np

from ...errors import ConversionError, InputError, first_line
from ...model import ModelHandle, identity
from ...tensors import TensorSpec, default_layout
from ..onnx import onnx2tf as onnx2tf_tool
from ..onnx.operators import lacking_in_onnx2tf
from ..tfjs.operators import lacking_in_keras
from . import safety as savedmodel_safety
from .. import tfenv
from ..batching import batch_size, in_batches
from ..format import FormatModule
from ..registry import Converter

SIGNATURE = "serving_default"


def load(path: str):
    return _load(path, identity(path))  # a rewritten SavedModel is loaded again


@lru_cache(maxsize=8)
def _load(path: str, version: tuple):
    tf = tfenv.tensorflow_with_keras2()
    try:
        loaded = tf.saved_model.load(path)
    except Exception as error:
        raise InputError(f"cannot load SavedModel {path}: {first_line(error)}") from error
    if SIGNATURE not in loaded.signatures:
        raise InputError(f"SavedModel {path} has no '{SIGNATURE}' signature "
                         f"(it has: {', '.join(loaded.signatures) or 'none'})")
    return loaded


def _signature(path: str):
    return load(path).signatures[SIGNATURE]


def _spec(name: str, tensor_spec) -> TensorSpec:
    shape = tuple(None if d is None else int(d) for d in tensor_spec.shape)
    return TensorSpec(name, shape, tensor_spec.dtype.name,
                      default_layout(shape, channels_first=False))


def open_handle(path: Path, reference: ModelHandle | None = None) -> ModelHandle:
    signature = _signature(str(path))
    inputs = [_spec(n, s) for n, s in signature.structured_input_signature[1].items()]
    outputs = [_spec(n, s) for n, s in signature.structured_outputs.items()]
    return ModelHandle(Path(path), "savedmodel", tuple(inputs), tuple(outputs))


def open_source(path: Path, options, fmt: str) -> ModelHandle:
    savedmodel_safety.check(Path(path))  # before TensorFlow loads (and initializes) it
    return open_handle(path)


def make_runner(handle: ModelHandle, threads: int | None = None):
    signature = _signature(str(handle.path))
    tf = tfenv.tensorflow()

    def run_batch(inputs):
        feed = {spec.name: tf.constant(x) for spec, x in zip(handle.inputs, inputs)}
        result = signature(**feed)
        return [np.asarray(result[spec.name]) for spec in handle.outputs]

    return lambda inputs: in_batches(run_batch, inputs, batch_size(handle), handle)


def op_counts(handle: ModelHandle) -> dict[str, int]:
    graph = _signature(str(handle.path)).graph.as_graph_def()
    ops = [node.op for node in graph.node]
    for function in graph.library.function:
        ops += [node.op for node in function.node_def]
    skip = {"Placeholder", "Identity", "NoOp", "Const", "ReadVariableOp",
            "StatefulPartitionedCall", "PartitionedCall"}
    return dict(Counter(op for op in ops if op not in skip))


def from_keras(source: ModelHandle, out_dir: Path, ctx) -> ModelHandle:
    from .. import keras as keras_format
    model = keras_format.model_of(source)
    target = out_dir / "saved_model"
    try:
        model.export(str(target), format="tf_saved_model", verbose=False)
    except Exception as error:
        raise ConversionError("keras -> savedmodel", str(source.path), first_line(error)) from error
    return open_handle(target)


def from_onnx(source: ModelHandle, out_dir: Path, ctx) -> ModelHandle:
    produced = onnx2tf_tool.convert(source, ctx)
    target = out_dir / "saved_model"
    shutil.copytree(produced, target, ignore=shutil.ignore_patterns("*.tflite"))
    handle = open_handle(target)
    return replace(handle, notes=handle.notes + onnx2tf_tool.normalizations(source, ctx))


FINGERPRINT = "fingerprint.pb differs on every save; the graph and weights are identical"

CONVERTERS = (
    Converter("keras", "savedmodel", "keras Model.export", from_keras, ("tensorflow", "keras"),
              nondeterminism=FINGERPRINT, nondeterminism_propagates=False,
              lacks=lacking_in_keras),
    Converter("onnx", "savedmodel", "onnx2tf", from_onnx, ("onnx2tf", "tensorflow", "onnx"),
              variants=onnx2tf_tool.variants, foresees=onnx2tf_tool.foreseen,
              lacks=lacking_in_onnx2tf,
              nondeterminism=FINGERPRINT, nondeterminism_propagates=False),
)

FORMAT = FormatModule(
    runtime="tensorflow", packages=("tensorflow",),
    open_handle=open_handle, make_runner=make_runner, op_counts=op_counts,
    converters=CONVERTERS, open_source=open_source,
    folder_files=("saved_model.pb", "saved_model.pbtxt"),
)

"""Keras models: Keras 3 `.keras` archives and legacy Keras 2 `.h5` files.

Loaded with safe_mode=True: a Lambda layer's pickled code is refused, never run.
Keras is a source format only; it reaches the other formats through a SavedModel.
"""
from __future__ import annotations

from collections import Counter
from functools import lru_cache
from pathlib import Path

import numpy as np

from ..errors import InputError, first_line
from ..model import ModelHandle
from ..tensors import TensorSpec, default_layout
from . import tfenv
from .batching import in_batches

PACKAGES = ("tensorflow", "keras")


@lru_cache(maxsize=4)
def load(path: str):
    tfenv.tensorflow()  # Keras runs on TensorFlow here; import it quietly first
    import keras
    try:
        return keras.saving.load_model(path, safe_mode=True, compile=False)
    except Exception as error:  # Keras raises many types for a bad file
        raise InputError(f"cannot load Keras model {path}: {first_line(error)}") from None


def _specs(tensors, names=None) -> tuple[TensorSpec, ...]:
    specs = []
    for i, tensor in enumerate(tensors):
        shape = tuple(None if d is None else int(d) for d in tensor.shape)
        name = names[i] if names and len(names) == len(tensors) else \
            getattr(tensor, "name", None) or f"tensor_{i}"
        specs.append(TensorSpec(name.split(":")[0], shape, str(np.dtype(tensor.dtype)),
                                default_layout(shape, channels_first=False)))
    return tuple(specs)


def open_handle(path: Path, reference: ModelHandle | None = None) -> ModelHandle:
    model = load(str(path))
    return ModelHandle(Path(path), "keras", _specs(model.inputs),
                       _specs(model.outputs, getattr(model, "output_names", None)))


def open_source(path: Path, options, fmt: str) -> ModelHandle:
    return open_handle(path)


def make_runner(handle: ModelHandle, threads: int | None = None):
    model = load(str(handle.path))

    def run_batch(inputs):
        result = model(inputs if len(inputs) > 1 else inputs[0], training=False)
        result = result if isinstance(result, (list, tuple)) else [result]
        return [np.asarray(r) for r in result]

    return lambda inputs: in_batches(run_batch, inputs)


def op_counts(handle: ModelHandle) -> dict[str, int]:
    return dict(Counter(type(layer).__name__ for layer in load(str(handle.path)).layers))

"""Keras models: Keras 3 `.keras` archives and legacy Keras 2 `.h5` files.

Loaded with safe_mode=True: a Lambda layer's pickled code is refused, never run.
Keras is a source format only; it reaches the other formats through a SavedModel.
"""
from __future__ import annotations

import warnings
from collections import Counter
from functools import lru_cache
from dataclasses import replace
from pathlib import Path

import numpy as np

from ...errors import InputError, first_line
from ...model import ModelHandle, identity
from ...tensors import TensorSpec, default_layout
from .. import tfenv
from ..trust import UNSAFE_FLAG, granted
from ..batching import batch_size, in_batches
from ..format import FileKind, FormatModule, PruningHooks

def load(path: str):
    # Lambda layers' code runs only if opted in; a rewritten file is loaded again
    return _load(path, not granted(path), identity(path))


@lru_cache(maxsize=4)
def _load(path: str, safe: bool, version: tuple):
    tfenv.tensorflow()  # Keras runs on TensorFlow here; import it quietly first
    import keras
    try:
        return keras.saving.load_model(path, safe_mode=safe, compile=False)
    except Exception as error:  # Keras raises many types for a bad file
        if safe and "Lambda" in str(error):
            raise InputError(f"{path} holds a Lambda layer with Python code, which edgekit does "
                             f"not run by default; if you trust this file, pass {UNSAFE_FLAG}") from error
        raise InputError(f"cannot load Keras model {path}: {first_line(error)}") from error


def model_of(handle: ModelHandle):
    """The Keras model behind a handle: a saved file, or what the user's factory builds."""
    if handle.factory is None:
        return load(str(handle.path))
    shapes = tuple((s.shape, s.dtype) for s in handle.inputs)
    return _built(str(handle.path), handle.factory, str(handle.weights or ""), shapes,
                  identity(handle.path, handle.weights))


@lru_cache(maxsize=2)
def _built(path: str, factory: str, weights: str, shapes: tuple, version: tuple):
    """A factory's Keras model, with --weights loaded, as a functional model: a subclassed
    model records no inputs until it is called, and edgekit needs named input tensors
    (runner, export, per-layer drift). Keyed by the input shapes it was wrapped for."""
    import keras

    from ..factory import build
    tfenv.tensorflow()
    model = build(Path(path), factory)
    if weights:
        try:
            model.load_weights(weights)
        except Exception as error:
            raise InputError(f"cannot load weights {weights} into {path}:{factory}(): "
                             f"{first_line(error)}") from error
    if _inputs_of(model) or not shapes:
        return model
    inputs = [keras.Input(shape[1:], dtype=dtype, batch_size=shape[0]) for shape, dtype in shapes]
    try:
        outputs = model(inputs if len(inputs) > 1 else inputs[0])
    except Exception as error:
        raise InputError(f"{path}:{factory}() did not build on inputs of shape "
                         f"{[s for s, _ in shapes]}: {first_line(error)}") from error
    return keras.Model(inputs, outputs, name=getattr(model, "name", factory))


def _inputs_of(model) -> list:
    try:
        return list(model.inputs or [])
    except (AttributeError, ValueError):  # a subclassed model that was never called
        return []


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
    if not options.factory:
        return open_handle(path)
    return _factory_source(path, options)


def _factory_source(path: Path, options) -> ModelHandle:
    """A Keras model from the user's FILE.py:FACTORY: its input shapes are its own when it
    records them, else --input-shape's, else the evaluation data's (channels-last)."""
    probe = ModelHandle(Path(path), "keras", (), (), factory=options.factory, weights=options.weights)
    model = model_of(probe)
    notes: tuple[str, ...] = ()
    if _inputs_of(model):
        shapes = ()
    elif options.input_shapes:
        shapes = tuple((tuple(s), getattr(s, "dtype", "float32")) for s in options.input_shapes)
    elif options.data_shapes:
        shapes = tuple(((None, *shape[1:]), dtype) for _, shape, dtype in options.data_shapes)
        notes = ("input shapes taken from the evaluation data: " + ", ".join(
            f"Nx{'x'.join(map(str, s[1:]))} {d}" for s, d in shapes),)
    else:
        raise InputError(f"{path}:{options.factory}() builds a model that records no input "
                         "shapes; give them with --input-shape (e.g. 1,224,224,3, once per "
                         "input) or give --eval data")
    if shapes:  # the batch stays dynamic: the exported model takes any
        shapes = tuple(((None, *s[1:]), "float32" if d == "float64" else d) for s, d in shapes)
        model = model_of(replace(probe, inputs=tuple(TensorSpec(f"input_{i}", s, d)
                                                     for i, (s, d) in enumerate(shapes))))
    return replace(probe, inputs=_specs(model.inputs),
                   outputs=_specs(model.outputs, getattr(model, "output_names", None)), notes=notes)


def make_runner(handle: ModelHandle, threads: int | None = None):
    model = model_of(handle)

    def run_batch(inputs):
        import keras
        with warnings.catch_warnings():  # Keras 3 warns when a Keras 2 model's one input
            warnings.filterwarnings("ignore", "The structure of `inputs`")  # comes unlisted
            result = model(inputs if len(inputs) > 1 else inputs[0], training=False)
        # a list, a tuple, a dict of named outputs (flattened in sorted key order, the order
        # of model.outputs and output_names) or one tensor
        return [np.asarray(r) for r in keras.tree.flatten(result)]

    return lambda inputs: in_batches(run_batch, inputs, batch_size(handle), handle)


def op_counts(handle: ModelHandle) -> dict[str, int]:
    return dict(Counter(type(layer).__name__ for layer in model_of(handle).layers))


# --- pruning support: an editable copy of the model, its weights, fine-tuning, saving ---

def editable_copy(handle: ModelHandle):
    import keras
    original = model_of(handle)
    model = keras.models.clone_model(original)
    model.set_weights(original.get_weights())
    return model


def prunable_weights(model) -> list[np.ndarray]:
    from ...quantize.prune import KERAS_PRUNABLE
    return [layer.get_weights()[0] for layer in model.layers
            if type(layer).__name__ in KERAS_PRUNABLE]


def parameter_count(model) -> int:
    return int(model.count_params())


def fine_tune(model, inputs: list[np.ndarray], labels: np.ndarray, epochs: int, seed: int):
    """A short supervised fine-tune; pruning masks are re-applied after every batch."""
    import keras

    from ...quantize.prune import apply_keras_masks
    keras.utils.set_random_seed(seed)
    probabilities = np.asarray(model(inputs[0][:8] if len(inputs) == 1 else [x[:8] for x in inputs]))
    from_logits = not (probabilities.min() >= 0 and np.allclose(probabilities.sum(1), 1, atol=1e-3))
    masks = getattr(model, "_edgekit_masks", {})

    class KeepMasks(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            apply_keras_masks(model, masks)

    model.compile(optimizer=keras.optimizers.Adam(1e-3),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=from_logits))
    model.fit(inputs[0] if len(inputs) == 1 else inputs, labels, epochs=epochs, batch_size=64,
              verbose=0, callbacks=[KeepMasks()])
    return model


def save_pruned(model, source: ModelHandle, out_dir: Path) -> ModelHandle:
    """Saved without the fine-tuning optimizer's state, which would only add bytes."""
    import keras
    clean = keras.models.clone_model(model)
    clean.set_weights(model.get_weights())
    path = out_dir / "pruned.keras"
    clean.save(path)
    return open_handle(path)


def intermediates(handle: ModelHandle, inputs: list[np.ndarray]) -> list[tuple[str, np.ndarray]]:
    """Every layer's output, in the model's layer order (for per-layer drift)."""
    import keras
    model = model_of(handle)
    layers = [layer for layer in model.layers if type(layer).__name__ != "InputLayer"]
    probe = keras.Model(model.inputs, [layer.output for layer in layers])
    outputs = probe(list(inputs), training=False)
    return [(layer.name, np.asarray(out)) for layer, out in zip(layers, outputs)]


HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
KERAS_V3 = FileKind("keras", "Keras", (".keras",))
KERAS_HDF5 = FileKind("keras", "Keras (HDF5)", (".h5", ".hdf5"))


def recognize(content):
    """A Keras v3 archive (config.json + model.weights.h5) or a legacy HDF5 file."""
    if content.head.startswith(HDF5_MAGIC):
        return KERAS_HDF5
    names = content.archive_names or frozenset()
    return KERAS_V3 if {"config.json", "model.weights.h5"} <= names else None


FORMAT = FormatModule(
    runtime="keras", packages=("tensorflow", "keras"),
    open_handle=open_handle, make_runner=make_runner, op_counts=op_counts,
    open_source=open_source, intermediates=intermediates,
    recognize=recognize, file_kinds=(KERAS_V3, KERAS_HDF5),
    pruning=PruningHooks(editable_copy, prunable_weights, parameter_count, fine_tune, save_pruned),
)

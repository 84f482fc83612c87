"""Evaluation data: a user's `--eval` file, or seeded random inputs when none is given.

Accepted files (loaded with allow_pickle=False, so no code can run):
- `.npz` with `x` (a single-input model) or one array per input name, and optionally `y`
  (integer class labels, one per sample);
- `.npy` holding the input array of a single-input model.
Images may be channels-last or channels-first: a batch whose shape fits the model only
after an NHWC <-> NCHW transpose is transposed, and the report says so.
"""
from __future__ import annotations

import math
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import InputError, first_line
from .model import ModelHandle
from .tensors import (TensorSpec, flip_layout, sample_shape, shape_matches, to_layout,
                      transposed_shape)

RANDOM_SAMPLES = 64
DYNAMIC_DIM = 32  # for a dynamic (non-batch) dimension when inputs are random


@dataclass(frozen=True)
class Dataset:
    inputs: list[np.ndarray]  # in the source model's layout and dtype
    labels: np.ndarray | None
    origin: str  # the file, or "random"
    seed: int | None = None
    notes: tuple[str, ...] = field(default=())
    label_output: int | None = 0  # the output the labels score (edgekit.labels)

    @property
    def samples(self) -> int:
        return len(self.inputs[0])

    def value_range(self) -> tuple[float, float]:
        """The first input's value range rounded to a usual convention (0..1, -1..1, 0..255)."""
        low, high = float(self.inputs[0].min()), float(self.inputs[0].max())
        if low < -0.01:
            return (-1.0, 1.0) if high <= 1.01 else (low, high)
        return (0.0, 1.0) if high <= 1.01 else (0.0, 255.0) if high <= 255.5 else (low, high)


def load_eval(path: Path, source: ModelHandle) -> Dataset:
    check_sample_axis(source)
    arrays = _read(Path(path))
    labels = arrays.pop("y", None)
    raw = _match_inputs(arrays, source.inputs, path)
    inputs, notes = [], []
    for array, spec in zip(raw, source.inputs):
        adapted, note = adapt(array, spec, path)
        inputs.append(adapted)
        notes += [note] if note else []
    inputs = _shared_values(inputs, source.inputs, path)
    if labels is not None:
        labels = _check_labels(labels, inputs[0], path)
    return Dataset(inputs, labels, str(path), notes=tuple(notes))


def random_inputs(source: ModelHandle, seed: int, samples: int = RANDOM_SAMPLES,
                  dynamic_size: int = DYNAMIC_DIM) -> Dataset:
    """Seeded inputs: uniform 0..1 floats; 0/1 for integer inputs (valid as token ids,
    masks and indices alike, since the valid range of an id is not recorded anywhere)."""
    check_sample_axis(source)
    rng = np.random.default_rng(seed)
    inputs, notes = [], []
    for spec in source.inputs:
        per_sample = sample_shape(spec)
        # a tensor without a batch takes one value for every sample of a call
        draws = samples if spec.batch_axis is not None else 1
        shape = (draws, *[dynamic_size if d is None else d for d in per_sample])
        if None in per_sample:
            notes.append(f"input '{spec.name}' has dynamic dimensions; random inputs use "
                         f"{dynamic_size} for them (give --eval data or --input-shape)")
        if np.issubdtype(np.dtype(spec.dtype), np.integer):
            drawn = rng.integers(0, 2, shape).astype(spec.dtype)
        else:
            drawn = rng.random(shape, dtype=np.float32).astype(spec.dtype)
        inputs.append(np.repeat(drawn, samples, axis=0) if draws == 1 and samples > 1 else drawn)
    return Dataset(inputs, None, "random", seed=seed, notes=tuple(notes))


def check_sample_axis(handle: ModelHandle) -> None:
    """edgekit feeds samples along each input's batch axis: axis 0, or the one the model names
    (an ONNX state [2, 'batch', 128]). An input that seems to take its batch elsewhere
    without saying so (a dynamic axis after a fixed leading one, in a model whose other inputs
    are batched on axis 0) cannot be fed that way: say so, naming it, instead of failing later."""
    batched = [s for s in handle.inputs if s.batch_axis == 0 and s.shape and s.shape[0] is None]
    for spec in handle.inputs if batched else ():
        if spec.batch_axis == 0 and spec.shape and spec.shape[0] is not None and spec.shape[0] > 1 \
                and None in spec.shape[1:]:
            axis = spec.shape.index(None)
            raise InputError(f"{handle.path}: input '{spec.name}' {spec.describe().split(': ')[1]} "
                             f"seems to take its batch on axis {axis}, while the model does not say "
                             f"so (as '{batched[0].name}' does on axis 0); export it with the batch "
                             "first, or name the batch dimension alike on every input (ONNX "
                             "dim_param), or fix a batch of 1 with --input-shape for every input")


def _shared_values(inputs: list[np.ndarray], specs, path: Path) -> list[np.ndarray]:
    """Inputs without a batch (a scalar sample rate) take one value per call: the data gives
    it once (or the same for every sample), and it is repeated to the number of samples."""
    batched = [x for x, spec in zip(inputs, specs) if spec.batch_axis is not None]
    count = len(batched[0]) if batched else 1
    shared = []
    for x, spec in zip(inputs, specs):
        if spec.batch_axis is None:
            if not (x == x[:1]).all():
                raise InputError(f"{path}: input '{spec.name}' takes one value per call (it has no "
                                 "batch dimension), but the data holds different values per sample")
            x = np.repeat(x[:1], count, axis=0)
        shared.append(x)
    return shared


def _read(path: Path) -> dict[str, np.ndarray]:
    if not path.is_file():
        raise InputError(f"evaluation data {path} does not exist or is not a file")
    try:
        _check_headers(path)
        loaded = np.load(path, allow_pickle=False)
        if isinstance(loaded, np.ndarray):
            return {"x": loaded}
        with loaded:
            return {key: loaded[key] for key in loaded.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as error:
        raise InputError(f"cannot read evaluation data {path} (.npz or .npy expected, "
                         f"no pickled objects): {first_line(error)}") from error


def array_headers(path: Path) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
    """name -> (shape, dtype) of each array in an .npz/.npy, from the headers alone (for
    models that do not record their input shapes); {} when the file cannot be read."""
    headers = {}
    try:
        if not zipfile.is_zipfile(path):
            with open(path, "rb") as handle:
                headers["x"] = _header(handle)
            return headers
        with zipfile.ZipFile(path) as archive:
            for member in archive.infolist():
                with archive.open(member) as handle:
                    headers[member.filename.removesuffix(".npy")] = _header(handle)
    except (OSError, ValueError, zipfile.BadZipFile, zlib.error):
        return {}  # reading the data later says what is wrong with it
    return headers


def _header(handle) -> tuple[tuple[int, ...], np.dtype]:
    version = np.lib.format.read_magic(handle)
    read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
    shape, _, dtype = read(handle)
    return tuple(shape), dtype


def _check_headers(path: Path) -> None:
    """Each array's header states its shape, and numpy allocates that much before reading
    the data: a 100-byte file can claim 10^15 elements. Compare each claim with the bytes
    that are really there first."""
    if not zipfile.is_zipfile(path):
        with open(path, "rb") as handle:
            _check_header(handle, path.stat().st_size, path.name)
        return
    with zipfile.ZipFile(path) as archive:
        for member in archive.infolist():
            with archive.open(member) as handle:
                _check_header(handle, member.file_size, member.filename)


def _check_header(handle, available: int, name: str) -> None:
    shape, dtype = _header(handle)
    if dtype.hasobject:
        raise ValueError(f"{name} holds Python objects (pickles), which are not loaded")
    if math.prod(shape) * dtype.itemsize > available:
        raise ValueError(f"{name} claims shape {shape} of {dtype} but holds only {available} "
                         "bytes (corrupt or truncated)")


def _match_inputs(arrays: dict, specs: tuple[TensorSpec, ...], path: Path) -> list[np.ndarray]:
    names = [s.name for s in specs]
    if all(name in arrays for name in names):
        return [arrays[name] for name in names]
    if len(specs) == 1 and len(arrays) == 1:
        return list(arrays.values())
    expected = "'x'" if len(specs) == 1 else "one array per input: " + ", ".join(names)
    found = ", ".join(sorted(arrays)[:5]) + (", ..." if len(arrays) > 5 else "")
    raise InputError(f"{path} holds arrays [{found or 'none'}]; expected {expected} "
                     "(and optionally 'y' with labels)")


def adapt(array: np.ndarray, spec: TensorSpec, path: Path) -> tuple[np.ndarray, str | None]:
    """Check an input batch against the model's input and bring it to its layout/dtype."""
    if array.size == 0:
        raise InputError(f"{path}: the data for input '{spec.name}' is empty")
    note = None
    array, moved = _samples_first(array, spec)
    if moved:
        note = f"input '{spec.name}': samples taken along axis {spec.batch_axis}, where the model batches"
    per_sample = sample_shape(spec)
    if not shape_matches(array.shape[1:], per_sample):
        other = flip_layout(spec.layout)
        if other and shape_matches(array.shape[1:], transposed_shape(spec.shape, other)[1:]):
            array = to_layout(array, other, spec.layout)
            note = f"input '{spec.name}': data given as {other}, transposed to {spec.layout}"
        else:
            expected = "x".join("N" if d is None else str(d) for d in (None, *per_sample))
            raise InputError(f"{path}: input '{spec.name}' has shape "
                             f"{'x'.join(map(str, array.shape))}, the model expects {expected}")
    kind = np.dtype(spec.dtype).kind
    if array.dtype.kind == "f" and kind in "iu":
        raise InputError(f"{path}: input '{spec.name}' is {array.dtype}, the model expects {spec.dtype}")
    with np.errstate(over="ignore", invalid="ignore"):  # judged just below, after the cast
        cast = array.astype(spec.dtype, copy=False)
    if np.issubdtype(cast.dtype, np.floating) and not np.isfinite(cast).all():
        was = "" if cast.dtype == array.dtype else f" once cast to {spec.dtype} (from {array.dtype})"
        raise InputError(f"{path}: the data for input '{spec.name}' contains NaN or Inf{was}")
    return cast, note


def _samples_first(array: np.ndarray, spec: TensorSpec) -> tuple[np.ndarray, bool]:
    """Data for an input with its batch on another axis may come as the model takes it
    ([2, S, 128]) or samples-first ([S, 2, 128]); a value shared by all samples as it is
    (a 0-d sample rate). Bring it samples-first; say whether it moved."""
    if spec.batch_axis is None:
        return (array[None] if array.ndim == len(spec.shape) else array), False
    if spec.batch_axis and array.ndim == len(spec.shape) and \
            shape_matches(np.delete(np.array(array.shape), spec.batch_axis), sample_shape(spec)) \
            and not shape_matches(array.shape[1:], sample_shape(spec)):
        return np.moveaxis(array, spec.batch_axis, 0), True
    return array, False


def _check_labels(labels: np.ndarray, first_input: np.ndarray, path: Path) -> np.ndarray:
    if labels.ndim != 1 or len(labels) != len(first_input) or labels.dtype.kind not in "iu":
        raise InputError(f"{path}: 'y' must hold one integer label per sample "
                         f"({len(first_input)}), got {labels.dtype} of shape {labels.shape}")
    return labels.astype(np.int64)

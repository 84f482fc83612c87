"""Opening the user's model: detect its format from its content, then let that format's
module read it (lazily importing the framework it needs)."""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from .detect import detect
from .errors import InputError, UnsupportedError
from .model import ModelHandle


@dataclass(frozen=True)
class SourceOptions:
    factory: str | None = None
    weights: Path | None = None
    input_shapes: tuple[tuple[int, ...], ...] = ()
    # (name, shape, dtype) of each array of the evaluation data: the input shapes of a
    # model that records none, when --input-shape is not given
    data_shapes: tuple[tuple[str, tuple[int, ...], str], ...] = ()


def open_model(spec: str, weights: Path | None = None,
               input_shapes: tuple[tuple[int, ...], ...] = (),
               allow_unsafe_code: bool = False, eval_data: Path | None = None) -> ModelHandle:
    from .targets import trust
    from .targets.registry import format_module
    ref = detect(spec)
    if ref.factory:  # what the function returns tells the framework
        from dataclasses import replace

        from .targets.factory import format_of
        ref = replace(ref, format=format_of(ref.path, ref.factory))
    fmt = format_module(ref.format)
    trust.decide(ref.path, allow_unsafe_code)
    if weights is not None and ref.factory is None:
        raise InputError("--weights applies to models given as FILE.py:FACTORY")
    if weights is not None and not Path(weights).is_file():
        raise InputError(f"no such weights file: {weights}")
    if fmt.open_source is None:
        raise UnsupportedError(f"{ref.path} is a {ref.format} model: edgekit can inspect and "
                               f"validate it, but not convert from it")
    data_shapes = ()
    if eval_data is not None and not input_shapes:
        from .data import array_headers
        data_shapes = tuple((name, shape, dtype.name) for name, (shape, dtype)
                            in array_headers(Path(eval_data)).items() if name != "y")
    options = SourceOptions(ref.factory, weights, tuple(input_shapes), data_shapes)
    return checked(fmt.open_source(ref.path, options, ref.format))


MAX_SAMPLE_ELEMENTS = 1 << 28  # per tensor and sample (1 GiB of float32): far above any edge model


def checked(handle: ModelHandle) -> ModelHandle:
    """A model edgekit can feed and compare: at least one input and one output, and tensor
    dimensions that are positive and small enough to allocate (a model file states them,
    and a corrupt or hostile one may state -5 or 10^12)."""
    for kind, specs in (("inputs", handle.inputs), ("outputs", handle.outputs)):
        if not specs:
            raise InputError(f"{handle.path} has no {kind}: there is nothing to "
                             f"{'feed' if kind == 'inputs' else 'compare'}")
        for spec in specs:
            dims = [d for d in spec.shape if d is not None]
            if any(d <= 0 for d in dims) or math.prod(dims) > MAX_SAMPLE_ELEMENTS:
                raise InputError(f"{handle.path}: {kind[:-1]} {spec.describe()} has dimensions "
                                 f"edgekit cannot allocate (each must be 1 or more, at most "
                                 f"{MAX_SAMPLE_ELEMENTS} elements in all)")
    return handle


class InputShape(tuple):
    """A shape from --input-shape, with the input's dtype (float32 unless `:int64` etc.)."""

    dtype = "float32"

    def __new__(cls, dims, dtype: str = "float32"):
        shape = super().__new__(cls, dims)
        shape.dtype = dtype
        return shape


INPUT_DTYPES = ("float32", "float16", "int64", "int32", "int8", "uint8", "bool")


def parse_shape(text: str) -> InputShape:
    """`1,3,224,224` -> (1, 3, 224, 224); `1,128:int64` also records the dtype."""
    dims, _, dtype = text.partition(":")
    try:
        shape = tuple(int(part) for part in dims.replace("x", ",").split(","))
    except ValueError:
        shape = ()
    if not shape or any(d <= 0 for d in shape) or math.prod(shape[1:]) > MAX_SAMPLE_ELEMENTS:
        raise InputError(f"bad --input-shape '{text}'; expected positive integers like "
                         "1,3,224,224 (and optionally a dtype: 1,128:int64), at most "
                         f"{MAX_SAMPLE_ELEMENTS} elements per sample")
    if dtype and dtype not in INPUT_DTYPES:
        raise InputError(f"bad dtype '{dtype}' in --input-shape; valid: {', '.join(INPUT_DTYPES)}")
    return InputShape(shape, dtype or "float32")


def parse_labels(text: str | None) -> tuple[str, ...]:
    """`cat,dog` or a text file with one label per line -> ("cat", "dog")."""
    if not text:
        return ()
    path = Path(text)
    if path.is_file():
        labels = tuple(line.strip() for line in path.read_text().splitlines() if line.strip())
        if not labels:
            raise InputError(f"labels file {path} has no labels (expected one per line)")
        return labels
    if path.is_dir() or path.suffix == ".txt" or "/" in text:  # meant as a file, and not one
        raise InputError(f"no such labels file: {text} (give a text file with one label per "
                         "line, or a comma-separated list)")
    return tuple(label.strip() for label in text.split(","))


def check_labels(labels: tuple[str, ...], source: ModelHandle) -> None:
    """Labels name the classes of the first output, so their count must match it: one label
    too few shifts every name in the demo by one class."""
    output = source.outputs[0] if source.outputs else None
    classes = output.shape[-1] if output is not None and output.shape else None
    if labels and classes and len(labels) != classes:
        raise InputError(f"--labels gives {len(labels)} labels but output '{output.name}' has "
                         f"{classes} classes")

"""Tensor descriptions and the NCHW <-> NHWC bookkeeping between frameworks.

PyTorch and ONNX models take images channels-first (NCHW); TensorFlow, TFLite and TF.js
take them channels-last (NHWC). Converters such as onnx2tf flip the layout, others
(litert-torch) keep it. Rather than trusting each converter's documentation, edgekit
infers an artifact's layout by comparing its tensor shapes with the source model's.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

Shape = tuple  # of int, or None for a dimension the model leaves dynamic

NCHW_TO_NHWC = (0, 2, 3, 1)
NHWC_TO_NCHW = (0, 3, 1, 2)


@dataclass(frozen=True)
class TensorSpec:
    name: str
    shape: Shape
    dtype: str
    layout: str | None = None  # "NCHW", "NHWC" for 4-D images; None otherwise
    # where the tensor takes its samples: 0 for most, 1 for a recurrent state [2, B, 128],
    # None for a tensor with no batch (a scalar sample rate), which gets one value per call
    batch_axis: int | None = 0

    def describe(self) -> str:
        dims = "x".join("?" if d is None else str(d) for d in self.shape)
        layout = f" {self.layout}" if self.layout else ""
        return f"{self.name}: {self.dtype}[{dims}]{layout}"


def sample_shape(spec: TensorSpec) -> Shape:
    """The shape of one sample of the tensor: its shape without the batch axis."""
    if spec.batch_axis is None:
        return tuple(spec.shape)
    return tuple(d for i, d in enumerate(spec.shape) if i != spec.batch_axis)


def with_sample_shape(spec: TensorSpec, sample: Shape) -> TensorSpec:
    """`spec` with its per-sample dimensions replaced, its batch dimension kept."""
    if spec.batch_axis is None:
        return replace(spec, shape=tuple(sample))
    shape = list(sample)
    shape.insert(spec.batch_axis, spec.shape[spec.batch_axis])
    return replace(spec, shape=tuple(shape))


# edgekit holds every batch samples-first (axis 0), whatever the model takes: slicing,
# comparing and timing stay one code path. These two convert at the runtime's door.
def to_model_axes(batch: np.ndarray, spec: TensorSpec) -> np.ndarray:
    """A samples-first batch as the model takes it: the samples moved to its batch axis,
    or, for a tensor without a batch, the one value all samples share."""
    if spec.batch_axis is None:
        return np.asarray(batch[0])
    return batch if spec.batch_axis == 0 else np.moveaxis(batch, 0, spec.batch_axis)


def from_model_axes(value: np.ndarray, spec: TensorSpec) -> np.ndarray:
    """A model's output brought samples-first (the inverse of to_model_axes)."""
    if not spec.batch_axis or spec.batch_axis >= np.ndim(value):
        return value
    return np.moveaxis(value, spec.batch_axis, 0)


def batch_axes_from_names(dims: list[tuple], batch_name: str | None) -> list[int | None]:
    """Each tensor's batch axis, for formats whose dimensions carry names (ONNX dim_params):
    the axis named like the first input's first dimension, so a state [2, 'batch', 128] takes
    its samples on axis 1. A rank-0 tensor has no batch; without a name, axis 0."""
    axes = []
    for names in dims:
        if not names:
            axes.append(None)
        elif batch_name and batch_name in names:
            axes.append(names.index(batch_name))
        else:
            axes.append(0)
    return axes


def adopt_batch_axes(handle, parent):
    """A converted model's tensors take their samples where the same tensors of the model it
    was made from do, when their rank agrees (converters keep a state's [2, B, 128])."""
    def adopt(specs, references):
        if len(specs) != len(references):
            return specs
        return tuple(replace(s, batch_axis=r.batch_axis)
                     if r.batch_axis != 0 and len(s.shape) == len(r.shape) else s
                     for s, r in zip(specs, references))
    return handle.with_specs(adopt(handle.inputs, parent.inputs), adopt(handle.outputs, parent.outputs))


def shape_matches(actual: tuple, expected: Shape) -> bool:
    """True when `actual` fits `expected`, where None (or -1) in `expected` matches anything."""
    return len(actual) == len(expected) and all(
        e is None or e < 0 or a == e for a, e in zip(actual, expected))


def transposed_shape(shape: Shape, to_layout: str) -> Shape:
    order = NCHW_TO_NHWC if to_layout == "NHWC" else NHWC_TO_NCHW
    return tuple(shape[i] for i in order)


def flip_layout(layout: str | None) -> str | None:
    return {"NCHW": "NHWC", "NHWC": "NCHW"}.get(layout)


def default_layout(shape: Shape, channels_first: bool) -> str | None:
    """The layout a framework implies for a 4-D tensor (None for other ranks)."""
    if len(shape) != 4:
        return None
    return "NCHW" if channels_first else "NHWC"


def infer_layout(shape: Shape, reference: TensorSpec) -> str | None:
    """Layout of a converted tensor, judged against the same tensor in the source model."""
    if reference.layout is None or len(shape) != 4:
        return reference.layout
    if _same_dims(shape, reference.shape):  # also the answer when both readings fit
        return reference.layout
    if _same_dims(shape, transposed_shape(reference.shape, flip_layout(reference.layout))):
        return flip_layout(reference.layout)
    return reference.layout


def _same_dims(a: Shape, b: Shape) -> bool:
    return len(a) == len(b) and all(x is None or y is None or x == y for x, y in zip(a, b))


def to_layout(array: np.ndarray, from_layout: str | None, to: str | None) -> np.ndarray:
    """Transpose a 4-D batch between NCHW and NHWC; anything else passes through."""
    if from_layout == to or from_layout is None or to is None or array.ndim != 4:
        return array
    order = NCHW_TO_NHWC if to == "NHWC" else NHWC_TO_NCHW
    return np.ascontiguousarray(array.transpose(order))


def guess_image_layout(shape: Shape) -> str | None:
    """For a 4-D tensor of a model that does not say: channels are the small dimension
    (1, 3 or 4). Without that clue, NCHW, the ONNX/PyTorch convention."""
    if len(shape) != 4:
        return None
    if shape[3] in (1, 3, 4) and shape[1] not in (1, 3, 4):
        return "NHWC"
    return "NCHW"


BY_NAME, BY_SHAPE, BY_POSITION = "name", "shape", "position"


def match(wanted, specs, shapes) -> tuple[list[int], str]:
    """For each wanted tensor (the original's), the index of the converted model's tensor
    that is it, and how that was decided: by name when every name survived the conversion,
    else by per-sample shape when each is unique, else by position (which the caller must
    report: converters do reorder, e.g. a SavedModel signature sorts outputs by name)."""
    names = [_plain(s.name) for s in specs]
    if all(_plain(w.name) in names for w in wanted) and len(set(names)) == len(names):
        return [names.index(_plain(w.name)) for w in wanted], BY_NAME
    actual = [_per_sample(shape) for shape in shapes]
    expected = [_per_sample(tuple(d or 0 for d in w.shape)) for w in wanted]
    if len(set(actual)) == len(actual) and all(
            sum(_same(e, a) for a in actual) == 1 for e in expected):
        return [next(i for i, a in enumerate(actual) if _same(e, a)) for e in expected], BY_SHAPE
    return list(range(len(wanted))), BY_POSITION


def match_order(wanted, specs, shapes) -> list[int]:
    return match(wanted, specs, shapes)[0]


def feed_for(handle, source, inputs: list[np.ndarray]) -> list[np.ndarray]:
    """Inputs prepared for `source`, reordered and transposed for `handle`'s inputs."""
    order = match_order(handle.inputs, source.inputs, [x.shape for x in inputs])
    return [to_layout(inputs[j], source.inputs[j].layout, spec.layout)
            for spec, j in zip(handle.inputs, order)]


def _plain(name: str) -> str:
    return name.split(":")[0].removeprefix("serving_default_").lower()


def _per_sample(shape) -> tuple:
    return tuple(sorted(d or 0 for d in shape[1:]))  # sorted: NCHW and NHWC alike


def _same(expected: tuple, actual: tuple) -> bool:
    return len(expected) == len(actual) and all(e in (0, a) for e, a in zip(expected, actual))

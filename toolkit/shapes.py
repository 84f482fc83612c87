"""The dynamic-shape matrix: a deliverable proven at the shapes apps will call it with.

The search proves a model on the evaluation data, at one shape. A model whose source has
dynamic dimensions is called by apps at others: a batch of 4 instead of 1, a camera frame
of another size, a longer sentence. Each deliverable is run again at a few such shapes and
compared with the source at the same shape, under the precision's tolerance:
- batch 1 and 4 (real evaluation samples) when the source's batch is dynamic;
- for other dynamic dimensions, the evaluation size and one other: for image height and
  width the next multiple of 32 above (any stride up to 32 divides it when it divides the
  evaluation size), for other axes (sequence lengths) half the evaluation length.
A shape the source itself cannot run is not a shape of the model and is left out; a shape
the artifact was converted without (static dimensions) is recorded as unsupported, and a
fixed batch of 1 serving a batch of 4 as four calls says so.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .drift import compare, violations
from .errors import first_line, raised_in_edgekit
from .tensors import sample_shape

BATCHES = (1, 4)
IMAGE_STRIDE = 32  # the largest stride common CNNs downsample by
SEED = 0


@dataclass(frozen=True)
class Shape:
    label: str  # "batch 4", "image 352x352"
    inputs: list  # arrays, in the source's layout


def shapes_to_prove(source, data) -> list[Shape]:
    """The shapes for `source` (the handle with its dynamic dimensions as the model
    records them), built from the evaluation data `data`."""
    batch_dynamic = any(s.batch_axis is not None and s.shape and s.shape[s.batch_axis] is None
                        for s in source.inputs)
    found = []
    if batch_dynamic:
        for batch in BATCHES:
            picked = np.resize(np.arange(data.samples), batch)  # repeats when there are fewer
            found.append(Shape(f"batch {batch}", [x[picked] for x in data.inputs]))
    resized = _other_sizes(source, data)
    if resized is not None:
        found.append(resized)
    return found


def _other_sizes(source, data) -> Shape | None:
    """One sample at other sizes of every dynamic non-batch dimension (random values in the
    range of the evaluation data: resizing real samples would change nothing the drift
    measures), or None when the source has none."""
    rng = np.random.default_rng(SEED)
    inputs, changed = [], []
    for spec, x in zip(source.inputs, data.inputs):
        dims = list(x.shape[1:])
        free = [i for i, d in enumerate(sample_shape(spec)) if d is None]
        spatial = _spatial_axes(spec)
        for i in free:
            dims[i] = (-(-dims[i] // IMAGE_STRIDE) + 1) * IMAGE_STRIDE if i in spatial \
                else max(1, dims[i] // 2)
        if free:
            changed.append(f"{spec.name} {'x'.join(map(str, dims))}")
        inputs.append(_random_like(x, (1, *dims), rng))
    return Shape("size " + ", ".join(changed), inputs) if changed else None


def _spatial_axes(spec) -> set[int]:
    """Height and width among a 4-D image input's per-sample axes."""
    return {"NCHW": {1, 2}, "NHWC": {0, 1}}.get(spec.layout or "", set())


def _random_like(x: np.ndarray, shape, rng) -> np.ndarray:
    low, high = x.min(), x.max()
    if np.issubdtype(x.dtype, np.integer):
        return rng.integers(low, high + 1, shape).astype(x.dtype)
    return rng.uniform(low, high, shape).astype(x.dtype)


def prove_shapes(handle, source, shapes: list[Shape], tolerance) -> list[dict]:
    """Each shape: does the artifact take it, and does it agree with the source there."""
    from .judge import run_in_layout
    source_run, rows = source.runner(), []
    for shape in shapes:
        try:
            reference = source_run(shape.inputs)
        except Exception as error:
            if raised_in_edgekit(error):
                raise
            continue  # the model itself does not take this shape
        row = {"shape": shape.label, "inputs": [list(x.shape) for x in shape.inputs]}
        fixed = _fixed_against(handle, source, shape)
        if fixed:
            rows.append({**row, "supported": False, "passed": None, "drift": None, "note": fixed})
            continue
        try:
            outputs = run_in_layout(handle, source, shape.inputs)
        except Exception as error:
            if raised_in_edgekit(error):
                raise
            rows.append({**row, "supported": False, "passed": False, "drift": None,
                         "note": f"could not run: {first_line(error)}"})
            continue
        drifts = compare(reference, outputs)
        problems = violations(drifts, tolerance)
        rows.append({**row, "supported": True, "passed": not problems,
                     "drift": [d.as_dict() for d in drifts], "note": "; ".join(problems)
                     or _sliced(handle, source, shape)})
    return rows


def _fixed_against(handle, source, shape: Shape) -> str:
    """Why the artifact cannot take this shape without running it: a static dimension it
    was converted with (the batch excepted: a fixed batch runs in slices)."""
    for spec, source_spec, x in zip(handle.inputs, source.inputs, shape.inputs):
        wanted = sorted(x.shape[1:])  # layouts may differ: compare the sizes as a multiset
        have = sample_shape(spec)
        if None not in have and sorted(have) != wanted:
            return (f"input '{spec.name}' is fixed at {'x'.join(map(str, have))} "
                    f"(source: {'x'.join('?' if d is None else str(d) for d in sample_shape(source_spec))})")
    return ""


def _sliced(handle, source, shape: Shape) -> str:
    first = handle.inputs[0] if handle.inputs else None
    batch = len(shape.inputs[0]) if shape.inputs else 0
    if first is not None and first.batch_axis is not None and first.shape and \
            first.shape[first.batch_axis] == 1 and batch > 1:
        return f"fixed batch of 1: the {batch} samples ran as {batch} calls"
    return ""


def fixed_shape(handle) -> bool:
    """The artifact takes one shape only (every dimension of every input static)."""
    return all(None not in spec.shape for spec in handle.inputs)

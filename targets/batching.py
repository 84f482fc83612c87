"""Feeding a dataset to a runtime in batches it accepts."""
from __future__ import annotations

from typing import Callable

import numpy as np

from ..tensors import from_model_axes, to_model_axes

DEFAULT_BATCH = 64


def in_batches(run_batch: Callable[[list[np.ndarray]], list[np.ndarray]],
               inputs: list[np.ndarray], batch: int = DEFAULT_BATCH, handle=None) -> list[np.ndarray]:
    """Run `run_batch` over slices of at most `batch` samples and concatenate the outputs.
    `inputs` hold their samples on axis 0; with `handle`, each slice is fed in the model's own
    axes (a state [2, B, 128], a scalar) and its outputs come back samples-first."""
    def run(part: list[np.ndarray]) -> list[np.ndarray]:
        if handle is None:
            return run_batch(part)
        outputs = run_batch([to_model_axes(x, spec) for x, spec in zip(part, handle.inputs)])
        if len(outputs) != len(handle.outputs):
            return outputs
        return [from_model_axes(y, spec) for y, spec in zip(outputs, handle.outputs)]

    total = len(inputs[0])
    parts = [run([x[start:start + batch] for x in inputs]) for start in range(0, total, batch)]
    return [np.concatenate([p[i] for p in parts]) for i in range(len(parts[0]))]


def batch_size(handle) -> int:
    """The batch a model takes: its fixed batch dimension when it has one (exported
    programs, some converted models), else DEFAULT_BATCH."""
    batched = [s for s in handle.inputs if s.batch_axis is not None and s.shape]
    first = batched[0].shape[batched[0].batch_axis] if batched else None
    return first or DEFAULT_BATCH

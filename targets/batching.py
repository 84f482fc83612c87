"""Feeding a dataset to a runtime in batches it accepts."""
from __future__ import annotations

from typing import Callable

import numpy as np

DEFAULT_BATCH = 64


def in_batches(run_batch: Callable[[list[np.ndarray]], list[np.ndarray]],
               inputs: list[np.ndarray], batch: int = DEFAULT_BATCH) -> list[np.ndarray]:
    """Run `run_batch` over slices of at most `batch` samples and concatenate the outputs."""
    total = len(inputs[0])
    parts = [run_batch([x[start:start + batch] for x in inputs])
             for start in range(0, total, batch)]
    return [np.concatenate([p[i] for p in parts]) for i in range(len(parts[0]))]


def batch_size(handle) -> int:
    """The batch a model takes: its fixed first dimension when it has one (exported
    programs, some converted models), else DEFAULT_BATCH."""
    first = handle.inputs[0].shape[0] if handle.inputs and handle.inputs[0].shape else None
    return first or DEFAULT_BATCH

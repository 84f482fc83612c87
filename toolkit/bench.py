"""Latency measurement: warm-up, then timed runs; the median is what gets compared.

(The benchmarking engine with percentiles, thread pinning and device emulation grows
from here; see the validation/benchmarking issue.)
"""
from __future__ import annotations

import time

import numpy as np


def median_latency_ms(run, inputs: list[np.ndarray], runs: int = 30, warmup: int = 3) -> float:
    """Median wall time of `run(inputs)` in milliseconds."""
    for _ in range(warmup):
        run(inputs)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        run(inputs)
        times.append((time.perf_counter() - start) * 1e3)
    return float(np.median(times))

"""Latency under CPU emulation: the model's runtime pinned to the threads and cores that
stand for a device class, warm-up, then timed runs.

The result states what it measured (threads, CPU affinity, runs) and judges itself:
when the robust coefficient of variation (from the median absolute deviation, so that a
rare scheduler stall does not condemn a steady run) is above NOISY_CV, the verdict is
"noisy", never pass or fail. Host figures are host figures, not a phone's latency.
"""
from __future__ import annotations

import os
import resource
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass

import numpy as np

NOISY_CV = 0.15


@dataclass(frozen=True)
class TimeBudget:
    """Timed runs stop after `max_seconds`, once `min_runs` are done: a model that takes
    seconds per inference (a detector in TF.js wasm) must not take minutes per candidate."""
    max_seconds: float = 10.0
    min_runs: int = 5


DEFAULT_BUDGET = TimeBudget()


@dataclass(frozen=True)
class Latency:
    p50: float
    p90: float
    p99: float
    min: float
    mean: float
    cv: float  # standard deviation / mean
    robust_cv: float  # 1.4826 * median absolute deviation / median: ignores rare stalls


@dataclass(frozen=True)
class BenchResult:
    latency_ms: Latency
    runs: int
    warmup: int
    threads: int  # what the runtime used: the request, capped at the CPUs we may pin
    threads_requested: int
    affinity: list[int]
    load_ms: float
    peak_memory_bytes: int  # peak resident set size of the measuring process
    verdict: str  # "ok" or "noisy"

    def as_dict(self) -> dict:
        result = asdict(self)
        result["latency_ms"] = {k: round(v, 4) for k, v in result["latency_ms"].items()}
        result["load_ms"] = round(self.load_ms, 3)
        return result


def median_latency_ms(run, inputs: list[np.ndarray], runs: int = 30, warmup: int = 3) -> float:
    """Median wall time of `run(inputs)` in milliseconds (a quick comparison, no pinning)."""
    return summarize(_time(run, inputs, runs, warmup)).p50


def bench(handle, threads: int, runs: int = 100, warmup: int = 10, seed: int = 0,
          inputs: list[np.ndarray] | None = None,
          budget: TimeBudget | None = DEFAULT_BUDGET) -> BenchResult:
    """Time `handle` in its own runtime on one sample (given, else seeded), pinned to
    `threads` cores: `runs` timed runs, or fewer when `budget` runs out (the result says
    how many)."""
    from .targets.registry import format_module
    inputs = inputs if inputs is not None else sample_inputs(handle, seed)
    own_timer = format_module(handle.format).time_runs
    requested = threads
    with pinned(threads) as cores:
        threads = min(threads, len(cores) or threads)  # more threads than cores only thrash
        if own_timer is not None:  # a runtime in another process times itself (TF.js in Node)
            times, load_ms, peak = own_timer(handle, inputs, runs, warmup, threads, budget)
        else:
            started = time.perf_counter()
            run = handle.runner(threads)
            run(inputs)  # the first call loads/allocates in some runtimes: part of load time
            load_ms = (time.perf_counter() - started) * 1e3
            times = _time(run, inputs, runs, warmup, budget)
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux
    latency = summarize(times)
    return BenchResult(latency, len(times), warmup, threads, requested, cores, load_ms, peak,
                       "noisy" if latency.robust_cv > NOISY_CV else "ok")


def sample_inputs(handle, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    inputs = []
    for spec in handle.inputs:
        shape = tuple(1 if d is None else d for d in spec.shape)
        kind = np.dtype(spec.dtype).kind
        # integers: 0/1, valid as token ids, masks and class indices alike
        inputs.append(rng.integers(0, 2, shape).astype(spec.dtype) if kind in "iu"
                      else rng.random(shape, dtype=np.float32).astype(spec.dtype))
    return inputs


@contextmanager
def pinned(threads: int):
    """Restrict this process to the first `threads` CPUs it may use (Linux), then restore."""
    if not hasattr(os, "sched_setaffinity"):
        yield []
        return
    allowed = sorted(os.sched_getaffinity(0))
    cores = allowed[:max(1, min(threads, len(allowed)))]
    os.sched_setaffinity(0, cores)
    try:
        yield cores
    finally:
        os.sched_setaffinity(0, allowed)


def _time(run, inputs, runs: int, warmup: int, budget: TimeBudget | None = None) -> list[float]:
    for _ in range(warmup):
        run(inputs)
    times = []
    started = time.perf_counter()
    for _ in range(runs):
        start = time.perf_counter()
        run(inputs)
        times.append((time.perf_counter() - start) * 1e3)
        if budget and len(times) >= budget.min_runs and time.perf_counter() - started > budget.max_seconds:
            break
    return times


def summarize(times: list[float]) -> Latency:
    t = np.asarray(times)
    median = float(np.median(t))
    mad = float(np.median(np.abs(t - median)))
    return Latency(p50=median, p90=float(np.percentile(t, 90)),
                   p99=float(np.percentile(t, 99)), min=float(t.min()), mean=float(t.mean()),
                   cv=float(t.std() / t.mean()) if t.mean() > 0 else 0.0,
                   robust_cv=1.4826 * mad / median if median > 0 else 0.0)


def bench_gpu(handle, runs: int = 100, warmup: int = 10, seed: int = 0,
              inputs: list[np.ndarray] | None = None) -> dict:
    """The same timing on a CUDA GPU when one is usable (the format's gpu_runner: e.g.
    onnxruntime's CUDA provider, CUDA tensors for PyTorch); otherwise why not. Never
    compared with CPU figures."""
    from .host import gpu
    from .targets.registry import format_module
    status = gpu()
    if not status["available"]:
        return {"available": False, "reason": status["reason"]}
    make_gpu_runner = format_module(handle.format).gpu_runner
    run = make_gpu_runner(handle) if make_gpu_runner is not None else None
    if run is None:
        return {"available": False, "reason": f"no GPU runtime for {handle.format} models"}
    inputs = inputs if inputs is not None else sample_inputs(handle, seed)
    return {"available": True, "latency_ms": asdict(summarize(_time(run, inputs, runs, warmup)))}


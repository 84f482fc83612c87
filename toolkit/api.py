"""edgekit's public Python functions, one per CLI command, with the same checks and results
(the CLI only parses arguments and prints). Every function raises an edgekit.errors error
with a one-line message on bad input; frameworks load only when a step needs them.

    import edgekit
    result = edgekit.convert("model.keras", "android", eval_data="eval.npz")
    result.passed, result.out, result.report["deliverables"]
    edgekit.validate("model.onnx", "out/deploy/tflite/model.tflite", eval_data="eval.npz")
    edgekit.bench("model.tflite", threads=4)
    edgekit.inspect("model.onnx")
    edgekit.check("out/report.json", baseline="main/report.json")
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional, Tuple, Union

from .options import (BudgetOptions, CalibrationOptions, Callbacks, EmulationOptions, LabelOptions,
                      PathLike, SourceOptions)

__all__ = ["convert", "validate", "bench", "inspect", "check",
           "SourceOptions", "CalibrationOptions", "BudgetOptions", "LabelOptions",
           "EmulationOptions", "Callbacks"]


def _with_extra_hint(command: str):
    """A missing optional package names the extra that brings it, and the command that
    needs it (edgekit.extras)."""
    import functools

    def wrap(function):
        @functools.wraps(function)
        def call(*args, **kwargs):
            from .extras import missing_dependency
            try:
                return function(*args, **kwargs)
            except ModuleNotFoundError as error:
                missing = missing_dependency(error, command)
                if missing is None:
                    raise
                raise missing from error
        return call
    return wrap


@_with_extra_hint("convert")
def convert(model: str, target: str, out: Optional[PathLike] = None, *,
            eval_data: Optional[PathLike] = None, precision: Optional[str] = None,
            formats: Optional[Tuple[str, ...]] = None,
            budgets: BudgetOptions = BudgetOptions(), source: SourceOptions = SourceOptions(),
            calibration: CalibrationOptions = CalibrationOptions(),
            prune=None, labels: Union[LabelOptions, Tuple[str, ...], str] = LabelOptions(),
            emulation: Optional[EmulationOptions] = None, bench_runs: int = 50,
            max_candidates: Optional[int] = None, seed: int = 0,
            callbacks: Callbacks = Callbacks(), dry_run: bool = False):
    """Convert `model` (a file, SavedModel folder or FILE.py:FACTORY) for the target profile
    `target` (edgekit.profile) into OUT (default edgekit-out/MODEL-TARGET): for each output
    format, search the candidates the profile allows, prove each in its runtime against the
    original on `eval_data` (.npz/.npy; random inputs when None), deliver the fastest proven
    one to OUT/deploy/FORMAT/ and write report.json/.md/.html.

    `precision` forces one precision, `formats` the output formats, `budgets` the accuracy
    and size budgets in place of the profile's; `prune` is an edgekit.pruning.PruneSpec;
    `labels` the class names and the output the labels score (a LabelOptions; names alone
    may be given as they are); `emulation` also proves the
    deliverables under arm64 emulation (edgekit.emulator). Returns an edgekit.pipeline.Result (`.passed`, `.out`, `.report`), or the
    plan's text when `dry_run`."""
    from .pipeline import convert as run
    labels = labels if isinstance(labels, LabelOptions) else LabelOptions(labels)
    return run(model, target, out, eval_data=eval_data, precision=precision, formats=formats,
               max_drop=budgets.max_drop, max_size_mb=budgets.max_size_mb, source_options=source, calibration_options=calibration,
               prune=prune, labels=labels.names, label_output=labels.output,
               emulation=emulation, bench_runs=bench_runs,
               max_candidates=max_candidates, seed=seed, callbacks=callbacks, dry_run=dry_run)


@_with_extra_hint("validate")
def validate(original: str, artifact: PathLike, *, eval_data: Optional[PathLike] = None,
             precision: Optional[str] = None, browser: bool = False, layers: bool = False,
             label_output: Optional[str] = None, source: SourceOptions = SourceOptions(),
             emulation: Optional[EmulationOptions] = None, seed: int = 0,
             callbacks: Callbacks = Callbacks()) -> dict:
    """Run `artifact` in its runtime and compare it with `original`, judged with the
    tolerance of the artifact's precision (`precision`, else its edgekit.json, else read
    from the artifact). `browser` also runs a TF.js model in headless Chromium per backend;
    `layers` names the first layer that diverges; `emulation` also runs it under arm64
    emulation. Returns the result as a dict (`passed`,
    drift per output, ...)."""
    from .validate_pair import validate_pair
    return validate_pair(original, str(artifact), eval_data, source.weights, source.input_shapes,
                         precision, browser, layers, seed=seed,
                         allow_unsafe_code=source.allow_unsafe_code, label_output=label_output,
                         progress=callbacks.progress, emulation=emulation)


@_with_extra_hint("bench")
def bench(model: str, *, target: Optional[str] = None, threads: Optional[int] = None,
          runs: int = 100, warmup: int = 10, source: SourceOptions = SourceOptions(),
          callbacks: Callbacks = Callbacks()) -> dict:
    """Time `model` in its own runtime on `threads` pinned CPUs (default: the target
    profile's, else 1): latency percentiles, CV, load time, peak memory, the host, and a
    roofline estimate (labelled as such) for the target's device class."""
    from .timing import bench as run_bench
    from .errors import InputError
    from .host import host
    from .inspection import open_any
    from .profile import get_profile
    from .roofline import model_estimate
    if runs < 1 or warmup < 0 or (threads is not None and threads < 1):
        raise InputError("runs must be at least 1, warmup at least 0 and threads at least 1")
    profile = get_profile(target) if target else None
    threads = threads or (profile.threads if profile else 1)
    handle = open_any(model, input_shapes=source.input_shapes,
                      allow_unsafe_code=source.allow_unsafe_code)
    callbacks.progress(f"timing {warmup} warm-up and {runs} timed runs on {threads} thread(s)")
    timing = run_bench(handle, threads, runs, warmup, budget=None)  # `runs` is honoured
    result = {"model": model, "format": handle.format, **timing.as_dict(), "host": host()}
    callbacks.progress("estimating the work (MACs) and the device's lower bound")
    result["estimate"] = model_estimate(handle, profile.device if profile else None,
                                        result["latency_ms"]["p50"])
    return result


@_with_extra_hint("inspect")
def inspect(model: str, *, source: SourceOptions = SourceOptions()) -> dict:
    """`model`'s format, inputs and outputs (shape, dtype, layout), operators and size, as
    a dict (what `edgekit inspect --json` prints); any model edgekit reads, artifacts too."""
    from .inspection import describe, open_any
    return describe(open_any(model, source.weights, source.input_shapes, source.allow_unsafe_code))


def check(report: PathLike, baseline: Optional[PathLike] = None, *, tolerances=None,
          limits=None):
    """Gate CI on a report.json: each artifact's figures re-checked against the budgets
    (the report's profile, or stricter edgekit.gate.Limits) and, with a baseline report,
    against regressions beyond edgekit.gate.Tolerances. Returns (verdict, findings):
    verdict "pass" | "fail" | "inconclusive" (edgekit.gate.EXIT_CODES maps it to an exit code).
    A batch's matrix.json (and matrix baseline) is gated per job (edgekit.batch.matrix)."""
    from .batch import matrix
    from .gate import Limits, Tolerances, load_report, outcome
    from .gate import check as run_check
    if matrix.is_matrix(Path(report)):
        findings = matrix.gate(Path(report), Path(baseline) if baseline else None,
                               tolerances or Tolerances(), limits or Limits())
        return outcome(findings), findings
    earlier = load_report(Path(baseline)) if baseline else None
    findings = run_check(load_report(Path(report)), earlier, tolerances or Tolerances(),
                         limits or Limits())
    return outcome(findings), findings

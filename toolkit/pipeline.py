"""`edgekit.convert`: plan, convert step by step, prove each result, report.

Data flows one way: open the source -> plan (all checks) -> load data -> run the original
-> for each step: convert into its own folder, then run and judge the result -> report.
Everything happens in a temporary folder moved into place at the end.
"""
from __future__ import annotations

import shutil
from dataclasses import dataclass, replace
from pathlib import Path

from .calib import DEFAULT_SAMPLES, load_calibration, missing_message
from .data import load_eval, random_inputs
from .drift import accuracy
from .errors import InputError
from .loading import open_model
from .plan import check_profile, make_plan
from .profile import get_profile
from .report import build, write
from .validate import judge
from .quantize import PRECISIONS
from .targets.context import StepContext
from .workspace import OutputFolder


@dataclass(frozen=True)
class Result:
    report: dict
    out: Path

    @property
    def passed(self) -> bool:
        return self.report["passed"]


def convert(model: str, target: str, out: str | Path | None = None, *,
            eval_data: str | Path | None = None, formats: tuple[str, ...] | None = None,
            precision: str | None = None, input_shapes: tuple[tuple[int, ...], ...] = (),
            weights: str | Path | None = None, calib: str | Path | None = None,
            calib_method: str = "minmax", calib_samples: int = DEFAULT_SAMPLES, seed: int = 0,
            progress=lambda message: None, warn=lambda message: None,
            dry_run: bool = False) -> Result | str:
    """Convert `model` for `target`; returns the Result (or the plan's text when dry_run)."""
    profile = get_profile(target).with_overrides(formats, precision)
    check_profile(profile)  # before loading anything heavy
    if plan_needs_calibration(profile) and not (calib or eval_data):
        raise InputError(missing_message(profile.precision))
    source = open_model(model, Path(weights) if weights else None, input_shapes)
    plan = make_plan(source, profile)
    if dry_run:
        return plan.describe()
    data = load_eval(Path(eval_data), source) if eval_data else random_inputs(source, seed)
    calibration = load_calibration(source, profile.precision, Path(calib) if calib else None,
                                   data, calib_samples, seed) \
        if plan.precision.needs_calibration else None
    for message in calibration.warnings if calibration else ():
        warn(message)
    out = Path(out) if out else Path("edgekit-out") / f"{source.path.stem}-{profile.name}"
    protected = tuple(Path(p) for p in (source.path, weights, eval_data, calib) if p)
    folder = OutputFolder(out, protected)
    with folder as work:
        progress(f"running the original {source.format} model on {data.samples} samples")
        reference = source.runner()(data.inputs)
        source_accuracy = accuracy(reference, data.labels)
        ctx = StepContext(constraints=profile.constraints, calibration=calibration,
                          calib_method=calib_method, work_dir=work / ".scratch")
        ctx.work_dir.mkdir()
        handles = {(source.format, "fp32"): source}
        routes: dict = {(source.format, "fp32"): []}
        results = []
        for step in plan.steps:
            progress(f"[{step.index}/{len(plan.steps)}] {step.name}")
            (work / step.folder).mkdir()
            ctx.precision = step.precision
            handle = step.converter.run(handles[step.input_key], work / step.folder, ctx)
            handle = replace(handle, precision=step.precision)
            handles[step.output_key] = handle
            routes[step.output_key] = routes[step.input_key] + [step.converter.tool]
            progress(f"      validating {handle.format} ({step.precision}) in its runtime")
            verdict = judge(handle, source, data, reference, PRECISIONS[step.precision].tolerance,
                            profile.budgets, source_accuracy)
            results.append((step, verdict, routes[step.output_key]))
        shutil.rmtree(ctx.work_dir)
        report = build(plan, data, source_accuracy, results, work, _versions(plan), calibration)
        write(report, work)
        folder.commit()
    return Result(report, folder.final)


def plan_needs_calibration(profile) -> bool:
    return PRECISIONS[profile.precision].needs_calibration


def _versions(plan) -> dict:
    from .targets.registry import format_module
    from .versions import package_versions, tfjs_versions
    packages = set(plan.packages()) | set(format_module(plan.source.format).PACKAGES)
    for step in plan.steps:
        packages |= set(format_module(step.converter.dest).PACKAGES)
    versions = package_versions(packages)
    if any(step.converter.dest == "tfjs" for step in plan.steps):
        versions.update(tfjs_versions())
    return versions

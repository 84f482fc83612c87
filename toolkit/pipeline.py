"""`edgekit.convert`: plan, convert step by step, prove each result, report.

Data flows one way: open the source -> plan (all checks) -> load data -> run the original
-> for each step: convert into its own folder, then run and judge the result -> report.
Everything happens in a temporary folder moved into place at the end.
"""
from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from .data import load_eval, random_inputs
from .drift import accuracy
from .loading import open_model
from .plan import check_profile, make_plan
from .profile import get_profile
from .report import build, write
from .validate import judge
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
            weights: str | Path | None = None, seed: int = 0,
            progress=lambda message: None, dry_run: bool = False) -> Result | str:
    """Convert `model` for `target`; returns the Result (or the plan's text when dry_run)."""
    profile = get_profile(target).with_overrides(formats, precision)
    check_profile(profile)  # before loading anything heavy
    source = open_model(model, Path(weights) if weights else None, input_shapes)
    plan = make_plan(source, profile)
    if dry_run:
        return plan.describe()
    data = load_eval(Path(eval_data), source) if eval_data else random_inputs(source, seed)
    out = Path(out) if out else Path("edgekit-out") / f"{source.path.stem}-{profile.name}"
    protected = tuple(Path(p) for p in (source.path, weights, eval_data) if p)
    folder = OutputFolder(out, protected)
    with folder as work:
        progress(f"running the original {source.format} model on {data.samples} samples")
        reference = source.runner()(data.inputs)
        source_accuracy = accuracy(reference, data.labels)
        tolerance = _tolerance(profile.precision)
        from .targets.context import StepContext
        ctx = StepContext(profile.precision, work_dir=work / ".scratch")
        ctx.work_dir.mkdir()
        handles, routes, results = {source.format: source}, {source.format: []}, []
        for step in plan.steps:
            progress(f"[{step.index}/{len(plan.steps)}] {step.name}")
            step_dir = work / step.folder
            step_dir.mkdir()
            handle = step.converter.run(handles[step.converter.source], step_dir, ctx)
            handles[step.converter.dest] = handle
            routes[step.converter.dest] = routes[step.converter.source] + [step.converter.tool]
            progress(f"      validating {handle.format} in its runtime")
            verdict = judge(handle, source, data, reference, tolerance, profile.budgets,
                            source_accuracy)
            results.append((step, verdict, routes[step.converter.dest]))
        shutil.rmtree(ctx.work_dir)
        report = build(plan, data, source_accuracy, results, work, _versions(plan))
        write(report, work)
        folder.commit()
    return Result(report, folder.final)


def _tolerance(precision: str):
    from .quantize import PRECISIONS
    return PRECISIONS[precision].tolerance


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

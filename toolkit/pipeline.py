"""`edgekit.convert`: plan, convert step by step, prove each result, report.

Data flows one way: open the source -> plan (all checks) -> load data -> run the original
-> for each step: convert into its own folder, then run and judge the result -> report.
Everything happens in a temporary folder moved into place at the end.
"""
from __future__ import annotations

import shutil
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

from . import interrupts
from .calib import DEFAULT_SAMPLES, load_calibration, missing_message
from .data import load_eval, random_inputs
from .drift import accuracy, constant_outputs
from .errors import ConversionError, EdgekitError, InputError, first_line
from .fallback import secure
from .tensors import feed_for
from .loading import check_labels, open_model, parse_labels
from .plan import AUTO, Plan, Step, check_profile, make_plan
from .bench import median_latency_ms
from .profile import get_profile
from .pruning import PruneSpec, methods, prune_source
from .pruning import check as check_pruning
from .quantize import PRECISIONS
from .report import build, write
from .targets.context import StepContext
from .validate import Verdict, judge, reference_outputs
from .workspace import OutputFolder


@dataclass(frozen=True)
class Result:
    report: dict
    out: Path

    @property
    def passed(self) -> bool:
        return self.report["passed"]


class Run:
    """The steps of one conversion run, executed in a work folder: each produced model is
    kept by (format, precision) for later steps and judged as soon as it exists."""

    def __init__(self, plan: Plan, data, work: Path, ctx: StepContext, progress,
                 original_accuracy: float | None = None):
        """`plan.source` is the reference for drift; accuracy drops are measured from
        `original_accuracy` when given (the unpruned model's), else from the reference's."""
        self.plan, self.data, self.work, self.ctx, self.progress = plan, data, work, ctx, progress
        source = plan.source
        progress(f"running the reference {source.format} model on {data.samples} samples")
        self.reference = reference_outputs(source, data)
        self.warnings = [f"output {i} of the original is the same for every sample: drift "
                         "figures cannot tell a good artifact from a broken one here; use real "
                         "--eval data" for i in constant_outputs(self.reference)]
        self.source_accuracy = accuracy(self.reference, data.labels) \
            if original_accuracy is None else original_accuracy
        self.handles = {(source.format, "fp32"): source}
        self.routes: dict = {(source.format, "fp32"): []}
        self.results: list[tuple[Step, Verdict, list]] = []
        self.failures: dict = {}  # output key -> (route tools, why) for steps that failed
        self.rejected: dict = {}  # output key -> routes rejected before the one that worked

    def produce(self, step: Step, float_nodes: tuple[str, ...] = ()) -> Verdict:
        interrupts.check()
        self.progress(f"[{step.index}] {step.name}")
        (self.work / step.folder).mkdir()
        self.ctx.precision, self.ctx.float_nodes = step.precision, float_nodes
        try:
            handle = step.converter.run(self.handles[step.input_key], self.work / step.folder,
                                        self.ctx)
        except EdgekitError:
            shutil.rmtree(self.work / step.folder)  # a search may carry on without it
            raise
        inherited = self.handles[step.input_key].notes  # e.g. clean-ups done on the way
        handle = replace(handle, precision=step.precision,
                         notes=tuple(dict.fromkeys(inherited + handle.notes)))
        self.handles[step.output_key] = handle
        self.routes[step.output_key] = self.routes[step.input_key] + [step.converter]
        self.progress(f"      validating {handle.format} ({step.precision}) in its runtime")
        verdict = judge(handle, self.plan.source, self.data, self.reference,
                        PRECISIONS[step.precision].tolerance, self.plan.profile.budgets,
                        self.source_accuracy)
        self.results.append((step, verdict, self.routes[step.output_key]))
        return verdict

    def attempt(self, step: Step) -> None:
        """Produce a planned step; a failure is recorded (a fallback route may still
        succeed) instead of ending the run."""
        before = self.routes.get(step.input_key)
        tools = ([c.tool for c in before] if before is not None
                 else self.failures.get(step.input_key, ([], ""))[0]) + [step.converter.tool]
        if step.input_key not in self.handles:
            cause = self.failures.get(step.input_key, (None, "not produced"))[1]
            self.failures[step.output_key] = (tools, f"its input ({step.input_key[0]}) failed: {cause}")
            return
        try:
            self.produce(step)
        except ConversionError as error:
            self.failures[step.output_key] = (tools, str(error))

    def artifact(self, key):
        """The (step, verdict, route) of the artifact produced for `key`, if any."""
        return next((r for r in self.results if r[0].is_artifact and r[0].output_key == key), None)

    def produce_chain(self, chain, precision: str, variant: str = "",
                      float_nodes: tuple[str, ...] = ()) -> Verdict:
        """Produce whatever fp32 models `chain` needs that do not exist yet, then its last
        converter's output at `precision`."""
        for converter in chain[:-1]:
            if (converter.dest, "fp32") not in self.handles:
                self.produce(Step(self.next_index(), converter, "fp32", False))
        step = Step(self.next_index(), chain[-1], precision, False, variant)
        return self.produce(step, float_nodes)

    def next_index(self) -> int:
        return len(self.results) + 1

    def discard(self, verdict: Verdict) -> None:
        """Remove a rejected attempt's files and row (its figures stay in the search trail)."""
        index = next(i for i, (_, v, _) in enumerate(self.results) if v is verdict)
        step, _, _ = self.results.pop(index)
        shutil.rmtree(self.work / step.folder)
        if self.handles.get(step.output_key) is verdict.handle:
            del self.handles[step.output_key]

    def mark_artifact(self, verdict: Verdict) -> None:
        for i, (step, v, route) in enumerate(self.results):
            if v is verdict:
                self.results[i] = (replace(step, is_artifact=True), v, route)


def convert(model: str, target: str, out: str | Path | None = None, *,
            eval_data: str | Path | None = None, formats: tuple[str, ...] | None = None,
            precision: str | None = None, max_drop: float | None = None,
            input_shapes: tuple[tuple[int, ...], ...] = (),
            weights: str | Path | None = None, calib: str | Path | None = None,
            calib_method: str = "minmax", calib_samples: int = DEFAULT_SAMPLES,
            calib_preprocess: str | None = None,
            prune: PruneSpec | None = None, labels: tuple[str, ...] | str = (), bench_runs: int = 50,
            allow_unsafe_code: bool = False, seed: int = 0,
            progress=lambda message: None, warn=lambda message: None,
            dry_run: bool = False) -> Result | str:
    """Convert `model` for `target`; returns the Result (or the plan's text when dry_run).

    precision="auto" searches from the most to the least aggressive precision for the
    smallest artifact whose accuracy drop stays within `max_drop` points."""
    profile = get_profile(target).with_overrides(formats, precision, max_drop)
    check_profile(profile)  # before loading anything heavy
    if calib is not None and not Path(calib).exists():
        raise InputError(f"no such calibration data: {calib}")
    if profile.precision != AUTO and PRECISIONS[profile.precision].needs_calibration \
            and not (calib or eval_data):
        raise InputError(missing_message(profile.precision))
    source = open_model(model, Path(weights) if weights else None, input_shapes, allow_unsafe_code)
    labels_file = Path(labels) if isinstance(labels, str) and Path(labels).is_file() else None
    labels = parse_labels(labels) if isinstance(labels, str) else tuple(labels)
    check_labels(labels, source)
    if prune is not None:
        check_pruning(prune, source.format)
    plan = make_plan(source, profile)
    if dry_run:
        return plan.describe()
    data = load_eval(Path(eval_data), source) if eval_data else random_inputs(source, seed)
    source = _static_from_data(source, data)
    plan = replace(plan, source=source)
    calibration = None
    if calib and not plan.needs_calibration:
        warn(f"--calib is ignored: {profile.precision} does not calibrate activations")
    if plan.needs_calibration and (calib or data.origin != "random"):
        calibration = load_calibration(source, profile.precision, Path(calib) if calib else None,
                                       data, calib_samples, seed, calib_preprocess)
        for message in calibration.warnings:
            warn(message)
    out = Path(out) if out else Path("edgekit-out") / f"{source.path.stem}-{profile.name}"
    protected = tuple(Path(p) for p in (*source.files(), weights, eval_data, calib, labels_file,
                                        prune.train if prune else None) if p)
    folder = OutputFolder(out, protected)
    with folder as work, _paths_as_final(work, folder.final):
        ctx = StepContext(constraints=profile.constraints, calibration=calibration,
                          calib_method=calib_method, work_dir=work / ".scratch",
                          labels=tuple(labels), input_range=data.value_range(),
                          source_name=Path(source.path).name)
        ctx.work_dir.mkdir()
        pruning = None
        if prune is not None:
            plan, pruning = _prune(plan, prune, data, work, seed, progress)
        run = Run(plan, data, work, ctx, progress,
                  pruning["accuracy_before"] if pruning else None)
        searches = {}
        if profile.precision == AUTO:
            from .auto import search
            for step in plan.steps:
                run.produce(step)
            searches = {fmt: search(run, fmt) for fmt in profile.formats}
        else:
            for step in plan.steps:
                run.attempt(step)
            for fmt in profile.formats:
                secure(run, fmt, profile.precision)
        shutil.rmtree(ctx.work_dir)
        timings = _bench(run, source, bench_runs, progress) if bench_runs else {}
        for message in run.warnings:
            warn(message)
        report = build(plan, data, run.source_accuracy, run.results, work, _versions(run),
                       calibration, searches, pruning, source, timings, run.rejected)
        report["warnings"] = run.warnings
        write(report, work)
        folder.commit()
    return Result(report, folder.final)


def _static_from_data(source, data):
    """Dynamic (non-batch) input dimensions fixed from the evaluation data, for converters
    that need static shapes (onnx2tf gets them as -ois); the batch stays dynamic."""
    if data.origin == "random" or all(None not in s.shape[1:] for s in source.inputs):
        return source
    inputs = tuple(replace(s, shape=(None, *x.shape[1:])) if None in s.shape[1:] else s
                   for s, x in zip(source.inputs, data.inputs))
    fixed = ", ".join(f"{s.name} {'x'.join(map(str, s.shape[1:]))}"
                      for s, old in zip(inputs, source.inputs) if s != old)
    return replace(source, inputs=inputs,
                   notes=source.notes + (f"dynamic input dimensions fixed from the evaluation data: {fixed}",))


@contextmanager
def _paths_as_final(work: Path, final: Path):
    """Errors name files by where they would have been written, not by the temporary
    folder that is deleted with them."""
    try:
        yield
    except EdgekitError as error:
        error.args = (str(error).replace(str(work), str(final)),)
        raise


def _prune(plan: Plan, spec: PruneSpec, data, work: Path, seed: int, progress):
    """Prune the source; the pruned model becomes the plan's source (the drift reference)."""
    original = plan.source
    progress(f"pruning {original.format} weights ({spec.method}, {spec.sparsity:.0%})")
    (work / "00_pruned").mkdir()
    pruned, summary = prune_source(original, spec, work / "00_pruned", seed)
    original_run, pruned_run = original.runner(), pruned.runner()
    before, after = accuracy(original_run(data.inputs), data.labels), \
        accuracy(pruned_run(data.inputs), data.labels)
    batch = [x[:64] for x in data.inputs]
    latency_before = median_latency_ms(original_run, batch)
    latency_after = median_latency_ms(pruned_run, batch)
    summary.update(
        path=str(Path(pruned.path).relative_to(work)), accuracy_before=before, accuracy_after=after,
        accuracy_change_points=None if before is None else round((after - before) * 100, 4),
        latency_runtime=f"{original.format} (source framework, batch of {len(batch[0])}, median)",
        latency_ms_before=round(latency_before, 4), latency_ms_after=round(latency_after, 4),
        speedup=round(latency_before / latency_after, 3))
    if summary["speedup"] < 1.1:
        summary["note"] = f"no speed-up measured (x{summary['speedup']}): " \
                          + methods()[spec.method].NO_SPEEDUP
    return replace(plan, source=pruned), summary


def _bench(run: Run, source, runs: int, progress) -> dict[str, dict]:
    """Latency of the source, every artifact and the fp32 counterparts of quantized ones,
    each in its own runtime with the profile's thread count: path -> BenchResult dict."""
    from .bench import bench, bench_gpu
    from .roofline import model_estimate
    threads = run.plan.profile.threads
    quantized = {step.converter.dest for step, _, _ in run.results
                 if step.is_artifact and step.precision != "fp32"}
    handles = [source] + [v.handle for step, v, _ in run.results
                          if step.is_artifact or (step.precision == "fp32"
                                                  and step.converter.dest in quantized)]
    timings = {}
    sample = [x[:1] for x in run.data.inputs]  # a real sample, in the source's layout
    for handle in handles:
        progress(f"timing {handle.format} ({handle.precision}) on {threads} thread(s)")
        feed = feed_for(handle, run.plan.source, sample)
        try:
            timing = bench(handle, threads, runs=runs, warmup=max(1, runs // 10),
                           inputs=feed).as_dict()
            timing["gpu"] = bench_gpu(handle, runs=runs, warmup=max(1, runs // 10), inputs=feed)
        except Exception as error:  # a runtime failing to time is reported, not fatal
            timings[str(handle.path)] = {"error": f"timing failed: {first_line(error)}"}
            continue
        timing["estimate"] = model_estimate(handle, run.plan.profile.device, timing["latency_ms"]["p50"])
        timings[str(handle.path)] = timing
    return timings


def _versions(run: Run) -> dict:
    from .targets.registry import format_module
    from .versions import package_versions, tfjs_versions
    steps = [step for step, _, _ in run.results]
    packages = set(format_module(run.plan.source.format).PACKAGES)
    for step in steps:
        packages |= set(step.converter.packages) | set(format_module(step.converter.dest).PACKAGES)
    versions = package_versions(packages)
    if any(step.converter.dest == "tfjs" for step in steps):
        versions.update(tfjs_versions())
    return versions

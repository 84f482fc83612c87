"""`edgekit.convert`: plan, search each format's candidates, deliver, report.

Data flows one way: open the source -> plan (all checks) -> load data -> run the original
-> per output format, a search (edgekit.search): each candidate converted into its own
folder (edgekit.workshop), run and judged in its runtime, timed -> the fastest proven one
copied to deploy/<format>/ (edgekit.deploy) -> report. Everything happens in a temporary
folder moved into place at the end.
"""
from __future__ import annotations

import shutil
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

from .timing import median_latency_ms
from .calib import load_calibration, missing_message
from .candidates import Followups, ordered
from .data import load_eval
from .deploy import deploy
from .drift import accuracy, constant_outputs
from .errors import ConversionError, EdgekitError, InputError, first_line, root_cause
from .loading import check_labels, open_model, parse_labels
from .plan import Plan, check_profile, make_plan
from .profile import get_profile
from .pruning import PruneSpec, methods, prune_source
from .pruning import check as check_pruning
from .options import CalibrationOptions, Callbacks, SourceOptions
from .quantize import PRECISIONS
from .report import Record, build, write
from .search import Outcome, search
from .targets.context import StepContext
from .tensors import feed_for, sample_shape, with_sample_shape
from .labels import chance_warning
from .judge import random_inputs_that_run, reference_outputs, with_label_output
from .workshop import LOGS, Workshop
from .workspace import OutputFolder


@dataclass(frozen=True)
class Result:
    report: dict
    out: Path

    @property
    def passed(self) -> bool:
        return self.report["passed"]


def convert(model: str, target: str, out: str | Path | None = None, *,
            eval_data: str | Path | None = None, precision: str | None = None,
            formats: tuple[str, ...] | None = None, max_drop: float | None = None,
            max_size_mb: float | None = None, source_options: SourceOptions = SourceOptions(),
            calibration_options: CalibrationOptions = CalibrationOptions(),
            prune: PruneSpec | None = None, labels: tuple[str, ...] | str = (),
            label_output: str | None = None, emulation=None, bench_runs: int = 50,
            max_candidates: int | None = None, seed: int = 0,
            callbacks: Callbacks = Callbacks(), dry_run: bool = False) -> Result | str:
    """Convert `model` for `target`: for each output format, search the candidates the
    profile's policy allows (edgekit.search) and deliver the fastest proven one. Returns
    the Result (or the plan's text when dry_run). See edgekit.api.convert."""
    progress, warn = callbacks.progress, callbacks.warn
    calib = calibration_options.data
    weights = source_options.weights
    profile = get_profile(target).with_overrides(formats, precision, max_drop, max_size_mb)
    check_profile(profile)  # before loading anything heavy
    if emulation is not None:
        from .emulator.userland import find
        find()  # built, with this host's runtime versions: else say how, before any work
    for fmt in profile.formats:  # a policy that is all calibrated precisions needs data
        policy = profile.policy_for(fmt)
        if all(PRECISIONS[p].needs_calibration for p in policy) and not (calib or eval_data):
            raise InputError(missing_message(policy[0]))
    source = open_model(model, weights, source_options.input_shapes,
                        source_options.allow_unsafe_code, Path(eval_data) if eval_data else None)
    labels_file = Path(labels) if isinstance(labels, str) and Path(labels).is_file() else None
    labels = parse_labels(labels) if isinstance(labels, str) else tuple(labels)
    check_labels(labels, source)
    if prune is not None:
        check_pruning(prune, source.format)
    plan = make_plan(source, profile)
    if dry_run:
        return plan.describe()
    data = load_eval(Path(eval_data), source) if eval_data else random_inputs_that_run(source, seed)
    dynamic_inputs = source.inputs  # as the model records them: the shape matrix's axes
    source = _static_from_data(source, data)
    plan = replace(plan, source=source)
    calibration = None
    if calib and not plan.needs_calibration:
        warn(f"--calib is ignored: no precision considered ({', '.join(profile.policy)}) "
             "calibrates activations")
    if plan.needs_calibration and (calib or data.origin != "random"):
        calibration = load_calibration(source, "int8", calib, data, calibration_options.samples,
                                       seed, calibration_options.preprocess)
        for message in calibration.warnings:
            warn(message)
    out = Path(out) if out else Path("edgekit-out") / f"{source.path.stem}-{profile.name}"
    protected = tuple(Path(p) for p in (*source.files(), weights, eval_data, calib, labels_file,
                                        prune.train if prune else None) if p)
    folder = OutputFolder(out, protected)
    with folder as work, _paths_as_final(work, folder.final):
        context = StepContext(constraints=profile.constraints, calibration=calibration,
                              calib_method=calibration_options.method, work_dir=work / ".scratch",
                              labels=tuple(labels), input_range=data.value_range(),
                              source_name=Path(source.path).name)
        context.work_dir.mkdir()
        pruning = None
        if prune is not None:
            plan, pruning = _prune(plan, prune, data, work, seed, progress, label_output)
        progress(f"running the reference {plan.source.format} model on {data.samples} samples")
        reference = reference_outputs(plan.source, data)
        data = with_label_output(data, plan.source, reference, label_output)
        source_accuracy = pruning["accuracy_before"] if pruning else \
            accuracy(reference, data.labels, data.label_output)
        warnings = [f"output {i} of the original is the same for every sample: drift figures "
                    "cannot tell a good artifact from a broken one here; use real --eval data"
                    for i in constant_outputs(reference)]
        classes = reference[data.label_output].shape[-1] if data.label_output is not None else None
        warnings += [w for w in [chance_warning(source_accuracy, data.labels, classes)] if w]
        timer = _timer(plan, data, bench_runs) if bench_runs else None
        devices = {fmt: profile.device_runtime_for(fmt) for fmt in profile.formats
                   if profile.device_runtime_for(fmt) is not None}
        workshop = Workshop(plan.source, data, reference, work, context, profile.budgets,
                            source_accuracy, timer, progress, has_calibration=calibration is not None,
                            devices=devices)
        outcomes = [_search(plan, fmt, workshop, max_candidates, progress) for fmt in profile.formats]
        shutil.rmtree(context.work_dir)
        _prove_other_shapes(replace(plan.source, inputs=dynamic_inputs), data, workshop, outcomes, progress)
        if emulation is not None:
            warnings += _prove_emulated(plan, data, reference, workshop, outcomes, emulation, progress)
        deliverables = [deploy(outcome, workshop, work, context, profile.name) for outcome in outcomes]
        timings = _time_source_and_gpu(plan, data, workshop, outcomes, bench_runs, progress)
        for message in warnings:
            warn(message)
        progress("writing report.json, report.md and report.html")
        report = build(Record(plan, data, source_accuracy, workshop, outcomes, deliverables,
                              work, _versions(plan, workshop), calibration, pruning, source,
                              timings, warnings))
        report = write(report, work, folder.final)
        folder.commit()
    return Result(report, folder.final)


def _search(plan: Plan, fmt: str, workshop: Workshop, max_candidates, progress) -> Outcome:
    """One format's search, then the losing candidates' files removed: only proven models
    (and, when nothing passed, the failing candidate that got furthest) stay in --out."""
    profile = plan.profile
    policy = profile.policy_for(fmt)
    followups = Followups(profile.constraints, lambda c: _rank_layers(c, workshop))
    outcome = search(fmt, ordered(plan.source, fmt, policy), workshop, policy, followups,
                     max_candidates)
    if outcome.chosen is None:
        progress(f"      no {fmt} candidate passed")
    outcome.kept = outcome.chosen or _closest_failure(outcome)
    outcome.ranking = next(iter(followups.rankings.values()), [])
    for trial in outcome.trials:
        if trial is not outcome.kept and not trial.passed:
            workshop.discard(trial)
    if outcome.kept is None:
        raise ConversionError(fmt, str(plan.source.path), "no candidate could be made: " +
                              _causes([t for t in outcome.trials if t.candidate.precision in policy],
                                      str(plan.source.path)))
    return outcome


def _causes(trials, source: str) -> str:
    """Why the candidates failed, each distinct cause once (most candidates of a format fail
    in the same first step), with the candidates it stopped."""
    stopped: dict[str, list[str]] = {}
    for trial in trials:
        stopped.setdefault(root_cause(trial.reason, source), []).append(trial.candidate.describe())
    return "; ".join(f"{cause} [{names[0]}" + (f" and {len(names) - 1} more]" if len(names) > 1 else "]")
                     for cause, names in stopped.items())


def _closest_failure(outcome: Outcome):
    """When no candidate passed, the one kept as the format's failing artifact for the user
    to inspect: the last one that ran at a precision the policy allows (the least
    aggressive, or the variant with the most layers in float)."""
    ran = [t for t in outcome.trials if t.verdict is not None
           and t.candidate.precision in outcome.policy]
    return ran[-1] if ran else None


def _prove_other_shapes(source, data, workshop: Workshop, outcomes, progress) -> None:
    """Each deliverable run again at the other shapes of the source's dynamic dimensions
    (edgekit.shapes); the rows go with the product into edgekit.json and the report."""
    from .shapes import prove_shapes, shapes_to_prove
    shapes = shapes_to_prove(source, data)
    if not shapes:
        return
    for outcome in outcomes:
        product = workshop.product_of(outcome.chosen.candidate) if outcome.chosen else None
        if product is None:
            continue
        progress(f"proving {outcome.fmt} at {len(shapes)} other shape(s): "
                 + ", ".join(shape.label for shape in shapes))
        rows = prove_shapes(product.verdict.handle, source, shapes,
                            PRECISIONS[product.precision].tolerance)
        workshop.products[product.key] = replace(product, shapes=rows)


def _prove_emulated(plan: Plan, data, reference, workshop: Workshop, outcomes, emulation,
                    progress) -> list[str]:
    """Each deliverable run under arm64 emulation on the CPU models of the target (or the
    user's); a disagreement the emulator is not suspected of fails it (edgekit.emulator).
    Returns warnings: formats that cannot be emulated, emulator faults suspected."""
    from .emulator import proof
    from .emulator.cpus import DEFAULT_CPUS
    from .emulator.runner import EMULATED_FORMATS
    from .emulator.userland import find
    userland = find()
    cpus = emulation.cpus or plan.profile.emulated_cpus or DEFAULT_CPUS
    warnings = []
    for outcome in outcomes:
        product = workshop.product_of(outcome.chosen.candidate) if outcome.chosen else None
        if product is None:
            continue
        if outcome.fmt not in EMULATED_FORMATS:
            warnings.append(f"--emulate arm64: {outcome.fmt} is not emulated (its runtime has no "
                            f"aarch64 build here; emulated: {', '.join(EMULATED_FORMATS)})")
            continue
        progress(f"proving {outcome.fmt} under arm64 emulation on {', '.join(cpus)}")
        record = proof.prove(product.verdict.handle, plan.source, data, reference,
                             PRECISIONS[product.precision].tolerance, cpus, emulation.samples,
                             userland, workshop.progress)
        product.verdict.problems.extend(record["problems"])
        warnings += record["notes"]
        workshop.products[product.key] = replace(product, emulated=record)
    return warnings


def _rank_layers(candidate, workshop: Workshop) -> list:
    from .targets.registry import format_module
    ranker = format_module(candidate.fmt).rank_layers
    if ranker is None:
        return []
    workshop.progress(f"      ranking {candidate.fmt} layers by {candidate.precision} damage")
    return ranker(workshop.fp32_input_of(candidate),
                  replace(workshop.context, precision=candidate.precision,
                          options=candidate.variant.options))


def _static_from_data(source, data):
    """Dynamic (non-batch) input dimensions fixed from the evaluation data, for converters
    that need static shapes (onnx2tf gets them as -ois); the batch stays as it was
    (dynamic, or a fixed batch the model runs in slices of)."""
    if data.origin == "random" or all(None not in sample_shape(s) for s in source.inputs):
        return source
    inputs = tuple(with_sample_shape(s, x.shape[1:]) if None in sample_shape(s) else s
                   for s, x in zip(source.inputs, data.inputs))
    fixed = ", ".join(f"{s.name} {'x'.join(map(str, sample_shape(s)))}"
                      for s, old in zip(inputs, source.inputs) if s != old)
    return replace(source, inputs=inputs,
                   notes=source.notes + (f"dynamic input dimensions fixed from the evaluation data: {fixed}",))


@contextmanager
def _paths_as_final(work: Path, final: Path):
    """Errors name files by where they would have been written, not by the temporary
    folder that is deleted with them; the tools' logs of a failed run are moved out of it
    first, to a folder of their own that the error names."""
    try:
        yield
    except EdgekitError as error:
        message, logs = str(error), work / LOGS
        if logs.is_dir() and any(logs.iterdir()):
            kept = Path(tempfile.mkdtemp(prefix="edgekit-logs-"))
            shutil.move(str(logs), kept)
            message = message.replace(str(logs), str(kept / LOGS))
            message += f" (tool logs: {kept / LOGS})" if str(kept) not in message else ""
        error.args = (message.replace(str(work), str(final)),)
        raise


def _prune(plan: Plan, spec: PruneSpec, data, work: Path, seed: int, progress, label_output):
    """Prune the source; the pruned model becomes the plan's source (the drift reference)."""
    original = plan.source
    progress(f"pruning {original.format} weights ({spec.method}, {spec.sparsity:.0%})")
    (work / "00_pruned").mkdir()
    pruned, summary = prune_source(original, spec, work / "00_pruned", seed)
    original_run, pruned_run = original.runner(), pruned.runner()
    original_outputs = original_run(data.inputs)
    data = with_label_output(data, original, original_outputs, label_output)
    before, after = accuracy(original_outputs, data.labels, data.label_output), \
        accuracy(pruned_run(data.inputs), data.labels, data.label_output)
    batch = [x[:64] for x in data.inputs]
    latency_before = median_latency_ms(original_run, batch)
    latency_after = median_latency_ms(pruned_run, batch)
    summary.update(
        path=str(Path(pruned.path).relative_to(work)), accuracy_before=before, accuracy_after=after,
        accuracy_change_points=None if before is None else round((after - before) * 100, 4),
        latency_runtime=f"{original.format} (source framework, batch of {len(batch[0])}, median)",
        latency_ms_before=round(latency_before, 4), latency_ms_after=round(latency_after, 4),
        speedup=float(f"{latency_before / latency_after:.3g}"))  # 3 significant digits: a 0.0004 is not 0
    if summary["speedup"] < 1.1:
        summary["note"] = f"no speed-up measured (x{summary['speedup']}): " \
                          + methods()[spec.method].NO_SPEEDUP
    return replace(plan, source=pruned), summary


def _timer(plan: Plan, data, runs: int):
    """Times a proven model on the profile's threads, pinned (edgekit.timing), on a real
    sample in the source's layout; a runtime that fails to time is reported, not fatal."""
    from .timing import bench
    sample = [x[:1] for x in data.inputs]

    def time_model(handle) -> dict:
        try:
            return bench(handle, plan.profile.threads, runs=runs, warmup=max(1, runs // 10),
                         inputs=feed_for(handle, plan.source, sample)).as_dict()
        except Exception as error:
            return {"error": f"timing failed: {first_line(error)}"}
    return time_model


def _time_source_and_gpu(plan: Plan, data, workshop: Workshop, outcomes, runs: int,
                         progress) -> dict[str, dict]:
    """Timings by model path: the source on the profile's threads, and the candidates the
    search timed, each deliverable with its GPU figure (or why there is none) and a
    roofline estimate."""
    from .timing import bench_gpu
    from .roofline import model_estimate
    timings = {str(p.verdict.handle.path): p.timing for p in workshop.products.values() if p.timing}
    if not runs:
        return timings
    progress(f"timing the source {plan.source.format} model on {plan.profile.threads} thread(s)")
    timings[str(plan.source.path)] = _timer(plan, data, runs)(plan.source)
    sample = [x[:1] for x in data.inputs]
    chosen = [workshop.product_of(o.chosen.candidate) for o in outcomes if o.chosen]
    for product in [p for p in chosen if p is not None]:
        handle = product.verdict.handle
        timing = timings.get(str(handle.path))
        if not timing or "error" in timing:
            continue
        timing["gpu"] = bench_gpu(handle, runs=runs, warmup=max(1, runs // 10),
                                  inputs=feed_for(handle, plan.source, sample))
    for path, timing in timings.items():
        handle = next((p.verdict.handle for p in workshop.products.values()
                       if str(p.verdict.handle.path) == path), plan.source)
        if timing and "latency_ms" in timing:
            timing["estimate"] = model_estimate(handle, plan.profile.device, timing["latency_ms"]["p50"],
                                                feed_for(handle, plan.source, sample))
    return timings


def _versions(plan: Plan, workshop: Workshop) -> dict:
    from .targets.registry import format_module
    from .versions import package_versions
    formats = [format_module(plan.source.format)]
    packages = set(formats[0].packages)
    for product in workshop.products.values():
        formats.append(format_module(product.verdict.handle.format))
        packages |= {p for c in product.route for p in c.packages} | set(formats[-1].packages)
    versions = package_versions(packages)
    for fmt in dict.fromkeys(formats):  # runtimes outside Python (TF.js's Node) say their own
        if fmt.versions is not None:
            versions.update(fmt.versions())
    return versions

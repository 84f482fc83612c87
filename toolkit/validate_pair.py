"""`edgekit validate ORIGINAL ARTIFACT`: prove an existing artifact against its original.

The artifact runs in its own runtime (and with --browser, a TF.js model also runs in
headless Chromium on each backend); each run is judged like `convert` judges its
artifacts. The tolerance is the precision's: given with --precision, else the one edgekit
recorded beside the model, else read from the model itself (edgekit.artifact_precision).
"""
from __future__ import annotations

from pathlib import Path

from .artifact_precision import precision_of
from .data import load_eval, random_inputs
from .drift import accuracy
from .inspection import open_any
from .layers import layer_report
from .profile import Budgets
from .quantize import PRECISIONS
from .report import summarize
from .judge import judge, reference_outputs, with_label_output


def validate_pair(original: str, artifact: str, eval_data=None, weights=None, input_shapes=(),
                  precision: str | None = None, browser: bool = False, layers: bool = False,
                  seed: int = 0, allow_unsafe_code: bool = False,
                  label_output: str | None = None, progress=lambda message: None,
                  emulation=None) -> dict:
    """`progress(message)` is called as each step begins (edgekit.progress); `emulation`
    (EmulationOptions) also runs the artifact under arm64 emulation (edgekit.emulator)."""
    from .targets.registry import format_module
    progress(f"loading {original}")
    source = open_any(original, Path(weights) if weights else None, input_shapes, allow_unsafe_code)
    progress(f"loading {artifact}")
    plain = open_any(artifact, allow_unsafe_code=allow_unsafe_code)
    fmt = format_module(plain.format)
    # reopened against the source, for its tensors' layouts; a source format (a .pt2 given
    # as the artifact) has no reference-aware opening and stays as opened
    handle = fmt.open_handle(plain.path, source) if fmt.open_handle is not None else plain
    precision, precision_from = precision_of(handle, precision)
    userland = _emulator(handle) if emulation else None  # before the slow steps: say what is missing
    data = load_eval(Path(eval_data), source) if eval_data else random_inputs(source, seed)
    progress(f"running the original {source.format} model on {data.samples} samples")
    reference = reference_outputs(source, data)
    data = with_label_output(data, source, reference, label_output)
    source_accuracy = accuracy(reference, data.labels, data.label_output)
    tolerance = PRECISIONS[precision].tolerance
    runtime = fmt.runtime
    progress(f"running the {handle.format} model in {runtime}, judged as {precision}")
    runs = [_row(runtime, "-", judge(handle, source, data, reference, tolerance, Budgets(),
                                        source_accuracy))]
    if browser:
        runs += _browser_rows(handle, source, data, reference, tolerance, source_accuracy, progress)
    emulated = None
    if emulation:
        from .emulator import proof
        from .emulator.cpus import DEFAULT_CPUS
        emulated = proof.prove(handle, source, data, reference, tolerance,
                               emulation.cpus or DEFAULT_CPUS, emulation.samples, userland, progress)
    if layers:
        progress("comparing every layer's output")
    return {"original": str(source.path), "original_format": source.format,
            "original_accuracy": source_accuracy, "artifact": str(handle.path),
            "format": handle.format, "precision": precision, "precision_from": precision_from,
            "data": {"origin": data.origin, "samples": data.samples, "seed": data.seed},
            "runs": runs, "emulated": emulated,
            "passed": all(r["passed"] for r in runs if r["available"]) and (
                emulated is None or emulated["passed"]),
            "layers": layer_report(source, handle, data, precision) if layers else None}


def _emulator(handle):
    from .emulator.runner import EMULATED_FORMATS
    from .emulator.userland import find
    from .errors import UnsupportedError
    if handle.format not in EMULATED_FORMATS:
        raise UnsupportedError(f"--emulate arm64 runs {' and '.join(EMULATED_FORMATS)} models; "
                               f"{handle.path} is {handle.format}")
    return find()


def _row(runtime: str, backend: str, verdict) -> dict:
    return {"runtime": runtime, "backend": backend, "available": True,
            "accuracy": verdict.accuracy, "drift": summarize(verdict.drifts),
            "passed": verdict.passed, "problems": verdict.problems}


def _browser_rows(handle, source, data, reference, tolerance, source_accuracy,
                  progress) -> list[dict]:
    from .errors import UnsupportedError
    from .targets.browser import BackendUnavailable
    from .targets.registry import format_module, formats_with
    fmt = format_module(handle.format)
    if fmt.browser_runner is None:
        raise UnsupportedError(f"--browser runs {' and '.join(formats_with('browser_runner'))} "
                               f"models; {handle.path} is {handle.format}")
    rows = []
    for backend in fmt.browser_backends:
        progress(f"running the model in headless Chromium ({backend})")
        try:
            verdict = judge(handle, source, data, reference, tolerance, Budgets(),
                            source_accuracy, runner=fmt.browser_runner(handle, backend))
        except BackendUnavailable as reason:  # e.g. no webgl in this headless browser
            rows.append({"runtime": "chromium", "backend": backend, "available": False,
                         "reason": str(reason), "passed": False, "problems": []})
            continue
        rows.append(_row("chromium", backend, verdict))
    return rows


def as_text(result: dict) -> str:
    lines = [f"{result['artifact']} ({result['format']}, judged as {result['precision']}: "
             f"{result['precision_from']}) vs "
             f"{result['original']} on {result['data']['samples']} samples from "
             f"{result['data']['origin']}"]
    for run in result["runs"]:
        where = f"{run['runtime']} / {run['backend']}"
        if not run["available"]:
            lines.append(f"  {where:<28} not available: {run['reason']}")
            continue
        drift = run["drift"] or {}
        accuracy = "-" if run["accuracy"] is None else f"{run['accuracy']:.2%}"
        lines.append(f"  {where:<28} top-1 agree {drift.get('top1_agreement')}  max abs err "
                     f"{drift.get('max_abs_error')}  SQNR {drift.get('sqnr_db')} dB  cosine "
                     f"{drift.get('cosine')}  accuracy {accuracy}  "
                     f"{'PASS' if run['passed'] else 'FAIL'}")
        lines += [f"    {problem}" for problem in run["problems"]]
    if result.get("emulated"):
        from .report_text import emulated_line
        lines.append(f"  {emulated_line(result['emulated'])}")
    layers = result.get("layers")
    if layers:
        divergent = layers["first_divergent"]
        lines.append(f"  layers ({layers['samples']} samples, good match: cosine >= "
                     f"{layers['min_cosine']}): " + (
                         f"first divergent layer: {divergent['layer']} (best match "
                         f"{divergent['match']}, cosine {divergent['cosine']})" if divergent
                         else "no layer diverges"))
        lines += [f"    worst: {m['layer']} -> {m['match']} cosine {m['cosine']}" for m in layers["worst"]]
    lines.append("PASSED" if result["passed"] else "FAILED")
    return "\n".join(lines)

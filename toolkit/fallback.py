"""Alternative routes: when the planned route to an output fails, or produces an artifact
that fails to run or computes something unrelated to the original, try the next route
that exists (e.g. PyTorch -> ONNX -> onnx2tf when litert-torch cannot convert a model).
The report says which route produced the artifact and why the others were rejected;
a rejected artifact is removed, never left in --out looking like a result.
"""
from __future__ import annotations

from .errors import ConversionError
from .validate import Verdict

GROSS_COSINE = 0.9  # below this, the outputs are unrelated to the original's


def gross_failure(verdict: Verdict, run=None) -> str | None:
    """Why an artifact is unusable (not merely out of tolerance), or None. For wrong
    outputs, the per-layer comparison names the first divergent layer when it can."""
    for problem in verdict.problems:
        if problem.startswith("could not run"):
            return problem
    low = [d.cosine for d in verdict.drifts if d.cosine < GROSS_COSINE]
    if not low:
        return None
    return f"outputs unrelated to the original's (cosine {min(low):.3f})" + _first_divergent(verdict, run)


def _first_divergent(verdict: Verdict, run) -> str:
    from .layers import layer_report
    if run is None:
        return ""
    try:
        layers = layer_report(run.plan.source, verdict.handle, run.data, verdict.handle.precision)
    except Exception:  # the formats cannot expose intermediates: say nothing more
        return ""
    divergent = layers["first_divergent"]
    return f"; first divergent layer: {divergent['layer']}" if divergent else ""


def secure(run, fmt: str, precision: str) -> None:
    """Make sure `fmt` at `precision` exists and runs, trying fallback routes if needed."""
    from .targets.registry import routes
    key = (fmt, precision)
    current = run.artifact(key)
    failure = run.failures.get(key)
    reason = failure[1] if failure else gross_failure(current[1], run) if current else "not produced"
    if reason is None:
        return
    tried = failure[0] if failure else [c.tool for c in current[2]] if current else []
    rejected = [{"route": tried, "reason": reason}]
    for number, chain in enumerate(routes(run.plan.source.format, fmt, precision), start=1):
        if [c.tool for c in chain] == tried:
            continue
        run.progress(f"      trying another route to {fmt}: {' -> '.join(c.tool for c in chain)}")
        try:
            verdict = run.produce_chain(chain, precision, variant=f"_alt{number}")
        except ConversionError as error:
            rejected.append({"route": [c.tool for c in chain], "reason": str(error)})
            continue
        why = gross_failure(verdict, run)
        if why is None:
            if current:
                run.discard(current[1])
            run.mark_artifact(verdict)
            run.rejected[key] = rejected
            return
        rejected.append({"route": [c.tool for c in chain], "reason": why})
        run.discard(verdict)
    if current:  # nothing better: the planned artifact stays, labelled as failing
        run.rejected[key] = rejected[1:]
        return
    raise ConversionError(f"{fmt} ({precision})", str(run.plan.source.path), "every route failed: "
                          + "; ".join(f"{' -> '.join(r['route'])}: {r['reason']}" for r in rejected))

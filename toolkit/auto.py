"""Accuracy-aware precision (`--precision auto --max-drop POINTS`).

For each output format, try precisions from the most to the least aggressive and keep
the first artifact that passes (its precision's tolerance and the accuracy budget).
When full int8 fails, rank layers by how much int8 damages their activations, keep the
worst in float (1, 2, 4, ... of them) and re-convert and re-validate, until the budget
holds or the ranking is used up. fp32 is the last resort and always exists.
"""
from __future__ import annotations

from .errors import ConversionError
from .quantize import PRECISIONS
from .quantize.sensitivity import float_nodes

AUTO_ORDER = ("int8", "int8-dynamic", "int16x8", "fp16", "fp32")  # smallest/fastest first
RANKING_SHOWN = 10


def candidates(fmt: str, profile) -> list[str]:
    allowed = [p for p in AUTO_ORDER if fmt in PRECISIONS[p].formats]
    if "full-int8" in profile.constraints:  # e.g. Edge TPU: a float fallback is no option
        allowed = [p for p in allowed if p == "int8"]
    return allowed


def search(run, fmt: str) -> dict:
    from .targets.registry import format_module, quantized_route
    profile, ctx = run.plan.profile, run.ctx
    trail, ranking, kept = [], [], []
    chosen = None
    for precision in candidates(fmt, profile):
        if precision == "fp32":
            chosen = _fp32_verdict(run, fmt)
            trail.append(_attempt(run, precision, 0, chosen))
            break
        if PRECISIONS[precision].needs_calibration and ctx.calibration is None:
            trail.append({"precision": precision, "skipped": "no calibration data (--calib or --eval)"})
            continue
        chain = quantized_route(run.plan.source.format, fmt, precision)
        try:
            verdict = run.produce_chain(chain, precision)
        except ConversionError as error:  # one precision failing is no reason to stop
            trail.append({"precision": precision, "skipped": str(error)})
            continue
        trail.append(_attempt(run, precision, 0, verdict))
        if verdict.passed:
            chosen = verdict
            break
        run.discard(verdict)
        module = format_module(fmt)
        if precision != "int8" or "full-int8" in profile.constraints or \
                not hasattr(module, "rank_layers"):
            continue
        run.progress(f"      ranking {fmt} layers by int8 damage")
        ranking = module.rank_layers(run.handles[(chain[-1].source, "fp32")], ctx)
        for count in _doubling(len(ranking) - 1):  # all of them in float would be fp32
            try:
                verdict = run.produce_chain(chain, precision, variant=f"_float{count}",
                                            float_nodes=float_nodes(ranking[:count]))
            except ConversionError as error:  # e.g. nothing quantized would be left
                trail.append({"precision": precision, "float_layers": count,
                              "skipped": str(error)})
                break
            trail.append(_attempt(run, precision, count, verdict))
            if verdict.passed:
                chosen, kept = verdict, ranking[:count]
                break
            run.discard(verdict)
        if chosen:
            break
    run.mark_artifact(chosen)
    return {"chosen": chosen.handle.precision, "budget_points": profile.budgets.max_accuracy_drop,
            "float_layers": [layer.as_dict() for layer in kept],
            "ranking": [layer.as_dict() for layer in ranking[:RANKING_SHOWN]], "trail": trail}


def _doubling(limit: int):
    count = 1
    while count < limit:
        yield count
        count *= 2
    if limit:
        yield limit


def _fp32_verdict(run, fmt: str):
    return next(v for step, v, _ in run.results if step.output_key == (fmt, "fp32"))


def _attempt(run, precision: str, float_count: int, verdict) -> dict:
    drop = None
    if verdict.accuracy is not None and run.source_accuracy is not None:
        drop = round((run.source_accuracy - verdict.accuracy) * 100, 4)
    agreements = [d.top1_agreement for d in verdict.drifts if d.top1_agreement is not None]
    return {"precision": precision, "float_layers": float_count, "accuracy_drop": drop,
            "top1_agreement": min(agreements) if agreements else None,
            "size_bytes": verdict.handle.size_bytes(), "passed": verdict.passed,
            "problems": verdict.problems}

"""The run is a search: for each output format, candidates (route x precision x variant)
are tried lazily in a stated order, each is proven in its runtime and timed, and the
deliverable is chosen by one stated objective.

Objective: the fastest proven candidate within the budget; when two are within timing
noise of each other, the smaller one. Two precisions of one route that run the same
computation (TF.js de-quantizes weights at load) are never faster than each other: size
decides between them. Without timings (`--bench-runs 0`), the first
proven candidate in policy order (the most aggressive precision).

Order: the format's fp32 baseline first (every quantized candidate must beat it, and
post-conversion quantizers start from it), then the profile's precision policy, each
precision over its routes (shortest first); a failed candidate may add follow-ups right
behind it (layers kept in float, converter options), see edgekit.candidates.

Early stop: at the first proven quantized candidate that is faster than the fp32
baseline beyond noise, since the rest of the policy is less aggressive (larger and, as
measured on this project's hosts, not faster); and after `max_candidates` tries.

This module holds only the bookkeeping and the decision; producing, proving and timing a
candidate is the `Workshop`'s job (edgekit.workshop), so tests drive it with fakes.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Iterable, Protocol

NOISE = 0.05  # relative p50 difference below which two timings are a tie (measured CVs ~1-5%)


@dataclass(frozen=True)
class Variant:
    """What tells apart two candidates of one route and precision."""
    name: str = ""  # the options' name: "" for the plain conversion, e.g. "onnx2tf-dgc"
    float_nodes: tuple[str, ...] = ()  # graph nodes (or weights) kept in float
    layers_in_float: int = 0  # how many ranked layers those nodes stand for
    options: tuple[tuple[str, object], ...] = ()  # converter options, e.g. (("onnx2tf", "-dgc"),)
    note: str = ""  # why this variant exists, for the report

    @property
    def label(self) -> str:
        """The name shown and keyed on: the options' name, then "floatN" for N layers kept in
        float (the route's earlier steps take only the options, so they are made once)."""
        kept = f"float{self.layers_in_float}" if self.layers_in_float else ""
        return "+".join(filter(None, (self.name, kept)))


@dataclass(frozen=True)
class Candidate:
    fmt: str
    route: tuple  # of edgekit.targets.registry.Converter; the last one makes `precision`
    precision: str
    variant: Variant = Variant()

    @property
    def tools(self) -> tuple[str, ...]:
        return tuple(c.tool for c in self.route)

    def describe(self) -> str:
        variant = f" [{self.variant.label}]" if self.variant.label else ""
        return f"{self.fmt} {self.precision} via {' -> '.join(self.tools) or 'copy'}{variant}"


PASSED, FAILED, ERROR, SKIPPED = "passed", "failed", "error", "skipped"


@dataclass
class Trial:
    """What happened to one candidate."""
    candidate: Candidate
    status: str  # PASSED (proven within budget), FAILED (proven out of budget), ERROR, SKIPPED
    reason: str = ""  # why it failed or was skipped; after the choice, why it lost
    verdict: object = None  # edgekit.judge.Verdict when it ran
    p50_ms: float | None = None
    p50_noise: float | None = None  # relative uncertainty of p50_ms, to judge ties
    size_bytes: int | None = None
    chosen: bool = False

    @property
    def passed(self) -> bool:
        return self.status == PASSED


class Workshop(Protocol):
    def prove(self, candidate: Candidate) -> Trial: ...  # produce, judge (and time if proven)


@dataclass
class Outcome:
    fmt: str
    policy: tuple[str, ...] = ()
    trials: list[Trial] = field(default_factory=list)
    stopped: str = ""  # why the search ended before trying every candidate
    kept: Trial | None = None  # the format's artifact: the chosen one, or the failure kept
    ranking: list = field(default_factory=list)  # layers ranked by int8 damage, if ranked

    @property
    def chosen(self) -> Trial | None:
        return next((t for t in self.trials if t.chosen), None)


def search(fmt: str, candidates: Iterable[Candidate], workshop: Workshop,
           policy: tuple[str, ...], followups: Callable[[Trial], list[Candidate]] = lambda trial: [],
           max_candidates: int | None = None, stop_early: bool = True) -> Outcome:
    """Try candidates in order (follow-ups of a failure right behind it) and choose among
    those whose precision the policy allows (an fp32 baseline outside it is only a
    reference). A one-precision policy (`--precision X`, edge-tpu) stops at its first
    proven candidate."""
    outcome = Outcome(fmt, policy=policy)
    queue = iter(candidates)
    pending: list[Candidate] = []
    while True:
        candidate = pending.pop(0) if pending else next(queue, None)
        if candidate is None:
            break
        if any(t.passed and t.candidate.precision == candidate.precision for t in outcome.trials):
            continue  # a later route of a proven precision is a fallback no longer needed
        candidate = _with_learned_options(candidate, outcome)
        if max_candidates is not None and len(_tried(outcome)) >= max_candidates:
            outcome.stopped = f"stopped after {max_candidates} candidates (--max-candidates)"
            break
        trial = workshop.prove(candidate)
        outcome.trials.append(trial)
        if not trial.passed:
            pending = followups(trial) + pending
        elif stop_early and _unbeatable(trial, outcome):
            outcome.stopped = f"stopped at {candidate.describe()}: " + (
                "the only precision asked for, proven" if len(policy) == 1 else
                "proven and faster than fp32 beyond noise; the rest of the policy is less aggressive")
            break
    choose(outcome)
    return outcome


def _with_learned_options(candidate: Candidate, outcome: Outcome) -> Candidate:
    """A plain candidate whose route an options variant already made work (e.g. onnx2tf
    with -kat for the fp32 baseline) starts with those options: the plain route would only
    fail again for the next precision."""
    if candidate.variant.label:
        return candidate
    for trial in outcome.trials:
        learned = trial.candidate
        if trial.passed and learned.variant.options and learned.route[:-1] == candidate.route[:-1]:
            return Candidate(candidate.fmt, candidate.route, candidate.precision,
                             Variant(learned.variant.name, options=learned.variant.options,
                                     note=learned.variant.note))
    return candidate


def _tried(outcome: Outcome) -> list[Trial]:
    return [t for t in outcome.trials if t.status != SKIPPED]


def _unbeatable(trial: Trial, outcome: Outcome) -> bool:
    if trial.candidate.precision not in outcome.policy:
        return False
    if len(outcome.policy) == 1:
        return True
    baseline = _baseline(outcome)
    return trial.candidate.precision != "fp32" and baseline is not None and faster(trial, baseline)


def _baseline(outcome: Outcome) -> Trial | None:
    """The proven and timed fp32 candidate (plain, not a variant), if any."""
    return next((t for t in outcome.trials if t.passed and t.candidate.precision == "fp32"
                 and t.p50_ms is not None), None)


def faster(a: Trial, b: Trial) -> bool:
    """`a` is faster than `b` by more than the noise of either timing, and could be: two
    candidates that run the same computation never are (see `same_computation`)."""
    noise = max(NOISE, a.p50_noise or 0.0, b.p50_noise or 0.0)
    return a.p50_ms is not None and b.p50_ms is not None and a.p50_ms < b.p50_ms * (1 - noise) \
        and not same_computation(a.candidate, b.candidate)


def same_computation(a: Candidate, b: Candidate) -> bool:
    """Two precisions of one route (and options) whose last converter only changes how
    weights are stored (TF.js: de-quantized to float32 at load): measured, a 1.4x p50 gap
    between them on a loaded host delivered fp16 over uint8 weights twice its size."""
    return a.route == b.route and a.variant.options == b.variant.options \
        and getattr(a.route[-1], "dequantizes_at_load", False)


def choose(outcome: Outcome) -> None:
    """Mark the deliverable and say, for every other proven candidate, why it lost."""
    proven = [t for t in outcome.trials if t.passed and t.candidate.precision in outcome.policy]
    if not proven:
        return
    timed = [t for t in proven if t.p50_ms is not None]
    fastest = min(timed, key=lambda t: t.p50_ms) if len(timed) == len(proven) else None
    if fastest is not None:  # fastest; among those within its noise, the smallest (stable order)
        ties = [t for t in proven if not faster(fastest, t)]
        best = min(ties, key=lambda t: t.size_bytes or 0)
    else:
        best = proven[0] if proven[0].candidate.precision != "fp32" or len(proven) == 1 \
            else next((t for t in proven if t.candidate.precision != "fp32"), proven[0])
    best.chosen = True
    best.reason = _why_chosen(best, outcome)
    for trial in proven:
        if trial is not best:
            trial.reason = _why_lost(trial, best, fastest)


def _why_chosen(best: Trial, outcome: Outcome) -> str:
    if best.p50_ms is None:
        return "not timed (--bench-runs 0): the most aggressive proven precision in policy order"
    baseline = _baseline(outcome)
    if best.candidate.precision == "fp32" or baseline is None:
        fp32 = next((t for t in outcome.trials if t.candidate.precision == "fp32"), None)
        return "fastest proven candidate" + (f"; fp32 did not pass: {fp32.reason}"
                                             if fp32 is not None and not fp32.passed else "")
    ratio = baseline.p50_ms / best.p50_ms
    if faster(baseline, best):  # only when fp32 may not be delivered
        return (f"the only precision allowed ({', '.join(outcome.policy)}), although "
                f"{1 / ratio:.2f}x slower than the fp32 baseline")
    if same_computation(best.candidate, baseline.candidate):
        return (f"the smallest proven download: {best.size_bytes} vs fp32's {baseline.size_bytes} "
                "bytes; its runtime de-quantizes weights at load, so every precision of this "
                f"route runs the same computation (p50 {best.p50_ms:.4g} vs {baseline.p50_ms:.4g} "
                "ms: noise)")
    if not faster(best, baseline):
        return (f"as fast as the fp32 baseline within timing noise ({best.p50_ms:.4g} vs "
                f"{baseline.p50_ms:.4g} ms) and smaller: {best.size_bytes} vs "
                f"{baseline.size_bytes} bytes")
    return f"fastest proven candidate: {ratio:.2f}x the fp32 baseline's speed"


def _why_lost(trial: Trial, best: Trial, fastest: Trial | None) -> str:
    if fastest is None:
        return f"proven; {best.candidate.describe()} comes first in policy order"
    if faster(fastest, trial):
        return f"proven but slower: p50 {trial.p50_ms:.4g} ms vs {fastest.p50_ms:.4g} ms"
    if same_computation(trial.candidate, best.candidate) and trial.size_bytes != best.size_bytes:
        return (f"proven, the same computation as {best.candidate.describe()} (weights "
                f"de-quantized at load) but larger: {trial.size_bytes} vs {best.size_bytes} bytes")
    if trial.size_bytes == best.size_bytes:
        return f"proven, as fast and as large as {best.candidate.describe()}, which comes first"
    return (f"proven, as fast within noise ({trial.p50_ms:.4g} vs {fastest.p50_ms:.4g} ms, the "
            f"fastest) but larger: {trial.size_bytes} vs {best.size_bytes} bytes")

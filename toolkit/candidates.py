"""Which candidates a search tries, in which order, and what it tries after a failure.

The order for one output format (see edgekit.search for why):
1. the fp32 baseline: each fp32 route, shortest first, until one is proven;
2. each precision of the profile's policy, in order; for each, its routes shortest first
   (a converter that quantizes while converting, e.g. TFLiteConverter, or an fp32 route
   followed by the format's post-conversion quantizer), until one is proven.
A precision that needs calibration data is skipped (with the reason) when there is none.

Follow-ups of a failed candidate come right behind it:
- a quantized candidate out of tolerance or accuracy budget (one only over the size budget
  is not retried: float layers grow it), where the route's last converter can keep layers
  in float at its precision (Converter.keeps_float: int8 for TFLite and ONNX, int8-dynamic
  for TF.js's uint8 weights): the layers the precision damages most kept in float, 1, 2,
  4, ... of them (ranked once per route and options by the format's `rank_layers`), at
  most MAX_FLOAT_SHARE of them, unless the profile needs a fully integer model;
- a converter that failed may offer option variants (Converter.variants: e.g. onnx2tf
  flags), each tried once.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Callable, Iterator

from .quantize import PRECISIONS
from .search import ERROR, FAILED, Candidate, Trial, Variant

FP32 = "fp32"
# Beyond a quarter of the quantizable layers in float, an "int8" model keeps too little of
# int8's size and speed to be worth its drift (PaddleOCR's detector reached 242 layers in
# float at 1.00x the fp32 size): the search moves on to the next precision instead.
MAX_FLOAT_SHARE = 0.25


def ordered(source, fmt: str, policy: tuple[str, ...]) -> Iterator[Candidate]:
    """The stated order: fp32 routes first, then the policy's precisions over their routes.
    `source` is the source ModelHandle: each route starts with the options its converters
    foresee from it (Converter.foresees)."""
    from .targets.registry import copy_converter, routes
    foreseen: dict[tuple, Variant] = {}
    for precision in dict.fromkeys((FP32, *policy)):
        if not PRECISIONS[precision].supports(fmt):
            continue
        chains = routes(source.format, fmt, precision)
        if source.format == fmt:  # the copy is the fp32 baseline, and what quantizers start from
            copy = copy_converter(fmt)
            chains = [[copy]] if precision == FP32 else [[copy, *chain] for chain in chains]
        for chain in chains:
            key = tuple(converter.tool for converter in chain)
            if key not in foreseen:  # only the first converter sees the source itself
                first = chain[0]
                foreseen[key] = combined(list(first.foresees(source, fmt)) if first.foresees
                                         and first.source == source.format else [])
            yield Candidate(fmt, tuple(chain), precision, foreseen[key])


def combined(variants: list[Variant], base: Variant = Variant()) -> Variant:
    """One variant with the options of `base` and `variants` (each option once)."""
    if not variants:
        return base
    every = [base, *variants]
    return Variant("+".join(filter(None, (v.name for v in every))),
                   options=tuple(dict.fromkeys(o for v in every for o in v.options)),
                   note="; ".join(filter(None, (v.note for v in every))))


def describe_order(source, fmt: str, policy: tuple[str, ...], constraints=()) -> list[str]:
    """The order as lines, for --dry-run."""
    candidates = list(ordered(source, fmt, policy))
    lines = [candidate.describe() + ("" if candidate.precision in policy else "  [baseline only]")
             for candidate in candidates]
    if "full-int8" not in constraints:
        retried = dict.fromkeys(c.precision for c in candidates if _keeps_float(c))
        lines += [f"after a {p} candidate breaks the budget: the same with the layers {p} "
                  "damages most kept in float (1, 2, 4, ...)" for p in retried]
    return lines


def _keeps_float(candidate: Candidate) -> bool:
    """Whether the route's last converter can keep ranked layers in float at this precision."""
    return candidate.precision in candidate.route[-1].keeps_float


def _only_too_large(trial: Trial) -> bool:
    """Proven accurate but over the size budget: more layers in float only grow it."""
    return getattr(trial.verdict, "only_too_large", False)


class Followups:
    """What to try after a failure (see the module docstring); remembers each route's layer
    ranking so that it is computed once."""

    def __init__(self, constraints: tuple[str, ...], rank: Callable[[Candidate], list]):
        self.constraints = constraints
        self.rank = rank  # candidate -> layers ranked worst first (edgekit.quantize.sensitivity)
        self.rankings: dict[tuple, list] = {}
        self.bases: dict[tuple, Variant] = {}  # what each ranking's float variants build on

    def __call__(self, trial: Trial) -> list[Candidate]:
        candidate = trial.candidate
        if trial.status == FAILED and _keeps_float(candidate) and not _only_too_large(trial) \
                and "full-int8" not in self.constraints:
            return self._more_in_float(candidate)
        if trial.status == ERROR and not candidate.variant.float_nodes:
            return [Candidate(candidate.fmt, candidate.route, candidate.precision, variant)
                    for variant in _converter_variants(candidate, trial.reason)]
        return []

    def _more_in_float(self, candidate: Candidate) -> list[Candidate]:
        from .quantize.sensitivity import float_nodes
        had = candidate.variant
        key = (candidate.tools, candidate.precision, had.options)  # options change the model
        if key not in self.rankings:  # the first failure: the variant without layers in float
            self.rankings[key], self.bases[key] = self.rank(candidate), had
        ranking, base = self.rankings[key], self.bases[key]
        count = had.layers_in_float
        most = max(1, int(len(ranking) * MAX_FLOAT_SHARE)) if len(ranking) > 1 else 0
        following = 1 if count == 0 else min(count * 2, most)
        if following <= count or following > most:
            return []
        layers = ranking[:following]
        kept = "kept in float: " + ", ".join(layer.tensor for layer in layers)
        return [Candidate(candidate.fmt, candidate.route, candidate.precision,
                          replace(base, float_nodes=float_nodes(layers), layers_in_float=following,
                                  note="; ".join(filter(None, (base.note, kept)))))]


def _converter_variants(candidate: Candidate, reason: str) -> list[Variant]:
    """Option variants the route's converters offer for this failure (Converter.variants),
    on top of the options the failed candidate already had (one step got past with them,
    the next failed: onnx2tf with a batch of 1, then tensorflowjs), each option once."""
    had = candidate.variant
    return [combined([variant], had) for converter in candidate.route
            for variant in (converter.variants(reason) if converter.variants else ())
            if not set(variant.options) <= set(had.options)]

"""The workshop: produces a candidate in the run's work folder, proves it in its runtime
and times it, for edgekit.search.

Every model it makes gets its own numbered folder (`02_tflite`, `05_tflite_int8_float2`).
fp32 models made on the way (a SavedModel, an fp32 TFLite before a post-conversion
quantizer) are kept and reused by every later candidate whose route starts the same way;
they are judged too (intermediates). Each step receives what it needs as data: a
StepContext built for that step alone (precision, layers kept in float, options).
"""
from __future__ import annotations

import shutil
from dataclasses import dataclass, replace
from pathlib import Path

from . import interrupts
from .errors import ConversionError, EdgekitError
from .quantize import PRECISIONS
from .tensors import adopt_batch_axes
from .search import ERROR, FAILED, PASSED, SKIPPED, Candidate, Trial, Variant
from .judge import Verdict, gross_failure, judge
from .preflight import route_blocker


@dataclass(frozen=True)
class Product:
    """A model the workshop made: where, by which route, and how it was judged."""
    folder: str  # e.g. "03_tflite_int8"
    key: tuple  # the route's steps (see _step_key)
    precision: str
    route: tuple  # the converters, source first
    verdict: Verdict
    variant: Variant = Variant()
    timing: dict | None = None  # edgekit.timing result, once timed
    # its proof in the device's runtime (DeviceRuntime, e.g. TFLite Micro), when the
    # profile names one: runtime, outputs' drift, and what the device must provide
    device: dict | None = None
    # the deliverable proven at other shapes of its dynamic dimensions (edgekit.shapes)
    shapes: list | None = None
    # the deliverable run under arm64 emulation (edgekit.emulator.proof), with --emulate
    emulated: dict | None = None


def _step_key(converter, precision: str, variant: Variant) -> tuple:
    """One step of a route, as the products are keyed (a tool may make several formats:
    onnx2tf writes a SavedModel and a TFLite model)."""
    return (converter.source, converter.dest, converter.tool, precision, variant.label)


def _part_for(variant: Variant, converter) -> Variant:
    """What an earlier (fp32) step of a candidate's route takes from its variant: the
    options addressed to that step's tool (e.g. onnx2tf flags), under the variant's name."""
    options = tuple((tool, value) for tool, value in variant.options if tool == converter.tool)
    return Variant(variant.name, options=options) if options else Variant()


def _steps(candidate: Candidate) -> list[tuple]:
    """(converter, precision, variant) of each step: fp32 up to the last, which makes the
    candidate's precision with its whole variant."""
    steps = [(converter, "fp32", _part_for(candidate.variant, converter))
             for converter in candidate.route[:-1]]
    return steps + [(candidate.route[-1], candidate.precision, candidate.variant)]


LOGS = "logs"  # OUT/logs/NN_step.log: each step's full tool output


def median_noise(robust_cv: float, runs: int) -> float:
    """How far a p50 over `runs` timings may be off, relative (about 95%): twice the standard
    error of a median, 1.2533 sigma / sqrt(n). The spread of single runs (robust_cv) is not
    that: on a loaded host it reached 0.8, and a candidate 2.8x slower than fp32 then "tied"
    it and won on size."""
    return 2 * 1.2533 * robust_cv / max(runs, 1) ** 0.5


class Workshop:
    def __init__(self, source, data, reference, work: Path, context, budgets, source_accuracy,
                 timer=None, progress=lambda message: None, has_calibration: bool = False,
                 devices: dict | None = None):
        """`timer(handle) -> bench dict or None` times a proven candidate (None: no timing).
        `context` is the run's StepContext; each step gets its own copy of it. `devices`:
        format -> the DeviceRuntime its candidates are proven in again (TFLite Micro)."""
        self.devices = devices or {}
        self.source, self.data, self.reference = source, data, reference
        self.work, self.context, self.budgets = work, context, budgets
        self.source_accuracy, self.timer, self.progress = source_accuracy, timer, progress
        self.has_calibration = has_calibration
        self.products: dict[tuple, Product] = {}  # by key, in the order they were made
        self.failures: dict[tuple, str] = {}  # keys whose step failed -> why
        self._folders = 0  # numbers every folder made, kept or discarded

    # --- the search's interface ---

    def prove(self, candidate: Candidate) -> Trial:
        interrupts.check()
        if PRECISIONS[candidate.precision].needs_calibration and not self.has_calibration:
            return Trial(candidate, SKIPPED, "no calibration data (--calib or --eval)")
        blocker = route_blocker(candidate.route, self.source)
        if blocker:  # known from the source's operators: converting would only fail
            return Trial(candidate, SKIPPED, blocker)
        try:
            product = self.produce(candidate)
        except ConversionError as error:
            return Trial(candidate, ERROR, str(error))
        verdict = product.verdict
        device = self.devices.get(candidate.fmt)
        if verdict.passed and device is not None and product.device is None:
            product = self._prove_on_device(product, device)
        trial = Trial(candidate, PASSED if verdict.passed else FAILED, verdict=verdict,
                      size_bytes=verdict.handle.size_bytes())
        if not verdict.passed:
            gross = gross_failure(verdict, self.source, self.data)
            trial.reason = gross or "; ".join(verdict.problems)
            if gross and gross.startswith("could not run"):
                trial.status = ERROR
            return trial
        if self.timer is not None:
            self.progress(f"      timing {candidate.describe()}")
            timing = self.timer(verdict.handle)
            self.products[product.key] = replace(product, timing=timing)
            if timing and "latency_ms" in timing:
                trial.p50_ms = timing["latency_ms"]["p50"]
                trial.p50_noise = median_noise(timing["latency_ms"]["robust_cv"], timing["runs"])
        return trial

    def _prove_on_device(self, product: Product, device) -> Product:
        """Run a candidate that passed in its format's runtime again in the device's own
        (TFLite Micro), judged by the same tolerance and budgets, plus the device's RAM
        budget; what fails there fails the candidate (its verdict gets the problems)."""
        handle = product.verdict.handle
        verdict, facts = Verdict(handle), {}
        if device.make_runner is not None:
            self.progress(f"      proving {handle.format} ({product.precision}) in {device.runtime}")
            runner = device.make_runner(handle)
            verdict = judge(handle, self.source, self.data, self.reference,
                            PRECISIONS[product.precision].tolerance, self.budgets,
                            self.source_accuracy, runner=runner)
            facts.update(runner.facts)
        if device.assess is not None:
            facts.update(device.assess(handle))
        problems = [f"in {device.runtime}: {problem}" for problem in verdict.problems]
        arena, limit = facts.get("arena_bytes"), self.budgets.max_ram_kb
        if arena is not None and limit is not None and arena > limit * 1024:
            problems.append(f"tensor arena {arena / 1024:.1f} KB > RAM budget {limit} KB")
        product.verdict.problems.extend(problems)
        record = {"name": device.name, "runtime": device.runtime, "passed": not problems,
                  "problems": problems, "accuracy": verdict.accuracy,
                  "drift_per_output": [d.as_dict() for d in verdict.drifts],
                  "flash_bytes": handle.size_bytes(), **facts}
        product = replace(product, device=record)
        self.products[product.key] = product
        return product

    # --- making models ---

    def produce(self, candidate: Candidate) -> Product:
        """The candidate's model, making (or reusing) the fp32 models its route passes through."""
        return self._walk(candidate, _steps(candidate))

    def fp32_input_of(self, candidate: Candidate):
        """The fp32 model the candidate's last converter starts from (for layer rankings),
        made with the candidate's own options (e.g. onnx2tf's), as the candidate's is."""
        if len(candidate.route) == 1:
            return self.source
        return self._walk(candidate, _steps(candidate)[:-1]).verdict.handle

    def _walk(self, candidate: Candidate, steps: list) -> Product:
        key: tuple = ()
        handle = self.source
        for number, (converter, precision, variant) in enumerate(steps):
            key = key + (_step_key(converter, precision, variant),)
            if key in self.failures:
                raise ConversionError(candidate.describe(), str(self.source.path), self.failures[key])
            if key not in self.products:
                self._make(key, converter, precision, variant, handle, candidate.route[:number + 1])
            handle = self.products[key].verdict.handle
        return self.products[key]

    def _make(self, key: tuple, converter, precision: str, variant: Variant, parent, route) -> None:
        folder = self._folder(converter.dest, precision, variant)
        self.progress(f"[{folder[:2]}] {converter.source} -> {converter.dest}"
                      f"{'' if precision == 'fp32' else ' at ' + precision}"
                      f"{' [' + variant.label + ']' if variant.label else ''} ({converter.tool})")
        (self.work / folder).mkdir()
        ctx = replace(self.context, precision=precision, float_nodes=variant.float_nodes,
                      options=variant.options, log=self.work / LOGS / f"{folder}.log")
        try:
            handle = converter.run(parent, self.work / folder, ctx)
        except EdgekitError as error:
            shutil.rmtree(self.work / folder)
            self.failures[key] = str(error)
            raise ConversionError(" -> ".join(c.tool for c in route), str(self.source.path),
                                  str(error)) from error
        handle = replace(adopt_batch_axes(handle, parent), precision=precision,
                         notes=tuple(dict.fromkeys(parent.notes + handle.notes)))
        self.progress(f"      validating {handle.format} ({precision}) in its runtime")
        verdict = judge(handle, self.source, self.data, self.reference,
                        PRECISIONS[precision].tolerance, self.budgets, self.source_accuracy)
        self.products[key] = Product(folder, key, precision, tuple(route), verdict, variant)

    def _folder(self, fmt: str, precision: str, variant: Variant) -> str:
        self._folders += 1
        suffix = "" if precision == "fp32" else f"_{precision}"
        name = f"_{variant.label}" if variant.label else ""
        return f"{self._folders:02d}_{fmt}{suffix}{name}"

    def discard(self, trial: Trial) -> None:
        """Remove a losing candidate's model (its figures stay in the search record)."""
        key = self.key_of(trial.candidate)
        product = self.products.pop(key, None)
        if product is not None:
            shutil.rmtree(self.work / product.folder, ignore_errors=True)

    @staticmethod
    def key_of(candidate: Candidate) -> tuple:
        return tuple(_step_key(*step) for step in _steps(candidate))

    def product_of(self, candidate: Candidate) -> Product | None:
        return self.products.get(self.key_of(candidate))

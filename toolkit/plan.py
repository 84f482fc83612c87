"""Planning: every check that can fail before any heavy work starts.

Is each output format reachable from the source, can the precision be produced for it,
are the converters and runtimes installed? Errors list the valid options.
"""
from __future__ import annotations

import importlib.metadata
from dataclasses import dataclass

from .errors import MissingDependencyError, UnsupportedError
from .model import ModelHandle
from .profile import TargetProfile

AUTO = "auto"  # accuracy-aware: the most aggressive precision within the accuracy budget


@dataclass(frozen=True)
class Step:
    index: int
    converter: object  # edgekit.targets.registry.Converter
    precision: str  # what this step produces; its input is always an fp32 model
    is_artifact: bool  # an output the profile asked for (else an intermediate or fp32 baseline)
    variant: str = ""  # tells apart attempts at one precision (accuracy-aware search)

    @property
    def folder(self) -> str:  # inside the output folder, e.g. "02_tflite" or "03_tflite_int8"
        suffix = "" if self.precision == "fp32" else f"_{self.precision}"
        return f"{self.index:02d}_{self.converter.dest}{suffix}{self.variant}"

    @property
    def input_key(self) -> tuple[str, str]:
        return (self.converter.source, "fp32")

    @property
    def output_key(self) -> tuple[str, str]:
        return (self.converter.dest, self.precision)

    @property
    def name(self) -> str:
        at = "" if self.precision == "fp32" else f" at {self.precision}"
        return f"{self.converter.source} -> {self.converter.dest}{at} ({self.converter.tool})"


@dataclass(frozen=True)
class Plan:
    source: ModelHandle
    profile: TargetProfile
    steps: tuple[Step, ...]

    def describe(self) -> str:
        lines = [f"source: {self.source.path} ({self.source.format})",
                 f"target: {self.profile.name} -> {', '.join(self.profile.formats)} "
                 f"at {self.profile.precision}"]
        lines += [f"  {s.folder}: {s.name}{'' if s.is_artifact else '  [intermediate]'}"
                  for s in self.steps]
        if self.profile.precision == AUTO:
            lines.append(f"then: search precisions per format for the smallest artifact within "
                         f"{self.profile.budgets.max_accuracy_drop} points of accuracy")
        elif self.needs_calibration:
            lines.append(f"calibration: needed for {self.profile.precision}")
        return "\n".join(lines)

    @property
    def needs_calibration(self) -> bool:
        """True when some precision this run may produce quantizes activations."""
        from .quantize import PRECISIONS
        if self.profile.precision == AUTO:
            from .auto import candidates
            return any(PRECISIONS[p].needs_calibration
                       for fmt in self.profile.formats for p in candidates(fmt, self.profile))
        return PRECISIONS[self.profile.precision].needs_calibration

    def packages(self) -> list[str]:
        return sorted({p for s in self.steps for p in s.converter.packages})


def check_profile(profile: TargetProfile) -> None:
    """Checks that need no model: known formats, a precision that exists for each of them."""
    from .quantize import PRECISIONS, precisions_for
    from .targets.registry import OUTPUT_FORMATS

    unknown = [f for f in profile.formats if f not in OUTPUT_FORMATS]
    if unknown:
        raise UnsupportedError(f"unknown output format '{unknown[0]}'; "
                               f"valid formats: {', '.join(OUTPUT_FORMATS)}")
    if profile.precision == AUTO:
        return
    precision = PRECISIONS.get(profile.precision)
    if precision is None:
        raise UnsupportedError(f"unknown precision '{profile.precision}'; "
                               f"valid: {', '.join(PRECISIONS)}, {AUTO}")
    for fmt in profile.formats:
        if fmt not in precision.formats:
            raise UnsupportedError(f"precision '{precision.name}' is not available for {fmt}; "
                                   f"{fmt} supports: {', '.join(precisions_for(fmt))}")


def make_plan(source: ModelHandle, profile: TargetProfile) -> Plan:
    """The steps from the source to every output format of the profile, deduplicated.
    A quantized output also gets its fp32 counterpart, which it is measured against."""
    from .targets.registry import copy_converter, quantized_route, route

    check_profile(profile)
    original = profile
    steps: list[Step] = []

    def add(converter, precision: str, is_artifact: bool) -> None:
        for i, step in enumerate(steps):
            if step.output_key == (converter.dest, precision):
                if is_artifact and not step.is_artifact:
                    steps[i] = Step(step.index, step.converter, precision, True)
                return
        steps.append(Step(len(steps) + 1, converter, precision, is_artifact))

    if profile.precision == AUTO:  # the fp32 models; the search adds the rest as it goes
        profile = profile.with_overrides(precision="fp32")
        for fmt in profile.formats:
            chain = [copy_converter(fmt)] if fmt == source.format else route(source.format, fmt)
            for converter in chain:
                add(converter, "fp32", False)
        plan = Plan(source, original, tuple(steps))
        check_installed(plan)
        return plan
    quantized = profile.precision != "fp32"
    for fmt in profile.formats:
        chain = [copy_converter(fmt)] if fmt == source.format else route(source.format, fmt)
        for converter in chain:
            add(converter, "fp32", converter.dest == fmt and not quantized)
        if quantized:
            chain = quantized_route(source.format, fmt, profile.precision)
            for converter in chain[:-1]:
                add(converter, "fp32", False)
            add(chain[-1], profile.precision, True)
    plan = Plan(source, profile, tuple(steps))
    check_installed(plan)
    return plan


def check_installed(plan: Plan) -> None:
    for package in plan.packages():
        try:
            importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            raise MissingDependencyError(
                f"{package} (needed for {plan.profile.name})",
                f"pip install {package}  (or `make setup` in the edgekit checkout)") from None
    if "tfjs" in plan.profile.formats:
        from .targets.tfjs import check_runtime
        check_runtime()

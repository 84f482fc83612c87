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


@dataclass(frozen=True)
class Step:
    index: int
    converter: object  # edgekit.targets.registry.Converter
    folder: str  # e.g. "02_tflite", inside the output folder
    is_artifact: bool  # an output the profile asked for (else an intermediate)

    @property
    def name(self) -> str:
        return f"{self.converter.source} -> {self.converter.dest} ({self.converter.tool})"


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
        return "\n".join(lines)

    def packages(self) -> list[str]:
        return sorted({p for s in self.steps for p in s.converter.packages})


def check_profile(profile: TargetProfile) -> None:
    """Checks that need no model: known formats, a precision that exists for each of them."""
    from .quantize import PLANNED, PRECISIONS, precisions_for
    from .targets.registry import OUTPUT_FORMATS

    unknown = [f for f in profile.formats if f not in OUTPUT_FORMATS]
    if unknown:
        raise UnsupportedError(f"unknown output format '{unknown[0]}'; "
                               f"valid formats: {', '.join(OUTPUT_FORMATS)}")
    precision = PRECISIONS.get(profile.precision)
    if precision is None:
        available = ", ".join(PRECISIONS)
        if profile.precision in PLANNED:
            raise UnsupportedError(
                f"target '{profile.name}' needs precision '{profile.precision}', which edgekit "
                f"cannot produce yet (available: {available})")
        raise UnsupportedError(f"unknown precision '{profile.precision}'; valid: {available}")
    for fmt in profile.formats:
        if fmt not in precision.formats:
            raise UnsupportedError(f"precision '{precision.name}' is not available for {fmt}; "
                                   f"{fmt} supports: {', '.join(precisions_for(fmt))}")


def make_plan(source: ModelHandle, profile: TargetProfile) -> Plan:
    """The steps from the source to every output format of the profile, deduplicated."""
    from .targets.registry import copy_converter, route

    check_profile(profile)
    steps: list[Step] = []
    produced: set[str] = {source.format} - set(profile.formats)
    for fmt in profile.formats:
        chain = [copy_converter(fmt)] if fmt == source.format else route(source.format, fmt)
        for converter in chain:
            if converter.dest in produced:
                continue
            produced.add(converter.dest)
            index = len(steps) + 1
            steps.append(Step(index, converter, f"{index:02d}_{converter.dest}",
                              converter.dest in profile.formats))
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

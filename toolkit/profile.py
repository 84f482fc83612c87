"""TargetProfile: what a device class needs. The rows live in edgekit.targets.profiles."""
from __future__ import annotations

from dataclasses import dataclass, field, replace


@dataclass(frozen=True)
class Budgets:
    max_accuracy_drop: float = 0.5  # points of accuracy (0-100 scale) against the original
    max_size_mb: float | None = None
    max_latency_ms: float | None = None  # judged by the benchmarking engine


@dataclass(frozen=True)
class TargetProfile:
    name: str
    formats: tuple[str, ...]
    precision: str
    threads: int  # CPU threads that stand for the device class when timing on the host
    budgets: Budgets = field(default_factory=Budgets)
    constraints: tuple[str, ...] = ()  # e.g. "int8-io": model inputs/outputs must be int8
    notes: str = ""
    device: object = None  # edgekit.roofline.DeviceSpec: the reference device for estimates

    def with_overrides(self, formats=None, precision=None, max_drop=None) -> "TargetProfile":
        """The same profile with the user's --formats / --precision / --max-drop applied."""
        budgets = self.budgets if max_drop is None else \
            replace(self.budgets, max_accuracy_drop=float(max_drop))
        return replace(self, formats=tuple(formats) if formats else self.formats,
                       precision=precision or self.precision, budgets=budgets)


def get_profile(name: str) -> TargetProfile:
    from .errors import UnsupportedError
    from .targets.profiles import PROFILES
    if name not in PROFILES:
        raise UnsupportedError(
            f"unknown target '{name}'; valid targets: {', '.join(PROFILES)}")
    return PROFILES[name]

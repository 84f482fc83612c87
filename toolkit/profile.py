"""TargetProfile: what a device class needs. The rows live in edgekit.targets.profiles."""
from __future__ import annotations

from dataclasses import dataclass, field, replace


@dataclass(frozen=True)
class Budgets:
    max_accuracy_drop: float = 0.5  # points of accuracy (0-100 scale) against the original
    max_size_mb: float | None = None
    max_latency_ms: float | None = None  # judged by the benchmarking engine
    # working memory (RAM) the device runtime may use: TFLite Micro's measured tensor arena
    max_ram_kb: float | None = None


@dataclass(frozen=True)
class TargetProfile:
    name: str
    formats: tuple[str, ...]
    # precisions the search considers, in order (edgekit.search): the deliverable is the
    # fastest proven one; `--precision X` narrows this to (X,)
    policy: tuple[str, ...]
    threads: int  # CPU threads that stand for the device class when timing on the host
    budgets: Budgets = field(default_factory=Budgets)
    constraints: tuple[str, ...] = ()  # e.g. "int8-io": model inputs/outputs must be int8
    notes: str = ""
    device: object = None  # edgekit.roofline.DeviceSpec: the reference device for estimates
    forced: bool = False  # the policy is the user's --precision, not the profile's
    # a runtime the device runs the format in besides the format's own, where every
    # candidate is proven again (a targets.format.DeviceRuntime name: "tflite-micro")
    device_runtime: str = ""
    # the QEMU CPU models `--emulate arm64` runs the deliverable on (edgekit.emulator): the
    # device class's cores, by the ISA features int8 kernels choose their paths by
    emulated_cpus: tuple[str, ...] = ()

    def device_runtime_for(self, fmt: str):
        """The DeviceRuntime record this profile names for format `fmt`, or None."""
        if not self.device_runtime:
            return None
        from .errors import UnsupportedError
        from .targets.registry import format_module
        found = [d for d in format_module(fmt).device_runtimes if d.name == self.device_runtime]
        if not found:
            raise UnsupportedError(f"target {self.name} runs its models in {self.device_runtime}, "
                                   f"which does not run {fmt} models")
        return found[0]

    def with_overrides(self, formats=None, precision=None, max_drop=None,
                       max_size_mb=None) -> "TargetProfile":
        """The same profile with the user's --formats / --precision / --max-drop /
        --max-size-mb applied (`--precision auto` keeps the profile's own policy)."""
        budgets = self.budgets if max_drop is None else \
            replace(self.budgets, max_accuracy_drop=float(max_drop))
        budgets = budgets if max_size_mb is None else replace(budgets, max_size_mb=float(max_size_mb))
        forced = precision not in (None, AUTO)
        return replace(self, formats=tuple(formats) if formats else self.formats,
                       policy=(precision,) if forced else self.policy, forced=forced,
                       budgets=budgets)

    def policy_for(self, fmt: str) -> tuple[str, ...]:
        """The policy's precisions this format can be produced at."""
        from .quantize import PRECISIONS
        return tuple(p for p in self.policy if PRECISIONS[p].supports(fmt))


AUTO = "auto"  # --precision auto: the profile's own policy (the default)
REPORTED_DECIMALS = 4  # accuracy drops are reported in points with 4 decimals


def breaks(value: float, limit: float) -> bool:
    """`value` over `limit` as the report shows them: a drop of exactly the budget passes,
    although 97.2 - 96.7 is 0.5000000000000004 in floating point."""
    return round(value, REPORTED_DECIMALS) > limit


def get_profile(name: str) -> TargetProfile:
    from .errors import UnsupportedError
    from .targets.profiles import PROFILES
    if name not in PROFILES:
        raise UnsupportedError(
            f"unknown target '{name}'; valid targets: {', '.join(PROFILES)}")
    return PROFILES[name]

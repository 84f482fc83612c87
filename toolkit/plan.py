"""Planning: every check that can fail before any heavy work starts, and the candidate
order each format's search will follow (what --dry-run prints).

Is each output format known and reachable from the source, can the asked precision be
produced for it, is at least one route's software installed? Errors list the valid options.
"""
from __future__ import annotations

import importlib.metadata
from dataclasses import dataclass, field

from .errors import MissingDependencyError, UnsupportedError
from .extras import install_for
from .model import ModelHandle
from .profile import AUTO, TargetProfile


@dataclass(frozen=True)
class Plan:
    source: ModelHandle
    profile: TargetProfile
    # format -> {route: why it cannot convert this source} (edgekit.preflight)
    blocked: dict = field(default_factory=dict)

    def describe(self) -> str:
        from .candidates import describe_order
        profile = self.profile
        lines = [f"source: {self.source.path} ({self.source.format})",
                 f"target: {profile.name} -> {', '.join(profile.formats)}; precisions "
                 f"{'asked' if profile.forced else 'considered'}: {', '.join(profile.policy)}",
                 "objective: the fastest candidate proven within the budget (max accuracy drop "
                 f"{profile.budgets.max_accuracy_drop} points"
                 + (f", max size {profile.budgets.max_size_mb:g} MB" if profile.budgets.max_size_mb else "")
                 + "); size breaks ties within timing noise"]
        for fmt in profile.formats:
            lines.append(f"{fmt} candidates, in order (later routes of a precision only if "
                         "the earlier ones fail):")
            lines += [f"  {i}. {line}" for i, line in enumerate(
                describe_order(self.source, fmt, profile.policy_for(fmt),
                               profile.constraints), start=1)]
            lines += [f"  skipped before converting: {route}: {why}"
                      for route, why in self.blocked.get(fmt, {}).items()]
        if self.needs_calibration:
            lines.append("calibration: needed for " + ", ".join(
                p for p in profile.policy if _needs_calibration(p)))
        return "\n".join(lines)

    @property
    def needs_calibration(self) -> bool:
        """True when some precision this run may produce quantizes activations."""
        return any(_needs_calibration(p) for fmt in self.profile.formats
                   for p in self.profile.policy_for(fmt))


def _needs_calibration(precision: str) -> bool:
    from .quantize import PRECISIONS
    return PRECISIONS[precision].needs_calibration


def check_profile(profile: TargetProfile) -> None:
    """Checks that need no model: known formats, precisions that exist for each of them."""
    from .quantize import PRECISIONS, precisions_for
    from .targets.registry import OUTPUT_FORMATS

    unknown = [f for f in profile.formats if f not in OUTPUT_FORMATS]
    if unknown:
        raise UnsupportedError(f"unknown output format '{unknown[0]}'; "
                               f"valid formats: {', '.join(OUTPUT_FORMATS)}")
    for name in profile.policy:
        if name not in PRECISIONS:
            raise UnsupportedError(f"unknown precision '{name}'; valid: {', '.join(PRECISIONS)}, {AUTO}")
    for fmt in profile.formats:
        if not profile.policy_for(fmt):
            asked = profile.policy[0] if profile.forced else "/".join(profile.policy)
            raise UnsupportedError(f"precision '{asked}' is not available for {fmt}; "
                                   f"{fmt} supports: {', '.join(precisions_for(fmt))}")


def make_plan(source: ModelHandle, profile: TargetProfile) -> Plan:
    """The search's plan for `source`; refuses what cannot work before any conversion."""
    from .targets.registry import format_module, route, routes
    check_profile(profile)
    for fmt in profile.formats:
        if fmt == source.format:
            continue
        route(source.format, fmt)  # raises, naming the reachable formats, when there is none
        chains = routes(source.format, fmt)
        if not any(installed(chain) for chain in chains):
            missing = [p for p in packages(chains[0]) if not _installed(p)]
            raise MissingDependencyError(
                f"{', '.join(missing)} (needed to make {fmt} for {profile.name})",
                f"{install_for(missing)}  (or `make setup` in the edgekit checkout)")
    from .preflight import blocked_routes
    blocked = blocked_routes(source, profile)  # refuses a format no route can make
    for fmt in profile.formats:  # a runtime outside Python (TF.js's Node) is checked here
        runtime_check = format_module(fmt).runtime_check
        if runtime_check is not None:
            runtime_check()
        device = profile.device_runtime_for(fmt)
        missing = [p for p in (device.packages if device else ()) if not _installed(p)]
        if missing:
            raise MissingDependencyError(f"{', '.join(missing)} ({device.runtime}, where "
                                         f"{profile.name} models are proven)",
                                         f"{install_for(missing)}  (or `make setup`)")
    return Plan(source, profile, blocked)


def packages(chain) -> list[str]:
    return sorted({p for converter in chain for p in converter.packages})


def installed(chain) -> bool:
    return all(_installed(p) for p in packages(chain))


def _installed(package: str) -> bool:
    try:
        importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return False
    return True

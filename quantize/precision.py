"""The Precision record: a numeric format, the outputs it can hook into, its tolerance."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping

from ..drift import Tolerance


@dataclass(frozen=True)
class Precision:
    name: str
    tolerance: Tolerance  # default drift tolerance; a profile may tighten it
    # output format -> hook applied by that format's converter (None: nothing to change)
    hooks: Mapping[str, Callable | None]

    @property
    def formats(self) -> tuple[str, ...]:
        return tuple(self.hooks)

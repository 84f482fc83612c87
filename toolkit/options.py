"""The option groups of edgekit's public functions (edgekit.api): small frozen records, each
checked when it is made, so that a wrong option fails with a one-line error before any
work starts, from the CLI and from Python alike. Importing this module loads no framework."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional, Tuple, Union

from .errors import InputError, UnsupportedError

PathLike = Union[str, Path]
DEFAULT_CALIBRATION_SAMPLES = 200


def _quiet(message: str) -> None:
    return None


@dataclass(frozen=True)
class SourceOptions:
    """How to open the user's model. `input_shapes` (tuples, or strings like "1,3,224,224"
    or "1,32:int64") are for models that do not record their shapes."""
    weights: Optional[PathLike] = None  # a state_dict for a FILE.py:FACTORY PyTorch model
    input_shapes: Tuple = ()
    allow_unsafe_code: bool = False  # let pickle-based files (torch.load) run their code

    def __post_init__(self):
        if any(isinstance(s, str) for s in self.input_shapes):
            from .loading import parse_shape  # loads numpy: only when there is text to parse
            object.__setattr__(self, "input_shapes", tuple(
                parse_shape(s) if isinstance(s, str) else s for s in self.input_shapes))
        # lists become tuples; parse_shape's results (tuples that carry a dtype) stay as they are
        object.__setattr__(self, "input_shapes", tuple(
            s if isinstance(s, tuple) else tuple(s) for s in self.input_shapes))
        if self.weights is not None:
            object.__setattr__(self, "weights", Path(self.weights))


@dataclass(frozen=True)
class CalibrationOptions:
    """Calibration for precisions that quantize activations: `data` (.npz, .npy or a folder
    of images; default: up to `samples` of the evaluation data), the range `method`, and an
    image `preprocess` spec for folders."""
    data: Optional[PathLike] = None
    method: str = "minmax"
    samples: int = DEFAULT_CALIBRATION_SAMPLES
    preprocess: Optional[str] = None

    def __post_init__(self):
        from .quantize import CALIBRATION_METHODS  # precision records only: no framework
        if self.method not in CALIBRATION_METHODS:
            raise UnsupportedError(f"unknown calibration method '{self.method}'; "
                                   f"valid: {', '.join(CALIBRATION_METHODS)}")
        if not isinstance(self.samples, int) or self.samples < 1:
            raise InputError("calibration samples must be a whole number of at least 1, "
                             f"not {self.samples!r}")
        if self.data is not None:
            object.__setattr__(self, "data", Path(self.data))
            if not self.data.exists():
                raise InputError(f"no such calibration data: {self.data}")


@dataclass(frozen=True)
class LabelOptions:
    """What the model's class outputs mean: `names` (a list, a comma-separated string or a
    text file with one per line; written to TF.js metadata for the demo) and `output`, the
    output (name or index) the evaluation labels score (default: the only one with one
    score per class)."""
    names: Union[Tuple[str, ...], str] = ()
    output: Optional[str] = None


@dataclass(frozen=True)
class EmulationOptions:
    """`--emulate arm64`: the deliverable also runs under QEMU on each of `cpus` (default:
    the target profile's CPU models) on the first `samples` evaluation samples."""
    arch: str = "arm64"
    samples: int = 32
    cpus: Tuple[str, ...] = ()

    def __post_init__(self):
        if self.arch != "arm64":
            raise UnsupportedError(f"unknown emulated architecture '{self.arch}'; valid: arm64")
        if isinstance(self.samples, bool) or not isinstance(self.samples, int) or self.samples < 1:
            raise InputError(f"emulated samples must be a whole number of at least 1, not {self.samples!r}")
        from .emulator.cpus import check  # stdlib only
        object.__setattr__(self, "cpus", check(self.cpus))


@dataclass(frozen=True)
class BudgetOptions:
    """Budgets in place of the target profile's (None: the profile's): `max_drop` accuracy
    points (or top-1 agreement points without labels), `max_size_mb` per deliverable."""
    max_drop: Optional[float] = None
    max_size_mb: Optional[float] = None

    def __post_init__(self):
        for name in ("max_drop", "max_size_mb"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                                      or value < 0):
                raise InputError(f"{name} must be a number of at least 0, not {value!r}")


@dataclass(frozen=True)
class Callbacks:
    """Where a run reports: `progress(message)` as each step begins (edgekit.progress),
    `warn(message)` for what the user should know but does not stop the run."""
    progress: Callable[[str], None] = field(default=_quiet)
    warn: Callable[[str], None] = field(default=_quiet)

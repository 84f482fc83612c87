"""What a converter may use besides its input model: precision, calibration, scratch space.

One StepContext per step (frozen): the run builds a base context and each step gets a copy
with its own precision, layers kept in float and converter options, so nothing set for
one step leaks into another."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..tensors import feed_for


@dataclass(frozen=True)
class StepContext:
    precision: str = "fp32"
    constraints: tuple[str, ...] = ()  # the profile's, e.g. "int8-io"
    calibration: object = None  # edgekit.calib.Calibration, when the precision needs one
    calib_method: str = "minmax"
    float_nodes: tuple[str, ...] = ()  # layers to keep in float (accuracy-aware mode)
    options: tuple[tuple[str, object], ...] = ()  # converter options of this step's variant
    work_dir: Path | None = None  # scratch space inside the run's temporary folder
    log: Path | None = None  # where this step's tools write their full output (OUT/logs/)
    # for the metadata written beside TF.js models (read by the browser demo)
    labels: tuple[str, ...] = ()
    input_range: tuple[float, float] = (0.0, 1.0)
    source_name: str = ""
    # results a tool produced once for several steps (onnx2tf writes SavedModel and TFLite):
    # a memo shared by the run's steps, keyed by the tool's input and options
    cache: dict = field(default_factory=dict)

    def log_file(self, tool: str) -> Path:
        """The step's log (or, outside a run, one in the scratch folder named after the tool)."""
        return self.log or Path(self.work_dir) / f"{tool}.log"

    def option(self, name: str, default=None):
        return dict(self.options).get(name, default)

    def calibration_inputs(self, handle) -> list[np.ndarray]:
        """The calibration samples, laid out for `handle`'s inputs (which may be NHWC where
        the source model was NCHW)."""
        return feed_for(handle, self.calibration.source, self.calibration.inputs)

"""What a converter may use besides its input model: precision, scratch space, a log."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class StepContext:
    precision: str = "fp32"
    work_dir: Path | None = None  # scratch space inside the run's temporary folder
    log_lines: list[str] = field(default_factory=list)
    # results a tool produced once for several steps (onnx2tf writes SavedModel and TFLite)
    cache: dict = field(default_factory=dict)

    def log(self, line: str) -> None:
        self.log_lines.append(line)

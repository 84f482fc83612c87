"""ModelHandle: a model on disk in one format, with what edgekit knows of its tensors.

Every pipeline step takes a handle and returns a new one written to its own folder.
`runner()` gives the model as a function (list of numpy arrays in, list out) in its own
runtime, importing that runtime only then.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

import numpy as np

from .tensors import TensorSpec

Runner = Callable[[list[np.ndarray]], list[np.ndarray]]


@dataclass(frozen=True)
class ModelHandle:
    path: Path
    format: str  # a key of edgekit.targets.registry.FORMATS
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    factory: str | None = None  # for a PyTorch `file.py:factory` source
    weights: Path | None = None  # its state_dict, loaded with weights_only=True
    precision: str = "fp32"
    notes: tuple[str, ...] = field(default=())

    def runner(self, threads: int | None = None) -> Runner:
        from .targets.registry import format_module
        return format_module(self.format).make_runner(self, threads)

    def with_specs(self, inputs, outputs) -> "ModelHandle":
        return replace(self, inputs=tuple(inputs), outputs=tuple(outputs))

    def files(self) -> list[Path]:
        """Every file the model is made of: a folder's files, a format's side files (ONNX
        external weights), and a PyTorch state_dict given with --weights."""
        from .targets.registry import format_module
        path = Path(self.path)
        side_files = format_module(self.format).model_files
        files = side_files(path) if side_files is not None and not path.is_dir() else files_of(path)
        return files + ([Path(self.weights)] if self.weights else [])

    def size_bytes(self) -> int:
        return sum(file.stat().st_size for file in self.files())


def files_of(path: Path) -> list[Path]:
    """A file, or every file under a folder (SavedModel, TF.js), in a stable order."""
    path = Path(path)
    return sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]


def identity(*paths) -> tuple:
    """What tells one version of a model's files from another, for caches of loaded models:
    each file's path, size, modification time and inode. Keyed by path alone, a cache handed
    a later call the old model after the file was overwritten (same path, new weights)."""
    stats = []
    for path in (Path(p) for p in paths if p):
        for file in files_of(path) if path.exists() else []:
            info = file.stat()
            stats.append((str(file), info.st_size, info.st_mtime_ns, info.st_ino))
    return tuple(stats)

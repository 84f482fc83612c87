"""The user's opt-in for model files that carry code: `--allow-unsafe-code`.

Without it, a Keras Lambda layer's pickled Python is refused (safe_mode) and a SavedModel
whose graph reaches outside the model (files, Python) is refused before TensorFlow loads
it. The opt-in names one file: other models in the same run stay untrusted.
"""
from __future__ import annotations

from pathlib import Path

UNSAFE_FLAG = "--allow-unsafe-code"
_trusted: set[Path] = set()


def decide(path: Path, allowed: bool) -> None:
    """Record the user's choice for this file, for this run: each run decides afresh, so an
    opt-in never carries over to a later call in the same process (the Python API)."""
    (_trusted.add if allowed else _trusted.discard)(Path(path).resolve())


def granted(path: Path) -> bool:
    return Path(path).resolve() in _trusted

"""What precision an existing artifact is, so `edgekit validate` judges it with that
precision's tolerance (an int8 model judged with fp32's max-abs-error fails although it is
as good as int8 gets).

In order: `--precision`; the `edgekit.json` edgekit wrote beside the model, when its
sha256 says it describes this very model (a TF.js step folder's own metadata has no hash:
it sits inside the model's folder); the model itself (its format's read_precision hook:
TFLite tensor types, ONNX integer and QDQ operators, TF.js weight quantization); else fp32.
"""
from __future__ import annotations

import json
from pathlib import Path

from .errors import InputError

METADATA = "edgekit.json"


def precision_of(handle, given: str | None) -> tuple[str, str]:
    """(precision, how it was known) for the artifact `handle`."""
    from .quantize import PRECISIONS
    from .targets.registry import format_module
    if given is not None:
        if given not in PRECISIONS:
            raise InputError(f"unknown --precision '{given}'; valid: {', '.join(PRECISIONS)}")
        return given, "--precision"
    path = Path(handle.path)
    recorded = _recorded(path)
    if recorded in PRECISIONS:
        return recorded, f"{METADATA} beside it"
    fmt = format_module(handle.format)
    found = fmt.read_precision(path) if fmt.read_precision is not None else None
    if found is not None:
        return found, fmt.precision_evidence
    return "fp32", "no quantization found in the model" if fmt.read_precision is not None else \
        f"assumed: {handle.format} models are not read for their precision"


def _recorded(path: Path) -> str | None:
    from .report import digest
    if path.is_dir():  # a TF.js folder: edgekit's metadata lives inside the model's folder
        metadata = path / METADATA
        if metadata.is_file():
            return _read_json(metadata).get("precision")
        return None
    metadata = path.parent / METADATA
    if not metadata.is_file():
        return None
    recorded = _read_json(metadata)
    return recorded.get("precision") if recorded.get("sha256") == digest(path) else None


def _read_json(path: Path) -> dict:
    try:
        value = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, ValueError):
        return {}  # not edgekit's: the model itself is read instead
    return value if isinstance(value, dict) else {}

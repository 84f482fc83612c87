"""`edgekit inspect`: what a model file is, its tensors, its operators and its size."""
from __future__ import annotations

from pathlib import Path

from .detect import detect
from .loading import checked, open_model
from .model import ModelHandle


def open_any(spec: str, weights: Path | None = None, input_shapes=(),
             allow_unsafe_code: bool = False) -> ModelHandle:
    """Any model edgekit reads: convertible sources and artifacts (.tflite, TF.js) alike."""
    from .targets.registry import format_module
    ref = detect(spec)
    fmt = format_module(ref.format)
    if fmt.open_source is not None:  # a source: its options and checks apply
        return open_model(spec, weights, input_shapes, allow_unsafe_code)
    return checked(fmt.open_handle(ref.path))


def describe(handle: ModelHandle) -> dict:
    from .targets.registry import format_module
    ops = format_module(handle.format).op_counts(handle)
    return {
        "path": str(handle.path), "format": handle.format, "size_bytes": handle.size_bytes(),
        "inputs": [s.describe() for s in handle.inputs],
        "outputs": [s.describe() for s in handle.outputs],
        "ops": dict(sorted(ops.items(), key=lambda item: (-item[1], item[0]))),
    }


def as_text(info: dict) -> str:
    lines = [f"{info['path']}: {info['format']}, {info['size_bytes'] / 1e3:.1f} KB"]
    lines += [f"  input   {s}" for s in info["inputs"]]
    lines += [f"  output  {s}" for s in info["outputs"]]
    lines.append(f"  ops ({sum(info['ops'].values())}): " +
                 ", ".join(f"{name} x{count}" for name, count in info["ops"].items()))
    return "\n".join(lines)

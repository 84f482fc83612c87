"""Precisions edgekit can produce, one module per method.

A Precision names the output formats it has a hook for; a format without a hook is
unsupported and refused at plan time with the list of what that format can do.
"""
from __future__ import annotations

from .fp32 import FP32
from .precision import Precision

PRECISIONS: dict[str, Precision] = {p.name: p for p in (FP32,)}

# Named by profiles and by the quantization roadmap but not implemented yet; asking for
# one gives a clear "not available yet" error instead of a silent float fallback.
PLANNED = ("fp16", "int8-dynamic", "int8", "int16x8")


def precisions_for(fmt: str) -> list[str]:
    return [name for name, p in PRECISIONS.items() if fmt in p.formats]

"""Precisions edgekit can produce, one module per method.

A Precision names the output formats it has a hook for; a format without a hook is
unsupported and refused at plan time with the list of what that format can do.
"""
from __future__ import annotations

from .fp16 import FP16
from .fp32 import FP32
from .int8 import CALIBRATION_METHODS, INT8
from .int8_dynamic import INT8_DYNAMIC
from .int16x8 import INT16X8
from .precision import Precision

PRECISIONS: dict[str, Precision] = {p.name: p for p in (FP32, FP16, INT8_DYNAMIC, INT8, INT16X8)}

__all__ = ["CALIBRATION_METHODS", "PRECISIONS", "Precision", "precisions_for"]


def precisions_for(fmt: str) -> list[str]:
    return [name for name, p in PRECISIONS.items() if p.supports(fmt)]

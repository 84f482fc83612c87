"""The Precision record: a numeric format, the outputs it can hook into, its tolerance.

Hooks differ per output format because each format's official tool quantizes its own way:
- "tflite": hook(converter, ctx, handle) configures a tf.lite.TFLiteConverter before
  it converts the SavedModel `handle`;
- "onnx": hook(src_path, dst_path, ctx, handle) writes a quantized copy of an fp32 model
  with onnxruntime's tools;
- "tfjs": hook(ctx) returns the tensorflowjs converter's quantization_dtype_map.
A format missing from `hooks` cannot be produced at this precision (unless `every_format`:
fp32, which every format makes by its plain conversion).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping



@dataclass(frozen=True)
class Tolerance:
    """What a precision may cost. None leaves a metric unjudged: int8 is judged on SQNR and
    agreement (its absolute error tracks the quantization step), float paths on error."""
    # largest |artifact - original| allowed, as a fraction of the original's largest |value|
    max_abs_error: float | None = None
    min_cosine: float | None = None
    min_top1_agreement: float | None = None
    min_sqnr_db: float | None = None


@dataclass(frozen=True)
class Precision:
    name: str
    tolerance: Tolerance  # default drift tolerance; a profile may tighten it
    hooks: Mapping[str, Callable | None]  # output format -> hook (None: nothing to change)
    needs_calibration: bool = False  # activations are quantized: ranges must be measured
    summary: str = ""
    integer_math: bool = False  # kernels multiply in integers (the roofline's int8 peak)
    # `validate --layers`: below this cosine against the original, a layer has diverged
    layer_cosine: float = 0.98

    # a precision every format produces by its plain conversion (fp32): no hook per format,
    # so a new format needs no line here
    every_format: bool = False

    def supports(self, fmt: str) -> bool:
        return self.every_format or fmt in self.hooks

"""The target profile table. Adding a device class is adding one row.

The CLI's --target choices, `edgekit profiles` and the parametrized tests all read
PROFILES. Precisions name entries of edgekit.quantize.PRECISIONS; `--precision` overrides
a row's default, and a precision a format cannot take is refused at plan time with the
list of those it can. Constraints: "full-int8" (integer-only kernels), "int8-io" (int8
model inputs and outputs).
"""
from ..profile import Budgets, TargetProfile

_ROWS = [
    TargetProfile(
        "android", ("tflite",), "int8-dynamic", threads=4,
        budgets=Budgets(max_accuracy_drop=0.5, max_size_mb=50),
        notes="mid-range phone, LiteRT (TFLite) with the XNNPACK CPU delegate"),
    TargetProfile(
        "ios", ("tflite",), "fp16", threads=2,
        budgets=Budgets(max_accuracy_drop=0.5, max_size_mb=50),
        notes="iPhone via LiteRT for iOS (Core ML export is not provided)"),
    TargetProfile(
        "web", ("tfjs",), "fp16", threads=1,
        budgets=Budgets(max_accuracy_drop=0.5, max_size_mb=20),
        notes="browser via TF.js graph model (wasm / webgl backends)"),
    TargetProfile(
        "raspberry-pi", ("tflite",), "int8", threads=4,
        budgets=Budgets(max_accuracy_drop=1.0, max_size_mb=100),
        notes="Raspberry Pi 4 class board: 4x Cortex-A72, LiteRT interpreter"),
    TargetProfile(
        "edge-tpu", ("tflite",), "int8", threads=1,
        budgets=Budgets(max_accuracy_drop=1.0, max_size_mb=8),
        constraints=("full-int8", "int8-io"),
        notes="Coral Edge TPU: fully int8 TFLite with int8 inputs and outputs"),
    TargetProfile(
        "microcontroller", ("tflite",), "int8", threads=1,
        budgets=Budgets(max_accuracy_drop=1.0, max_size_mb=1),
        constraints=("full-int8", "int8-io"),
        notes="Cortex-M class MCU, TFLite Micro: fully int8, small arena"),
    TargetProfile(
        # fp32 by default: measured on an AVX-512 VNNI host, onnxruntime's int8-dynamic
        # (ConvInteger) ran the sample CNN 5.6x slower than fp32 and static int8 only
        # matched it. `--precision int8` or `auto` when size matters.
        "server-cpu", ("onnx",), "fp32", threads=2,
        budgets=Budgets(max_accuracy_drop=0.5),
        notes="x86/ARM server CPU with onnxruntime"),
]

PROFILES: dict[str, TargetProfile] = {row.name: row for row in _ROWS}

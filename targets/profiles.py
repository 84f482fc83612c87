"""The target profile table. Adding a device class is adding one row.

The CLI's --target choices, `edgekit profiles` and the parametrized tests all read
PROFILES. Precisions name entries of edgekit.quantize.PRECISIONS; `--precision` overrides
a row's default, and a precision a format cannot take is refused at plan time with the
list of those it can. Constraints: "full-int8" (integer-only kernels), "int8-io" (int8
model inputs and outputs).
"""
from ..profile import Budgets, TargetProfile
from ..roofline import DeviceSpec

# Reference devices: approximate public peak figures (cores x clock x SIMD MACs per cycle)
# and memory bandwidth, for roofline lower bounds. Estimates, not measurements.
PHONE = DeviceSpec("mid-range Android phone (4x Cortex-A78 @ 2.4 GHz, LPDDR5)",
                   77, 307, 25, "4 cores x 2.4 GHz x 8 fp32 MAC/cycle; int8 SDOT x4; LPDDR5 ~25 GB/s")
IPHONE = DeviceSpec("iPhone (Apple A15, 2 performance cores @ 3.2 GHz)",
                    102, 410, 34, "2 cores x 3.2 GHz x 16 fp32 MAC/cycle; int8 x4; LPDDR4X ~34 GB/s")
LAPTOP_BROWSER = DeviceSpec("laptop browser, TF.js wasm SIMD on one core @ 3 GHz",
                            12, 12, 20, "1 core x 3 GHz x 4 fp32 MAC/cycle (wasm SIMD 128-bit)")
RPI4 = DeviceSpec("Raspberry Pi 4 (4x Cortex-A72 @ 1.5 GHz, LPDDR4)",
                  24, 48, 4, "4 cores x 1.5 GHz x 4 fp32 MAC/cycle; int8 ~x2 (no SDOT); ~4 GB/s measured")
CORAL = DeviceSpec("Coral Edge TPU (USB accelerator)",
                   0.001, 2000, 0.4, "4 TOPS int8 = 2 TMAC/s; weights beyond 8 MB SRAM stream over USB")
CORTEX_M7 = DeviceSpec("Cortex-M7 @ 480 MHz (STM32H7 class)",
                       0.48, 0.96, 1, "1 fp32 MAC/cycle; int8 SMLAD 2 MAC/cycle; on-chip SRAM/flash")
SERVER = DeviceSpec("2-core x86 server slice with AVX-512 @ 2.5 GHz",
                    160, 640, 20, "2 cores x 2.5 GHz x 32 fp32 MAC/cycle; int8 VNNI x4; ~20 GB/s")

_ROWS = [
    TargetProfile(
        "android", ("tflite",), "int8-dynamic", threads=4,
        budgets=Budgets(max_accuracy_drop=0.5, max_size_mb=50),
        notes="mid-range phone, LiteRT (TFLite) with the XNNPACK CPU delegate", device=PHONE),
    TargetProfile(
        "ios", ("tflite",), "fp16", threads=2,
        budgets=Budgets(max_accuracy_drop=0.5, max_size_mb=50),
        notes="iPhone via LiteRT for iOS (Core ML export is not provided)", device=IPHONE),
    TargetProfile(
        "web", ("tfjs",), "fp16", threads=1,
        budgets=Budgets(max_accuracy_drop=0.5, max_size_mb=20),
        notes="browser via TF.js graph model (wasm / webgl backends)", device=LAPTOP_BROWSER),
    TargetProfile(
        "raspberry-pi", ("tflite",), "int8", threads=4,
        budgets=Budgets(max_accuracy_drop=1.0, max_size_mb=100),
        notes="Raspberry Pi 4 class board: 4x Cortex-A72, LiteRT interpreter", device=RPI4),
    TargetProfile(
        "edge-tpu", ("tflite",), "int8", threads=1,
        budgets=Budgets(max_accuracy_drop=1.0, max_size_mb=8),
        constraints=("full-int8", "int8-io"),
        notes="Coral Edge TPU: fully int8 TFLite with int8 inputs and outputs", device=CORAL),
    TargetProfile(
        "microcontroller", ("tflite",), "int8", threads=1,
        budgets=Budgets(max_accuracy_drop=1.0, max_size_mb=1),
        constraints=("full-int8", "int8-io"),
        notes="Cortex-M class MCU, TFLite Micro: fully int8, small arena", device=CORTEX_M7),
    TargetProfile(
        # fp32 by default: measured on an AVX-512 VNNI host, onnxruntime's int8-dynamic
        # (ConvInteger) ran the sample CNN 5.6x slower than fp32 and static int8 only
        # matched it. `--precision int8` or `auto` when size matters.
        "server-cpu", ("onnx",), "fp32", threads=2,
        budgets=Budgets(max_accuracy_drop=0.5),
        notes="x86/ARM server CPU with onnxruntime", device=SERVER),
]

PROFILES: dict[str, TargetProfile] = {row.name: row for row in _ROWS}

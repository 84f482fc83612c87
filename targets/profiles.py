"""The target profile table. Adding a device class is adding one row.

The CLI's --target choices, `edgekit profiles` and the parametrized tests all read
PROFILES. A row's policy names entries of edgekit.quantize.PRECISIONS in the order the
search tries them; `--precision X` narrows it to X, and a precision a format cannot take
is refused at plan time with the list of those it can. Constraints: "full-int8"
(integer-only kernels), "int8-io" (int8 model inputs and outputs), "static-shapes" (batch
1 and every dimension fixed: what TFLite Micro and the Edge TPU compiler take).
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
CORTEX_M4 = DeviceSpec("Cortex-M4F @ 64 MHz (nRF52840 class)",
                       0.064, 0.128, 0.25, "1 fp32 MAC/cycle (FPU); int8 SMLAD 2 MAC/cycle")
SERVER = DeviceSpec("2-core x86 server slice with AVX-512 @ 2.5 GHz",
                    160, 640, 20, "2 cores x 2.5 GHz x 32 fp32 MAC/cycle; int8 VNNI x4; ~20 GB/s")

# Policies: the precisions each search considers, most aggressive first. Measured on this
# project's x86 hosts (AVX-512 VNNI, 2 threads): full int8 is the precision that is faster
# than fp32 in LiteRT (0.64x fp32's latency on the fer emotion CNN, 0.66x on the digit
# sample); dynamic-range int8 was not faster on 5 of 5 real CNNs (up to 8.8x slower) but
# is 3-4x smaller and helps matmul-heavy models; fp16 weights halve the size at fp32's speed
# on CPU (XNNPACK computes in fp32). The search times each and keeps the fastest proven one,
# so a row lists what is worth trying, not a guess of the winner.
PHONE_POLICY = ("int8", "int8-dynamic", "fp16", "fp32")
_ROWS = [
    TargetProfile(
        "android", ("tflite",), PHONE_POLICY, threads=4,
        budgets=Budgets(max_accuracy_drop=0.5, max_size_mb=50),
        notes="mid-range phone, LiteRT (TFLite) with the XNNPACK CPU delegate", device=PHONE,
        emulated_cpus=("cortex-a53", "cortex-a76")),  # little cores without dot product, big with
    TargetProfile(
        # LiteRT on iOS runs the same XNNPACK CPU kernels as on Android
        "ios", ("tflite",), PHONE_POLICY, threads=2,
        budgets=Budgets(max_accuracy_drop=0.5, max_size_mb=50),
        notes="iPhone via LiteRT for iOS (Core ML export is not provided)", device=IPHONE,
        emulated_cpus=("cortex-a76",)),  # QEMU has no Apple core: the same ISA class (v8.2 + dot product)
    TargetProfile(
        # TF.js de-quantizes weights when it loads a model: every precision runs at fp32's
        # speed, so the smallest proven download wins the tie (uint8, then fp16 weights)
        "web", ("tfjs",), ("int8-dynamic", "fp16", "fp32"), threads=1,
        # 32 MB: TF.js stores no weight in less than a byte, so a 22M-parameter text encoder
        # (all-MiniLM-L6-v2, the usual in-browser sentence encoder) is >= 22.7 MB whatever
        # its accuracy, 25 MB with its outlier weights in float16 (measured); 20 MB refused
        # every such model. Chrome's "Cache AI models in the browser" guide cites production
        # in-browser models of 5.6 to ~25 MB. --max-size-mb sets a page's own budget.
        budgets=Budgets(max_accuracy_drop=0.5, max_size_mb=32),
        notes="browser via TF.js graph model (wasm / webgl backends)", device=LAPTOP_BROWSER),
    TargetProfile(
        "raspberry-pi", ("tflite",), PHONE_POLICY, threads=4,
        budgets=Budgets(max_accuracy_drop=1.0, max_size_mb=100),
        notes="Raspberry Pi 4 class board: 4x Cortex-A72, LiteRT interpreter", device=RPI4,
        emulated_cpus=("cortex-a72", "cortex-a76")),  # Raspberry Pi 4 and 5
    TargetProfile(
        "edge-tpu", ("tflite",), ("int8",), threads=1,
        budgets=Budgets(max_accuracy_drop=1.0, max_size_mb=8),
        constraints=("full-int8", "int8-io", "static-shapes"), device_runtime="edgetpu",
        notes="Coral Edge TPU: fully int8 TFLite with int8 inputs and outputs, batch 1", device=CORAL,
        emulated_cpus=("cortex-a53",)),  # the Dev Board's host CPU runs what the TPU cannot
    TargetProfile(
        # flash holds the model (max_size_mb), RAM the tensor arena TFLite Micro measures
        "microcontroller", ("tflite",), ("int8",), threads=1,
        budgets=Budgets(max_accuracy_drop=1.0, max_size_mb=2, max_ram_kb=512),
        constraints=("full-int8", "int8-io", "static-shapes"), device_runtime="tflite-micro",
        notes="Cortex-M7 board (512 KB RAM, 2 MB flash), TFLite Micro: fully int8, batch 1",
        device=CORTEX_M7),
    TargetProfile(
        "microcontroller-m4", ("tflite",), ("int8",), threads=1,
        budgets=Budgets(max_accuracy_drop=1.0, max_size_mb=1, max_ram_kb=256),
        constraints=("full-int8", "int8-io", "static-shapes"), device_runtime="tflite-micro",
        notes="Cortex-M4 board (256 KB RAM, 1 MB flash), TFLite Micro: fully int8, batch 1",
        device=CORTEX_M4),
    TargetProfile(
        # onnxruntime: static int8 (QDQ) only matched fp32 on the sample CNN and dynamic int8
        # (ConvInteger) ran it 5.6x slower, but dynamic int8 speeds up transformer MatMuls;
        # fp16 is left out (CPU kernels cast back to fp32)
        "server-cpu", ("onnx",), ("int8", "int8-dynamic", "fp32"), threads=2,
        budgets=Budgets(max_accuracy_drop=0.5),
        notes="x86/ARM server CPU with onnxruntime", device=SERVER,
        emulated_cpus=("neoverse-n1",)),  # ARM servers (AWS Graviton 2 class)
]

PROFILES: dict[str, TargetProfile] = {row.name: row for row in _ROWS}

"""What machine the numbers were measured on: CPU model, the ISA flags int8 numerics and
speed depend on (AVX2, AVX-512 VNNI, ARM dot product...), and whether a GPU exists.
Standard library only: it must work in the slim runtime install on a device."""
from __future__ import annotations

import os
import platform
import shutil
from functools import lru_cache

ISA_FLAGS = ("avx2", "fma", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_int8",
             "asimd", "asimddp", "sve", "i8mm")


@lru_cache(maxsize=1)
def host() -> dict:
    cpu, flags = platform.processor() or platform.machine(), set()
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                key, _, value = line.partition(":")
                key = key.strip().lower()
                if key in ("model name", "hardware") and cpu in ("", platform.machine()):
                    cpu = value.strip()
                elif key in ("flags", "features"):
                    flags |= set(value.split())
    except OSError:
        pass
    return {"cpu": cpu, "machine": platform.machine(), "cores": os.cpu_count(),
            "isa": [flag for flag in ISA_FLAGS if flag in flags], "gpu": gpu()}


def gpu() -> dict:
    """A CUDA GPU if one is usable, else why not: never an error on a CPU-only machine."""
    providers = []
    try:
        import onnxruntime
        providers = onnxruntime.get_available_providers()
    except ImportError:
        pass
    has_driver = os.path.exists("/proc/driver/nvidia/version") or shutil.which("nvidia-smi")
    if has_driver and "CUDAExecutionProvider" in providers:
        return {"available": True, "via": "onnxruntime CUDAExecutionProvider"}
    return {"available": False,
            "reason": "no NVIDIA driver found" if not has_driver
            else "driver present but no CUDA execution provider installed"}

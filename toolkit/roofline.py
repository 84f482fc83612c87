"""Device estimates from a roofline: a model cannot run faster on a device than its
multiply-accumulates allow at the device's peak compute, nor faster than its weights can
be read at the device's memory bandwidth. That bound is labelled as an estimate: real
devices reach a fraction of peak, which `host_efficiency` shows for the host itself.

Peak figures are public, approximate numbers for a typical member of each device class.
"""
from __future__ import annotations

from dataclasses import dataclass

MACS_PER_CYCLE = (("avx512f", 32), ("fma", 16), ("avx2", 16), ("asimd", 8))  # fp32, per core


@dataclass(frozen=True)
class DeviceSpec:
    name: str
    peak_gmacs_fp32: float  # all cores, billions of fp32 multiply-accumulates per second
    peak_gmacs_int8: float
    bandwidth_gbs: float  # DRAM (or flash/SRAM) bandwidth, GB/s
    basis: str  # where the figures come from

    def lower_bound_ms(self, macs: int, weight_bytes: int, precision: str) -> float:
        from .quantize import PRECISIONS
        peak = self.peak_gmacs_int8 if PRECISIONS[precision].integer_math else self.peak_gmacs_fp32
        return max(macs / (peak * 1e9), weight_bytes / (self.bandwidth_gbs * 1e9)) * 1e3


def host_peak_gmacs(host: dict) -> float | None:
    """Theoretical fp32 peak of the host: cores x clock x FMA lanes of its widest ISA."""
    mhz = _clock_mhz()
    lanes = next((n for flag, n in MACS_PER_CYCLE if flag in host.get("isa", [])), 4)
    return host["cores"] * mhz * 1e-3 * lanes if mhz and host.get("cores") else None


def estimate(macs: int | None, weight_bytes: int, precision: str, device: DeviceSpec | None,
             host: dict, p50_ms: float | None) -> dict | None:
    if macs is None:
        return None
    result = {"macs": int(macs), "weight_bytes": int(weight_bytes)}
    if device is not None:
        result.update(device=device.name, device_basis=device.basis,
                      device_lower_bound_ms=round(device.lower_bound_ms(macs, weight_bytes, precision), 6))
    peak = host_peak_gmacs(host)
    if peak and p50_ms:
        result.update(host_peak_gmacs=round(peak, 1),
                      host_efficiency=round(macs / (p50_ms * 1e-3) / (peak * 1e9), 5))
    return result


def model_estimate(handle, device: DeviceSpec | None, p50_ms: float | None,
                   sample=None) -> dict | None:
    """`estimate` for a model whose format can count its MACs (TFLite, ONNX), else None;
    `sample` is the input the model was timed on (shapes for dynamic dimensions)."""
    from .errors import first_line
    from .host import host
    from .targets.registry import format_module
    fmt = format_module(handle.format)
    if fmt.macs is None:
        return None
    try:
        macs, weight_bytes = fmt.macs(handle, sample), fmt.weight_bytes(handle)
    except ImportError as error:  # the slim runtime install lacks e.g. the onnx package
        return {"unavailable": f"counting MACs needs the '{error.name}' package"}
    except Exception as error:  # an estimate, not a proof: say why there is none
        return {"unavailable": f"counting MACs failed: {first_line(error)}"}
    return estimate(macs, weight_bytes, handle.precision, device, host(), p50_ms)


def _clock_mhz() -> float | None:
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.lower().startswith("cpu mhz"):
                    return float(line.split(":")[1])
    except (OSError, ValueError):
        pass
    return None

"""MAC counting agrees across formats, and the roofline bound behaves."""
import pytest

import edgekit
from edgekit.inspection import open_any
from edgekit.roofline import DeviceSpec, estimate
from edgekit.targets.registry import format_module

TINY_MACS = 8 * 8 * 4 * (3 * 3 * 3) + 256 * 5  # conv 3x3x3 -> 4 channels on 8x8, dense 256 -> 5


@pytest.mark.parametrize("fmt, precision", [("tflite", "fp32"), ("onnx", "fp32"), ("tflite", "int8-dynamic"),
                                             ("onnx", "int8-dynamic")])
def test_macs_of_the_tiny_cnn(tiny_keras, tmp_path, fmt, precision):
    result = edgekit.convert(str(tiny_keras), "android", tmp_path / "out", formats=(fmt,),
                             precision=precision, bench_runs=3)
    artifact = result.report["artifacts"][0]
    handle = open_any(str(result.out / artifact["path"]))
    assert format_module(fmt).macs(handle) == TINY_MACS
    assert artifact["estimate"]["macs"] == TINY_MACS
    assert artifact["estimate"]["device_lower_bound_ms"] > 0 and "Cortex-A78" in artifact["estimate"]["device"]


def test_roofline_takes_the_slower_of_compute_and_memory():
    device = DeviceSpec("toy", peak_gmacs_fp32=1, peak_gmacs_int8=4, bandwidth_gbs=1, basis="test")
    assert device.lower_bound_ms(10**9, 0, "fp32") == pytest.approx(1000)  # compute bound
    assert device.lower_bound_ms(10**9, 0, "int8") == pytest.approx(250)
    assert device.lower_bound_ms(0, 2 * 10**9, "fp32") == pytest.approx(2000)  # memory bound
    host = {"cores": 2, "isa": ["avx2"]}
    result = estimate(10**6, 1000, "fp32", device, host, p50_ms=1.0)
    assert result["device"] == "toy" and result["macs"] == 10**6


def test_gpu_column_says_why_it_is_empty(tiny_keras, tmp_path):
    from edgekit.host import gpu
    result = edgekit.convert(str(tiny_keras), "server-cpu", tmp_path / "out", bench_runs=3)
    column = result.report["artifacts"][0]["gpu"]
    if gpu()["available"]:
        assert column["available"] and column["latency_ms"]["p50"] > 0
    else:
        assert column == {"available": False, "reason": gpu()["reason"]}

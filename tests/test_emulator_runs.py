"""The arm64 emulator for real: `edgekit emulator setup` (Debian's arm64 Python, aarch64
wheels, QEMU 10), then the digit sample's full-int8 and dynamic-int8 TFLite artifacts
proven under two CPU models each, then `validate --emulate` on another CPU model.
Skipped, saying why, only when the emulator cannot be set up on this machine."""
import json
import subprocess
import sys

import pytest

from conftest import SAMPLES

pytestmark = pytest.mark.slow

EVAL = str(SAMPLES / "digits_eval.npz")


def edgekit(*args, env=None):
    return subprocess.run([sys.executable, "-m", "edgekit", *map(str, args)], capture_output=True,
                          text=True, timeout=1800, env=env)


def test_emulator_setup_then_artifacts_proven_on_arm_cpu_models(tmp_path):
    import os
    cache = tmp_path / "arm64"
    env = {**os.environ, "EDGEKIT_ARM64_CACHE": str(cache)}
    missing = edgekit("convert", SAMPLES / "digits_keras.keras", "--target", "raspberry-pi",
                      "--emulate", "arm64", "--out", tmp_path / "none", env=env)
    assert missing.returncode == 1 and missing.stderr.strip().endswith(
        "is not installed; install it with: edgekit emulator setup"), missing.stderr
    assert not (tmp_path / "none").exists()

    setup = edgekit("emulator", "setup", env=env)
    if setup.returncode != 0:
        pytest.skip(f"the arm64 emulator cannot be set up here: {setup.stderr.strip().splitlines()[-1]}")
    assert f"arm64 emulator ready: {cache}" in setup.stdout
    again = edgekit("emulator", "setup", env=env)  # idempotent: every part is up to date
    assert again.returncode == 0 and "sysroot: up to date" in again.stderr
    assert "qemu-aarch64: up to date" in again.stderr and "wheels: up to date" in again.stderr

    for precision in ("int8", "int8-dynamic"):
        out = tmp_path / precision
        run = edgekit("convert", SAMPLES / "digits_keras.keras", "--target", "raspberry-pi",
                      "--eval", EVAL, "--precision", precision, "--bench-runs", "0",
                      "--emulate", "arm64", "--emulate-samples", "16", "--out", out, env=env)
        assert run.returncode == 0, run.stderr
        assert "arm64 emulation (16 samples, numerics only): cortex-a72" in run.stdout
        deliverable, = json.loads((out / "report.json").read_text())["deliverables"]
        emulated = deliverable["emulated"]
        assert emulated["passed"] and [r["cpu"] for r in emulated["cpus"]] == ["cortex-a72", "cortex-a76"]
        assert all(r["ran"] and r["top1_agreement_vs_x86"] == 1.0 for r in emulated["cpus"])
        if precision == "int8":  # integer kernels: the same bytes on every ISA path
            assert all(r["bit_identical"] for r in emulated["cpus"]), emulated
        else:  # float activations: other summation orders, tiny differences
            assert all(r["max_abs_diff_vs_x86"] < 1e-3 for r in emulated["cpus"]), emulated
        metadata = json.loads((out / "deploy" / "tflite" / "edgekit.json").read_text())
        assert metadata["precision"] == precision

    checked = edgekit("validate", SAMPLES / "digits_keras.keras",
                      tmp_path / "int8" / "deploy" / "tflite" / "model.tflite", "--eval", EVAL,
                      "--emulate", "arm64", "--emulate-cpu", "cortex-a53", "--emulate-samples", "8",
                      "--json", env=env)
    assert checked.returncode == 0, checked.stderr
    result = json.loads(checked.stdout)
    assert [r["cpu"] for r in result["emulated"]["cpus"]] == ["cortex-a53"]
    assert result["emulated"]["samples"] == 8 and result["passed"]

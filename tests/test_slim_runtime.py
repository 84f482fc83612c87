"""`edgekit bench` on a device-like install: only numpy, click and the runtimes."""
import json
import subprocess
import sys

import pytest

import edgekit
from conftest import REPO

pytestmark = pytest.mark.slow
RUNTIME_PINS = ["numpy==2.4.6", "click==8.5.1", "ai-edge-litert==2.3.0", "onnxruntime==1.31.1"]


@pytest.fixture(scope="module")
def slim_venv(tmp_path_factory):
    venv = tmp_path_factory.mktemp("slim") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet"]
    subprocess.run(pip + RUNTIME_PINS, check=True, capture_output=True)
    subprocess.run(pip + ["--no-deps", str(REPO)], check=True, capture_output=True)
    return venv


def test_the_slim_install_has_no_framework(slim_venv):
    probe = subprocess.run([str(slim_venv / "bin" / "python"), "-c",
                            "import importlib.util as u; print([m for m in ('tensorflow', 'torch', "
                            "'keras', 'onnx') if u.find_spec(m)])"], capture_output=True, text=True)
    assert probe.stdout.strip() == "[]"


@pytest.mark.parametrize("fmt", ["tflite", "onnx"])
def test_bench_runs_in_the_slim_install(slim_venv, tiny_keras, tmp_path, fmt):
    result = edgekit.convert(str(tiny_keras), "android", tmp_path / "out", formats=(fmt,),
                             precision="fp32", bench_runs=0)
    artifact = result.out / result.report["artifacts"][0]["path"]
    run = subprocess.run([str(slim_venv / "bin" / "edgekit"), "bench", str(artifact), "--runs", "30",
                          "--threads", "1", "--json"], capture_output=True, text=True, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    reply = json.loads(run.stdout)
    assert reply["format"] == fmt and reply["threads"] == 1 and reply["runs"] == 30
    assert 0 < reply["latency_ms"]["min"] <= reply["latency_ms"]["p50"] <= reply["latency_ms"]["p99"]
    gpu = reply["host"]["gpu"]
    assert reply["verdict"] in ("ok", "noisy") and (gpu["available"] or gpu["reason"])

"""End to end on the real sample models, through the installed `edgekit` command."""
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import SAMPLES
from report_outline import matches_golden

pytestmark = pytest.mark.slow
EDGEKIT = str(Path(sys.executable).with_name("edgekit"))
EVAL = str(SAMPLES / "digits_eval.npz")
SOURCES = {
    "keras": [str(SAMPLES / "digits_keras.keras")],
    "torch": [f"{SAMPLES / 'digits_torch.py'}:build", "--weights", str(SAMPLES / "digits_torch.pt"),
              "--input-shape", "1,1,28,28"],
}


# a step of edgekit.progress, as a CI log shows it
PROGRESS = re.compile(r"^\[\d\d:\d\d\] .+ \.\.\. (\d+\.\d s|\d+ min \d\d s|failed)$")


def edgekit(*args):
    return subprocess.run([EDGEKIT, *args], capture_output=True, text=True)


def convert_ok(model_args, target, out, *extra) -> dict:
    """A passing run, piped as in CI: progress streams to stderr while it runs, nothing else
    reaches stderr (no framework log noise), and the table fits 100 columns."""
    process = subprocess.Popen([EDGEKIT, "convert", *model_args, "--target", target, "--eval", EVAL,
                                "--out", str(out), *extra],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    first = process.stderr.readline()
    streamed = process.poll() is None  # the first step's line came while the run went on
    stdout, stderr = process.communicate()
    stderr = first + stderr
    assert process.returncode == 0, stdout + stderr
    assert "PASSED" in stdout
    assert streamed and first.startswith("[00:00] loading "), first
    assert [line for line in stderr.splitlines() if not PROGRESS.match(line)] == [], stderr
    table = stdout.splitlines()[:stdout.splitlines().index(next(
        line for line in stdout.splitlines() if line.startswith("DELIVER:")))]
    assert max(len(line) for line in table) <= 100, stdout
    return json.loads((out / "report.json").read_text())


@pytest.mark.parametrize("target", ["android", "web", "server-cpu"])
@pytest.mark.parametrize("source", SOURCES)
def test_sample_models_convert_within_half_a_point(source, target, tmp_path):
    report = convert_ok(SOURCES[source], target, tmp_path / "out")
    assert report["source"]["accuracy"] >= 0.97
    assert report["artifacts"], report
    for artifact in report["artifacts"]:
        assert artifact["passed"] and artifact["accuracy"] is not None
        assert abs(report["source"]["accuracy"] - artifact["accuracy"]) * 100 <= 0.5
        assert artifact["drift"]["top1_agreement"] >= 0.99
    assert report["data"]["samples"] == 1000 and report["data"]["labelled"]
    assert set(report) >= {"target", "source", "artifacts", "passed", "versions"}
    same, diff = matches_golden(report, f"report-{source}-{target}")  # shows report changes in review
    assert same, diff


def test_onnx_export_of_the_torch_sample_converts_to_tflite_and_tfjs(tmp_path):
    server = convert_ok(SOURCES["torch"], "server-cpu", tmp_path / "server", "--precision", "fp32")
    onnx_file = tmp_path / "server" / server["artifacts"][0]["path"]
    report = convert_ok([str(onnx_file)], "android", tmp_path / "out", "--formats", "tflite,tfjs",
                        "--precision", "fp32")
    assert {a["format"] for a in report["artifacts"]} == {"tflite", "tfjs"}
    assert all(a["accuracy"] == report["source"]["accuracy"] for a in report["artifacts"])


def test_keras2_h5_converts(tmp_path):
    report = convert_ok([str(SAMPLES / "digits_keras2.h5")], "android", tmp_path / "out")
    assert report["source"]["format"] == "keras" and report["passed"]


@pytest.mark.parametrize("cut", [0.5, 0.9])
@pytest.mark.parametrize("model", ["digits_keras.keras", "digits_keras2.h5"])
def test_truncated_models_fail_cleanly(model, cut, tmp_path):
    original = (SAMPLES / model).read_bytes()
    broken = tmp_path / model
    broken.write_bytes(original[:int(len(original) * cut)])
    result = edgekit("convert", str(broken), "--target", "android", "--out", str(tmp_path / "out"))
    assert result.returncode == 1
    lines = [line for line in result.stderr.splitlines() if not PROGRESS.match(line)]
    assert len(lines) == 1 and lines[0].startswith("Error: ") and "Traceback" not in result.stderr, \
        result.stderr
    assert not (tmp_path / "out").exists()


def test_a_second_run_replaces_the_first_atomically(tmp_path):
    out = tmp_path / "out"
    convert_ok(SOURCES["keras"], "server-cpu", out)
    first = (out / "report.json").read_text()
    convert_ok(SOURCES["keras"], "web", out)
    assert json.loads((out / "report.json").read_text())["target"] == "web" != json.loads(first)["target"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_dry_run_prints_the_plan_and_writes_nothing(tmp_path):
    result = edgekit("convert", *SOURCES["torch"], "-t", "web", "--out", str(tmp_path / "out"),
                     "--dry-run")
    assert result.returncode == 0, result.stderr
    assert "1. tfjs fp32 via torch.onnx.export -> onnx2tf -> tensorflowjs" in result.stdout
    assert "tfjs int8-dynamic via torch.onnx.export -> onnx2tf -> tensorflowjs" in result.stdout
    assert "after a int8-dynamic candidate breaks the budget: the same with the layers " \
           "int8-dynamic damages most kept in float" in result.stdout
    assert not (tmp_path / "out").exists()


def test_a_size_budget_given_to_convert_replaces_the_profiles(tmp_path):
    plan = edgekit("convert", *SOURCES["keras"], "-t", "web", "--max-size-mb", "45", "--dry-run")
    assert "(max accuracy drop 0.5 points, max size 45 MB)" in plan.stdout, plan.stdout
    result = edgekit("convert", *SOURCES["keras"], "-t", "server-cpu", "--max-size-mb", "0.03",
                     "--bench-runs", "0", "--quick", "--out", str(tmp_path / "out"))
    assert result.returncode == 2, result.stderr
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["profile"]["budgets"]["max_size_mb"] == 0.03 and not report["deliverables"]
    assert "size 0.05 MB > budget 0.03 MB" in result.stdout


@pytest.mark.parametrize("source", SOURCES)
def test_full_int8_tflite_is_small_and_accurate(source, tmp_path):
    report = convert_ok(SOURCES[source], "android", tmp_path / "out", "--precision", "int8")
    artifact, = report["artifacts"]
    # int8 weights are 4x smaller; the float inputs/outputs' (de)quantize ops add a little
    assert artifact["precision"] == "int8" and artifact["size_ratio_fp32"] <= 0.31
    assert abs(artifact["accuracy_drop"]) <= 0.5
    assert report["calibration"]["samples"] == 200


@pytest.mark.parametrize("target", ["edge-tpu", "microcontroller"])
def test_integer_only_targets_get_int8_io(target, tmp_path):
    report = convert_ok(SOURCES["torch"], target, tmp_path / "out")
    artifact, = report["artifacts"]
    assert artifact["inputs"][0].split(": ")[1].startswith("int8[1x")  # static batch of 1
    assert artifact["outputs"][0].split(": ")[1].startswith("int8[1x")
    assert abs(artifact["accuracy_drop"]) <= 1.0
    device = report["deliverables"][0]["device"]
    if target == "edge-tpu":  # read against the compiler's operator table
        assert device["edge_tpu_operators"] + len(device["cpu_operators"]) == device["operators"] > 0
        assert device["compile"].startswith("edgetpu_compiler -s deploy/tflite/model.tflite")
    else:  # proven in TFLite Micro, with the C sources beside
        assert device["drift_per_output"] and device["arena_bytes"] > 0
        assert (tmp_path / "out" / "deploy" / "microcontroller" / "model_data.cc").is_file()


@pytest.mark.parametrize("precision, most", [("fp16", 0.55), ("int8-dynamic", 0.35)])
def test_tfjs_weight_quantization_on_the_sample(precision, most, tmp_path):
    report = convert_ok(SOURCES["keras"], "web", tmp_path / "out", "--precision", precision)
    artifact, = report["artifacts"]
    assert artifact["size_ratio_fp32"] <= most and abs(artifact["accuracy_drop"]) <= 0.5


def test_pruning_the_torch_sample(tmp_path):
    train = str(SAMPLES / "digits_train.npz")
    magnitude = convert_ok(SOURCES["torch"], "android", tmp_path / "mag", "--prune", "0.5",
                           "--train", train, "--precision", "fp32")["pruning"]
    assert abs(magnitude["zero_fraction"] - 0.5) < 0.01
    assert magnitude["accuracy_change_points"] > -0.5
    assert magnitude["speedup"] >= 1.1 or "no speed-up measured" in magnitude["note"]
    channels = convert_ok(SOURCES["torch"], "android", tmp_path / "ch", "--prune", "0.5",
                          "--prune-method", "channels", "--train", train, "--epochs", "2",
                          "--precision", "fp32")["pruning"]  # the pruning is what is tested here
    assert channels["parameters_after"] < 0.5 * channels["parameters_before"]


def test_convert_then_check_gates_ci(tmp_path):
    convert_ok(SOURCES["keras"], "android", tmp_path / "out")
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    artifact, = report["artifacts"]
    assert artifact["latency_ms"]["p50"] > 0 and artifact["threads"] >= 1
    assert report["host"]["isa"] is not None and report["source"]["latency_ms"] is not None
    ok = edgekit("check", str(tmp_path / "out" / "report.json"), "--baseline",
                 str(tmp_path / "out" / "report.json"))
    assert ok.returncode in (0, 3), ok.stdout  # 3 only if the host was too noisy to judge
    assert "accuracy vs baseline" in ok.stdout

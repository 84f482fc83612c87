"""Hostile and careless inputs (safety review, round 2): non-finite numbers never pass a
drift check, --out replaces only what edgekit wrote, user code stays in its box, bad input
is never reported as a bug (exit 70), and nothing blocks on a FIFO or reads outside a
model's folder. Models are tiny ONNX graphs built here (no TensorFlow, no torch)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from test_bad_inputs import assert_clean_error, run_cli

from edgekit.drift import Tolerance, compare, violations

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

pytestmark = pytest.mark.pure  # no framework, runtime or Node (conftest: FRAMEWORKS)


def onnx_model(path: Path, nodes, inputs, outputs, initializers=()) -> Path:
    graph = helper.make_graph(nodes, "g", inputs, outputs, list(initializers))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def tensor(name, shape, kind=TensorProto.FLOAT):
    return helper.make_tensor_value_info(name, kind, shape)


def scaled(path: Path, factor: float, nan_at_first_pixel: bool = False) -> Path:
    """y = factor * x on [N, 4, 4] (a regression output: no top-1 check applies), plus,
    optionally, a NaN in the first pixel of every sample."""
    offset = np.zeros((4, 4), np.float32)
    offset[0, 0] = np.nan if nan_at_first_pixel else 0.0
    return onnx_model(path, [helper.make_node("Mul", ["x", "k"], ["m"]),
                             helper.make_node("Add", ["m", "offset"], ["y"])],
                      [tensor("x", ["n", 4, 4])], [tensor("y", ["n", 4, 4])],
                      [numpy_helper.from_array(np.array(factor, np.float32), "k"),
                       numpy_helper.from_array(offset, "offset")])


@pytest.fixture
def data(tmp_path) -> Path:
    path = tmp_path / "data.npz"
    np.savez(path, x=np.random.default_rng(0).random((16, 4, 4), dtype=np.float32))
    return path


def strict_loads(text: str):
    def refuse(name):
        raise AssertionError(f"{name} in JSON output")
    return json.loads(text, parse_constant=refuse)


# --- 3. non-finite values are failures ---

@pytest.mark.framework  # needs a framework (ImportError when blocked)
def test_an_artifact_with_one_nan_per_sample_fails_although_it_computes_something_else(tmp_path, data):
    original = scaled(tmp_path / "double.onnx", 2.0)
    wrong = scaled(tmp_path / "wrong.onnx", -3.0, nan_at_first_pixel=True)
    code, output = run_cli("validate", original, wrong, "--eval", data)
    assert code == 2, output
    assert "16 NaN/Inf values where the original's are finite" in output
    code, output = run_cli("validate", original, wrong, "--eval", data, "--json")
    result = strict_loads(output)  # strict JSON: no bare NaN for JSON.parse or jq to choke on
    assert result["passed"] is False and result["runs"][0]["problems"]


@pytest.mark.parametrize("tolerance", [Tolerance(max_abs_error=1e-4), Tolerance(min_cosine=0.99),
                                       Tolerance(min_sqnr_db=20)])
def test_every_tolerance_fails_an_output_with_nan(tolerance):
    reference = [np.ones((3, 5), np.float32)]
    got = [np.full((3, 5), np.nan, np.float32)]
    problems = violations(compare(reference, got), tolerance)
    assert any("NaN/Inf" in p for p in problems), problems


def test_a_metric_that_is_nan_fails_instead_of_passing():
    from edgekit.drift import Drift
    nan = float("nan")
    drift = Drift(nan, None, nan, nan, nan, nan, 1.0)
    tolerance = Tolerance(max_abs_error=1e-4, min_cosine=0.99, min_top1_agreement=0.9, min_sqnr_db=20)
    assert len(violations([drift], tolerance)) == 4


@pytest.mark.framework  # needs a framework (ImportError when blocked)
def test_an_original_that_outputs_nan_on_the_data_is_a_user_error_naming_the_output(tmp_path, data):
    log = onnx_model(tmp_path / "log.onnx", [helper.make_node("Log", ["x"], ["logits"])],
                     [tensor("x", ["n", 4, 4])], [tensor("logits", ["n", 4, 4])])
    negative = tmp_path / "negative.npz"
    np.savez(negative, x=-np.ones((4, 4, 4), np.float32))
    code, output = run_cli("validate", log, log, "--eval", negative)
    assert_clean_error(code, output, tmp_path / "none")
    assert "NaN/Inf values in 'logits'" in output
    code, output = run_cli("convert", log, "-t", "server-cpu", "--eval", negative,
                           "--out", tmp_path / "out", "--bench-runs", "0")
    assert_clean_error(code, output, tmp_path / "out")


def test_data_that_overflows_when_cast_to_the_models_dtype_is_refused(tmp_path):
    model = scaled(tmp_path / "double.onnx", 2.0)
    huge = tmp_path / "huge.npz"
    values = np.ones((4, 4, 4), np.float64)
    values[0, 0, 0] = 1e300  # finite in float64, Inf in float32
    np.savez(huge, x=values)
    code, output = run_cli("validate", model, model, "--eval", huge)
    assert_clean_error(code, output, tmp_path / "none")
    assert "once cast to float32" in output


def test_a_report_never_holds_bare_nan_or_infinity():
    from edgekit.report import strict_json
    text = strict_json({"artifacts": [{"accuracy": float("nan"), "drift": {"cosine": float("inf")}}]})
    report = strict_loads(text)
    assert report["artifacts"][0]["accuracy"] is None
    assert any("report.artifacts[0].accuracy" in w for w in report["warnings"])


# --- 4. --out replaces only what edgekit wrote; every input is protected ---

def test_a_labels_file_inside_the_output_being_replaced_is_protected(tmp_path, data):
    model = scaled(tmp_path / "double.onnx", 2.0)
    out = tmp_path / "out"
    out.mkdir()
    (out / "labels.txt").write_text("\n".join("abcd"))
    (out / "report.json").write_text(json.dumps({"files": ["labels.txt", "report.json"]}))
    code, output = run_cli("convert", model, "-t", "server-cpu", "--eval", data, "--out", out,
                           "--labels", out / "labels.txt", "--bench-runs", "0")
    assert code == 1 and "would replace the input" in output, output
    assert (out / "labels.txt").read_text() == "a\nb\nc\nd"


@pytest.mark.framework  # needs a framework (ImportError when blocked)
def test_a_rerun_replaces_its_own_earlier_output(tmp_path, data):
    model = scaled(tmp_path / "double.onnx", 2.0)
    out = tmp_path / "out"
    for _ in range(2):
        code, output = run_cli("convert", model, "-t", "server-cpu", "--eval", data, "--out", out,
                               "--bench-runs", "0")
        assert code == 0, output
    listed = json.loads((out / "report.json").read_text())["files"]
    assert "report.json" in listed and any(name.endswith(".onnx") for name in listed)


# --- 5. user code stays in its box ---

@pytest.mark.parametrize("body", ["import sys\nsys.exit(0)\n",
                                  "import argparse\nparser = argparse.ArgumentParser()\n"
                                  "parser.add_argument('--lr', required=True)\nparser.parse_args()\n"])
def test_a_factory_file_cannot_end_edgekit_with_its_own_exit_code(tmp_path, body):
    """sys.exit(0) read as success by CI; a training script's argparse parsed edgekit's
    argv and exited 2, the code for "an artifact broke its budget"."""
    script = tmp_path / "train.py"
    script.write_text(body + "import torch\ndef build():\n    return torch.nn.Linear(4, 2)\n")
    code, output = run_cli("convert", f"{script}:build", "--input-shape", "1,4", "-t", "server-cpu",
                           "--out", tmp_path / "out", "--bench-runs", "0")
    assert_clean_error(code, output, tmp_path / "out")
    assert str(script) in output


@pytest.mark.framework  # needs a framework (ImportError when blocked)
def test_a_factory_sees_only_its_own_path_in_argv(tmp_path):
    script = tmp_path / "argv.py"
    record = tmp_path / "argv.json"
    script.write_text(f"import json, sys, torch\njson.dump(sys.argv, open({str(record)!r}, 'w'))\n"
                      "def build():\n    return torch.nn.Linear(4, 2)\n")
    code, output = run_cli("inspect", f"{script}:build", "--input-shape", "1,4")
    assert code == 0, output
    assert json.loads(record.read_text()) == [str(script)]


# --- 6. bad input is a user error (1), never "a bug in edgekit" (70) ---

@pytest.mark.parametrize("args", [
    ["convert", "MODEL", "-t", "server-cpu", "--seed", "-1"],
    ["convert", "MODEL", "-t", "android", "--precision", "int8", "--calib-samples", "0",
     "--eval", "DATA"],
    ["convert", "MODEL", "-t", "server-cpu", "--bench-runs", "-3"],
    ["convert", "MODEL", "-t", "server-cpu", "--max-drop", "-1"],
    ["convert", "MODEL", "-t", "server-cpu", "--prune", "1.5"],
    ["bench", "MODEL", "--runs", "0"],
    ["bench", "MODEL", "--threads", "0"],
    ["demo", "--port", "70000"],
], ids=lambda args: " ".join(args[2:] if args[0] != "demo" else args))
def test_numeric_options_out_of_range_are_usage_errors(tmp_path, data, args):
    files = {"MODEL": scaled(tmp_path / "double.onnx", 2.0), "DATA": data}
    args = [files.get(a, a) for a in args] + (["--out", tmp_path / "out"] if args[0] == "convert" else [])
    code, output = run_cli(*args)
    assert_clean_error(code, output, tmp_path / "out")


def test_huge_input_shapes_are_refused_before_allocating(tmp_path):
    script = tmp_path / "net.py"
    script.write_text("import torch\ndef build():\n    return torch.nn.Identity()\n")
    code, output = run_cli("inspect", f"{script}:build", "--input-shape", "1,100000,100000,100")
    assert_clean_error(code, output, tmp_path / "out")


@pytest.mark.parametrize("missing", ["inputs", "outputs"])
def test_onnx_without_inputs_or_outputs_is_refused(tmp_path, missing):
    constant = numpy_helper.from_array(np.ones(3, np.float32), "c")
    if missing == "inputs":
        model = onnx_model(tmp_path / "m.onnx", [helper.make_node("Identity", ["c"], ["y"])], [],
                           [tensor("y", [3])], [constant])
    else:
        model = onnx_model(tmp_path / "m.onnx", [helper.make_node("Identity", ["x"], ["y"])],
                           [tensor("x", [3])], [])
    code, output = run_cli("inspect", model)
    assert_clean_error(code, output, tmp_path / "out")
    assert f"has no {missing}" in output


def test_a_model_that_fails_on_the_data_is_a_user_error_naming_model_and_shapes(tmp_path):
    reshape = onnx_model(tmp_path / "reshape.onnx", [helper.make_node("Reshape", ["x", "s"], ["y"])],
                         [tensor("x", ["n", 4])], [tensor("y", ["m", 3])],
                         [numpy_helper.from_array(np.array([-1, 3], np.int64), "s")])
    odd = tmp_path / "odd.npz"
    np.savez(odd, x=np.ones((5, 4), np.float32))  # 20 values do not split into rows of 3
    code, output = run_cli("convert", reshape, "-t", "server-cpu", "--eval", odd,
                           "--out", tmp_path / "out", "--bench-runs", "0")
    assert_clean_error(code, output, tmp_path / "out")
    assert "failed to run on the evaluation data (x 5x4 float32)" in output


def test_an_npz_header_that_claims_more_than_the_file_holds_is_refused(tmp_path):
    model = scaled(tmp_path / "double.onnx", 2.0)
    honest = tmp_path / "honest.npy"
    np.save(honest, np.ones((2, 4, 4), np.float32))
    lying = tmp_path / "lying.npy"
    lying.write_bytes(honest.read_bytes().replace(b"(2, 4, 4)", b"(99999999999, 4, 4)"))
    code, output = run_cli("validate", model, model, "--eval", lying)
    assert_clean_error(code, output, tmp_path / "out")
    assert "corrupt or truncated" in output


@pytest.mark.framework  # needs a framework (ImportError when blocked)
def test_a_decompression_bomb_in_the_calibration_folder_is_a_user_error(tmp_path, tiny_onnx):
    from PIL import Image
    images = tmp_path / "calib"
    images.mkdir()
    Image.new("1", (10000, 9000)).save(images / "bomb.png")  # 90 M pixels: Pillow's limit is 89 M
    code, output = run_cli("convert", tiny_onnx, "-t", "android", "--precision", "int8",
                           "--calib", images, "--out", tmp_path / "out", "--bench-runs", "0")
    assert_clean_error(code, output, tmp_path / "out")
    assert "bomb.png" in output


MALFORMED_REPORTS = ['[]', '{"artifacts": 3}', '{"artifacts": [{"format": "tflite"}]}',
                     '{"artifacts": [{"format": "tflite", "precision": "fp32", "passed": "yes", '
                     '"problems": [], "size_bytes": 1}]}', '{"artifacts": [], "passed": NaN}',
                     '{"artifacts": [{"format": "tflite", "precision": "fp32", "passed": true, '
                     '"problems": [], "size_bytes": 1, "latency_ms": {"p90": 1}}]}', "\x00\xff"]


@pytest.mark.parametrize("text", MALFORMED_REPORTS)
def test_malformed_reports_given_to_check_and_demo_are_user_errors(tmp_path, text):
    folder = tmp_path / "out"
    folder.mkdir()
    (folder / "report.json").write_text(text, errors="surrogateescape")
    code, output = run_cli("check", folder / "report.json")
    assert_clean_error(code, output, tmp_path / "none")
    if text.startswith("{") and "format" in text or text in ("[]", "\x00\xff"):
        code, output = run_cli("demo", folder, "--port", "0")
        assert_clean_error(code, output, tmp_path / "none")


# --- 7. never block, never escape: TF.js folders, report files, calibration folders ---

def tfjs_folder(folder: Path, shards=("group1-shard1of1.bin",), **changes) -> Path:
    folder.mkdir()
    dims = {"dim": [{"size": "-1"}, {"size": "4"}]}
    model = {"format": "graph-model",
             "modelTopology": {"node": [{"name": "x", "op": "Placeholder"},
                                        {"name": "y", "op": "Relu", "input": ["x"]}]},
             "weightsManifest": [{"paths": list(shards), "weights": []}],
             "signature": {"inputs": {"x": {"name": "x:0", "dtype": "DT_FLOAT", "tensorShape": dims}},
                           "outputs": {"y": {"name": "y:0", "dtype": "DT_FLOAT", "tensorShape": dims}}}}
    model.update(changes)
    (folder / "model.json").write_text(json.dumps(model))
    for shard in shards:
        if "/" not in shard:
            (folder / shard).write_bytes(b"")
    return folder


def test_a_well_formed_tfjs_folder_is_inspected(tmp_path):
    code, output = run_cli("inspect", tfjs_folder(tmp_path / "web"))
    assert code == 0 and "Relu x1" in output, output


@pytest.mark.parametrize("change", [
    {"weightsManifest": {"paths": "x"}}, {"signature": {"inputs": []}},
    {"modelTopology": {"node": [{"name": "x"}]}},
    {"signature": {"inputs": {"x": {"tensorShape": {"dim": [{"size": "many"}]}}}}},
], ids=["manifest", "signature", "node", "dimension"])
def test_malformed_tfjs_model_json_is_a_user_error(tmp_path, change):
    code, output = run_cli("inspect", tfjs_folder(tmp_path / "web", **change))
    assert_clean_error(code, output, tmp_path / "none")


def test_a_weight_shard_outside_the_model_folder_is_never_read(tmp_path):
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "secret.bin").write_bytes(b"secret")
    folder = tfjs_folder(tmp_path / "web", shards=("../outside/secret.bin",))
    code, output = run_cli("inspect", folder)
    assert_clean_error(code, output, tmp_path / "none")
    assert "outside its folder" in output


def run_edgekit(*args, timeout=120) -> subprocess.CompletedProcess:
    """A separate process, so a hang is a timeout (test failure) and not a stuck test run."""
    return subprocess.run([str(Path(sys.executable).with_name("edgekit")), *map(str, args)], capture_output=True,
                          text=True, timeout=timeout, env=dict(os.environ, PYTHONWARNINGS="ignore"))


def fifo(path: Path) -> Path:
    os.mkfifo(path)
    return path


@pytest.mark.parametrize("where", ["model.json", "shard"])
def test_a_fifo_inside_a_tfjs_folder_does_not_block(tmp_path, where):
    folder = tfjs_folder(tmp_path / "web")
    target = folder / ("model.json" if where == "model.json" else "group1-shard1of1.bin")
    target.unlink()
    fifo(target)
    result = run_edgekit("inspect", folder)
    assert result.returncode == 1 and result.stderr.startswith("Error: "), result.stderr
    assert "not a regular file" in result.stderr


def test_a_fifo_given_to_check_does_not_block(tmp_path):
    result = run_edgekit("check", fifo(tmp_path / "report.json"))
    assert result.returncode == 1 and "not a regular file" in result.stderr, result.stderr


@pytest.mark.framework  # needs a framework (ImportError when blocked)
def test_a_fifo_in_the_calibration_folder_does_not_block(tmp_path, tiny_onnx):
    from PIL import Image
    images = tmp_path / "calib"
    images.mkdir()
    Image.new("RGB", (8, 8)).save(images / "a.png")
    fifo(images / "b.png")
    result = run_edgekit("convert", tiny_onnx, "-t", "android", "--precision", "int8", "--calib",
                         images, "--out", tmp_path / "out", "--bench-runs", "0", timeout=300)
    assert result.returncode == 1 and "not a regular file" in result.stderr, result.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("where", ["saved_model.pb", "variables/variables.index"])
def test_a_fifo_inside_a_savedmodel_folder_does_not_block(tmp_path, where):
    folder = tmp_path / "saved"
    (folder / "variables").mkdir(parents=True)
    (folder / "saved_model.pb").write_bytes(b"")
    (folder / where).unlink(missing_ok=True)
    fifo(folder / where)
    result = run_edgekit("inspect", folder)
    assert result.returncode == 1 and "not a regular file" in result.stderr, result.stderr


# --- found by benchmarks/fuzz_inputs.py ---

def test_a_damaged_compressed_npz_is_a_user_error(tmp_path):
    model = scaled(tmp_path / "double.onnx", 2.0)
    packed = tmp_path / "packed.npz"
    np.savez_compressed(packed, x=np.random.default_rng(0).random((64, 4, 4), dtype=np.float32))
    data = bytearray(packed.read_bytes())
    data[len(data) // 3] ^= 0x55  # inside the deflate stream: zlib.error, not an OSError
    packed.write_bytes(bytes(data))
    code, output = run_cli("validate", model, model, "--eval", packed)
    assert_clean_error(code, output, tmp_path / "none")


@pytest.mark.framework  # needs a framework (ImportError when blocked)
def test_a_torchscript_file_with_a_short_storage_does_not_crash_the_process(tmp_path):
    """torch.jit.load read past a storage member shorter than its pickle says: SIGSEGV."""
    import zipfile

    import torch
    good = tmp_path / "good.pt"
    torch.jit.save(torch.jit.script(torch.nn.Linear(4, 3)), good)
    bad = tmp_path / "bad.pt"
    with zipfile.ZipFile(good) as source, zipfile.ZipFile(bad, "w") as target:
        for member in source.infolist():
            content = source.read(member.filename)
            target.writestr(member, b"" if member.filename.endswith("data/1") else content)
    result = run_edgekit("inspect", bad, "--input-shape", "1,4")
    assert result.returncode == 1 and "holds 0 bytes" in result.stderr, (result.returncode, result.stderr)
    assert run_edgekit("inspect", good, "--input-shape", "1,4").returncode == 0


def test_an_onnx_dimension_of_minus_one_is_dynamic_not_refused(tmp_path, data):
    """Paddle2ONNX writes -1 (not a dim_param) for dynamic dimensions."""
    model = onnx_model(tmp_path / "paddle.onnx", [helper.make_node("Relu", ["x"], ["y"])],
                       [tensor("x", [-1, 4, -1])], [tensor("y", [-1, 4, -1])])
    code, output = run_cli("inspect", model)
    assert code == 0 and "x: float32[?x4x?]" in output, output


def test_a_tfjs_folder_given_as_a_relative_path_is_read(tmp_path, monkeypatch):
    tfjs_folder(tmp_path / "web")
    monkeypatch.chdir(tmp_path)
    code, output = run_cli("inspect", "web")
    assert code == 0 and "Relu x1" in output, output

"""A corpus of bad inputs (generated here, >100 cases): every one must end with a one-line
`Error: ...`, exit code 1, no traceback, and nothing left in --out."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from conftest import SAMPLES
from edgekit.cli import EXIT_INTERNAL_ERROR, cli

@pytest.fixture(scope="module")
def corpus(tmp_path_factory, tiny_onnx, tiny_torch):
    """Valid model files to break, keyed by kind."""
    import torch
    folder = tmp_path_factory.mktemp("corpus")
    files = {"keras": SAMPLES / "digits_keras.keras", "h5": SAMPLES / "digits_keras2.h5",
             "onnx": tiny_onnx}
    module = tiny_torch["module"]()
    torch.jit.save(torch.jit.trace(module.eval(), (torch.zeros(1, 3, 8, 8),)), folder / "script.pt")
    torch.export.save(torch.export.export(module.eval(), (torch.zeros(1, 3, 8, 8),)), folder / "prog.pt2")
    files["torchscript"], files["pt2"] = folder / "script.pt", folder / "prog.pt2"
    return files


def run_cli(*args) -> tuple[int, str]:
    result = CliRunner().invoke(cli, [str(a) for a in args])
    crashed = result.exception is not None and not isinstance(result.exception, SystemExit)
    assert not crashed and result.exit_code != EXIT_INTERNAL_ERROR, f"crash: {result.output}"
    return result.exit_code, result.output


def assert_clean_error(code: int, output: str, out: Path, expected: int = 1):
    assert code == expected, output
    lines = [line for line in output.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("Error: ")]
    assert len(errors) == 1 and "Traceback" not in output, output
    assert len(errors[0]) > len("Error: ") + 10
    assert not out.exists() or not any(out.iterdir()), list(out.iterdir())


KINDS = ["keras", "h5", "onnx", "torchscript", "pt2"]


def _broken(corpus, tmp_path, kind, how, where):
    source = Path(corpus[kind])
    data = bytearray(source.read_bytes())
    if how == "truncate":
        data = data[:int(len(data) * where)]
    else:  # flip bits in the structural head of the file
        index = int(where * min(len(data), 32))
        data[index] ^= 0xFF
    target = tmp_path / f"broken{source.suffix}"
    target.write_bytes(bytes(data))
    return target


def _model_args(kind, path):
    return [path, "--input-shape", "1,3,8,8"] if kind in ("torchscript",) else [path]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("how, where", [("truncate", 0.05), ("truncate", 0.5), ("truncate", 0.95),
                                        ("flip", 0.0), ("flip", 0.3), ("flip", 0.6)])
def test_truncated_and_bit_flipped_models(corpus, tmp_path, kind, how, where):
    model = _broken(corpus, tmp_path, kind, how, where)
    code, output = run_cli("convert", *_model_args(kind, model), "-t", "android", "--precision", "fp32",
                           "--out", tmp_path / "out", "--bench-runs", "0")
    if code == 0:  # the damage hit bytes the format does not check (e.g. a zip timestamp):
        report = json.loads((tmp_path / "out" / "report.json").read_text())  # then it is proven
        assert report["passed"] and all(a["drift"]["top1_agreement"] >= 0.99 for a in report["artifacts"])
        return
    assert_clean_error(code, output, tmp_path / "out")


@pytest.mark.parametrize("suffix", [".keras", ".h5", ".onnx", ".pt", ".pt2", ".tflite", ".npz", ""])
def test_empty_files(tmp_path, suffix):
    (tmp_path / f"empty{suffix}").write_bytes(b"")
    assert_clean_error(*run_cli("convert", tmp_path / f"empty{suffix}", "-t", "android",
                                "--out", tmp_path / "out"), tmp_path / "out")


@pytest.mark.parametrize("make", [
    lambda p: (p / "model.onnx").mkdir(),  # a directory where a file is expected
    lambda p: (p / "model.onnx").mkdir() or (p / "model.onnx" / "saved_model.txt").write_text("x"),
    lambda p: (p / "model.onnx").write_text("name: not a protobuf"),
    lambda p: (p / "model.onnx").write_bytes(os.urandom(4096)),
    lambda p: (p / "model.onnx").write_bytes(b"PK\x03\x04" + os.urandom(200)),
    lambda p: (p / "model.onnx").write_bytes(b"\x89HDF\r\n\x1a\n" + os.urandom(200)),
    lambda p: (p / "model.onnx").write_bytes(b"\x00\x00\x00\x00TFL3" + os.urandom(200)),
    lambda p: os.mkfifo(p / "model.onnx"),  # a pipe: reading it would block forever
])
def test_garbage_and_misplaced_files(tmp_path, make):
    make(tmp_path)
    assert_clean_error(*run_cli("convert", tmp_path / "model.onnx", "-t", "android",
                                "--out", tmp_path / "out"), tmp_path / "out")


@pytest.mark.parametrize("kind, name, says", [
    ("onnx", "model.tflite", "in ONNX format, not TFLite"),
    ("keras", "model.onnx", "in Keras format, not ONNX"),
    ("h5", "model.pt", "in Keras (HDF5) format, not torch.export or TorchScript"),
    ("torchscript", "model.onnx", "in TorchScript format, not ONNX"),
    ("pt2", "model.keras", "in torch.export format, not Keras"),
    ("onnx", "model.h5", "in ONNX format, not Keras"),
])
def test_a_model_under_another_formats_extension(corpus, tmp_path, kind, name, says):
    (tmp_path / name).write_bytes(Path(corpus[kind]).read_bytes())
    code, output = run_cli("convert", tmp_path / name, "-t", "android", "--out", tmp_path / "out")
    assert_clean_error(code, output, tmp_path / "out")
    assert says in output and "rename it" in output


def _with_external_weights(model_path, folder, location):
    import onnx
    model = onnx.load(str(model_path))
    onnx.save(model, str(folder / "model.onnx"), save_as_external_data=True, location="w.bin",
              size_threshold=0)
    relocated = onnx.load(str(folder / "model.onnx"), load_external_data=False)
    for tensor in relocated.graph.initializer:
        for entry in tensor.external_data:
            if entry.key == "location":
                entry.value = location
    onnx.save(relocated, str(folder / "model.onnx"))


@pytest.mark.parametrize("location, says", [("../w.bin", "outside the model's folder"),
                                            ("gone.bin", "which is missing")])
def test_onnx_external_weights_outside_the_folder_or_missing(corpus, tmp_path, location, says):
    (tmp_path / "model").mkdir()
    _with_external_weights(corpus["onnx"], tmp_path / "model", location)
    (tmp_path / "w.bin").write_bytes((tmp_path / "model" / "w.bin").read_bytes())
    code, output = run_cli("convert", tmp_path / "model" / "model.onnx", "-t", "android",
                           "--out", tmp_path / "out")
    assert_clean_error(code, output, tmp_path / "out")
    assert says in output


def test_a_saved_model_folder_with_a_broken_pb(tmp_path):
    (tmp_path / "sm").mkdir()
    (tmp_path / "sm" / "saved_model.pb").write_bytes(os.urandom(300))
    assert_clean_error(*run_cli("convert", tmp_path / "sm", "-t", "android", "--out", tmp_path / "out"),
                       tmp_path / "out")


EVAL_CASES = {
    "wrong shape": {"x": np.zeros((4, 27, 28, 1), np.float32)},
    "wrong rank": {"x": np.zeros((4, 784), np.float32)},
    "nan": {"x": np.full((4, 28, 28, 1), np.nan, np.float32)},
    "inf": {"x": np.full((4, 28, 28, 1), np.inf, np.float32)},
    "empty": {"x": np.zeros((0, 28, 28, 1), np.float32)},
    "two inputs for one": {"a": np.zeros((4, 28, 28, 1)), "b": np.zeros((4, 28, 28, 1))},
    "labels too few": {"x": np.zeros((4, 28, 28, 1), np.float32), "y": np.zeros(3, np.int64)},
    "labels float": {"x": np.zeros((4, 28, 28, 1), np.float32), "y": np.zeros(4, np.float32)},
    "labels 2-D": {"x": np.zeros((4, 28, 28, 1), np.float32), "y": np.zeros((4, 2), np.int64)},
    "strings": {"x": np.array(["a", "b"])},
}


DATA_CASES = [("--eval", case) for case in EVAL_CASES] + \
    [("--calib", case) for case in EVAL_CASES if not case.startswith("labels")]  # calib has no labels


@pytest.mark.parametrize("option, case", DATA_CASES)
def test_bad_evaluation_and_calibration_data(tmp_path, option, case):
    np.savez(tmp_path / "data.npz", **EVAL_CASES[case])
    extra = ["--precision", "int8", "--eval", SAMPLES / "digits_eval.npz"] if option == "--calib" else []
    code, output = run_cli("convert", SAMPLES / "digits_keras.keras", "-t", "android", option,
                           tmp_path / "data.npz", *extra, "--out", tmp_path / "out", "--bench-runs", "0")
    assert_clean_error(code, output, tmp_path / "out")


@pytest.mark.parametrize("content", [b"not numpy at all", b"\x93NUMPY\x01\x00garbage"])
@pytest.mark.parametrize("suffix", [".npz", ".npy"])
def test_unreadable_data_files(tmp_path, content, suffix):
    (tmp_path / f"data{suffix}").write_bytes(content)
    assert_clean_error(*run_cli("convert", SAMPLES / "digits_keras.keras", "-t", "android", "--eval",
                                tmp_path / f"data{suffix}", "--out", tmp_path / "out"), tmp_path / "out")


def test_undecodable_images_in_a_calibration_folder(tmp_path):
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "0.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    assert_clean_error(*run_cli("convert", SAMPLES / "digits_keras.keras", "-t", "android",
                                "--precision", "int8", "--calib", tmp_path / "images",
                                "--out", tmp_path / "out"), tmp_path / "out")


@pytest.mark.parametrize("args", [
    ["-t", "andriod"], ["-t", "ANDROID"], ["-t", ""], ["-t", "edge_tpu"], ["-t", "web "],
    ["-t", "android", "--precision", "int4"], ["-t", "android", "--precision", "FP16"],
    ["-t", "android", "--precision", "int8x16"], ["-t", "web", "--precision", "int8"],
    ["-t", "android", "--formats", "coreml"], ["-t", "android", "--formats", "tflite,pb"],
    ["-t", "android", "--calib-method", "kl"], ["-t", "android", "--prune", "1.5"],
    ["-t", "android", "--prune", "0.5", "--prune-method", "random"],
    ["-t", "android", "--prune", "0.5", "--prune-method", "channels"],
    ["-t", "android", "--input-shape", "1,a"], ["-t", "android", "--input-shape", "0,3"],
    ["-t", "android", "--weights", "missing.pt"], ["-t", "edge-tpu"],
    ["-t", "android", "--eval", "missing.npz"], ["-t", "android", "--prune", "0.5", "--train", "missing.npz"],
    ["-t", "android", "--calib", "missing_folder/"], ["-t", "android", "--max-drop", "lots"],
    ["-t", "android", "--calib-preprocess", "size=big", "--precision", "int8", "--calib", "."],
    ["-t", "android", "--input-shape", "1,28,28,1:complex"],
    ["-t", "web", "--labels", "zero,one,two"], ["-t", "web", "--labels", "missing_labels.txt"],
    ["-t", "web", "--labels", "."],
])
def test_bad_options(tmp_path, args):
    code, output = run_cli("convert", SAMPLES / "digits_keras.keras", *args, "--out", tmp_path / "out")
    assert_clean_error(code, output, tmp_path / "out")


@pytest.mark.parametrize("source, message", [
    ("def build():\n    return 42\n", "neither a torch.nn.Module nor a Keras 3 keras.Model"),
    ("def build(:\n", "SyntaxError"),
    ("def build():\n    raise RuntimeError('boom')\n", "boom"),
    ("import not_a_module_anywhere\n", "ModuleNotFoundError"),
    ("x = 1\n", "no function or class named 'build'"),
])
def test_bad_factory_files(tmp_path, source, message):
    (tmp_path / "net.py").write_text(source)
    code, output = run_cli("convert", f"{tmp_path / 'net.py'}:build", "--input-shape", "1,3,8,8",
                           "-t", "android", "--out", tmp_path / "out")
    assert_clean_error(code, output, tmp_path / "out")
    assert message in output


def test_weights_for_another_model(tiny_torch, tmp_path):
    import torch
    torch.save({"other.weight": torch.zeros(3)}, tmp_path / "other.pt")
    code, output = run_cli("convert", tiny_torch["spec"], "--weights", tmp_path / "other.pt",
                           "--input-shape", "1,3,8,8", "-t", "android", "--out", tmp_path / "out")
    assert_clean_error(code, output, tmp_path / "out")


@pytest.mark.parametrize("make_out", [
    lambda p: p / "a_file" / "out",  # a path below a regular file
    lambda p: p / "a_file",  # --out is a file
    lambda p: p / "mine",  # a folder of the user's own files
])
def test_unusable_output_locations(tmp_path, make_out):
    (tmp_path / "a_file").write_text("keep me")
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me too")
    code, output = run_cli("convert", SAMPLES / "digits_keras.keras", "-t", "server-cpu",
                           "--out", make_out(tmp_path))
    assert code == 1 and output.startswith("Error: ") and output.count("\n") == 1, output
    assert (tmp_path / "a_file").read_text() == "keep me"
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me too"


def test_a_full_disk_is_a_clean_error(tmp_path):
    """Simulated with a file-size limit: writes past 64 KB fail with EFBIG. The limit is set
    by a small launcher that then execs edgekit (a preexec_fn would fork JAX's threads)."""
    with_a_full_disk = [sys.executable, "-c", "import os, resource, signal, sys; "
                        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN); "
                        "resource.setrlimit(resource.RLIMIT_FSIZE, (64_000, 64_000)); "
                        "os.execv(sys.argv[1], sys.argv[1:])"]
    edgekit = Path(sys.executable).with_name("edgekit")
    result = subprocess.run([*with_a_full_disk, str(edgekit), "convert", str(SAMPLES / "digits_keras.keras"),
                             "-t", "server-cpu", "--out", str(tmp_path / "out"), "--bench-runs", "0"],
                            capture_output=True, text=True)
    assert result.returncode == 1, result.stdout + result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1 and "Traceback" not in result.stderr, result.stderr
    assert [p.name for p in tmp_path.iterdir()] == []


def test_edgekit_debug_shows_the_cause_behind_a_user_error(tmp_path, monkeypatch):
    """An Error line says what to fix; with EDGEKIT_DEBUG=1 the chain behind it (the
    library's own exception) is printed too, as the error keeps its cause."""
    (tmp_path / "eval.npz").write_bytes(b"PK\x03\x04 not really a zip")
    monkeypatch.setenv("EDGEKIT_DEBUG", "1")
    code, output = run_cli("convert", SAMPLES / "digits_keras.keras", "-t", "android",
                           "--eval", tmp_path / "eval.npz", "--out", tmp_path / "out")
    assert code == 1 and "Error: cannot read evaluation data" in output
    assert "Traceback" in output and "the magic string is not correct" in output
    monkeypatch.delenv("EDGEKIT_DEBUG")
    assert "Traceback" not in run_cli("convert", SAMPLES / "digits_keras.keras", "-t", "android",
                                      "--eval", tmp_path / "eval.npz", "--out", tmp_path / "out")[1]

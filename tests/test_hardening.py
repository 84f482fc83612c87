"""Safe loading, interrupted and killed runs, parallel runs, determinism."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

import edgekit
from conftest import SAMPLES
from edgekit.cli import cli

EDGEKIT = str(Path(sys.executable).with_name("edgekit"))
SLOW_CONVERT = [f"{SAMPLES / 'digits_torch.py'}:build", "--weights", str(SAMPLES / "digits_torch.pt"),
                "--input-shape", "1,1,28,28", "--target", "web", "--eval", str(SAMPLES / "digits_eval.npz")]


@pytest.fixture(scope="module")
def lambda_model(tmp_path_factory):
    import keras
    inputs = keras.Input((4,), name="x")
    hidden = keras.layers.Lambda(lambda t: t * 2.0 + 1.0, name="code")(inputs)
    model = keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(hidden))
    path = tmp_path_factory.mktemp("lambda") / "lambda.keras"
    model.save(path)
    return path


def test_a_lambda_layer_is_refused_unless_the_user_opts_in(lambda_model, tmp_path):
    refused = CliRunner().invoke(cli, ["convert", str(lambda_model), "-t", "server-cpu", "--out",
                                       str(tmp_path / "out"), "--bench-runs", "0"])
    assert refused.exit_code == 1 and "--allow-unsafe-code" in refused.output
    assert not (tmp_path / "out").exists()
    accepted = CliRunner().invoke(cli, ["convert", str(lambda_model), "-t", "server-cpu", "--out",
                                        str(tmp_path / "out"), "--bench-runs", "0", "--allow-unsafe-code"])
    assert accepted.exit_code == 0, accepted.output
    again = CliRunner().invoke(cli, ["inspect", str(lambda_model)])  # same process, no opt-in
    assert again.exit_code == 1 and "--allow-unsafe-code" in again.output


def test_inspect_validate_and_bench_take_the_opt_in_too(lambda_model):
    for command in (["inspect"], ["bench", "--runs", "2"], ["validate", str(lambda_model)]):
        refused = CliRunner().invoke(cli, [*command, str(lambda_model)])
        assert refused.exit_code == 1 and "--allow-unsafe-code" in refused.output, refused.output
        accepted = CliRunner().invoke(cli, [*command, str(lambda_model), "--allow-unsafe-code"])
        assert accepted.exit_code == 0, accepted.output


def saved_model_writing(folder: Path, marker: Path, where: str) -> Path:
    """A SavedModel whose graph writes `marker` when run: in its serving function, or in a
    function it merely carries (a tf.function attribute TensorFlow may call)."""
    import tensorflow as tf

    class Writer(tf.Module):
        def __init__(self):
            self.w = tf.Variable(tf.ones((4, 3)))

        @tf.function(input_signature=[tf.TensorSpec((None, 4), tf.float32, name="x")])
        def serve(self, x):
            if where == "serving":
                tf.io.write_file(str(marker), "code ran")
            return {"y": tf.matmul(x, self.w)}

    def write():
        tf.io.write_file(str(marker), "code ran")
        return tf.constant(0)

    module = Writer()
    if where == "carried":
        module.carried = tf.function(write, input_signature=[])
    tf.saved_model.save(module, str(folder), signatures={"serving_default": module.serve})
    return folder


@pytest.mark.parametrize("where", ["serving", "carried"])
def test_a_saved_model_that_writes_files_is_refused_unless_the_user_opts_in(tmp_path, where):
    marker = tmp_path / "written"
    model = saved_model_writing(tmp_path / "sm", marker, where)
    for command in (["inspect", str(model)], ["convert", str(model), "-t", "server-cpu", "--out",
                                             str(tmp_path / "out"), "--bench-runs", "0"]):
        refused = CliRunner().invoke(cli, command)
        assert refused.exit_code == 1 and "WriteFile writes files" in refused.output, refused.output
        assert "--allow-unsafe-code" in refused.output
    assert not marker.exists() and not (tmp_path / "out").exists()
    accepted = CliRunner().invoke(cli, ["convert", str(model), "-t", "server-cpu", "--out",
                                        str(tmp_path / "out"), "--bench-runs", "0", "--allow-unsafe-code"])
    assert accepted.exit_code == 0, accepted.output
    assert marker.exists() == (where == "serving")  # the opt-in really ran the user's graph


class WritesAFile:
    """Unpickling this would create a file: the proof that code ran."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_a_crafted_pickle_never_runs(tiny_torch, tmp_path):
    import torch
    marker = tmp_path / "pwned"
    torch.save({"conv.weight": WritesAFile(marker)}, tmp_path / "evil.pt")
    for args in (["convert", tiny_torch["spec"], "--weights", str(tmp_path / "evil.pt"),
                  "--input-shape", "1,3,8,8"],  # as a state_dict (weights_only=True refuses it)
                 ["convert", str(tmp_path / "evil.pt")]):  # as a model file (never unpickled)
        result = CliRunner().invoke(cli, args + ["-t", "server-cpu", "--out", str(tmp_path / "out")])
        assert result.exit_code == 1 and result.output.startswith("Error: "), result.output
    assert not marker.exists()


def previous_output(tmp_path) -> Path:
    out = tmp_path / "out"
    out.mkdir()
    (out / "report.json").write_text(PREVIOUS)  # an earlier output: it lists its files
    return out


PREVIOUS = '{"previous": true, "files": ["report.json"]}'


# Ctrl-C delivered, as in a terminal: a CI shell may have started these tests as a
# background job, with SIGINT ignored, and children inherit that. (A preexec_fn would do it
# too, but forking a process that runs JAX's threads can deadlock.)
FROM_A_TERMINAL = [sys.executable, "-c", "import os, signal, sys; signal.signal(signal.SIGINT, "
                   "signal.SIG_DFL); os.execv(sys.argv[1], sys.argv[1:])"]


def wait_for_work_folder(parent: Path, timeout: float = 240):  # TF's import, on a busy CI host
    deadline = time.time() + timeout
    while time.time() < deadline:
        if any(p.name.startswith(".out.edgekit-tmp-") for p in parent.iterdir()):
            time.sleep(3)  # well into the conversion
            return
        time.sleep(0.1)
    raise AssertionError("the conversion never started")


@pytest.mark.slow
@pytest.mark.parametrize("sent, exit_code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_an_interrupt_exits_128_plus_the_signal_and_keeps_the_previous_output(tmp_path, sent, exit_code):
    out = previous_output(tmp_path)
    process = subprocess.Popen([*FROM_A_TERMINAL, EDGEKIT, "convert", *SLOW_CONVERT, "--out", str(out)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for_work_folder(tmp_path)
    process.send_signal(sent)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == exit_code, stderr
    assert [line for line in stderr.splitlines() if line.startswith("Error: ")] == \
        ["Error: interrupted; the output folder was left as it was"]
    assert (out / "report.json").read_text() == PREVIOUS
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


@pytest.mark.slow
def test_sigkill_keeps_the_previous_output_and_the_next_run_cleans_up(tmp_path):
    out = previous_output(tmp_path)
    process = subprocess.Popen([EDGEKIT, "convert", *SLOW_CONVERT, "--out", str(out)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for_work_folder(tmp_path)
    process.kill()
    process.wait()
    assert (out / "report.json").read_text() == PREVIOUS
    leftovers = [p.name for p in tmp_path.iterdir() if p.name != "out"]
    assert leftovers and all(".edgekit-tmp-" in name for name in leftovers)
    result = CliRunner().invoke(cli, ["convert", str(SAMPLES / "digits_keras.keras"), "-t", "server-cpu",
                                      "--out", str(out), "--bench-runs", "0"])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # the dead run's folder is gone


@pytest.mark.slow
def test_parallel_runs_do_not_trample_each_other(tmp_path):
    runs = {target: subprocess.Popen([EDGEKIT, "convert", str(SAMPLES / "digits_keras.keras"), "-t", target,
                                      "--eval", str(SAMPLES / "digits_eval.npz"), "--out",
                                      str(tmp_path / target), "--bench-runs", "5"],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for target in ("android", "web", "server-cpu")}
    for target, process in runs.items():
        _, stderr = process.communicate(timeout=300)
        assert process.returncode == 0, stderr
        report = json.loads((tmp_path / target / "report.json").read_text())
        assert report["target"] == target and report["passed"]
        assert all((tmp_path / target / a["path"]).exists() for a in report["artifacts"])


def test_two_runs_give_the_same_drift_figures_and_the_bytes_they_promise(tiny_keras, tmp_path):
    reports = [edgekit.convert(str(tiny_keras), "android", tmp_path / f"run{i}",
                               formats=("tflite", "onnx", "tfjs"), precision="int8-dynamic",
                               bench_runs=0).report for i in range(2)]
    first, second = ([(a["path"], a["drift_per_output"], a["accuracy"], a["sha256"], a["byte_reproducible"])
                      for a in r["artifacts"]] for r in reports)
    assert [f[:3] for f in first] == [s[:3] for s in second]
    for one, two in zip(first, second):
        if one[4]:  # a converter that promises identical bytes keeps its promise
            assert one[3] == two[3], one[0]
    assert not dict((f[0].split("/")[0][3:], f[4]) for f in first)["tfjs_int8-dynamic"]
    assert reports[0]["data"]["seed"] == reports[1]["data"]["seed"] == 0


def tree_digest(path: Path) -> str:
    from edgekit.report import digest
    return digest(Path(path))


@pytest.mark.slow
def test_no_input_file_is_ever_modified(tmp_path, tiny_keras, tiny_onnx, tiny_torch):
    """Every input format, through every converter that reads the user's file: those that
    start a TFLite or ONNX route (a TF.js route starts with one of them too: the Keras export,
    onnx2tf or torch.onnx.export), so TF.js adds conversion time and no reader."""
    import shutil

    import tf_keras
    import torch
    module = tiny_torch["module"]()
    module.load_state_dict(torch.load(tiny_torch["weights"], weights_only=True))
    example = (torch.zeros(1, 3, 8, 8),)
    torch.jit.save(torch.jit.trace(module.eval(), example), tmp_path / "script.pt")
    torch.export.save(torch.export.export(module.eval(), example), tmp_path / "prog.pt2")
    legacy = tf_keras.Sequential([tf_keras.Input((6,)), tf_keras.layers.Dense(3)])
    legacy.save(tmp_path / "legacy.h5", save_format="h5")
    legacy.save(tmp_path / "sm", save_format="tf")
    shutil.copy(tiny_onnx, tmp_path / "model.onnx")
    inputs = {
        "keras": ([str(tiny_keras)], tiny_keras), "h5": ([str(tmp_path / "legacy.h5")], tmp_path / "legacy.h5"),
        "savedmodel": ([str(tmp_path / "sm")], tmp_path / "sm"),
        "onnx": ([str(tmp_path / "model.onnx")], tmp_path / "model.onnx"),
        "torchscript": ([str(tmp_path / "script.pt")], tmp_path / "script.pt"),
        "pt2": ([str(tmp_path / "prog.pt2")], tmp_path / "prog.pt2"),
        "factory weights": ([tiny_torch["spec"]], tiny_torch["weights"]),
    }
    for name, (args, path) in inputs.items():
        before = tree_digest(path)
        extra = ["--input-shape", "1,3,8,8"] if name in ("torchscript", "factory weights") else []
        extra += ["--weights", str(tiny_torch["weights"])] if name == "factory weights" else []
        result = CliRunner().invoke(cli, ["convert", *args, *extra, "-t", "android", "--formats",
                                          "tflite,onnx", "--precision", "fp32", "--bench-runs", "0",
                                          "--out", str(tmp_path / f"out-{name.replace(' ', '_')}")])
        assert result.exit_code == 0, (name, result.output)
        assert tree_digest(path) == before, name

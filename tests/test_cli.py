"""The command line through click's CliRunner, and its start-up cost."""
import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from edgekit.cli import cli
from edgekit.targets.profiles import PROFILES

pytestmark = pytest.mark.pure  # no framework, runtime or Node (conftest: FRAMEWORKS)


@pytest.fixture
def run():
    runner = CliRunner()
    return lambda *args: runner.invoke(cli, list(args))


@pytest.mark.parametrize("command", [[], ["convert"], ["profiles"], ["inspect"]])
def test_help_on_every_command(run, command):
    result = run(*command, "--help")
    assert result.exit_code == 0 and "Usage:" in result.output


def test_help_and_profiles_import_no_framework():
    code = ("import sys; from click.testing import CliRunner; from edgekit.cli import cli;"
            "r = CliRunner(); assert r.invoke(cli, ['--help']).exit_code == 0;"
            "assert r.invoke(cli, ['profiles']).exit_code == 0;"
            "heavy = {'tensorflow', 'torch', 'onnxruntime', 'keras', 'onnx'} & set(sys.modules);"
            "print(sorted(heavy))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_profiles_table_and_json(run):
    result = run("profiles")
    assert all(name in result.output for name in PROFILES)
    android, = [line for line in result.output.splitlines() if line.startswith("android ")]
    assert "cortex-a53,cortex-a76" in android  # the CPU models --emulate arm64 runs it on
    rows = json.loads(run("profiles", "--json").output)
    assert [r["name"] for r in rows] == list(PROFILES)


def test_unknown_target_is_one_line_exit_1(run, tmp_path):
    model = tmp_path / "m.onnx"
    model.write_bytes(b"x")
    result = run("convert", str(model), "--target", "andriod", "--out", str(tmp_path / "out"))
    assert result.exit_code == 1
    assert result.output == ("Error: unknown target 'andriod'; valid targets: "
                             + ", ".join(PROFILES) + "\n")
    assert not (tmp_path / "out").exists()


def test_missing_file_is_one_line_exit_1(run, tmp_path):
    result = run("convert", str(tmp_path / "nope.onnx"), "-t", "android", "-o", str(tmp_path / "out"))
    assert result.exit_code == 1
    assert result.output.strip() == f"Error: no such file or directory: {tmp_path / 'nope.onnx'}"
    assert not (tmp_path / "out").exists()


def test_usage_errors_are_one_line_exit_1(run):
    result = run("convert")
    assert result.exit_code == 1 and result.output.count("\n") == 1
    assert result.output.startswith("Error: Missing argument")


def test_a_bug_is_one_line_with_its_own_exit_code_and_a_saved_traceback(run, monkeypatch, tmp_path):
    import edgekit.pipeline

    def broken(*args, **kwargs):
        return {}["a key edgekit forgot"]
    monkeypatch.setattr(edgekit.pipeline, "convert", broken)
    monkeypatch.delenv("EDGEKIT_DEBUG", raising=False)
    result = run("convert", "model.onnx", "-t", "android")
    assert result.exit_code == 70 and result.output.count("\n") == 1, result.output
    assert result.output.startswith("Error: internal error (KeyError: 'a key edgekit forgot')")
    saved = Path(result.output.split("report it with ")[1].split(" ")[0])
    assert "in broken" in saved.read_text() and "KeyError" in saved.read_text()
    saved.unlink()
    monkeypatch.setenv("EDGEKIT_DEBUG", "1")  # the developer's way to the traceback
    assert isinstance(run("convert", "model.onnx", "-t", "android").exception, KeyError)


def test_bad_input_shape(run, tmp_path):
    (tmp_path / "net.py").write_text("")
    result = run("convert", f"{tmp_path / 'net.py'}:build", "-t", "android", "--input-shape", "1,x,3")
    assert result.exit_code == 1 and "bad --input-shape '1,x,3'" in result.output


@pytest.fixture(scope="module")
def searched(tiny_keras, tmp_path_factory):
    """The tiny Keras CNN searched for android (int8, int8-dynamic, fp16, fp32): every proven
    candidate stays in the output, the deliverable in deploy/ beside its edgekit.json."""
    import numpy as np

    import edgekit
    folder = tmp_path_factory.mktemp("searched")
    base = np.random.default_rng(0).random((64, 4, 4, 3), dtype=np.float32)
    np.savez(folder / "eval.npz", x=np.kron(base, np.ones((1, 2, 2, 1), np.float32)))  # smooth
    result = edgekit.convert(str(tiny_keras), "android", folder / "out", eval_data=folder / "eval.npz",
                             bench_runs=0)
    made = {row["precision"]: result.out / row["path"]
            for row in result.report["intermediates"] + result.report["artifacts"]
            if row["format"] == "tflite"}
    return {"eval": str(folder / "eval.npz"), "made": made,
            "deploy": result.out / result.report["deliverables"][0]["path"],
            "deploy_precision": result.report["deliverables"][0]["precision"]}


@pytest.mark.framework  # needs a framework (ImportError when blocked)
def test_validate_judges_an_int8_artifact_as_int8_and_precision_overrides(run, tiny_keras, searched):
    int8 = str(searched["made"]["int8"])  # a step folder's model: no edgekit.json beside it
    judged = run("validate", str(tiny_keras), int8, "--eval", searched["eval"])
    assert judged.exit_code == 0, judged.output
    assert "judged as int8: read from its tensor types" in judged.output
    forced = run("validate", str(tiny_keras), int8, "--eval", searched["eval"], "--precision", "fp32")
    assert forced.exit_code == 2 and "judged as fp32: --precision" in forced.output
    assert "SQNR" in forced.output and "< 50.0 dB" in forced.output  # fp32's tolerance fails it
    typo = run("validate", str(tiny_keras), int8, "--precision", "int7")
    assert typo.exit_code == 1 and typo.output.startswith("Error: unknown --precision 'int7'")


@pytest.mark.framework  # needs a framework (ImportError when blocked)
@pytest.mark.parametrize("precision", ["fp32", "fp16", "int8-dynamic"])
def test_validate_reads_each_precision_from_the_model(run, tiny_keras, searched, precision):
    result = run("validate", str(tiny_keras), str(searched["made"][precision]), "--eval",
                 searched["eval"], "--json")
    reply = json.loads(result.output)
    assert result.exit_code == 0 and reply["precision"] == precision, result.output
    assert reply["precision_from"] in ("read from its tensor types", "no quantization found in the model")


@pytest.mark.framework  # needs a framework (ImportError when blocked)
def test_validate_trusts_edgekit_json_only_for_the_model_it_describes(run, tiny_keras, searched, tmp_path):
    import shutil
    deploy = searched["deploy"]
    reply = json.loads(run("validate", str(tiny_keras), str(deploy), "--json").output)
    assert (reply["precision"], reply["precision_from"]) == (searched["deploy_precision"],
                                                              "edgekit.json beside it")
    other = "fp32" if searched["deploy_precision"] != "fp32" else "int8"
    shutil.copytree(deploy.parent, tmp_path / "deploy")
    shutil.copyfile(searched["made"][other], tmp_path / "deploy" / deploy.name)  # not the one described
    reply = json.loads(run("validate", str(tiny_keras), str(tmp_path / "deploy" / deploy.name),
                           "--json").output)
    assert reply["precision"] == other and reply["precision_from"] != "edgekit.json beside it"


@pytest.mark.framework  # needs a framework (ImportError when blocked)
def test_validate_passes_a_good_artifact_and_fails_a_wrong_one(run, tiny_keras, searched, tmp_path):
    artifact = str(searched["made"]["fp32"])
    good = run("validate", str(tiny_keras), artifact)
    assert good.exit_code == 0 and "PASSED" in good.output and "LiteRT interpreter" in good.output
    other = tmp_path / "other.keras"
    import keras
    model = keras.saving.load_model(tiny_keras)
    model.set_weights([w * -1.0 for w in model.get_weights()])
    model.save(other)
    bad = run("validate", str(other), artifact)
    assert bad.exit_code == 2 and "FAILED" in bad.output


@pytest.mark.framework  # needs a framework (ImportError when blocked)
@pytest.mark.parametrize("quiet", [False, True])
def test_bench_json_keeps_stdout_clean_and_progress_on_stderr(searched, quiet):
    from test_progress import LINE
    edgekit = Path(sys.executable).with_name("edgekit")
    run = subprocess.run([str(edgekit), "bench", str(searched["made"]["int8"]), "--runs", "5",
                          "--warmup", "1", "--json", *(["--quiet"] if quiet else [])],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["runs"] == 5  # stdout is the JSON and nothing else
    steps = [LINE.match(line)["message"] for line in run.stderr.splitlines()]  # None: not a step
    assert steps == ([] if quiet else [f"loading {searched['made']['int8']}",
                                       "timing 1 warm-up and 5 timed runs on 1 thread(s)",
                                       "estimating the work (MACs) and the device's lower bound"])

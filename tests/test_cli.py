"""The command line through click's CliRunner, and its start-up cost."""
import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from edgekit.cli import cli
from edgekit.targets.profiles import PROFILES


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


def test_validate_passes_a_good_artifact_and_fails_a_wrong_one(run, tiny_keras, tmp_path):
    import edgekit
    result = edgekit.convert(str(tiny_keras), "android", tmp_path / "out", precision="fp32")
    artifact = str(result.out / result.report["artifacts"][0]["path"])
    good = run("validate", str(tiny_keras), artifact)
    assert good.exit_code == 0 and "PASSED" in good.output and "LiteRT interpreter" in good.output
    other = tmp_path / "other.keras"
    import keras
    model = keras.saving.load_model(tiny_keras)
    model.set_weights([w * -1.0 for w in model.get_weights()])
    model.save(other)
    bad = run("validate", str(other), artifact)
    assert bad.exit_code == 2 and "FAILED" in bad.output

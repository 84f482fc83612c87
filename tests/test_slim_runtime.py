"""The built wheel, as a user installs it: `python -m build`, then `pip install WHEEL[runtime]`
into a fresh venv (numpy, click and the two runtimes; no TensorFlow, no torch, no onnx).
There `edgekit bench` runs on a TFLite and an ONNX file, a missing optional package is a
one-line user error, and `edgekit demo` serves the page shipped inside the wheel."""
from __future__ import annotations

import glob
import json
import os
import shutil
import subprocess
import sys
import urllib.request
import zipfile
from pathlib import Path

import pytest

import edgekit
from conftest import REPO
from edgekit.extras import DISTRIBUTION

pytestmark = pytest.mark.slow
LOCK = REPO / "requirements" / "lock.txt"
DATA = Path(__file__).resolve().parent / "data"
SAMPLE_KERAS = REPO / "sample_models" / "digits_keras.keras"
# 3.11 is the version the lock is made for; 3.9 is the oldest `requires-python` admits.
PYTHONS = ("3.11", "3.9")


def find_python(version: str) -> str | None:
    """An interpreter of that version: on PATH, or in pyenv's folder (whose shims answer only
    for the versions `pyenv global` names)."""
    candidates = [shutil.which(f"python{version}")]
    candidates += sorted(glob.glob(os.path.expanduser(f"~/.pyenv/versions/{version}.*/bin/python")))
    for candidate in filter(None, candidates):
        probe = subprocess.run([candidate, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                               capture_output=True, text=True)
        if probe.returncode == 0 and probe.stdout.strip() == version:
            return candidate
    return None


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """`python -m build --wheel` on a copy of the checkout's files (tracked and new, not
    ignored), so that nothing lying around the working tree gets in."""
    source = tmp_path_factory.mktemp("source")
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=REPO,
                            capture_output=True, text=True, check=True).stdout.split("\0")
    for name in filter(None, listed):
        if (REPO / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, source / name)
    dist = tmp_path_factory.mktemp("dist")
    subprocess.run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(dist),
                    str(source)], check=True, capture_output=True)
    (built,) = dist.glob("*.whl")
    return built


def test_the_wheel_holds_the_package_data(wheel):
    assert wheel.name.startswith(DISTRIBUTION.replace("-", "_") + "-")
    names = set(zipfile.ZipFile(wheel).namelist())
    page = {f"edgekit/web_demo/{n}" for n in ("index.html", "demo.js", "runner.html", "runner.js",
                                              "style.css")}
    assert page | {"edgekit/targets/tfjs/runner.cjs", "edgekit/cli.py", "edgekit/emulator/setup_arm64.sh",
                   "edgekit/emulator/inside.py", "edgekit/batch/recipe.py"} <= names
    metadata = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith("/METADATA"))).decode()
    assert f"Name: {DISTRIBUTION}" in metadata and "Requires-Python: >=3.9" in metadata
    assert "Provides-Extra: runtime" in metadata and "Provides-Extra: convert" in metadata
    assert "Provides-Extra: batch" in metadata


@pytest.fixture(scope="module")
def venvs(wheel, tmp_path_factory) -> dict[str, Path]:
    """One fresh venv per Python in PYTHONS found here, installed side by side (pip waits on
    the registry and the disk more than on the CPU)."""
    installs = {}
    for version in PYTHONS:
        python = find_python(version)
        if python is None:
            continue
        venv = tmp_path_factory.mktemp(f"slim{version}") / "venv"
        # The lock's versions where it applies (3.11); elsewhere what pip resolves.
        pins = f"-c '{LOCK}'" if version == "3.11" else ""
        # --no-compile: byte-compiling ~200 MB of packages was 2/3 of the install time here
        script = (f"'{python}' -m venv '{venv}' && '{venv}/bin/python' -m pip install --quiet "
                  f"--no-compile '{wheel}[runtime]' {pins}")
        installs[version] = (venv, subprocess.Popen(["bash", "-c", script], stdout=subprocess.PIPE,
                                                    stderr=subprocess.STDOUT, text=True))
    for version, (venv, install) in installs.items():
        output = install.communicate()[0]
        assert install.returncode == 0, f"Python {version}: {output[-2000:]}"
    return {version: venv for version, (venv, _) in installs.items()}


@pytest.fixture(scope="module", params=PYTHONS)
def slim_venv(request, venvs) -> Path:
    if request.param not in venvs:
        pytest.skip(f"no Python {request.param} on this machine")
    return venvs[request.param]


def edgekit_in(venv: Path, *args, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([str(venv / "bin" / "edgekit"), *map(str, args)], capture_output=True,
                          text=True, **kwargs)


def error_line(run: subprocess.CompletedProcess) -> str:
    """The one `Error:` line of a failed command, which ends its stderr (no traceback)."""
    lines = run.stderr.strip().splitlines()
    assert [line for line in lines if line.startswith("Error:")] == lines[-1:], run.stderr
    assert "Traceback" not in run.stderr
    return lines[-1]


def test_the_slim_install_has_no_framework(slim_venv):
    probe = subprocess.run([str(slim_venv / "bin" / "python"), "-c",
                            "import importlib.util as u; print([m for m in ('tensorflow', 'torch', "
                            "'keras', 'onnx') if u.find_spec(m)])"], capture_output=True, text=True)
    assert probe.stdout.strip() == "[]"
    assert edgekit_in(slim_venv, "--help").returncode == 0
    assert edgekit_in(slim_venv, "--version").stdout.strip() == f"edgekit, version {edgekit.__version__}"


@pytest.fixture(scope="module")
def artifacts() -> dict[str, Path]:
    """A tiny CNN as TFLite and as ONNX (`python tests/test_slim_runtime.py` remakes them)."""
    return {fmt: DATA / f"tiny_cnn.{fmt}" for fmt in ("tflite", "onnx")}


@pytest.mark.parametrize("fmt", ["tflite", "onnx"])
def test_bench_runs_in_the_slim_install(slim_venv, artifacts, tmp_path, fmt):
    run = edgekit_in(slim_venv, "bench", artifacts[fmt], "--runs", 30, "--threads", 1, "--json",
                     cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    reply = json.loads(run.stdout)
    assert reply["format"] == fmt and reply["threads"] == 1 and reply["runs"] == 30
    assert 0 < reply["latency_ms"]["min"] <= reply["latency_ms"]["p50"] <= reply["latency_ms"]["p99"]
    gpu = reply["host"]["gpu"]
    assert reply["verdict"] in ("ok", "noisy") and (gpu["available"] or gpu["reason"])


def test_inspect_of_onnx_without_onnx_is_a_user_error(slim_venv, artifacts, tmp_path):
    run = edgekit_in(slim_venv, "inspect", artifacts["onnx"], cwd=tmp_path)
    assert run.returncode == 1, run.stderr
    assert error_line(run) == \
        f"Error: inspect of ONNX needs the onnx package: pip install '{DISTRIBUTION}[convert]'"


@pytest.mark.parametrize("source", ["keras", "onnx"])
def test_convert_in_the_slim_install_names_the_extra(slim_venv, artifacts, tmp_path, source):
    model = SAMPLE_KERAS if source == "keras" else artifacts["onnx"]
    run = edgekit_in(slim_venv, "convert", model, "--target", "android", "--out", tmp_path / "o",
                     cwd=tmp_path)
    assert run.returncode == 1, run.stderr
    line = error_line(run)  # after the progress lines of the steps it began
    assert f"pip install '{DISTRIBUTION}[convert]'" in line
    assert not (tmp_path / "o").exists()


def test_the_python_api_raises_the_same_user_error(slim_venv, tmp_path):
    probe = subprocess.run([str(slim_venv / "bin" / "python"), "-c", (
        "import edgekit, edgekit.errors as e\n"
        "try: edgekit.convert(%r, 'android', 'o')\n"
        "except e.MissingDependencyError as error: print(error)") % str(SAMPLE_KERAS)],
        capture_output=True, text=True, cwd=tmp_path)
    assert probe.returncode == 0, probe.stderr[-2000:]
    assert probe.stdout.strip().endswith(f"pip install '{DISTRIBUTION}[convert]'"), probe.stdout


@pytest.fixture
def tfjs_folder(tmp_path) -> Path:
    """What `edgekit demo` checks before serving: model.json and edgekit's metadata."""
    folder = tmp_path / "tfjs"
    folder.mkdir()
    (folder / "model.json").write_text(json.dumps({"weightsManifest": []}))
    (folder / "edgekit.json").write_text(json.dumps({"inputs": [], "outputs": []}))
    return folder


def test_demo_serves_the_page_from_the_wheel(slim_venv, tfjs_folder, tmp_path):
    env = dict(os.environ, EDGEKIT_NODE_MODULES=str(REPO / "node_modules"))
    server = subprocess.Popen([str(slim_venv / "bin" / "edgekit"), "demo", str(tfjs_folder), "--port", "0"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                              cwd=tmp_path)
    try:
        first = server.stdout.readline()
        assert first.startswith("edgekit demo: http://127.0.0.1:"), server.stderr.read()
        address = first.split()[2]
        with urllib.request.urlopen(address) as page:
            assert b"<html" in page.read().lower()
        with urllib.request.urlopen(address + "vendor/tfjs/package.json") as vendor:
            assert json.load(vendor)["name"] == "@tensorflow/tfjs"
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_demo_without_the_npm_packages_says_what_to_install(slim_venv, tfjs_folder, tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "EDGEKIT_NODE_MODULES"}
    run = edgekit_in(slim_venv, "demo", tfjs_folder, "--port", 0, cwd=tmp_path, env=env, timeout=60)
    assert run.returncode == 1
    line = error_line(run)
    assert line.startswith("Error: the TF.js runtime") and "npm install @tensorflow/tfjs@" in line
    assert "EDGEKIT_NODE_MODULES" in line


def make_tiny_models(folder: Path) -> None:
    """The committed tests/data/tiny_cnn.{tflite,onnx}: 8x8x1 -> conv 3x3x4 -> dense 3."""
    import tensorflow as tf
    import torch
    torch.manual_seed(0)
    module = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.ReLU(),
                                 torch.nn.Flatten(), torch.nn.Linear(4 * 8 * 8, 3)).eval()
    torch.onnx.export(module, (torch.zeros(1, 1, 8, 8),), str(folder / "tiny_cnn.onnx"),
                      input_names=["x"], output_names=["y"], opset_version=17, dynamo=False)
    tf.keras.utils.set_random_seed(0)
    keras_model = tf.keras.Sequential([tf.keras.Input((8, 8, 1)), tf.keras.layers.Conv2D(
        4, 3, padding="same", activation="relu"), tf.keras.layers.Flatten(), tf.keras.layers.Dense(3)])
    (folder / "tiny_cnn.tflite").write_bytes(tf.lite.TFLiteConverter.from_keras_model(keras_model).convert())


if __name__ == "__main__":
    DATA.mkdir(exist_ok=True)
    make_tiny_models(DATA)

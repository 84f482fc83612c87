"""Shared fixtures: tiny seeded models built in code, and the real sample models; the test
tiers (markers: pure, framework, slow) and the framework blocker that keeps `pure` honest."""
from __future__ import annotations

import os
import sys
from importlib.abc import MetaPathFinder
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO = Path(__file__).resolve().parents[1]
# what the pure tier runs without (`make test-pure` blocks them): the frameworks and
# runtimes edgekit drives, and Node (taken off PATH)
FRAMEWORKS = ("tensorflow", "tf_keras", "keras", "torch", "torchvision", "jax", "tensorflowjs",
              "onnx2tf", "litert_torch", "ai_edge_litert", "ai_edge_quantizer", "onnxruntime")


class FrameworkBlocker(MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in FRAMEWORKS:
            raise ImportError(f"{name} is blocked: this run is the pure tier (--without-frameworks)")
        return None


def pytest_addoption(parser):
    parser.addoption("--without-frameworks", action="store_true",
                     help="block importing TensorFlow, torch, ... and hide Node: the pure tier "
                          "must pass this way")


def pytest_configure(config):
    if config.getoption("--without-frameworks"):
        sys.meta_path.insert(0, FrameworkBlocker())
        os.environ["PATH"] = os.pathsep.join(
            d for d in os.environ.get("PATH", "").split(os.pathsep)
            if not (Path(d) / "node").exists())


def pytest_collection_modifyitems(items):
    """A test is `pure` or `slow` when its module says so; every other one is `framework`."""
    for item in items:
        if not item.get_closest_marker("pure") and not item.get_closest_marker("slow"):
            item.add_marker("framework")
SAMPLES = REPO / "sample_models"

TINY_TORCH_SOURCE = '''
import torch
from torch import nn


class Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.head = nn.Linear(4 * 8 * 8, 5)

    def forward(self, image):
        return self.head(torch.relu(self.conv(image)).flatten(1))


def build():
    torch.manual_seed(0)
    return Tiny()
'''


@pytest.fixture(scope="session")
def tiny_torch(tmp_path_factory) -> dict:
    """A seeded 8x8x3 CNN as FILE.py:build plus its state_dict (NCHW input); "source" is
    how edgekit.convert opens it."""
    import torch
    folder = tmp_path_factory.mktemp("tiny_torch")
    source = folder / "tiny.py"
    source.write_text(TINY_TORCH_SOURCE)
    namespace: dict = {}
    exec(compile(TINY_TORCH_SOURCE, str(source), "exec"), namespace)
    torch.save(namespace["build"]().state_dict(), folder / "tiny.pt")
    from edgekit import SourceOptions
    return {"spec": f"{source}:build", "weights": folder / "tiny.pt", "shape": (1, 3, 8, 8),
            "module": namespace["build"],
            "source": SourceOptions(weights=folder / "tiny.pt", input_shapes=((1, 3, 8, 8),))}


@pytest.fixture(scope="session")
def tiny_onnx(tiny_torch, tmp_path_factory) -> Path:
    """The tiny torch CNN exported to ONNX (dynamic batch), as users often bring it."""
    import torch
    path = tmp_path_factory.mktemp("tiny_onnx") / "tiny.onnx"
    module = tiny_torch["module"]()
    module.load_state_dict(torch.load(tiny_torch["weights"], weights_only=True))
    torch.onnx.export(module.eval(), (torch.zeros(1, 3, 8, 8),), str(path), input_names=["image"],
                      output_names=["scores"], dynamic_axes={"image": {0: "n"}, "scores": {0: "n"}},
                      opset_version=17, dynamo=False)
    return path


@pytest.fixture(scope="session")
def tiny_keras(tmp_path_factory) -> Path:
    """A seeded 8x8x3 Keras 3 CNN (NHWC) with a softmax head, saved as .keras."""
    import keras
    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input((8, 8, 3), name="image"),
        keras.layers.Conv2D(4, 3, padding="same", activation="relu"),
        keras.layers.Flatten(),
        keras.layers.Dense(5, activation="softmax"),
    ])
    path = tmp_path_factory.mktemp("tiny_keras") / "tiny.keras"
    model.save(path)
    return path


@pytest.fixture
def images_nhwc() -> np.ndarray:
    return np.random.default_rng(1).random((6, 8, 8, 3), dtype=np.float32)


@pytest.fixture(scope="session", autouse=False)
def chromium():
    """Headless Chromium, or a skip that says why (the set-up installs it when it can)."""
    from edgekit.errors import MissingDependencyError
    from edgekit.targets.browser import chromium_path
    try:
        return chromium_path()
    except MissingDependencyError as error:
        pytest.skip(f"Chromium cannot be used here: {error}")


@pytest.fixture(scope="session", autouse=True)
def every_report_matches_its_schema(tmp_path_factory):
    """After the session: every report.json that edgekit wrote during the tests (one with
    report.md and report.html beside it; hand-made ones lack them) validates against the
    schema shipped in the package. A failure shows as an error in the session's teardown."""
    yield
    from report_outline import schema_problems
    reports = [path for path in tmp_path_factory.getbasetemp().rglob("report.json")
               if path.with_name("report.md").exists() and path.with_name("report.html").exists()]
    problems = [problem for path in reports for problem in schema_problems(path)]
    assert not problems, "\n".join(problems[:20])

"""Shared fixtures: tiny seeded models built in code, and the real sample models."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO = Path(__file__).resolve().parents[1]
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
    """A seeded 8x8x3 CNN as FILE.py:build plus its state_dict (NCHW input)."""
    import torch
    folder = tmp_path_factory.mktemp("tiny_torch")
    source = folder / "tiny.py"
    source.write_text(TINY_TORCH_SOURCE)
    namespace: dict = {}
    exec(compile(TINY_TORCH_SOURCE, str(source), "exec"), namespace)
    torch.save(namespace["build"]().state_dict(), folder / "tiny.pt")
    return {"spec": f"{source}:build", "weights": folder / "tiny.pt", "shape": (1, 3, 8, 8),
            "module": namespace["build"]}


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

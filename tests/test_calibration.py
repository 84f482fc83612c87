"""Calibration data selection and its warnings (no frameworks needed)."""
import numpy as np
import pytest

from edgekit.calib import load_calibration
from edgekit.data import Dataset
from edgekit.errors import InputError
from edgekit.model import ModelHandle
from edgekit.tensors import TensorSpec

SOURCE = ModelHandle("m.keras", "keras", (TensorSpec("image", (None, 16, 16, 1), "float32", "NHWC"),),
                     (TensorSpec("scores", (None, 3), "float32"),))


def smooth_images(n, scale=1.0, seed=0):
    """Images with spatially correlated pixels, like real ones."""
    rng = np.random.default_rng(seed)
    base = rng.random((n, 4, 4, 1), dtype=np.float32)
    return (np.kron(base, np.ones((1, 4, 4, 1), np.float32)) * scale).astype(np.float32)


def test_samples_are_drawn_from_the_evaluation_data():
    evaluation = Dataset([smooth_images(300)], None, "eval.npz")
    calibration = load_calibration(SOURCE, "int8", None, evaluation, samples=50)
    assert calibration.inputs[0].shape == (50, 16, 16, 1)
    assert calibration.origin == "50 samples of eval.npz" and not calibration.warnings
    summary = calibration.summary()
    assert summary["samples"] == 50 and list(summary["ranges"]) == ["image"]


def test_no_data_fails_with_instructions():
    with pytest.raises(InputError, match="--calib FILE .* or --eval FILE"):
        load_calibration(SOURCE, "int8", None, Dataset([smooth_images(4)], None, "random"))


def test_noise_is_flagged(tmp_path):
    np.save(tmp_path / "noise.npy", np.random.default_rng(0).random((20, 16, 16, 1), dtype=np.float32))
    calibration = load_calibration(SOURCE, "int8", tmp_path / "noise.npy", None)
    assert any("random noise" in w for w in calibration.warnings)


def test_a_range_unlike_the_evaluation_data_is_flagged(tmp_path):
    np.save(tmp_path / "calib.npy", smooth_images(20, scale=255.0))  # 0..255 vs 0..1
    evaluation = Dataset([smooth_images(20, seed=1)], None, "eval.npz")
    calibration = load_calibration(SOURCE, "int8", tmp_path / "calib.npy", evaluation)
    assert any("differs markedly" in w for w in calibration.warnings)
    np.save(tmp_path / "good.npy", smooth_images(20, seed=2))
    assert not load_calibration(SOURCE, "int8", tmp_path / "good.npy", evaluation).warnings

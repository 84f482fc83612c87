"""Calibration data selection and its warnings (no frameworks needed)."""
import numpy as np
import pytest

from edgekit.calib import load_calibration
from edgekit.data import Dataset
from edgekit.errors import InputError
from edgekit.model import ModelHandle
from edgekit.tensors import TensorSpec

pytestmark = pytest.mark.pure  # no framework, runtime or Node (conftest: FRAMEWORKS)

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
    np.save(tmp_path / "good.npy", smooth_images(40, seed=2))
    assert not load_calibration(SOURCE, "int8", tmp_path / "good.npy", evaluation).warnings


@pytest.mark.parametrize("count, warned", [(1, True), (31, True), (32, False)])
def test_too_few_samples_are_flagged(tmp_path, count, warned):
    np.save(tmp_path / "calib.npy", smooth_images(count))
    warnings = load_calibration(SOURCE, "int8", tmp_path / "calib.npy", None).warnings
    assert any(f"only {count} sample" in w for w in warnings) == warned, warnings


def write_images(folder, count, size=(16, 16), mode="L"):
    from PIL import Image
    folder.mkdir()
    for i, array in enumerate(smooth_images(count, scale=255.0)[:, :, :, 0]):
        Image.fromarray(array.astype(np.uint8), "L").convert(mode).resize(size).save(folder / f"{i:03d}.png")
    return folder


def test_a_folder_of_images_is_preprocessed_for_the_model(tmp_path):
    folder = write_images(tmp_path / "images", 12, size=(32, 32), mode="RGB")
    calibration = load_calibration(SOURCE, "int8", folder, None, samples=10,
                                   preprocess="scale=1/255,mean=0.5,std=0.5")
    x = calibration.inputs[0]
    assert x.shape == (10, 16, 16, 1)  # resized to the model, gray for a 1-channel model
    assert -1.0 <= x.min() and x.max() <= 1.0 and x.min() < 0  # (v/255 - 0.5) / 0.5
    assert calibration.origin == f"10 images of {folder}"


def test_nchw_models_get_channels_first_images(tmp_path):
    nchw = ModelHandle("m.onnx", "onnx", (TensorSpec("x", (None, 3, 8, 8), "float32", "NCHW"),), ())
    folder = write_images(tmp_path / "images", 3, mode="RGB")
    assert load_calibration(nchw, "int8", folder, None).inputs[0].shape == (3, 3, 8, 8)


@pytest.mark.parametrize("make, message", [
    (lambda f: (f.mkdir(), (f / "broken.png").write_bytes(b"\x89PNG not really")), "cannot decode image"),
    (lambda f: f.mkdir(), "holds no images"),
])
def test_bad_image_folders(tmp_path, make, message):
    make(tmp_path / "images")
    with pytest.raises(InputError, match=message):
        load_calibration(SOURCE, "int8", tmp_path / "images", None)


def test_bad_preprocess_spec(tmp_path):
    folder = write_images(tmp_path / "images", 2)
    with pytest.raises(InputError, match="bad --calib-preprocess item 'colour=red'"):
        load_calibration(SOURCE, "int8", folder, None, preprocess="colour=red")

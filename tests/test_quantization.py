"""Every precision on every format it claims, on tiny seeded models, each artifact proven."""
import numpy as np
import pytest

import edgekit
from edgekit import CalibrationOptions
from edgekit.inspection import describe, open_any


@pytest.fixture(scope="module")
def eval_file(tmp_path_factory):
    rng = np.random.default_rng(0)
    base = rng.random((64, 4, 4, 3), dtype=np.float32)
    images = np.kron(base, np.ones((1, 2, 2, 1), np.float32))  # smooth 8x8x3 "images"
    path = tmp_path_factory.mktemp("data") / "eval.npz"
    np.savez(path, x=images)
    return path


def only_artifact(result):
    artifact, = result.report["artifacts"]
    return artifact


def read_precision(result, artifact) -> str:
    """What `edgekit validate` reads from the artifact itself (not from an edgekit.json)."""
    from edgekit.targets.registry import format_module
    return format_module(artifact["format"]).read_precision(result.out / artifact["path"])


@pytest.mark.parametrize("precision", ["fp16", "int8-dynamic", "int8", "int16x8"])
def test_keras_tflite_precisions(tiny_keras, eval_file, tmp_path, precision):
    result = edgekit.convert(str(tiny_keras), "android", tmp_path / "out", eval_data=eval_file,
                             precision=precision)
    artifact = only_artifact(result)
    assert artifact["passed"], artifact["problems"]
    assert artifact["precision"] == precision and artifact["size_ratio_fp32"] < 1.0
    assert read_precision(result, artifact) == precision
    fp32 = [i for i in result.report["intermediates"] if i["format"] == "tflite"]
    assert fp32 and fp32[0]["precision"] == "fp32"  # the counterpart it is measured against
    assert (result.report["calibration"] is not None) == (precision in ("int8", "int16x8"))


@pytest.mark.parametrize("precision", ["fp16", "int8-dynamic", "int8"])
def test_onnx_precisions(tiny_onnx, eval_file, tmp_path, precision):
    result = edgekit.convert(str(tiny_onnx), "server-cpu", tmp_path / "out", eval_data=eval_file,
                             precision=precision)
    artifact = only_artifact(result)
    assert artifact["passed"], artifact["problems"]
    assert artifact["route"] == ["copy", "onnxruntime.quantization"]
    ops = describe(open_any(str(result.out / artifact["path"])))["ops"]
    expected = {"fp16": "Cast", "int8-dynamic": "DynamicQuantizeLinear", "int8": "QuantizeLinear"}
    assert expected[precision] in ops, ops
    assert read_precision(result, artifact) == precision


@pytest.mark.parametrize("method", ["entropy", "percentile"])
def test_onnx_calibration_methods(tiny_onnx, eval_file, tmp_path, method):
    result = edgekit.convert(str(tiny_onnx), "server-cpu", tmp_path / "out", eval_data=eval_file,
                             precision="int8", calibration=CalibrationOptions(method=method))
    assert only_artifact(result)["passed"]


@pytest.mark.parametrize("precision", ["fp16", "int8-dynamic"])
def test_tfjs_weight_quantization_shrinks_the_download(tiny_keras, tmp_path, precision):
    result = edgekit.convert(str(tiny_keras), "web", tmp_path / "out", precision=precision)
    artifact = only_artifact(result)
    assert artifact["passed"] and artifact["size_ratio_fp32"] < 0.9  # model.json overhead on a tiny model
    assert read_precision(result, artifact) == precision
    assert any("download only" in note for note in artifact["notes"])


def test_int8_io_profile_writes_int8_inputs_and_outputs(tiny_keras, eval_file, tmp_path):
    result = edgekit.convert(str(tiny_keras), "edge-tpu", tmp_path / "out", eval_data=eval_file)
    artifact = only_artifact(result)
    assert artifact["passed"], artifact["problems"]
    assert "int8[" in artifact["inputs"][0] and "int8[" in artifact["outputs"][0]
    assert any("de-quantizes outputs" in note for note in artifact["notes"])


def test_missing_calibration_fails_before_any_work(tiny_keras, tmp_path):
    from edgekit.errors import InputError
    with pytest.raises(InputError, match="needs calibration data"):
        edgekit.convert(str(tiny_keras), "edge-tpu", tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_int8_calibrated_on_a_folder_of_images(tiny_keras, eval_file, tmp_path):
    from PIL import Image
    folder = tmp_path / "images"
    folder.mkdir()
    for i, image in enumerate(np.load(eval_file)["x"][:32]):
        Image.fromarray((image * 255).astype(np.uint8), "RGB").save(folder / f"{i}.png")
    result = edgekit.convert(str(tiny_keras), "android", tmp_path / "out", eval_data=eval_file,
                             precision="int8", calibration=CalibrationOptions(data=folder))
    assert only_artifact(result)["passed"]
    assert result.report["calibration"]["origin"] == f"32 images of {folder}"
    assert not result.report["calibration"]["warnings"]  # same range as the evaluation data

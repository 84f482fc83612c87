"""Every converter edge, on tiny seeded models, each artifact run in its own runtime."""
import hashlib
from pathlib import Path

import numpy as np
import pytest

import edgekit
from edgekit import SourceOptions
from edgekit.inspection import describe, open_any


def digest(path) -> str:
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


def artifacts_by_format(result) -> dict:
    return {a["format"]: a for a in result.report["artifacts"]}


def assert_all_close(result, max_error=1e-4):
    assert result.passed, result.report["artifacts"]
    for artifact in result.report["artifacts"] + result.report["intermediates"]:
        assert artifact["passed"], artifact
        assert artifact["drift"]["max_abs_error"] < max_error
        assert artifact["drift"]["cosine"] > 0.9999
        assert (result.out / artifact["path"]).exists()


def test_keras_to_every_format(tiny_keras, tmp_path, images_nhwc):
    np.savez(tmp_path / "eval.npz", x=images_nhwc, y=np.arange(6) % 5)
    before = digest(tiny_keras)
    result = edgekit.convert(str(tiny_keras), "android", tmp_path / "out", eval_data=tmp_path / "eval.npz",
                             formats=("tflite", "onnx", "tfjs", "savedmodel"), precision="fp32")
    assert_all_close(result)
    found = artifacts_by_format(result)
    assert set(found) == {"tflite", "onnx", "tfjs", "savedmodel"}
    assert found["tfjs"]["route"] == ["keras Model.export", "tensorflowjs"]
    assert found["onnx"]["route"] == ["keras Model.export", "tf2onnx"]
    assert found["tflite"]["accuracy"] == result.report["source"]["accuracy"]
    assert digest(tiny_keras) == before
    assert {"tensorflow", "tf2onnx", "tensorflowjs", "node", "@tensorflow/tfjs"} <= set(
        result.report["versions"])


def test_torch_to_tflite_and_onnx(tiny_torch, tmp_path):
    result = edgekit.convert(tiny_torch["spec"], "android", tmp_path / "out",
                             formats=("tflite", "onnx"), precision="fp32",
                             source=tiny_torch["source"])
    assert_all_close(result)
    found = artifacts_by_format(result)
    assert found["tflite"]["route"] == ["litert-torch"]
    assert found["onnx"]["inputs"] == ["image: float32[?x3x8x8] NCHW"]
    assert result.report["data"] == {"origin": "random", "samples": 64, "seed": 0,
                                     "labelled": False, "notes": []}


def test_onnx_to_tflite_and_tfjs_flips_the_layout(tiny_onnx, tmp_path):
    before = digest(tiny_onnx)
    result = edgekit.convert(str(tiny_onnx), "android", tmp_path / "out", formats=("tflite", "tfjs"),
                             precision="fp32")
    assert_all_close(result)
    found = artifacts_by_format(result)
    assert found["tflite"]["route"] == ["onnx2tf"]
    assert found["tflite"]["inputs"][0].endswith("[?x8x8x3] NHWC")
    assert any("transposed" in note for note in found["tflite"]["notes"])
    assert found["tfjs"]["route"] == ["onnx2tf", "tensorflowjs"]
    assert digest(tiny_onnx) == before  # onnx2tf rewrites its input in place: it got a copy


def test_onnx_for_server_cpu_is_a_proven_copy(tiny_onnx, tmp_path):
    result = edgekit.convert(str(tiny_onnx), "server-cpu", tmp_path / "out", precision="fp32")
    artifact, = result.report["artifacts"]
    assert artifact["route"] == ["copy"] and artifact["drift"]["max_abs_error"] == 0
    assert digest(result.out / artifact["path"]) == digest(tiny_onnx)


def test_torchscript_and_torch_export_sources(tiny_torch, tmp_path):
    import torch
    module = tiny_torch["module"]()
    module.load_state_dict(torch.load(tiny_torch["weights"], weights_only=True))
    example = (torch.zeros(1, 3, 8, 8),)
    torch.jit.save(torch.jit.trace(module.eval(), example), tmp_path / "tiny_script.pt")
    torch.export.save(torch.export.export(module.eval(), example), tmp_path / "tiny.pt2")
    scripted = edgekit.convert(str(tmp_path / "tiny_script.pt"), "server-cpu", tmp_path / "o1",
                               precision="fp32", source=SourceOptions(input_shapes=((1, 3, 8, 8),)))
    assert_all_close(scripted)
    assert scripted.report["source"]["format"] == "torchscript"
    exported = edgekit.convert(str(tmp_path / "tiny.pt2"), "android", tmp_path / "o2",
                               precision="fp32")
    assert_all_close(exported)
    assert exported.report["source"]["format"] == "torch"


def test_keras2_savedmodel_source(tmp_path):
    import tf_keras
    tf_keras.utils.set_random_seed(0)
    model = tf_keras.Sequential([tf_keras.Input((6,)), tf_keras.layers.Dense(3, activation="softmax")])
    model.compile("adam", "mse")
    model.fit(np.ones((4, 6)), np.ones((4, 3)), verbose=0)  # creates optimizer slot variables
    model.save(tmp_path / "sm", save_format="tf")
    result = edgekit.convert(str(tmp_path / "sm"), "android", tmp_path / "out", precision="fp32")
    assert_all_close(result)
    assert result.report["source"]["format"] == "savedmodel"


def test_a_wrong_artifact_is_caught(tiny_keras, tmp_path, images_nhwc):
    """Validation must fail an artifact that does not compute what the original does."""
    import keras

    from edgekit.data import Dataset
    from edgekit.profile import Budgets
    from edgekit.quantize import PRECISIONS
    from edgekit.judge import judge
    result = edgekit.convert(str(tiny_keras), "android", tmp_path / "out", precision="fp32")
    artifact = open_any(str(result.out / result.report["artifacts"][0]["path"]))
    source = open_any(str(tiny_keras))
    other = keras.saving.load_model(tiny_keras)
    other.set_weights([w + 0.5 for w in other.get_weights()])  # a different model
    data = Dataset([images_nhwc], None, "test")
    verdict = judge(artifact, source, data, [np.asarray(other(images_nhwc))],
                    PRECISIONS["fp32"].tolerance, Budgets(), None)
    assert not verdict.passed and any("max abs error" in p for p in verdict.problems)


@pytest.mark.parametrize("kind", ["keras", "onnx", "tflite", "tfjs"])
def test_inspect_every_format(kind, tiny_keras, tiny_onnx, tmp_path):
    if kind in ("tflite", "tfjs"):
        result = edgekit.convert(str(tiny_keras), "web", tmp_path / "out", formats=(kind,),
                                 precision="fp32")
        path = result.out / result.report["artifacts"][0]["path"]
    else:
        path = {"keras": tiny_keras, "onnx": tiny_onnx}[kind]
    info = describe(open_any(str(path)))
    assert info["format"] == kind and info["size_bytes"] > 0
    assert len(info["inputs"]) == 1 and len(info["outputs"]) == 1
    assert sum(info["ops"].values()) >= 2, info["ops"]


def test_two_inputs_with_integer_ids_and_two_outputs(tmp_path):
    """Inputs matched by name in --eval, an int64 input, two outputs, every format."""
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "eval.npz", ids=rng.integers(0, 50, (16, 6)), image=rng.random((16, 3, 8, 8), dtype=np.float32))
    spec = f"{Path(__file__).with_name('two_inputs_model.py')}:build"
    result = edgekit.convert(spec, "web", tmp_path / "out", eval_data=tmp_path / "eval.npz",
                             formats=("tflite", "onnx", "tfjs"), precision="fp32", bench_runs=3,
                             source=SourceOptions(input_shapes=("1,3,8,8", "1,6:int64")))
    assert_all_close(result)
    assert result.report["source"]["inputs"] == ["image: float32[?x3x8x8] NCHW", "ids: int64[?x6]"]
    for artifact in result.report["artifacts"]:
        assert len(artifact["drift_per_output"]) == 2 and artifact["latency_ms"] is not None


def test_tfjs_keeps_residual_and_scalar_adds_unfused(tmp_path):
    """tensorflowjs would fuse these adds into the conv as a 'bias' TF.js cannot run."""
    import keras
    keras.utils.set_random_seed(0)
    inputs = keras.Input((8, 8, 3), name="image")
    conv = keras.layers.Conv2D(3, 3, padding="same", use_bias=False)(inputs)
    residual = keras.layers.Add()([conv, inputs])  # a rank-4 operand
    shifted = keras.layers.Conv2D(4, 1, use_bias=False)(residual) + 0.5  # a scalar operand
    model = keras.Model(inputs, keras.layers.Flatten()(shifted))
    model.save(tmp_path / "residual.keras")
    result = edgekit.convert(str(tmp_path / "residual.keras"), "web", tmp_path / "out", precision="fp32",
                             bench_runs=0)
    assert_all_close(result)
    assert not result.report.get("warnings")  # the outputs vary: the check means something


def test_what_tensorflowjs_prints_goes_to_the_step_log_not_the_terminal(tmp_path, capfd):
    """tensorflowjs print()s a line per int64 weight it narrows to int32; it belongs in
    the step's log, not between edgekit's progress lines."""
    import tensorflow as tf

    class Offset(tf.Module):
        def __init__(self):
            super().__init__()
            self.offset = tf.Variable([[3]], dtype=tf.int64)  # an int64 weight

        @tf.function(input_signature=[tf.TensorSpec([None, 1], tf.int64, name="x")])
        def __call__(self, x):
            return {"y": tf.cast(x + self.offset, tf.float32) * 2.0}

    module = Offset()
    tf.saved_model.save(module, str(tmp_path / "sm"), signatures=module.__call__)
    np.savez(tmp_path / "eval.npz", x=np.arange(8, dtype=np.int64).reshape(8, 1))
    capfd.readouterr()
    result = edgekit.convert(str(tmp_path / "sm"), "web", tmp_path / "out", eval_data=tmp_path / "eval.npz",
                             precision="fp32", bench_runs=0)
    assert result.passed
    assert "auto converted" not in capfd.readouterr().out
    logs = "".join(path.read_text() for path in (result.out / "logs").glob("*tfjs*.log"))
    assert "auto converted to the type int32" in logs

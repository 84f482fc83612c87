"""Accuracy-aware mode: a model built so that full int8 collapses must end within budget
with the guilty layer kept in float, for TFLite and for ONNX."""
import numpy as np
import pytest

import edgekit

BUDGET = 1.0


def confident_samples(predict, rng, count=300):
    """Inputs the float model classifies with a clear margin, labelled by it: accuracy is
    100% by construction, so any drop is the artifact's doing."""
    x = rng.standard_normal((count * 4, 16)).astype(np.float32)
    p = np.sort(predict(x), axis=1)
    keep = (p[:, -1] - p[:, -2]) > 0.3
    x = x[keep][:count]
    return x, predict(x).argmax(1)


@pytest.fixture(scope="module")
def wide_keras(tmp_path_factory):
    """Dense net whose middle layer has one channel ~3000x the others, which the head ignores:
    per-tensor int8 activations of that layer leave the other channels nothing."""
    import keras
    keras.utils.set_random_seed(0)
    inputs = keras.Input((16,), name="x")
    hidden = keras.layers.Dense(32, activation="relu", name="features")(inputs)
    wide = keras.layers.Dense(16, name="wide_range")(hidden)
    model = keras.Model(inputs, keras.layers.Dense(10, activation="softmax", name="head")(wide))
    weights, bias = model.get_layer("wide_range").get_weights()
    weights[:, 0] *= 3000.0
    model.get_layer("wide_range").set_weights([weights, bias])
    head, head_bias = model.get_layer("head").get_weights()
    head[0, :] = 0.0
    model.get_layer("head").set_weights([head, head_bias])
    folder = tmp_path_factory.mktemp("wide")
    x, y = confident_samples(lambda a: model(a).numpy(), np.random.default_rng(1))
    np.savez(folder / "eval.npz", x=x, y=y)
    model.save(folder / "wide.keras")
    return folder


@pytest.mark.parametrize("target, fmt", [("android", "tflite"), ("server-cpu", "onnx")])
def test_auto_keeps_the_wide_layer_in_float(wide_keras, tmp_path, target, fmt):
    result = edgekit.convert(str(wide_keras / "wide.keras"), target, tmp_path / "out",
                             eval_data=wide_keras / "eval.npz", precision="auto", max_drop=BUDGET)
    search = result.report["auto"][fmt]
    first = search["trail"][0]
    assert first["precision"] == "int8" and first["accuracy_drop"] > 50  # full int8 collapses
    assert search["chosen"] == "int8" and search["float_layers"]
    assert "wide_range" in search["float_layers"][0]["tensor"]
    assert "wide_range" in search["ranking"][0]["tensor"]  # ranked worst
    artifact, = result.report["artifacts"]
    assert artifact["passed"] and artifact["precision"] == "int8"
    assert artifact["accuracy_drop"] <= BUDGET
    assert (result.out / artifact["path"]).exists()
    rejected = [t for t in search["trail"] if not t.get("passed")]
    kept_folders = {a["path"].split("/")[0] for a in result.report["artifacts"] + result.report["intermediates"]}
    assert sorted(p.name for p in result.out.iterdir() if p.is_dir()) == sorted(kept_folders)
    assert rejected  # rejected attempts are in the trail, not on disk


def test_auto_takes_the_most_aggressive_precision_that_passes(tiny_keras, tmp_path):
    result = edgekit.convert(str(tiny_keras), "web", tmp_path / "out", precision="auto")
    search = result.report["auto"]["tfjs"]
    assert search["trail"][0]["precision"] == "int8-dynamic"  # TF.js has no full int8
    assert search["chosen"] == search["trail"][-1]["precision"]
    assert result.report["artifacts"][0]["precision"] == search["chosen"]


def test_auto_without_calibration_data_skips_full_int8(tiny_keras, tmp_path):
    result = edgekit.convert(str(tiny_keras), "android", tmp_path / "out", precision="auto")
    trail = result.report["auto"]["tflite"]["trail"]
    assert trail[0] == {"precision": "int8", "skipped": "no calibration data (--calib or --eval)"}

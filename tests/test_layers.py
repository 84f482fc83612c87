"""Per-layer drift: name the first layer from which an artifact diverges."""
import numpy as np
import pytest

import edgekit
from edgekit.layers import LayerMatch, first_divergent, match_layers
from edgekit.validate_pair import validate_pair

pytestmark = pytest.mark.pure  # no framework, runtime or Node (conftest: FRAMEWORKS)


def test_fusion_gaps_are_not_divergence():
    rng = np.random.default_rng(0)
    conv, relu, head = (rng.random((4, 8)) for _ in range(3))
    original = [("conv", conv - 0.5), ("relu", relu), ("head", head)]
    artifact = [("fused_conv_relu", relu), ("out", head)]  # pre-ReLU tensor fused away
    matches = match_layers(original, artifact)
    assert [m.match for m in matches[1:]] == ["fused_conv_relu", "out"]
    assert first_divergent(matches, 0.9999) is None


def test_divergence_that_persists_is_reported_at_its_start():
    ok = LayerMatch("a", "a", 1.0, 0.0)
    gap = LayerMatch("b", None, -1.0, None)
    bad = LayerMatch("c", "c", 0.3, 1.0)
    assert first_divergent([ok, gap, ok, bad, bad], 0.99).layer == "c"
    assert first_divergent([gap, bad], 0.99).layer == "b"


def test_layouts_are_matched_across_nchw_and_nhwc():
    x = np.random.default_rng(0).random((2, 3, 4, 5))
    match, = match_layers([("conv", x)], [("nhwc", x.transpose(0, 2, 3, 1).copy())])
    assert match.match == "nhwc" and match.cosine == pytest.approx(1.0)


def test_each_layer_gets_the_closest_of_many_same_size_tensors_and_zeros_agree_only_with_zeros():
    rng = np.random.default_rng(1)
    artifact = [(f"t{i}", rng.standard_normal((3, 6, 2, 2))) for i in range(20)]
    artifact.append(("zeros", np.zeros((3, 6, 2, 2))))
    wanted = artifact[13][1] + 0.01 * rng.standard_normal((3, 6, 2, 2))
    original = [("near_t13", wanted), ("zeros", np.zeros((3, 24))), ("none", rng.random((3, 5)))]
    near, zeros, none = match_layers(original, artifact)
    reference = [np.mean([np.dot(a, b) / np.linalg.norm(a) / np.linalg.norm(b)
                          for a, b in zip(wanted.reshape(3, -1), other.reshape(3, -1))])
                 for _, other in artifact[:20]]
    assert near.match == "t13" and near.cosine == pytest.approx(max(reference), abs=1e-5)
    assert near.max_abs_error == pytest.approx(np.abs(wanted - artifact[13][1]).max(), rel=1e-5)
    assert (zeros.match, zeros.cosine) == ("zeros", 1.0)
    assert (none.match, none.cosine) == (None, -1.0)


@pytest.fixture(scope="module")
def three_layer_keras(tmp_path_factory):
    import keras
    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input((8, 8, 3)),
        keras.layers.Conv2D(4, 3, activation="relu", name="conv_a"),
        keras.layers.Conv2D(6, 3, activation="relu", name="conv_b"),
        keras.layers.Flatten(name="flat"),
        keras.layers.Dense(5, activation="softmax", name="head"),
    ])
    folder = tmp_path_factory.mktemp("layers")
    model.save(folder / "model.keras")
    kernel, bias = model.get_layer("conv_b").get_weights()
    model.get_layer("conv_b").set_weights([kernel * -2.0 + 0.3, bias])  # the broken layer
    model.save(folder / "broken.keras")
    return folder


@pytest.mark.framework  # needs a framework (ImportError when blocked)
def test_a_broken_layer_in_a_tflite_artifact_is_named(three_layer_keras, tmp_path):
    broken = edgekit.convert(str(three_layer_keras / "broken.keras"), "android", tmp_path / "out",
                             precision="fp32", bench_runs=0)
    artifact = broken.out / broken.report["artifacts"][0]["path"]
    result = validate_pair(str(three_layer_keras / "model.keras"), str(artifact), layers=True)
    assert not result["passed"]
    assert result["layers"]["first_divergent"]["layer"] == "conv_b"
    clean = edgekit.convert(str(three_layer_keras / "model.keras"), "android", tmp_path / "clean",
                            precision="fp32", bench_runs=0)
    good = validate_pair(str(three_layer_keras / "model.keras"),
                         str(clean.out / clean.report["artifacts"][0]["path"]), layers=True)
    assert good["passed"] and good["layers"]["first_divergent"] is None


@pytest.mark.framework  # needs a framework (ImportError when blocked)
def test_a_perturbed_onnx_weight_is_named(tiny_torch, tmp_path):
    import onnx
    from onnx import numpy_helper
    result = edgekit.convert(tiny_torch["spec"], "server-cpu", tmp_path / "out", precision="fp32",
                             bench_runs=0,
                             source=tiny_torch["source"])
    path = result.out / result.report["artifacts"][0]["path"]
    model = onnx.load(str(path))
    for init in model.graph.initializer:
        if init.name == "head.weight":
            init.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(init) * -1.0, init.name))
    onnx.save(model, str(tmp_path / "perturbed.onnx"))
    report = validate_pair(tiny_torch["spec"], str(tmp_path / "perturbed.onnx"),
                           weights=tiny_torch["weights"], input_shapes=(tiny_torch["shape"],), layers=True)
    assert not report["passed"]
    assert report["layers"]["first_divergent"]["layer"] == "head"

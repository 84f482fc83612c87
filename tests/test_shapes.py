"""The dynamic-shape matrix: a deliverable proven again at the shapes apps call it with
(batch 1 and 4, another image size), recorded in the report and edgekit.json."""
import json

import numpy as np
import pytest

import edgekit
from edgekit.data import Dataset
from edgekit.model import ModelHandle
from edgekit.shapes import shapes_to_prove
from edgekit.tensors import TensorSpec


@pytest.mark.pure
def test_the_shapes_cover_both_batches_and_another_multiple_of_the_stride():
    image = TensorSpec("image", (None, 3, None, None), "float32", "NCHW")
    tokens = TensorSpec("ids", (None, None), "int64", None)
    source = ModelHandle("m.onnx", "onnx", (image, tokens), ())
    data = Dataset([np.zeros((2, 3, 320, 320), np.float32), np.ones((2, 40), np.int64)], None, "eval.npz")
    shapes = {shape.label: [x.shape for x in shape.inputs] for shape in shapes_to_prove(source, data)}
    assert shapes["batch 1"] == [(1, 3, 320, 320), (1, 40)]
    assert shapes["batch 4"] == [(4, 3, 320, 320), (4, 40)]  # samples repeat when there are fewer
    # height and width: the next multiple of 32; a sequence: half the length
    assert shapes["size image 3x352x352, ids 20"] == [(1, 3, 352, 352), (1, 20)]


@pytest.mark.pure
def test_a_static_source_has_no_shapes_to_prove():
    source = ModelHandle("m.tflite", "tflite", (TensorSpec("x", (1, 8), "float32"),), ())
    assert shapes_to_prove(source, Dataset([np.zeros((3, 8), np.float32)], None, "eval.npz")) == []


@pytest.fixture(scope="module")
def any_size_onnx(tmp_path_factory):
    """A CNN taking any image size (global pooling), exported with dynamic H and W."""
    import torch
    torch.manual_seed(0)
    module = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, stride=2, padding=1), torch.nn.ReLU(),
                                 torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(4, 3))
    folder = tmp_path_factory.mktemp("any_size")
    path = folder / "any_size.onnx"
    torch.onnx.export(module.eval(), (torch.zeros(1, 3, 32, 32),), str(path), input_names=["image"],
                      output_names=["scores"], opset_version=17, dynamo=False,
                      dynamic_axes={"image": {0: "n", 2: "h", 3: "w"}, "scores": {0: "n"}})
    np.savez(folder / "eval.npz", x=np.random.default_rng(0).random((8, 3, 32, 32), dtype=np.float32))
    return path, folder / "eval.npz"


@pytest.mark.slow
def test_each_deliverable_says_which_shapes_it_takes_and_proved(any_size_onnx, tmp_path):
    model, eval_data = any_size_onnx
    result = edgekit.convert(str(model), "server-cpu", tmp_path / "server", eval_data=eval_data,
                             precision="fp32", bench_runs=0)
    delivered, = result.report["deliverables"]
    rows = {row["shape"]: row for row in delivered["shapes"]}
    assert set(rows) == {"batch 1", "batch 4", "size image 3x64x64"}
    assert all(row["supported"] and row["passed"] for row in rows.values())  # onnxruntime takes any
    assert rows["size image 3x64x64"]["inputs"] == [[1, 3, 64, 64]]
    metadata = json.loads((result.out / delivered["metadata"]).read_text())
    assert metadata["shapes"] == delivered["shapes"] and metadata["fixed_shape"] is False

    # onnx2tf is given the evaluation data's size: the TFLite model takes that size only
    result = edgekit.convert(str(model), "android", tmp_path / "android", eval_data=eval_data,
                             precision="fp32", bench_runs=0)
    delivered, = result.report["deliverables"]
    rows = {row["shape"]: row for row in delivered["shapes"]}
    assert rows["batch 4"]["supported"] and rows["batch 4"]["passed"]
    other = rows["size image 3x64x64"]
    assert not other["supported"] and other["passed"] is None
    assert "is fixed at 32x32x3" in other["note"]

"""ONNX files as other exporters write them: odd names, Constant-node weights, dynamic
height and width. Each converts to TFLite and TF.js and is proven."""
import numpy as np
import pytest

import edgekit
from edgekit import SourceOptions
from edgekit.errors import InputError
from edgekit.loading import parse_shape


@pytest.fixture(scope="module")
def onnx_variants(tmp_path_factory):
    import onnx
    import torch
    from onnx import helper
    folder = tmp_path_factory.mktemp("onnx_variants")
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.ReLU(),
                                torch.nn.Conv2d(4, 2, 3, padding=1)).eval()
    example = (torch.zeros(1, 3, 16, 16),)
    export = dict(input_names=["image"], output_names=["out"], opset_version=17, dynamo=False)
    torch.onnx.export(model, example, str(folder / "base.onnx"),
                      dynamic_axes={"image": {0: "n"}, "out": {0: "n"}}, **export)
    torch.onnx.export(model, example, str(folder / "dynamic_hw.onnx"),
                      dynamic_axes={"image": {0: "n", 2: "h", 3: "w"}, "out": {0: "n", 2: "h", 3: "w"}},
                      **export)
    odd = onnx.load(str(folder / "base.onnx"))  # names TensorFlow rejects: @, :, spaces
    renamed = {}
    for node in odd.graph.node:
        node.name = node.name.replace("/", "@") + " x:1"
        for value in node.output:
            if value != "out":
                renamed[value] = value.replace("/", "@") + ":odd name"
    for node in odd.graph.node:
        node.input[:] = [renamed.get(v, v) for v in node.input]
        node.output[:] = [renamed.get(v, v) for v in node.output]
    onnx.save(odd, str(folder / "odd_names.onnx"))
    constants = onnx.load(str(folder / "base.onnx"))  # weights as Constant nodes
    nodes = [helper.make_node("Constant", [], [init.name], value=init, name=f"const_{init.name}")
             for init in constants.graph.initializer] + list(constants.graph.node)
    del constants.graph.initializer[:]
    del constants.graph.node[:]
    constants.graph.node.extend(nodes)
    onnx.checker.check_model(constants)
    onnx.save(constants, str(folder / "constant_weights.onnx"))
    (folder / "external").mkdir()  # weights in a side file, as models over 2 GB must keep them
    onnx.save(onnx.load(str(folder / "base.onnx")), str(folder / "external" / "model.onnx"),
              save_as_external_data=True, location="weights.bin", size_threshold=0)
    return folder


@pytest.mark.parametrize("variant, shapes, note", [
    ("odd_names", (), "names TensorFlow rejects"),
    ("constant_weights", (), "Constant node weight(s) into initializers"),
    ("dynamic_hw", (parse_shape("1,3,24,24"),), None)])
def test_onnx_variants_convert_to_tflite_and_tfjs(onnx_variants, tmp_path, variant, shapes, note):
    path = onnx_variants / f"{variant}.onnx"
    before = path.read_bytes()
    result = edgekit.convert(str(path), "android", tmp_path / "out", formats=("tflite", "tfjs"),
                             precision="fp32", bench_runs=0,
                             source=SourceOptions(input_shapes=shapes))
    assert result.passed, [a["problems"] for a in result.report["artifacts"]]
    for artifact in result.report["artifacts"]:
        assert artifact["drift"]["max_abs_error"] < 1e-4
        if note:  # each clean-up of the working copy shows up in the report
            assert any(note in n for n in artifact["notes"]), artifact["notes"]
    assert path.read_bytes() == before


def test_dynamic_dimensions_without_shapes_are_said_plainly(onnx_variants, tmp_path):
    result = edgekit.convert(str(onnx_variants / "dynamic_hw.onnx"), "server-cpu", tmp_path / "out",
                             precision="fp32", bench_runs=0)
    assert any("dynamic dimensions" in note for note in result.report["data"]["notes"])


def test_an_input_shape_that_does_not_fit_is_refused(onnx_variants, tmp_path):
    with pytest.raises(InputError, match="does not fit input 'image'"):
        edgekit.convert(str(onnx_variants / "base.onnx"), "android", tmp_path / "out",
                        source=SourceOptions(input_shapes=("1,3,24,24",)))


def test_dynamic_dimensions_are_fixed_from_the_evaluation_data(onnx_variants, tmp_path):
    np.savez(tmp_path / "eval.npz", x=np.random.default_rng(0).random((4, 3, 20, 20), dtype=np.float32))
    result = edgekit.convert(str(onnx_variants / "dynamic_hw.onnx"), "android", tmp_path / "out",
                             eval_data=tmp_path / "eval.npz", precision="fp32", bench_runs=0)
    artifact, = result.report["artifacts"]
    assert artifact["passed"] and "20x20" in artifact["inputs"][0]
    assert any("fixed from the evaluation data: image 3x20x20" in n for n in artifact["notes"])


def test_external_weights_travel_with_the_model(onnx_variants, tmp_path):
    source = onnx_variants / "external" / "model.onnx"
    weights = onnx_variants / "external" / "weights.bin"
    result = edgekit.convert(str(source), "server-cpu", tmp_path / "out", formats=("onnx", "tflite", "tfjs"),
                             precision="fp32", bench_runs=0)
    assert result.passed, [a["problems"] for a in result.report["artifacts"]]
    assert result.report["source"]["size_bytes"] == source.stat().st_size + weights.stat().st_size
    copy = next(a for a in result.report["artifacts"] if a["format"] == "onnx")
    copied = result.out / copy["path"]
    assert (copied.parent / "weights.bin").read_bytes() == weights.read_bytes()
    assert copy["size_bytes"] == result.report["source"]["size_bytes"]

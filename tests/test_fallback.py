"""When a route fails or produces a wrong artifact, the next route of that precision is
tried (a losing candidate of the search), and the report says why each one lost."""
import dataclasses
import json

import pytest

import edgekit
from edgekit import SourceOptions
from edgekit.errors import ConversionError
from edgekit.targets import tflite


def replace_converters(monkeypatch, table):
    """tflite's converters, replaced where the registry reads them: its FORMAT record."""
    monkeypatch.setattr(tflite, "FORMAT", dataclasses.replace(tflite.FORMAT, converters=table))


def replace_converter(monkeypatch, tool: str, run):
    table = tuple(dataclasses.replace(c, run=run) if c.tool == tool else c for c in tflite.CONVERTERS)
    replace_converters(monkeypatch, table)


def convert_tiny(tiny_torch, tmp_path):
    return edgekit.convert(tiny_torch["spec"], "android", tmp_path / "out", precision="fp32",
                           bench_runs=0,
                           source=tiny_torch["source"])


def candidates(result, fmt="tflite"):
    return result.report["search"][fmt]["candidates"]


def test_a_failing_converter_falls_back_to_the_next_route(tiny_torch, tmp_path, monkeypatch):
    def broken(source, out_dir, ctx):
        raise ConversionError("torch -> tflite (litert-torch)", str(source.path), "unsupported op aten::foo")
    replace_converter(monkeypatch, "litert-torch", broken)
    result = convert_tiny(tiny_torch, tmp_path)
    artifact, = result.report["artifacts"]
    assert artifact["passed"] and artifact["route"] == ["torch.onnx.export", "onnx2tf"]
    failed, chosen = candidates(result)
    assert failed["route"] == ["litert-torch"] and failed["status"] == "error"
    assert "aten::foo" in failed["why"]
    assert chosen["status"] == "chosen" and chosen["route"] == ["torch.onnx.export", "onnx2tf"]
    assert (result.out / result.report["deliverables"][0]["path"]).is_file()


def test_a_wrong_artifact_is_rejected_and_removed(tiny_torch, tmp_path, monkeypatch):
    """A converter that 'succeeds' with outputs unrelated to the original (negated)."""
    import torch
    original = tflite.from_torch

    def wrong(source, out_dir, ctx):
        from edgekit.targets import torch as torch_format
        module, _ = torch_format.module_and_example(source)
        with monkeypatch.context() as patch:
            patch.setattr(torch_format, "_module", lambda handle: Negated(module))
            return original(source, out_dir, ctx)

    class Negated(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, x):
            return -self.inner(x)

    replace_converter(monkeypatch, "litert-torch", wrong)
    result = convert_tiny(tiny_torch, tmp_path)
    artifact, = result.report["artifacts"]
    assert artifact["passed"] and artifact["route"] != ["litert-torch"]
    rejected = candidates(result)[0]
    assert rejected["status"] == "failed" and "unrelated" in rejected["why"]
    assert rejected["path"] is None and not (result.out / "01_tflite").exists()  # removed


def test_when_every_route_fails_the_error_lists_each_cause_once(tiny_torch, tmp_path, monkeypatch):
    def broken(source, out_dir, ctx):
        raise ConversionError(f"x {out_dir.name}", str(source.path), "no")
    replace_converters(monkeypatch, tuple(dataclasses.replace(c, run=broken) for c in tflite.CONVERTERS))
    with pytest.raises(ConversionError, match=r"no candidate could be made: x \d+_tflite: no "
                                              r"\[tflite fp32 via litert-torch( and \d+ more)?\]; "
                                              r".*\[tflite fp32 via torch.onnx.export -> onnx2tf"):
        convert_tiny(tiny_torch, tmp_path)
    assert not (tmp_path / "out").exists()


TRANSFORMER_SOURCE = '''
import torch
from torch import nn


class TinyEncoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Linear(16, 32)
        layer = nn.TransformerEncoderLayer(32, 4, 64, batch_first=True, dropout=0.0)
        self.encoder = nn.TransformerEncoder(layer, 2)
        self.head = nn.Linear(32, 5)

    def forward(self, tokens):
        return self.head(self.encoder(self.embed(tokens)).mean(1))


def build():
    torch.manual_seed(0)
    return TinyEncoder().eval()
'''


@pytest.fixture(scope="module")
def transformer(tmp_path_factory):
    import numpy as np
    folder = tmp_path_factory.mktemp("transformer")
    (folder / "encoder.py").write_text(TRANSFORMER_SOURCE)
    np.savez(folder / "eval.npz", x=np.random.default_rng(0).standard_normal((64, 8, 16)).astype("float32"))
    return folder


def test_a_transformer_onnx2tf_cannot_convert_still_gets_a_quantized_android_deliverable(
        transformer, tmp_path, monkeypatch):
    """int8 TFLite from PyTorch used to need ONNX -> onnx2tf -> TFLiteConverter; with
    onnx2tf failing, litert-torch's fp32 TFLite is quantized by ai-edge-quantizer."""
    def broken(source, out_dir, ctx):
        raise ConversionError("onnx -> tflite (onnx2tf)", str(source.path),
                              "Output tensors of a Functional model must be the output of a TensorFlow Layer")
    from edgekit.targets.onnx import onnx2tf as onnx2tf_tool
    monkeypatch.setattr(onnx2tf_tool, "convert", broken)
    result = edgekit.convert(f"{transformer / 'encoder.py'}:build", "android", tmp_path / "out",
                             eval_data=transformer / "eval.npz", bench_runs=10,
                             source=SourceOptions(input_shapes=((1, 8, 16),)))
    assert result.passed
    deliverable, = result.report["deliverables"]
    assert deliverable["route"][0] == "litert-torch"
    search = candidates(result)
    quantized = [c for c in search if c["precision"] != "fp32" and c["route"] == ["litert-torch", "ai-edge-quantizer"]]
    assert quantized and all(c["status"] in ("chosen", "passed", "failed") for c in quantized)
    assert all(c["why"] for c in search)


@pytest.mark.slow
def test_onnx2tf_that_transposes_a_sequence_input_is_retried_keeping_its_shape(transformer, tmp_path):
    """onnx2tf takes a [N, 8, 16] sequence for channels-first and makes it [N, 16, 8]: TF.js
    then refuses the data. The search retries with -kat, and later precisions start there."""
    result = edgekit.convert(f"{transformer / 'encoder.py'}:build", "web", tmp_path / "out",
                             eval_data=transformer / "eval.npz", bench_runs=3,
                             source=SourceOptions(input_shapes=((1, 8, 16),)))
    assert result.passed
    search = candidates(result, "tfjs")
    assert search[0]["status"] == "error" and "shape" in search[0]["why"]
    assert search[1]["variant"] == "onnx2tf-kat" and search[1]["status"] in ("passed", "chosen")
    assert all(c["variant"] == "onnx2tf-kat" for c in search[2:])  # learned, not failed again
    assert ".edgekit-tmp-" not in json.dumps(result.report)  # reasons name final paths

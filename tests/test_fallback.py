"""When a route fails or produces a wrong artifact, the next route of that precision is
tried (a losing candidate of the search), and the report says why each one lost."""
import dataclasses

import pytest

import edgekit
from edgekit.errors import ConversionError
from edgekit.targets import tflite


def replace_converter(monkeypatch, tool: str, run):
    table = tuple(dataclasses.replace(c, run=run) if c.tool == tool else c for c in tflite.CONVERTERS)
    monkeypatch.setattr(tflite, "CONVERTERS", table)


def convert_tiny(tiny_torch, tmp_path):
    return edgekit.convert(tiny_torch["spec"], "android", tmp_path / "out", weights=tiny_torch["weights"],
                           input_shapes=(tiny_torch["shape"],), precision="fp32", bench_runs=0)


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


def test_when_every_route_fails_the_error_lists_them(tiny_torch, tmp_path, monkeypatch):
    def broken(source, out_dir, ctx):
        raise ConversionError("x", str(source.path), "no")
    table = tuple(dataclasses.replace(c, run=broken) for c in tflite.CONVERTERS)
    monkeypatch.setattr(tflite, "CONVERTERS", table)
    with pytest.raises(ConversionError, match="no candidate could be made: tflite fp32 via "
                                              "litert-torch: .*torch.onnx.export -> onnx2tf"):
        convert_tiny(tiny_torch, tmp_path)
    assert not (tmp_path / "out").exists()

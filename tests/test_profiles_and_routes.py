"""The profile table and the converter table: completeness and plan-time refusals."""
import pytest

from edgekit.errors import UnsupportedError
from edgekit.model import ModelHandle
from edgekit.plan import check_profile, make_plan
from edgekit.profile import get_profile
from edgekit.quantize import PRECISIONS
from edgekit.targets.profiles import PROFILES
from edgekit.targets.registry import OUTPUT_FORMATS, quantized_route, route

SOURCE_FORMATS = ("keras", "savedmodel", "torch", "torchscript", "onnx")
REQUIRED = {"android", "ios", "web", "raspberry-pi", "edge-tpu", "microcontroller", "server-cpu"}


def test_required_profiles_exist():
    assert REQUIRED <= set(PROFILES)


@pytest.mark.parametrize("profile", PROFILES.values(), ids=list(PROFILES))
@pytest.mark.parametrize("source", SOURCE_FORMATS)
def test_every_profile_format_is_reachable_from_every_source(profile, source):
    for fmt in profile.formats:
        chain = route(source, fmt) if fmt != source else []
        assert all(a.dest == b.source for a, b in zip(chain, chain[1:]))
        if chain:
            assert chain[0].source == source and chain[-1].dest == fmt


def test_routes_use_the_official_converters():
    assert [c.tool for c in route("torch", "tfjs")] == ["torch.onnx.export", "onnx2tf", "tensorflowjs"]
    assert [c.tool for c in route("keras", "onnx")] == ["keras Model.export", "tf2onnx"]
    assert [c.tool for c in route("torch", "tflite")] == ["litert-torch"]
    assert [c.tool for c in route("onnx", "tflite")] == ["onnx2tf"]


def test_tflite_is_not_a_conversion_source():
    with pytest.raises(UnsupportedError, match="no conversion route from tflite"):
        route("tflite", "onnx")


def test_unknown_target_lists_the_valid_ones():
    with pytest.raises(UnsupportedError) as error:
        get_profile("andriod")
    assert str(error.value) == ("unknown target 'andriod'; valid targets: "
                                + ", ".join(PROFILES))


@pytest.mark.parametrize("name", PROFILES)
def test_every_profile_precision_exists_for_its_formats(name):
    profile = PROFILES[name]
    assert all(fmt in PRECISIONS[profile.precision].formats for fmt in profile.formats)
    check_profile(profile)


def test_a_precision_a_format_cannot_take_is_refused_with_the_options():
    with pytest.raises(UnsupportedError) as error:
        check_profile(get_profile("web").with_overrides(precision="int8"))
    assert str(error.value) == ("precision 'int8' is not available for tfjs; "
                                "tfjs supports: fp32, fp16, int8-dynamic")


def test_int8_io_profiles_need_full_int8():
    for profile in PROFILES.values():
        if "int8-io" in profile.constraints:
            assert profile.precision == "int8"


@pytest.mark.parametrize("source", SOURCE_FORMATS)
@pytest.mark.parametrize("precision", [p for p in PRECISIONS if p != "fp32"])
def test_every_precision_reaches_each_format_it_claims(source, precision):
    for fmt in PRECISIONS[precision].formats:
        chain = quantized_route(source, fmt, precision)
        assert chain[-1].dest == fmt and precision in chain[-1].precisions


def test_quantized_torch_tflite_goes_through_the_tflite_converter():
    """litert-torch and onnx2tf only write float models: int8 TFLite needs TFLiteConverter."""
    tools = [c.tool for c in quantized_route("torch", "tflite", "int8")]
    assert tools == ["torch.onnx.export", "onnx2tf", "tf.lite.TFLiteConverter"]
    assert [c.tool for c in quantized_route("onnx", "onnx", "int8")] == ["onnxruntime.quantization"]


def test_unknown_format_and_precision_are_refused_with_the_options():
    with pytest.raises(UnsupportedError, match="valid formats: " + ", ".join(OUTPUT_FORMATS)):
        check_profile(get_profile("android").with_overrides(formats=["coreml"]))
    with pytest.raises(UnsupportedError, match="unknown precision 'int3'"):
        check_profile(get_profile("android").with_overrides(precision="int3"))


def test_plan_shares_intermediates_and_marks_artifacts():
    source = ModelHandle("m.keras", "keras", (), ())
    plan = make_plan(source, get_profile("web").with_overrides(formats=["tflite", "tfjs", "onnx"],
                                                              precision="fp32"))
    assert [s.folder for s in plan.steps] == ["01_savedmodel", "02_tflite", "03_tfjs", "04_onnx"]
    assert [s.is_artifact for s in plan.steps] == [False, True, True, True]
    assert "savedmodel -> tfjs (tensorflowjs)" in plan.describe()


def test_same_format_output_is_a_copy_step():
    plan = make_plan(ModelHandle("m.onnx", "onnx", (), ()),
                     get_profile("server-cpu").with_overrides(precision="fp32"))
    assert [(s.converter.tool, s.is_artifact) for s in plan.steps] == [("copy", True)]


def test_quantized_plan_keeps_the_fp32_counterpart():
    plan = make_plan(ModelHandle("m.keras", "keras", (), ()), get_profile("android"))
    assert [(s.folder, s.is_artifact) for s in plan.steps] == [
        ("01_savedmodel", False), ("02_tflite", False), ("03_tflite_int8-dynamic", True)]
    onnx = make_plan(ModelHandle("m.onnx", "onnx", (), ()),
                     get_profile("server-cpu").with_overrides(precision="int8-dynamic"))
    assert [(s.converter.tool, s.precision) for s in onnx.steps] == [
        ("copy", "fp32"), ("onnxruntime.quantization", "int8-dynamic")]

"""The profile table and the converter table: completeness and plan-time refusals."""
import pytest

from edgekit.errors import UnsupportedError
from edgekit.model import ModelHandle
from edgekit.plan import check_profile, make_plan
from edgekit.profile import get_profile
from edgekit.quantize import PRECISIONS
from edgekit.targets.profiles import PROFILES
from edgekit.targets.registry import OUTPUT_FORMATS, route

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


@pytest.mark.parametrize("name", [n for n, p in PROFILES.items() if p.precision not in PRECISIONS])
def test_profiles_needing_unbuilt_precisions_fail_at_plan_time(name):
    with pytest.raises(UnsupportedError, match="cannot produce yet"):
        check_profile(PROFILES[name])


def test_unknown_format_and_precision_are_refused_with_the_options():
    with pytest.raises(UnsupportedError, match="valid formats: " + ", ".join(OUTPUT_FORMATS)):
        check_profile(get_profile("android").with_overrides(formats=["coreml"]))
    with pytest.raises(UnsupportedError, match="unknown precision 'int3'"):
        check_profile(get_profile("android").with_overrides(precision="int3"))


def test_plan_shares_intermediates_and_marks_artifacts():
    source = ModelHandle("m.keras", "keras", (), ())
    plan = make_plan(source, get_profile("web").with_overrides(formats=["tflite", "tfjs", "onnx"]))
    assert [s.folder for s in plan.steps] == ["01_savedmodel", "02_tflite", "03_tfjs", "04_onnx"]
    assert [s.is_artifact for s in plan.steps] == [False, True, True, True]
    assert "savedmodel -> tfjs (tensorflowjs)" in plan.describe()


def test_same_format_output_is_a_copy_step():
    plan = make_plan(ModelHandle("m.onnx", "onnx", (), ()), get_profile("server-cpu"))
    assert [(s.converter.tool, s.is_artifact) for s in plan.steps] == [("copy", True)]

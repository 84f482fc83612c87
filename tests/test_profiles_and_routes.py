"""The profile table and the converter table: completeness and plan-time refusals."""
import numpy as np
import pytest

from edgekit.errors import UnsupportedError
from edgekit.model import ModelHandle
from edgekit.plan import check_profile, make_plan
from edgekit.profile import get_profile
from edgekit.quantize import PRECISIONS
from edgekit.targets.profiles import PROFILES
from edgekit.candidates import describe_order, ordered
from edgekit.targets.registry import OUTPUT_FORMATS, route, routes

pytestmark = pytest.mark.pure  # no framework, runtime or Node (conftest: FRAMEWORKS)

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
def test_every_profile_policy_is_produced_for_its_formats(name):
    profile = PROFILES[name]
    assert all(PRECISIONS[p].supports(fmt) for fmt in profile.formats for p in profile.policy_for(fmt))
    assert all(profile.policy_for(fmt) for fmt in profile.formats)
    check_profile(profile)


def test_a_precision_a_format_cannot_take_is_refused_with_the_options():
    with pytest.raises(UnsupportedError) as error:
        check_profile(get_profile("web").with_overrides(precision="int8"))
    assert str(error.value) == ("precision 'int8' is not available for tfjs; "
                                "tfjs supports: fp32, fp16, int8-dynamic")


def test_int8_io_profiles_need_full_int8():
    for profile in PROFILES.values():
        if "int8-io" in profile.constraints:
            assert profile.policy == ("int8",)


@pytest.mark.parametrize("source", SOURCE_FORMATS)
@pytest.mark.parametrize("precision", [p for p in PRECISIONS if p != "fp32"])
def test_every_precision_reaches_each_format_it_claims(source, precision):
    for fmt in PRECISIONS[precision].hooks:
        chains = routes(source, fmt, precision)
        assert chains, (source, fmt, precision)
        assert all(c[-1].dest == fmt and precision in c[-1].precisions for c in chains)


def test_quantized_torch_tflite_routes_include_the_tflite_converter():
    """litert-torch and onnx2tf write float models: int8 TFLite from torch needs a
    converter or quantizer that quantizes, found among the routes."""
    tools = [[c.tool for c in chain] for chain in routes("torch", "tflite", "int8")]
    assert ["torch.onnx.export", "onnx2tf", "tf.lite.TFLiteConverter"] in tools
    assert [[c.tool for c in chain] for chain in routes("onnx", "onnx", "int8")] == [
        ["onnxruntime.quantization"]]


def test_unknown_format_and_precision_are_refused_with_the_options():
    with pytest.raises(UnsupportedError, match="valid formats: " + ", ".join(OUTPUT_FORMATS)):
        check_profile(get_profile("android").with_overrides(formats=["coreml"]))
    with pytest.raises(UnsupportedError, match="unknown precision 'int3'"):
        check_profile(get_profile("android").with_overrides(precision="int3"))


def test_candidates_start_with_the_fp32_baseline_then_follow_the_policy():
    profile = get_profile("android")
    order = [(c.precision, c.tools) for c in ordered(ModelHandle("m.keras", "keras", (), ()), "tflite", profile.policy)]
    assert order[0] == ("fp32", ("keras Model.export", "tf.lite.TFLiteConverter"))
    precisions = list(dict.fromkeys(p for p, _ in order))
    assert precisions == ["fp32", "int8", "int8-dynamic", "fp16"]


def test_a_source_in_the_output_format_starts_with_a_copy():
    order = list(ordered(ModelHandle("m.onnx", "onnx", (), ()), "onnx", ("int8", "fp32")))
    assert [(c.precision, c.tools) for c in order] == [
        ("fp32", ("copy",)), ("int8", ("copy", "onnxruntime.quantization"))]


def _onnx_conv(path, group):
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    weight = numpy_helper.from_array(np.ones((4, 4 // group, 3, 3), np.float32), "w")
    graph = helper.make_graph(
        [helper.make_node("Conv", ["x", "w"], ["y"], group=group)], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 6, 6])], [weight])
    onnx.save(helper.make_model(graph), path)
    return ModelHandle(str(path), "onnx", (), ())


def test_tfjs_routes_from_onnx_split_grouped_convolutions_from_the_start(tmp_path):
    """TF.js has no grouped convolution: the route starts with -dgc instead of learning it
    from a failed conversion; TFLite, ungrouped and depthwise models do not."""
    grouped = _onnx_conv(tmp_path / "grouped.onnx", group=2)
    plain = _onnx_conv(tmp_path / "plain.onnx", group=1)
    depthwise = _onnx_conv(tmp_path / "depthwise.onnx", group=4)  # tfjs_graph handles it
    first = next(ordered(grouped, "tfjs", ("fp32",)))
    assert first.variant.name == "onnx2tf-dgc" and ("onnx2tf", "no-group-conv") in first.variant.options
    assert {c.variant.name for c in ordered(grouped, "tflite", ("fp32", "fp16"))} == {""}
    assert {c.variant.name for c in ordered(plain, "tfjs", ("fp32", "fp16"))} == {""}
    assert {c.variant.name for c in ordered(depthwise, "tfjs", ("fp32", "fp16"))} == {""}
    assert "[onnx2tf-dgc]" in "\n".join(describe_order(grouped, "tfjs", ("fp32",)))
    # a converter later in a route would see a model that does not exist yet: not asked
    torch_source = ModelHandle(str(tmp_path / "net.py"), "torch", (), ())
    assert {c.variant.name for c in ordered(torch_source, "tfjs", ("fp32",))} == {""}


@pytest.mark.framework  # needs a framework (ImportError when blocked)
def test_dry_run_lists_the_candidates_in_order():
    plan = make_plan(ModelHandle("m.keras", "keras", (), ()),
                     get_profile("web").with_overrides(formats=["tflite", "tfjs"], precision="fp32"))
    text = plan.describe()
    assert "tflite candidates, in order" in text and "tfjs candidates, in order" in text
    assert "1. tflite fp32 via keras Model.export -> tf.lite.TFLiteConverter" in text


def test_a_forced_precision_narrows_the_policy():
    profile = get_profile("android").with_overrides(precision="int8-dynamic")
    assert profile.policy == ("int8-dynamic",) and profile.forced
    assert get_profile("android").with_overrides(precision="auto").policy == get_profile("android").policy

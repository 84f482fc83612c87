"""Layout bookkeeping and drift metrics (no frameworks needed)."""
import numpy as np
import pytest

from edgekit.drift import Tolerance, accuracy, compare, top1_agreement, violations
from edgekit.tensors import TensorSpec, guess_image_layout, infer_layout, shape_matches, to_layout

pytestmark = pytest.mark.pure  # no framework, runtime or Node (conftest: FRAMEWORKS)

FP32 = Tolerance(max_abs_error=1e-3, min_cosine=0.9999, min_top1_agreement=0.99)


def test_to_layout_round_trip():
    x = np.arange(2 * 3 * 4 * 5, dtype=np.float32).reshape(2, 3, 4, 5)
    nhwc = to_layout(x, "NCHW", "NHWC")
    assert nhwc.shape == (2, 4, 5, 3)
    assert np.array_equal(to_layout(nhwc, "NHWC", "NCHW"), x)
    assert to_layout(x[0], "NCHW", "NHWC").shape == (3, 4, 5)  # not 4-D: untouched


def test_infer_layout_sees_a_flipped_tensor():
    source = TensorSpec("x", (None, 3, 32, 32), "float32", "NCHW")
    assert infer_layout((None, 32, 32, 3), source) == "NHWC"
    assert infer_layout((1, 3, 32, 32), source) == "NCHW"
    assert infer_layout((None, 10), TensorSpec("y", (None, 10), "float32")) is None


def test_guess_image_layout():
    assert guess_image_layout((None, 28, 28, 1)) == "NHWC"
    assert guess_image_layout((None, 3, 224, 224)) == "NCHW"
    assert guess_image_layout((None, 10)) is None


def test_shape_matches_treats_none_as_dynamic():
    assert shape_matches((5, 3), (None, 3))
    assert not shape_matches((5, 4), (None, 3))
    assert not shape_matches((5, 3, 1), (None, 3))


def test_identical_outputs_have_no_drift():
    ref = [np.random.default_rng(0).random((20, 10))]
    drift, = compare(ref, [ref[0].copy()])
    assert drift.max_abs_error == 0 and drift.top1_agreement == 1.0
    assert drift.cosine == pytest.approx(1.0)
    assert violations([drift], FP32) == []


def test_a_wrong_artifact_breaks_the_tolerance():
    rng = np.random.default_rng(0)
    ref = rng.random((50, 10))
    drift, = compare([ref], [rng.random((50, 10))])
    problems = violations([drift], FP32)
    assert drift.top1_agreement < 0.5
    assert any("cosine" in p for p in problems) and any("top-1" in p for p in problems)


def test_fp32_tolerates_reordered_float_math_but_not_a_spoiled_border():
    """basic-pitch's fp32 TFLite: every element within 1.4e-3 of the output's scale, SQNR
    65 dB: a good artifact. A padding mistake that spoils a corner of a large map puts few
    elements 20% of the scale off: SQNR stays over 50 dB, the element limit catches it."""
    from edgekit.quantize import PRECISIONS
    fp32 = PRECISIONS["fp32"].tolerance
    rng = np.random.default_rng(0)
    ref = rng.random((4, 172, 264)).astype(np.float32)
    reordered = ref + rng.normal(0, 2e-4, ref.shape).astype(np.float32)
    reordered.flat[::9973] += 1.2e-3  # the tail of the error distribution
    drift, = compare([ref], [reordered])
    assert 1e-3 < drift.max_abs_error < 2e-3 and drift.sqnr_db > 60
    assert violations([drift], fp32) == []
    corner = ref.copy()
    corner[:, 0, 0] += 0.2
    drift, = compare([ref], [corner])
    problems = violations([drift], fp32)
    assert drift.sqnr_db > 50 and problems and all("max abs error" in p for p in problems)
    noisy = ref + rng.normal(0, 3e-3, ref.shape).astype(np.float32)  # broad error: 45 dB
    drift, = compare([ref], [noisy])
    assert drift.sqnr_db < 50 and any("SQNR" in p for p in violations([drift], fp32))


def test_shape_mismatch_is_reported_not_crashed():
    with pytest.raises(ValueError, match="shape"):
        compare([np.zeros((4, 10))], [np.zeros((4, 9))])
    with pytest.raises(ValueError, match="outputs"):
        compare([np.zeros((4, 10))], [])


def test_top1_and_accuracy():
    scores = np.array([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7]])
    assert top1_agreement(scores, scores[:, ::-1]) == 0.0
    assert accuracy([scores], np.array([1, 0, 0])) == pytest.approx(2 / 3)
    assert accuracy([scores], None) is None
    assert top1_agreement(np.zeros((3, 1)), np.zeros((3, 1))) is None


def test_max_abs_error_is_judged_relative_to_the_output_scale():
    ref = np.full((4, 3), 1000.0)
    ref[:, 0] = 2000.0
    drift, = compare([ref], [ref + 0.5])  # 0.5 on values of 2000: fine for float32
    assert violations([drift], FP32) == []


def test_top5_agreement():
    from edgekit.drift import top5_agreement
    ref = np.eye(8)[[0, 1, 2, 3]]  # top-1 classes 0..3
    got = np.tile(np.arange(8).astype(float), (4, 1))  # top-5 always classes 7..3
    assert top5_agreement(ref, got) == 0.25  # only class 3 is in it
    assert top5_agreement(np.eye(5), np.eye(5)) is None  # five classes or fewer: meaningless


def test_match_order_by_name_then_shape_then_position():
    from edgekit.tensors import match_order
    wanted = [TensorSpec("image", (None, 3, 8, 8), "float32"), TensorSpec("ids", (None, 6), "int64")]
    renamed = [TensorSpec("serving_default_ids:0", (None, 6), "int64"),
               TensorSpec("serving_default_image:0", (None, 8, 8, 3), "float32")]
    assert match_order(wanted, renamed, [(1, 6), (1, 8, 8, 3)]) == [1, 0]  # by name
    anonymous = [TensorSpec("b", (None, 6), "int64"), TensorSpec("a", (None, 8, 8, 3), "float32")]
    assert match_order(wanted, anonymous, [(4, 6), (4, 8, 8, 3)]) == [1, 0]  # by shape
    twins = [TensorSpec("p", (None, 5), "float32"), TensorSpec("q", (None, 5), "float32")]
    assert match_order(twins[::-1], [TensorSpec("x", (None, 5), "float32")] * 2, [(2, 5)] * 2) == [0, 1]


def test_constant_outputs_are_detected():
    from edgekit.drift import constant_outputs
    varying = np.random.default_rng(0).random((8, 10))
    assert constant_outputs([varying, np.full((8, 10), 0.1)]) == [1]


def test_fp16_tolerance_fits_a_wide_range_embedding_and_still_fails_real_defects():
    """An fp16 embedding (1280 unnormalised floats) failed on one element's absolute error
    although SQNR was 37 dB; a swapped output or a transposed layout must still fail."""
    from edgekit.quantize import PRECISIONS
    fp16 = PRECISIONS["fp16"].tolerance
    rng = np.random.default_rng(0)
    embedding = np.clip(rng.gamma(0.5, 0.6, (32, 1280)), 0, 3.0).astype(np.float32)
    embedding[np.arange(32), rng.integers(0, 1280, 32)] = 4.41  # the measured scale
    noisy = embedding + rng.normal(0, 0.015 * embedding.std(), embedding.shape).astype(np.float32)
    noisy[0, 0] += 0.066  # one element off by 1.5% of the scale, as measured
    assert not violations(compare([embedding], [noisy]), fp16)
    other = rng.gamma(0.5, 0.6, (32, 1280)).astype(np.float32)
    assert violations(compare([embedding, other], [other, embedding]), fp16)  # swapped
    image = rng.random((4, 8, 8, 3), dtype=np.float32)
    wrong_layout = image.transpose(0, 2, 1, 3).copy()  # H and W exchanged
    assert violations(compare([image], [wrong_layout]), fp16)


def test_judge_tells_an_artifact_failure_from_a_bug_in_edgekit():
    from edgekit.data import Dataset
    from edgekit.model import ModelHandle
    from edgekit.profile import Budgets
    from edgekit.judge import judge
    spec = (TensorSpec("x", (None, 4), "float32"),)
    handle = ModelHandle("m.onnx", "onnx", spec, spec)
    data = Dataset([np.ones((2, 4), np.float32)], None, "test")
    reference = [np.ones((2, 4), np.float32)]

    def refusing_runtime(inputs):  # a runtime's own error: the artifact is rejected
        raise RuntimeError("unsupported op FooBar")
    verdict = judge(handle, handle, data, reference, FP32, Budgets(), None, runner=refusing_runtime)
    assert verdict.problems == ["could not run in its runtime: RuntimeError: unsupported op FooBar"]
    scope = {"__name__": "edgekit.fake_module"}  # code that is edgekit's own
    exec("def buggy(inputs):\n    return [inputs[0][5]]\n", scope)
    with pytest.raises(IndexError):
        judge(handle, handle, data, reference, FP32, Budgets(), None, runner=scope["buggy"])
    verdict = judge(handle, handle, data, reference, FP32, Budgets(), None,
                    runner=lambda inputs: [np.ones((2, 5), np.float32)])
    assert "shape (2, 5) differs" in verdict.problems[0]  # edgekit's own check: the artifact's fault


def test_top1_agreement_is_judged_on_class_outputs_only():
    """An embedding's arg-max flips between near-equal values without meaning anything
    (MiniLM at int8-dynamic: 15 of 16 agreed, and the artifact failed); a softmax output or
    the output the labels score is still judged on it."""
    from edgekit.drift import Tolerance, class_outputs, compare, violations
    rng = np.random.default_rng(0)
    embedding = rng.standard_normal((16, 8))
    flipped = embedding.copy()
    top, second = np.argsort(-flipped[0])[:2]
    flipped[0, [top, second]] = flipped[0, [second, top]]  # one sample's arg-max changes
    softmax = np.exp(embedding) / np.exp(embedding).sum(1, keepdims=True)
    softmax_flipped = np.exp(flipped) / np.exp(flipped).sum(1, keepdims=True)
    tolerance = Tolerance(min_top1_agreement=0.95)
    drifts = compare([embedding, softmax], [flipped, softmax_flipped])
    assert class_outputs([embedding, softmax], None, None) == {1}
    problems = violations(drifts, tolerance, class_outputs([embedding, softmax], None, None))
    assert problems == ["output 1: top-1 agreement 0.9375 < 0.95"]
    labels = np.zeros(16, np.int64)
    assert violations(drifts, tolerance, class_outputs([embedding, softmax], labels, 0)) == \
        ["output 0: top-1 agreement 0.9375 < 0.95"]

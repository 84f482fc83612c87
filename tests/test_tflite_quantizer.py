"""ai-edge-quantizer on an fp32 .tflite: the Keras digit sample quantized after conversion,
each result run in the LiteRT interpreter against the fp32 model."""
from pathlib import Path

import numpy as np
import pytest

from edgekit.errors import ConversionError, InputError, UnsupportedError
from edgekit.targets import tflite
from edgekit.targets.tflite import quantizer as tq

SAMPLES = Path(__file__).resolve().parents[1] / "sample_models"


@pytest.fixture(scope="module")
def digits():
    data = np.load(SAMPLES / "digits_eval.npz")
    return data["x"][:400].astype(np.float32), data["y"][:400]


@pytest.fixture(scope="module")
def fp32_model(tmp_path_factory) -> Path:
    """The Keras sample through TFLiteConverter (fp32, dynamic batch, signature serving_default)."""
    from edgekit.targets import tfenv
    from edgekit.targets.quiet import silenced
    tf = tfenv.tensorflow()
    import keras
    with silenced():  # "Saved artifact at ..." on stdout
        model = keras.models.load_model(SAMPLES / "digits_keras.keras")
        flatbuffer = tf.lite.TFLiteConverter.from_keras_model(model).convert()
    path = tmp_path_factory.mktemp("fp32") / "model.tflite"
    path.write_bytes(flatbuffer)
    return path


def outputs(path: Path, x: np.ndarray) -> tuple:
    handle = tflite.open_handle(path)
    return handle, tflite.make_runner(handle, threads=2)([x])[0]


def calibration(x: np.ndarray, path: Path) -> list:
    return tq.calibration_samples([x[:100]], tq.input_names(path))


@pytest.mark.parametrize("precision,int8_io", [("int8-dynamic", False), ("int8", False),
                                               ("int8", True)])
def test_quantized_model_agrees_with_fp32_and_is_smaller(fp32_model, digits, tmp_path, precision,
                                                         int8_io):
    x, labels = digits
    target = tmp_path / "q.tflite"
    samples = calibration(x, fp32_model) if precision == "int8" else None
    tq.quantize(fp32_model, target, precision, samples, threads=2, int8_io=int8_io)
    _, reference = outputs(fp32_model, x)
    handle, quantized = outputs(target, x)
    assert (quantized.argmax(1) == reference.argmax(1)).mean() >= 0.95
    assert (quantized.argmax(1) == labels).mean() >= 0.9
    assert target.stat().st_size < 0.4 * fp32_model.stat().st_size
    dtypes = {spec.dtype for spec in handle.inputs + handle.outputs}
    assert dtypes == ({"int8"} if int8_io else {"float32"})  # float I/O unless asked


def test_fp16_halves_the_weights(fp32_model, digits, tmp_path):
    x, _ = digits
    tq.quantize(fp32_model, tmp_path / "q.tflite", "fp16")
    _, reference = outputs(fp32_model, x)
    _, half = outputs(tmp_path / "q.tflite", x)
    assert np.abs(half - reference).max() < 1e-2
    assert (tmp_path / "q.tflite").stat().st_size < 0.6 * fp32_model.stat().st_size


def test_static_without_calibration_is_a_clear_error(fp32_model, tmp_path):
    for missing in (None, []):
        with pytest.raises(InputError, match="needs calibration data"):
            tq.quantize(fp32_model, tmp_path / "q.tflite", "int8", missing)
    assert not (tmp_path / "q.tflite").exists()


def test_corrupt_model_is_a_conversion_error(fp32_model, tmp_path):
    corrupt = tmp_path / "corrupt.tflite"
    corrupt.write_bytes(fp32_model.read_bytes()[:5000])
    with pytest.raises(ConversionError, match="ai-edge-quantizer.*corrupt.tflite") as caught:
        tq.quantize(corrupt, tmp_path / "q.tflite", "int8-dynamic")
    assert "\n" not in str(caught.value)
    assert not (tmp_path / "q.tflite").exists()


def test_calibration_keys_may_be_tensor_names_and_mismatches_are_named(fp32_model, digits, tmp_path):
    x, _ = digits
    tensor_names = [d["name"] for d in tflite.interpreter(fp32_model).get_input_details()]
    assert tensor_names != tq.input_names(fp32_model)  # serving_default_image:0 vs image
    tq.quantize(fp32_model, tmp_path / "q.tflite", "int8", tq.calibration_samples([x[:20]], tensor_names))
    with pytest.raises(InputError, match="expects image"):
        tq.quantize(fp32_model, tmp_path / "q.tflite", "int8", [{"pixels": x[:1]}])
    with pytest.raises(UnsupportedError, match="fp16, int8-dynamic, int8"):
        tq.quantize(fp32_model, tmp_path / "q.tflite", "int16x8")


def _signatures(model: Path, keys: list[str]) -> bytes:
    """A copy of `model` with signatures `keys`, each a copy of its first one."""
    import copy

    from ai_edge_litert.tools import flatbuffer_utils
    tree = flatbuffer_utils.read_model(str(model))
    first = tree.signatureDefs[0]
    tree.signatureDefs = []
    for key in keys:
        definition = copy.deepcopy(first)
        definition.signatureKey = key
        tree.signatureDefs.append(definition)
    return bytes(flatbuffer_utils.convert_object_to_bytearray(tree))


def test_signatures_none_is_handled_several_are_refused(fp32_model, digits, tmp_path):
    x, _ = digits
    bare = tmp_path / "bare.tflite"
    bare.write_bytes(_signatures(fp32_model, []))
    tq.quantize(bare, tmp_path / "q.tflite", "int8", calibration(x, bare))
    _, reference = outputs(fp32_model, x)
    _, quantized = outputs(tmp_path / "q.tflite", x)
    assert (quantized.argmax(1) == reference.argmax(1)).mean() >= 0.95

    two = tmp_path / "two.tflite"
    two.write_bytes(_signatures(fp32_model, ["a", "b"]))
    with pytest.raises(UnsupportedError, match="2 signatures"):
        tq.quantize(two, tmp_path / "q.tflite", "int8", [{"image": x[:1]}], signature="a")
    with pytest.raises(InputError, match="no signature 'c'"):
        tq.quantize(two, tmp_path / "q.tflite", "int8", [{"image": x[:1]}], signature="c")
    tq.quantize(two, tmp_path / "q.tflite", "int8-dynamic")  # no calibration: every signature


def test_calibration_samples():
    a, b = np.zeros((3, 2, 2)), np.ones((3, 4))
    samples = tq.calibration_samples([a, b], ["a", "b"])
    assert len(samples) == 3 and samples[2]["a"].shape == (1, 2, 2) and samples[0]["b"].shape == (1, 4)
    with pytest.raises(InputError, match="differ in number of samples"):
        tq.calibration_samples([a, b[:2]], ["a", "b"])
    with pytest.raises(InputError, match="2 arrays for 1 model inputs"):
        tq.calibration_samples([a, b], ["a"])
    with pytest.raises(InputError, match="no samples"):
        tq.calibration_samples([a[:0]], ["a"])


def test_static_ranges_are_min_max_over_all_samples(fp32_model, digits, tmp_path):
    """AEQ's Quantizer.calibrate() keeps a moving average of per-sample ranges; edgekit
    takes the min/max over all samples (as TFLiteConverter does): here the widest sample,
    the last one, sets the input range."""
    x, _ = digits
    scaled = np.stack([x[i] * (i + 1) / 10 for i in range(20)])  # sample i spans 0..(i+1)/10
    tq.quantize(fp32_model, tmp_path / "q.tflite", "int8",
                tq.calibration_samples([scaled], tq.input_names(fp32_model)), int8_io=True)
    detail, = tflite.interpreter(tmp_path / "q.tflite").get_input_details()
    scale, zero_point = detail["quantization"]
    assert (127 - zero_point) * scale == pytest.approx(scaled.max(), rel=0.01)


def test_dynamic_keeps_depthwise_weights_float(tmp_path):
    """The hybrid depthwise kernel runs outside XNNPACK (4-30x slower than fp32, measured):
    int8-dynamic leaves DEPTHWISE_CONV_2D in float and quantizes the other weights."""
    from edgekit.targets import tfenv
    from edgekit.targets.quiet import silenced
    tf = tfenv.tensorflow()
    import keras
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.DepthwiseConv2D(3),
                              keras.layers.Conv2D(8, 1), keras.layers.Flatten(),
                              keras.layers.Dense(5)])
    with silenced():
        (tmp_path / "fp32.tflite").write_bytes(tf.lite.TFLiteConverter.from_keras_model(model).convert())
    tq.quantize(tmp_path / "fp32.tflite", tmp_path / "q.tflite", "int8-dynamic")
    from ai_edge_litert.interpreter import Interpreter, OpResolverType
    it = Interpreter(model_path=str(tmp_path / "q.tflite"),
                     experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    tensors = {t["index"]: t for t in it.get_tensor_details()}
    weights = {op["op_name"]: np.dtype(tensors[op["inputs"][1]]["dtype"]).name
               for op in it._get_ops_details()
               if op["op_name"] in ("DEPTHWISE_CONV_2D", "CONV_2D", "FULLY_CONNECTED")}
    assert weights == {"DEPTHWISE_CONV_2D": "float32", "CONV_2D": "int8", "FULLY_CONNECTED": "int8"}

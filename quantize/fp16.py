"""fp16: float16 weights (half the size). Kernels may compute in float32 after de-quantizing
(TFLite on CPU, TF.js); GPU delegates run them in half precision."""
from .precision import Precision, Tolerance


def tflite(converter, ctx, handle) -> None:
    import tensorflow as tf
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.target_spec.supported_types = [tf.float16]


def onnx(src, dst, ctx, handle) -> None:
    import onnx as onnx_lib
    from onnxruntime.transformers.float16 import convert_float_to_float16
    model = convert_float_to_float16(onnx_lib.load(str(src)), keep_io_types=True)
    onnx_lib.save(model, str(dst))


def tfjs(ctx) -> dict:
    return {"float16": True}  # True: every weight (the converter's fallthrough pattern)


FP16 = Precision(
    name="fp16",
    # judged on SQNR and cosine, not on the largest absolute error: fp16's ~3 significant
    # digits compound over many layers, and one element of a wide-range output (an
    # unnormalised 1280-float embedding: SQNR 37 dB, cosine 0.99991) drifted by 1.5% of the
    # output's scale. A real defect (a swapped output, a transposed layout) is near 0 dB.
    tolerance=Tolerance(min_sqnr_db=30.0, min_cosine=0.999, min_top1_agreement=0.98),
    hooks={"tflite": tflite, "onnx": onnx, "tfjs": tfjs},
    summary="float16 weights",
    layer_cosine=0.999,
)

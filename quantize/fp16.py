"""fp16: float16 weights (half the size). Kernels may compute in float32 after de-quantizing
(TFLite on CPU, TF.js); GPU delegates run them in half precision."""
from ..drift import Tolerance
from .precision import Precision


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
    tolerance=Tolerance(max_abs_error=1e-2, min_cosine=0.999, min_top1_agreement=0.98),
    hooks={"tflite": tflite, "onnx": onnx, "tfjs": tfjs},
    summary="float16 weights",
)

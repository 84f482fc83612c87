"""int8-dynamic (dynamic range): int8 weights, activations quantized on the fly at run
time. No calibration data needed. Measured here: often *slower* than fp32 on x86 CPUs for
CNNs (onnxruntime ConvInteger, TFLite hybrid kernels), so edgekit measures, never assumes.

TF.js has no integer kernels: its 'int8-dynamic' stores uint8 weights to shrink the
download and de-quantizes them to float32 when the model loads."""
from .precision import Precision, Tolerance


def tflite(converter, ctx, handle) -> None:
    import tensorflow as tf
    converter.optimizations = [tf.lite.Optimize.DEFAULT]


def onnx(src, dst, ctx, handle) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic
    quantize_dynamic(str(src), str(dst), weight_type=QuantType.QInt8,
                     nodes_to_exclude=list(ctx.float_nodes) or None)


def tfjs(ctx) -> dict:
    # weights kept in float (ranked by edgekit.targets.tfjs.sensitivity) are stored float16
    return {"uint8": True, **({"float16": list(ctx.float_nodes)} if ctx.float_nodes else {})}


INT8_DYNAMIC = Precision(
    name="int8-dynamic",
    tolerance=Tolerance(min_sqnr_db=20.0, min_top1_agreement=0.95),
    hooks={"tflite": tflite, "onnx": onnx, "tfjs": tfjs},
    summary="int8 weights, float activations quantized at run time",
    integer_math=True,
)

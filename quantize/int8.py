"""int8: full integer quantization with calibration data, per-channel weights.

TFLite: TFLiteConverter with a representative dataset and int8-only builtins; the model's
inputs/outputs are int8 when the profile has the "int8-io" constraint (Edge TPU, MCUs),
else float32. ONNX: onnxruntime quant_pre_process + quantize_static in QDQ format,
per-channel, with the calibration method chosen by --calib-method.
"""
from __future__ import annotations

from pathlib import Path

from .precision import Precision, Tolerance

CALIBRATION_METHODS = ("minmax", "entropy", "percentile")


def representative_dataset(ctx, handle):
    """One sample at a time, keyed by the SavedModel signature's input names."""
    inputs = ctx.calibration_inputs(handle)

    def generate():
        for i in range(len(inputs[0])):
            yield {spec.name: x[i:i + 1] for spec, x in zip(handle.inputs, inputs)}
    return generate


def tflite(converter, ctx, handle):
    """Configure the converter; with layers to keep in float, return the selectively
    quantized model built by the QuantizationDebugger instead."""
    if ctx.float_nodes:
        from ..targets.tflite.sensitivity import selectively_quantized
        return selectively_quantized(handle, ctx)
    import tensorflow as tf
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = representative_dataset(ctx, handle)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    if "int8-io" in ctx.constraints:
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8


class _Reader:
    """onnxruntime CalibrationDataReader over edgekit's calibration arrays."""

    def __init__(self, names, inputs):
        self._feeds = iter([{n: x[i:i + 1] for n, x in zip(names, inputs)}
                            for i in range(len(inputs[0]))])

    def get_next(self):
        return next(self._feeds, None)


def onnx_preprocess(src, dst) -> None:
    """Shape inference + graph optimisation, as onnxruntime recommends before quantizing.
    Node names of the result are what nodes_to_exclude refers to. Run from dst's folder:
    when symbolic shape inference is incomplete, onnxruntime dumps sym_shape_infer_temp.onnx
    into the current directory, which is the user's (found beside a checkout)."""
    import os
    from onnxruntime.quantization import quant_pre_process
    here, src, dst = os.getcwd(), Path(src).absolute(), Path(dst).absolute()
    os.chdir(dst.parent)
    try:
        quant_pre_process(str(src), str(dst))
    finally:
        os.chdir(here)


def onnx_static(prepared, dst, ctx, handle, exclude=()) -> None:
    from onnxruntime.quantization import (CalibrationMethod, QuantFormat, QuantType,
                                          quantize_static)
    methods = {"minmax": CalibrationMethod.MinMax, "entropy": CalibrationMethod.Entropy,
               "percentile": CalibrationMethod.Percentile}
    quantize_static(str(prepared), str(dst),
                    _Reader([s.name for s in handle.inputs], ctx.calibration_inputs(handle)),
                    quant_format=QuantFormat.QDQ, per_channel=True,
                    activation_type=QuantType.QInt8, weight_type=QuantType.QInt8,
                    calibrate_method=methods[ctx.calib_method],
                    nodes_to_exclude=list(exclude) or None)


def onnx(src, dst, ctx, handle) -> None:
    prepared = dst.with_name("preprocessed.onnx")
    onnx_preprocess(src, prepared)
    onnx_static(prepared, dst, ctx, handle, ctx.float_nodes)
    prepared.unlink()


INT8 = Precision(
    name="int8",
    tolerance=Tolerance(min_sqnr_db=15.0, min_top1_agreement=0.95),
    hooks={"tflite": tflite, "onnx": onnx},
    needs_calibration=True,
    summary="int8 weights and activations (calibrated), per-channel weights",
    integer_math=True,
)

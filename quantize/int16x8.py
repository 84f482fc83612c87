"""int16x8 (TFLite only): int16 activations with int8 weights, calibrated. Closer to float
than int8 for models with wide activation ranges, at some speed cost."""
from .int8 import representative_dataset
from .precision import Precision, Tolerance


def tflite(converter, ctx, handle) -> None:
    import tensorflow as tf
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = representative_dataset(ctx, handle)
    converter.target_spec.supported_ops = [
        tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8]


INT16X8 = Precision(
    name="int16x8",
    tolerance=Tolerance(min_sqnr_db=25.0, min_top1_agreement=0.98),
    hooks={"tflite": tflite},
    needs_calibration=True,
    summary="int16 activations, int8 weights (TFLite)",
    integer_math=True,
)

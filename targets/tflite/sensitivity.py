"""Per-layer int8 sensitivity of a TFLite conversion, and selective quantization.

Both use the official tf.lite.experimental.QuantizationDebugger: its NumericVerify model
compares every quantized op's output with the float op run on the same inputs, and its
`denylisted_nodes` option keeps the named ops in float.
"""
from __future__ import annotations

import numpy as np

from ...model import ModelHandle
from ...quantize.int8 import representative_dataset
from ...quantize.sensitivity import LayerDrift, median_relative_error, worst_first
from .. import tfenv
from ..quiet import silenced

SKIPPED_OPS = {"NumericVerify", "DEQUANTIZE", "QUANTIZE"}


def _converter(handle: ModelHandle, ctx):
    tf = tfenv.tensorflow_with_keras2()
    converter = tf.lite.TFLiteConverter.from_saved_model(str(handle.path))
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = representative_dataset(ctx, handle)
    return converter


def _debug_dataset(ctx, handle):
    inputs = ctx.calibration_inputs(handle)

    def generate():  # the debugger wants positional lists, the converter named dicts
        for i in range(len(inputs[0])):
            yield [x[i:i + 1] for x in inputs]
    return generate


def debugger(handle: ModelHandle, ctx, denylisted_nodes=(), metrics=None):
    tf = tfenv.tensorflow_with_keras2()
    options = tf.lite.experimental.QuantizationDebugOptions(
        layer_direct_compare_metrics=metrics, denylisted_nodes=list(denylisted_nodes) or None)
    return tf.lite.experimental.QuantizationDebugger(
        converter=_converter(handle, ctx), debug_dataset=_debug_dataset(ctx, handle),
        debug_options=options)


def selectively_quantized(handle: ModelHandle, ctx) -> bytes:
    """int8 model with ctx.float_nodes (output tensor names) left in float."""
    with silenced():
        return debugger(handle, ctx, ctx.float_nodes).get_nondebug_quantized_model()


def rank_layers(handle: ModelHandle, ctx) -> list[LayerDrift]:
    def metric(floats, quantized, scale, zero_point):
        q = np.concatenate([np.ravel(a) for a in quantized]).astype(np.float64)
        return median_relative_error(np.concatenate([np.ravel(a) for a in floats]),
                                     (q - zero_point) * scale)

    with silenced():
        debug = debugger(handle, ctx, metrics={"median_relative_error": metric})
        debug.run()
    # The debugger has no public graph API: these private members are read, never changed.
    # Each NumericVerify op checks one quantized tensor (its first input); the float name
    # of that tensor is what `denylisted_nodes` takes.
    verified = {debug._numeric_verify_op_details[key]["inputs"][0]:
                debug._get_operand_name_and_index(key)[0] for key in debug.layer_statistics}
    ops = debug._quant_interpreter._get_ops_details()
    layers = []
    for key, stats in debug.layer_statistics.items():
        index = debug._numeric_verify_op_details[key]["inputs"][0]
        consumers = [verified[op["outputs"][0]] for op in _consumers(ops, index)
                     if op["outputs"][0] in verified]
        layers.append(LayerDrift(verified[index], (verified[index], *consumers),
                                 float(stats["median_relative_error"])))
    return worst_first(layers)


def _consumers(ops: list[dict], tensor: int) -> list[dict]:
    """Ops reading `tensor`, looking through (de)quantize ops and skipping NumericVerify."""
    found = []
    for op in ops:
        if tensor not in list(op["inputs"]) or op["op_name"] == "NumericVerify":
            continue
        if op["op_name"] in SKIPPED_OPS:
            found += _consumers(ops, op["outputs"][0])
        elif len(op["outputs"]):
            found.append(op)
    return found

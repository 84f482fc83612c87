"""Per-tensor int8 sensitivity of an ONNX model, with onnxruntime's own QDQ debugging tools
(onnxruntime.quantization.qdq_loss_debug): every activation before and after its
QuantizeLinear/DequantizeLinear pair, collected on the calibration data."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ...model import ModelHandle
from ...quantize.int8 import onnx_preprocess, onnx_static
from ...quantize.sensitivity import LayerDrift, median_relative_error, worst_first


def rank_layers(handle: ModelHandle, ctx) -> list[LayerDrift]:
    import onnx
    from onnxruntime.quantization.qdq_loss_debug import (collect_activations,
                                                         create_activation_matching,
                                                         modify_model_output_intermediate_tensors)
    scratch = Path(ctx.work_dir) / "onnx-sensitivity"
    scratch.mkdir(exist_ok=True)
    prepared, quantized = scratch / "prepared.onnx", scratch / "quantized.onnx"
    onnx_preprocess(handle.path, prepared)
    onnx_static(prepared, quantized, ctx, handle)
    for model in (prepared, quantized):
        modify_model_output_intermediate_tensors(str(model), str(model.with_suffix(".aug.onnx")),
                                                 save_as_external_data=False)
    names = [s.name for s in handle.inputs]
    inputs = ctx.calibration_inputs(handle)
    feeds = [{n: x[i:i + 1] for n, x in zip(names, inputs)} for i in range(len(inputs[0]))]
    matched = create_activation_matching(
        collect_activations(str(quantized.with_suffix(".aug.onnx")), feeds),
        collect_activations(str(prepared.with_suffix(".aug.onnx")), feeds))
    graph = onnx.load(str(prepared)).graph
    producers = {out: node.name for node in graph.node for out in node.output}
    layers = []
    for tensor, pair in matched.items():
        if tensor not in producers:  # a graph input: nothing upstream to keep in float
            continue
        error = median_relative_error(np.concatenate([np.ravel(a) for a in pair["pre_qdq"]]),
                                      np.concatenate([np.ravel(a) for a in pair["post_qdq"]]))
        consumers = [node.name for node in graph.node if tensor in node.input]
        layers.append(LayerDrift(tensor, (producers[tensor], *consumers), error))
    return worst_first(layers)

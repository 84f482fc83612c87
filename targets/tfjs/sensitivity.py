"""Which weights TF.js's uint8 storage damages most (the int8-dynamic precision).

tensorflowjs quantizes each weight on its own, affinely over the weight's whole range
(256 levels from min to max): one outlier makes the step coarse for every ordinary value
of that weight. In transformer encoders that is the feed-forward output matrices (MiniLM:
their uint8 copies alone cost the sentence embedding ~6 dB each). The damage is measured
on the weights themselves with tensorflowjs' own quantize/dequantize functions, relative
to their typical values (edgekit.quantize.sensitivity), so ranking costs no model run.
Measured on all-MiniLM-L6-v2: the order equals the order of the output SQNR lost when each
weight alone is quantized (simulated in PyTorch: 1, 2, 4, 8 kept give 18.0, 20.0, 22.7,
27.5 dB, none 16.6); in TF.js itself 1, 2, 4 kept gave 18.1, 19.5, 22.4 dB, none 16.7.

A weight kept "in float" is stored as float16, not float32: its 2 bytes hold ~3 significant
digits, far finer than a 256-level step over its range, at half float32's download.
"""
from __future__ import annotations

import glob
from pathlib import Path

import numpy as np

from ...model import ModelHandle
from ...quantize.sensitivity import LayerDrift, median_relative_error, worst_first
from .. import tfenv


def rank_layers(handle: ModelHandle, ctx) -> list[LayerDrift]:
    """The float32 weights of the TF.js conversion of the SavedModel `handle`, ranked by
    their uint8 damage; each names itself as the tensorflowjs pattern that keeps it float."""
    from . import convert_plain
    scratch = Path(ctx.work_dir) / "tfjs-sensitivity"
    convert_plain(handle, scratch, ctx)
    return worst_first([LayerDrift(name, (glob.escape(name),), uint8_damage(values))
                        for name, values in float_weights(scratch)])


def float_weights(folder: Path) -> list[tuple[str, np.ndarray]]:
    """(name, values) of a TF.js graph model's float32 weights, read with tensorflowjs."""
    import json
    tfenv.tfjs_converter()  # tensorflowjs' import needs edgekit's stand-ins
    from tensorflowjs.read_weights import read_weights
    manifest = json.loads((folder / "model.json").read_text())["weightsManifest"]
    return [(entry["name"], entry["data"]) for entry in read_weights(manifest, str(folder), flatten=True)
            if entry["data"].dtype == np.float32 and entry["data"].size > 1]


def uint8_damage(values: np.ndarray) -> float:
    """The median relative error of the weight after tensorflowjs' uint8 round trip."""
    from tensorflowjs.quantization import dequantize_weights, quantize_weights
    quantized, metadata = quantize_weights(values, np.uint8)
    return median_relative_error(values, dequantize_weights(quantized, metadata))


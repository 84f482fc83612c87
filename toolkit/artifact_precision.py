"""What precision an existing artifact is, so `edgekit validate` judges it with that
precision's tolerance (an int8 model judged with fp32's max-abs-error fails although it is
as good as int8 gets).

In order: `--precision`; the `edgekit.json` edgekit wrote beside the model, when its
sha256 says it describes this very model (a TF.js step folder's own metadata has no hash:
it sits inside the model's folder); the model itself (a table of readers per format:
TFLite tensor types, ONNX integer and QDQ operators, TF.js weight quantization); else fp32.
"""
from __future__ import annotations

import json
from pathlib import Path

from .errors import InputError

METADATA = "edgekit.json"

# TFLite operators that carry weights: their first input is the activation, the second the
# weights, which is where integer and hybrid (dynamic-range) kernels differ
WEIGHTED_TFLITE_OPS = {"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "TRANSPOSE_CONV",
                       "CONV_3D", "BATCH_MATMUL", "UNIDIRECTIONAL_SEQUENCE_LSTM"}
ONNX_DYNAMIC_OPS = {"DynamicQuantizeLinear", "MatMulInteger", "ConvInteger"}
ONNX_STATIC_OPS = {"QuantizeLinear", "QLinearConv", "QLinearMatMul", "QGemm"}
TFJS_QUANTIZATION = {"uint8": "int8-dynamic", "int8": "int8-dynamic", "float16": "fp16"}


def precision_of(handle, given: str | None) -> tuple[str, str]:
    """(precision, how it was known) for the artifact `handle`."""
    from .quantize import PRECISIONS
    if given is not None:
        if given not in PRECISIONS:
            raise InputError(f"unknown --precision '{given}'; valid: {', '.join(PRECISIONS)}")
        return given, "--precision"
    path = Path(handle.path)
    recorded = _recorded(path)
    if recorded in PRECISIONS:
        return recorded, f"{METADATA} beside it"
    reader = READERS.get(handle.format)
    found = reader(path) if reader else None
    if found is not None:
        return found, READ_FROM[handle.format]
    return "fp32", "no quantization found in the model" if reader else \
        f"assumed: {handle.format} models are not read for their precision"


def _recorded(path: Path) -> str | None:
    from .report import digest
    if path.is_dir():  # a TF.js folder: edgekit's metadata lives inside the model's folder
        metadata = path / METADATA
        if metadata.is_file():
            return _read_json(metadata).get("precision")
        return None
    metadata = path.parent / METADATA
    if not metadata.is_file():
        return None
    recorded = _read_json(metadata)
    return recorded.get("precision") if recorded.get("sha256") == digest(path) else None


def _read_json(path: Path) -> dict:
    try:
        value = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, ValueError):
        return {}  # not edgekit's: the model itself is read instead
    return value if isinstance(value, dict) else {}


def _tflite(path: Path) -> str | None:
    from .targets.tflite import interpreter
    loaded = interpreter(path)
    dtypes = {d["index"]: d["dtype"].__name__ for d in loaded.get_tensor_details()}
    activations, weights = set(), set()
    for op in loaded._get_ops_details():  # private but long-standing; the names need it
        if op["op_name"] in WEIGHTED_TFLITE_OPS and len(op["inputs"]) >= 2:
            activations.add(dtypes.get(op["inputs"][0]))
            weights.add(dtypes.get(op["inputs"][1]))
    if not activations:  # no layer with weights: every tensor's type
        activations = set(dtypes.values())
    every = set(dtypes.values())
    rules = [("int16x8", "int16" in activations), ("int8", bool({"int8", "uint8"} & activations)),
             ("int8-dynamic", "int8" in weights), ("fp16", "float16" in every)]
    return next((name for name, holds in rules if holds), None)


def _onnx(path: Path) -> str | None:
    from .targets.onnx import load_proto
    model = load_proto(path)
    ops = {node.op_type for node in model.graph.node}
    float16 = 10  # onnx.TensorProto.FLOAT16
    rules = [("int8-dynamic", bool(ONNX_DYNAMIC_OPS & ops)), ("int8", bool(ONNX_STATIC_OPS & ops)),
             ("fp16", any(t.data_type == float16 for t in model.graph.initializer))]
    return next((name for name, holds in rules if holds), None)


def _tfjs(path: Path) -> str | None:
    model = _read_json(path / "model.json")
    found = {(weight.get("quantization") or {}).get("dtype")
             for group in model.get("weightsManifest", []) for weight in group.get("weights", [])}
    return next((TFJS_QUANTIZATION[d] for d in sorted(found - {None}) if d in TFJS_QUANTIZATION), None)


READERS = {"tflite": _tflite, "onnx": _onnx, "tfjs": _tfjs}
READ_FROM = {"tflite": "read from its tensor types", "onnx": "read from its operators",
             "tfjs": "read from its weight quantization"}

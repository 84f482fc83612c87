"""TFLite flatbuffers: converters into TFLite, and the LiteRT interpreter as runner.

Runs with ai-edge-litert (the LiteRT interpreter) or, on a slim device install,
tflite-runtime; nothing here needs TensorFlow at run time.
"""
from __future__ import annotations

import shutil
from collections import Counter
from dataclasses import replace
from pathlib import Path

import numpy as np

from ...errors import ConversionError, InputError, MissingDependencyError, first_line
from ...model import ModelHandle
from ...tensors import TensorSpec, guess_image_layout, infer_layout
from ..onnx import onnx2tf as onnx2tf_tool
from ..onnx.operators import lacking_in_onnx2tf
from .. import tfenv
from ..format import DeviceRuntime, FileKind, FormatModule
from ..quiet import silenced
from ..registry import Converter

FILE_NAME = "model.tflite"


def interpreter(path: Path, threads: int | None = None):
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        try:
            from tflite_runtime.interpreter import Interpreter
        except ImportError:
            raise MissingDependencyError("a TFLite runtime", "pip install ai-edge-litert") from None
    try:
        with silenced():  # the first allocation logs "INFO: Created ... XNNPACK delegate"
            loaded = Interpreter(model_path=str(path), num_threads=threads)
            loaded.allocate_tensors()
        return loaded
    except Exception as error:
        raise InputError(f"cannot load TFLite model {path}: {first_line(error)}") from error


def _spec(detail: dict, names: dict[int, str]) -> TensorSpec:
    signature = detail.get("shape_signature", detail["shape"])
    shape = tuple(None if int(d) < 0 else int(d) for d in signature)
    return TensorSpec(names.get(detail["index"], detail["name"]), shape,
                      np.dtype(detail["dtype"]).name, guess_image_layout(shape))


def _signature_names(it) -> dict[int, str]:
    """Tensor index -> its name in the model's (only) signature: the names converters keep
    from the source ("note", "onset"), where tensor names are "StatefulPartitionedCall:1".
    Outputs are matched to the source's by these names, never silently by position."""
    try:
        signatures = it.get_signature_list()
    except Exception:  # an old runtime without signature support
        return {}
    if len(signatures) != 1:
        return {}
    runner = it.get_signature_runner(next(iter(signatures)))
    details = {**runner.get_input_details(), **runner.get_output_details()}
    return {detail["index"]: name for name, detail in details.items()}


def open_handle(path: Path, reference: ModelHandle | None = None) -> ModelHandle:
    """Describe a .tflite file; with the source `reference`, also infer its layouts."""
    it = interpreter(path)
    names = _signature_names(it)
    inputs = [_spec(d, names) for d in it.get_input_details()]
    outputs = [_spec(d, names) for d in it.get_output_details()]
    if reference is not None:
        inputs = _with_layouts(inputs, reference.inputs)
        outputs = _with_layouts(outputs, reference.outputs)
    integer_io = [f"{d['name']} (scale {d['quantization'][0]:.6g}, zero point "
                  f"{d['quantization'][1]})"
                  for d in it.get_input_details() + it.get_output_details() if _integer_io(d)]
    notes = (f"integer inputs/outputs: edgekit quantizes float inputs and de-quantizes "
             f"outputs with each tensor's parameters: {'; '.join(integer_io)}",) if integer_io else ()
    return ModelHandle(Path(path), "tflite", tuple(inputs), tuple(outputs), notes=notes)


def _with_layouts(specs, references):
    if len(specs) != len(references):
        return specs
    return [TensorSpec(s.name, s.shape, s.dtype, infer_layout(s.shape, r))
            for s, r in zip(specs, references)]


def make_runner(handle: ModelHandle, threads: int | None = None, execute=None):
    """A runner over LiteRT. `execute(batch) -> raw outputs` runs the prepared (quantized)
    batches elsewhere instead: under emulation (edgekit.emulator), with this same batching,
    quantization and de-quantization around it."""
    it = interpreter(handle.path, threads)
    input_details, output_details = it.get_input_details(), it.get_output_details()
    dynamic_batch = all(len(d["shape_signature"]) and d["shape_signature"][0] < 0
                        for d in input_details)
    static_batch = int(input_details[0]["shape"][0]) if input_details[0]["shape"].size else 1
    execute = execute or _invoker(it, input_details, dynamic_batch)

    def run_batch(inputs):
        raw = execute([quantize_input(x, d) for x, d in zip(inputs, input_details)])
        return [dequantize_output(y, d) for y, d in zip(raw, output_details)]

    def run(inputs):
        from ..batching import in_batches
        return in_batches(run_batch, inputs, 64 if dynamic_batch else static_batch, handle)

    return run


def _invoker(it, input_details, dynamic_batch: bool):
    shapes: list = []  # allocate only when the batch shape changes (it is costly)

    def execute(inputs):
        if dynamic_batch and [x.shape for x in inputs] != shapes:
            for detail, x in zip(input_details, inputs):
                it.resize_tensor_input(detail["index"], x.shape)
            shapes[:] = [x.shape for x in inputs]
            it.allocate_tensors()
        elif not shapes:
            shapes[:] = [x.shape for x in inputs]
            it.allocate_tensors()
        for detail, x in zip(input_details, inputs):
            it.set_tensor(detail["index"], x)
        it.invoke()
        return [it.get_tensor(d["index"]) for d in it.get_output_details()]

    return execute


def _integer_io(detail: dict) -> bool:
    scale, _ = detail.get("quantization", (0.0, 0))
    return np.dtype(detail["dtype"]).kind in "iu" and scale != 0.0


def quantize_input(x: np.ndarray, detail: dict) -> np.ndarray:
    """Float data for an int8/uint8 model input: q = round(x / scale) + zero_point."""
    if not _integer_io(detail) or np.dtype(x.dtype).kind in "iu":
        return x.astype(detail["dtype"], copy=False)
    scale, zero_point = detail["quantization"]
    info = np.iinfo(detail["dtype"])
    q = np.round(x / scale) + zero_point
    return np.clip(q, info.min, info.max).astype(detail["dtype"])


def dequantize_output(q: np.ndarray, detail: dict) -> np.ndarray:
    """An int8/uint8 model output back to float: (q - zero_point) * scale."""
    if not _integer_io(detail):
        return q.copy()
    scale, zero_point = detail["quantization"]
    return ((q.astype(np.float32) - zero_point) * scale).astype(np.float32)


def _undelegated(path: Path):
    """An interpreter showing the model's own operators: the XNNPACK delegate would replace
    most of them with one DELEGATE node."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType
    return Interpreter(model_path=str(path),
                       experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)


def op_counts(handle: ModelHandle) -> dict[str, int]:
    return dict(Counter(op["op_name"] for op in _undelegated(handle.path)._get_ops_details()))


def operator_types(handle: ModelHandle) -> list[tuple[str, list[str]]]:
    """Each operator in execution order, with the dtypes of the tensors it reads and writes."""
    it = _undelegated(handle.path)
    dtypes = {d["index"]: np.dtype(d["dtype"]).name for d in it.get_tensor_details()}
    return [(op["op_name"], [dtypes[i] for i in (*op["inputs"], *op["outputs"]) if i >= 0])
            for op in it._get_ops_details()]


def from_savedmodel(source: ModelHandle, out_dir: Path, ctx) -> ModelHandle:
    """TFLiteConverter; the precision's hook sets its optimizations and quantization."""
    from ...quantize import PRECISIONS
    tf = tfenv.tensorflow_with_keras2()
    hook = PRECISIONS[ctx.precision].hooks.get("tflite")
    try:
        converter = _converter(tf, source, ctx)
        # Calibration prints the quantizer's settings from C++ to stdout and a deprecation
        # warning to stderr; the converter's errors are in the exception it raises.
        with silenced():
            flatbuffer = hook(converter, ctx, source) if hook is not None else None
            flatbuffer = flatbuffer or converter.convert()  # a hook may build the model itself
    except Exception as error:
        raise ConversionError(f"savedmodel -> tflite ({ctx.precision})", str(source.path),
                              first_line(error)) from error
    (out_dir / FILE_NAME).write_bytes(flatbuffer)
    return open_handle(out_dir / FILE_NAME, source)


def _converter(tf, source: ModelHandle, ctx):
    """TFLiteConverter for the SavedModel. With the "static-shapes" constraint (TFLite Micro,
    the Edge TPU compiler), from its serving function traced at batch 1 with every dimension
    fixed: the model then holds no SHAPE/STRIDED_SLICE/PACK ops computing a dynamic batch,
    and its tensors have the shapes the device's arena is planned for."""
    if "static-shapes" not in ctx.constraints:
        return tf.lite.TFLiteConverter.from_saved_model(str(source.path))
    shapes = {spec.name: spec.shape for spec in source.inputs}
    loaded = tf.saved_model.load(str(source.path))
    serving = loaded.signatures["serving_default"]
    fixed = {}
    for name, spec in serving.structured_input_signature[1].items():
        shape = [1, *(shapes.get(name) or tuple(spec.shape))[1:]]
        if None in shape:
            raise InputError(f"input '{name}' has a dynamic dimension ({spec.shape}); this "
                             "target needs static shapes: give --input-shape or --eval data")
        fixed[name] = tf.TensorSpec(shape, spec.dtype, name=name)
    traced = tf.function(lambda **inputs: serving(**inputs)).get_concrete_function(**fixed)
    return tf.lite.TFLiteConverter.from_concrete_functions([traced], loaded)


def from_torch(source: ModelHandle, out_dir: Path, ctx) -> ModelHandle:
    from .. import torch as torch_format
    module, example = torch_format.module_and_example(source)
    tfenv.tensorflow()  # imported quietly before litert-torch imports it loudly
    try:
        # Its import (torchao's optional kernels) and its conversion (progress lines, torch
        # deprecation warnings) would bury our summary; its errors are in the exception.
        with silenced():
            import litert_torch
            litert_torch.convert(module, example).export(str(out_dir / FILE_NAME))
    except Exception as error:
        raise ConversionError("torch -> tflite (litert-torch)", str(source.path),
                              first_line(error)) from error
    return open_handle(out_dir / FILE_NAME, source)


def from_onnx(source: ModelHandle, out_dir: Path, ctx) -> ModelHandle:
    produced = onnx2tf_tool.float32_tflite(onnx2tf_tool.convert(source, ctx))
    shutil.copyfile(produced, out_dir / FILE_NAME)
    handle = open_handle(out_dir / FILE_NAME, source)
    return replace(handle, notes=handle.notes + onnx2tf_tool.normalizations(source, ctx))


def post_quantize(source: ModelHandle, out_dir: Path, ctx) -> ModelHandle:
    """ai-edge-quantizer on an fp32 .tflite from any converter (litert-torch and onnx2tf
    write float only): quantized without a detour through a SavedModel."""
    from ...quantize import PRECISIONS
    from .quantizer import calibration_samples, input_names, quantize
    calibration = None
    if PRECISIONS[ctx.precision].needs_calibration:
        calibration = calibration_samples(ctx.calibration_inputs(source), input_names(source.path))
    quantize(Path(source.path), out_dir / FILE_NAME, ctx.precision, calibration,
             int8_io="int8-io" in ctx.constraints)
    return open_handle(out_dir / FILE_NAME, source)


def rank_layers(handle: ModelHandle, ctx):
    """Layers ranked by int8 damage, for a conversion of the SavedModel `handle`."""
    from .sensitivity import rank_layers as rank
    return rank(handle, ctx)


# Post-conversion quantization of any fp32 .tflite: a route of its own beside
# TFLiteConverter's (measured equal SQNR for int8; see benchmarks/README.md)
QUANTIZER = Converter("tflite", "tflite", "ai-edge-quantizer", post_quantize,
                      ("ai-edge-quantizer", "ai-edge-litert"),
                      precisions=("int8-dynamic", "int8", "fp16"))

CONVERTERS = (
    Converter("savedmodel", "tflite", "tf.lite.TFLiteConverter", from_savedmodel, ("tensorflow",),
              precisions=("fp32", "fp16", "int8-dynamic", "int8", "int16x8"), keeps_float=("int8",)),
    Converter("torch", "tflite", "litert-torch", from_torch, ("litert-torch", "torch")),
    Converter("onnx", "tflite", "onnx2tf", from_onnx, ("onnx2tf", "tensorflow", "onnx"),
              variants=onnx2tf_tool.variants, foresees=onnx2tf_tool.foreseen,
              lacks=lacking_in_onnx2tf),
)


def intermediates(handle: ModelHandle, inputs: list[np.ndarray]) -> list[tuple[str, np.ndarray]]:
    """Every op's output, in execution order, one sample at a time (the interpreter keeps
    intermediate tensors only with experimental_preserve_all_tensors)."""
    import warnings

    from ai_edge_litert.interpreter import Interpreter, OpResolverType
    with warnings.catch_warnings():  # it warns that this is for debugging: it is
        warnings.simplefilter("ignore")
        # without the default (XNNPACK) delegate: a delegated subgraph keeps no intermediates
        it = Interpreter(model_path=str(handle.path), experimental_preserve_all_tensors=True,
                         experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    it.allocate_tensors()
    details = {d["index"]: d for d in it.get_tensor_details()}
    order = [out for op in it._get_ops_details() for out in op["outputs"]]  # no public op API
    per_tensor: dict[int, list] = {index: [] for index in order}
    for i in range(len(inputs[0])):
        for detail, x in zip(it.get_input_details(), inputs):
            it.set_tensor(detail["index"], quantize_input(x[i:i + 1], detail))
        it.invoke()
        for index in order:
            per_tensor[index].append(dequantize_output(it.get_tensor(index), details[index]))
    return [(details[index]["name"], np.concatenate(values)) for index, values in per_tensor.items()
            if values and values[0].ndim >= 1 and len(values[0]) == 1]


def macs(handle: ModelHandle, sample: list[np.ndarray] | None = None) -> int:
    """Multiply-accumulates of one batch-1 inference, from each op's tensor shapes (the
    model's own static shapes: `sample` is not needed)."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType
    it = Interpreter(model_path=str(handle.path),
                     experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    it.allocate_tensors()  # batch 1 for dynamic models
    shapes = {t["index"]: [int(d) for d in t["shape"]] for t in it.get_tensor_details()}
    total = 0
    for op in it._get_ops_details():
        ins = [shapes[i] for i in op["inputs"] if i >= 0]
        outs = [shapes[i] for i in op["outputs"]]
        total += _op_macs(op["op_name"], ins, outs)
    return total


def _op_macs(name: str, ins: list, outs: list) -> int:
    out = int(np.prod(outs[0])) if outs and outs[0] else 0
    per_output = {  # MACs per output element, from the weight tensor's shape
        "CONV_2D": lambda: int(np.prod(ins[1][1:])),  # [O, kh, kw, I]
        "DEPTHWISE_CONV_2D": lambda: ins[1][1] * ins[1][2],  # [1, kh, kw, O]
        "FULLY_CONNECTED": lambda: ins[1][-1],  # [O, I]
        "BATCH_MATMUL": lambda: ins[0][-1],
        "CONV_3D": lambda: int(np.prod(ins[1][:-1])),  # [kd, kh, kw, I, O]
    }
    if name == "TRANSPOSE_CONV":  # [O, kh, kw, I] applied to every input element
        return int(np.prod(ins[2])) * ins[1][0] * ins[1][1] * ins[1][2]
    return out * per_output[name]() if name in per_output and len(ins) > 1 else 0


def weight_bytes(handle: ModelHandle) -> int:
    return Path(handle.path).stat().st_size  # the flatbuffer is (almost) all weights


# operators that carry weights: their first input is the activation, the second the
# weights, which is where integer and hybrid (dynamic-range) kernels differ
WEIGHTED_OPS = {"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "TRANSPOSE_CONV",
                "CONV_3D", "BATCH_MATMUL", "UNIDIRECTIONAL_SEQUENCE_LSTM"}


def read_precision(path: Path) -> str | None:
    """The precision a TFLite model was quantized to, from its tensor types."""
    loaded = interpreter(path)
    dtypes = {d["index"]: d["dtype"].__name__ for d in loaded.get_tensor_details()}
    activations, weights = set(), set()
    for op in loaded._get_ops_details():  # private but long-standing; the names need it
        if op["op_name"] in WEIGHTED_OPS and len(op["inputs"]) >= 2:
            activations.add(dtypes.get(op["inputs"][0]))
            weights.add(dtypes.get(op["inputs"][1]))
    if not activations:  # no layer with weights: every tensor's type
        activations = set(dtypes.values())
    every = set(dtypes.values())
    rules = [("int16x8", "int16" in activations), ("int8", bool({"int8", "uint8"} & activations)),
             ("int8-dynamic", "int8" in weights), ("fp16", "float16" in every)]
    return next((name for name, holds in rules if holds), None)


def _micro_runner(handle: ModelHandle):
    from .micro import MicroRunner
    return MicroRunner(Path(handle.path), len(handle.outputs), tuple(op_counts(handle)))


def _micro_package(handle: ModelHandle, facts: dict, out_dir: Path) -> list[Path]:
    from .micro import c_sources
    out_dir.mkdir(parents=True, exist_ok=True)
    sources = c_sources(Path(handle.path).read_bytes(), op_counts(handle), facts.get("arena_bytes"),
                        Path(handle.path).name)
    for name, text in sources.items():
        (out_dir / name).write_text(text)
    return [out_dir / name for name in sources]


def _edgetpu_preflight(handle: ModelHandle) -> dict:
    from .edgetpu import preflight
    return preflight(operator_types(handle), f"deploy/tflite/{FILE_NAME}")


TFLITE_MICRO = DeviceRuntime("tflite-micro", "TFLite Micro interpreter", ("tflite-micro",),
                             make_runner=_micro_runner, package=_micro_package)
EDGE_TPU = DeviceRuntime("edgetpu", "the Edge TPU compiler's operator table", (),
                         assess=_edgetpu_preflight)

TFLITE_FILE = FileKind("tflite", "TFLite", (".tflite",))


def recognize(content):
    """The flatbuffer file identifier "TFL3" at bytes 4..8."""
    return TFLITE_FILE if content.head[4:8] == b"TFL3" else None


FORMAT = FormatModule(
    runtime="LiteRT interpreter", packages=("ai-edge-litert",),
    open_handle=open_handle, make_runner=make_runner, op_counts=op_counts,
    converters=CONVERTERS, quantizer=QUANTIZER,
    intermediates=intermediates, macs=macs, weight_bytes=weight_bytes, rank_layers=rank_layers,
    read_precision=read_precision, precision_evidence="read from its tensor types",
    recognize=recognize, file_kinds=(TFLITE_FILE,), device_runtimes=(TFLITE_MICRO, EDGE_TPU),
)

"""ONNX models: converters into ONNX, and onnxruntime as runner."""
from __future__ import annotations

import shutil
import sys
from collections import Counter
from dataclasses import replace
from pathlib import Path

import numpy as np

from ...errors import ConversionError, InputError, first_line
from ...model import ModelHandle
from ...tensors import (TensorSpec, batch_axes_from_names, guess_image_layout, infer_layout,
                        to_model_axes)
from ..batching import batch_size, in_batches
from ..format import FileKind, FormatModule
from . import operators
from ..quiet import silenced
from ..registry import Converter
from ..tools import run_tool

FILE_NAME = "model.onnx"
OPSET = 17


def load_proto(path: Path):
    import onnx
    try:
        return onnx.load(str(path), load_external_data=False)
    except Exception as error:
        raise InputError(f"cannot load ONNX model {path}: {first_line(error)}") from error


def external_data_files(path: Path) -> list[Path]:
    """Files beside an ONNX model that hold its external weights (models over 2 GB, and
    torch's dynamo exporter, keep weights outside the .onnx). A location outside the
    model's folder is refused, as onnxruntime refuses it: a hostile model could name any file.
    A slim runtime install has no onnx package to read them: there onnxruntime's own check
    stands, and the .onnx is taken alone."""
    try:
        from onnx.external_data_helper import ExternalDataInfo, _get_all_tensors, uses_external_data
    except ImportError:
        return []
    folder = Path(path).parent.resolve()
    files = set()
    for tensor in _get_all_tensors(load_proto(path)):  # onnx's own walk: initializers + attributes
        if not uses_external_data(tensor):
            continue
        location = (folder / ExternalDataInfo(tensor).location).resolve()
        if folder not in location.parents:
            raise InputError(f"{path} keeps tensor '{tensor.name}' in {location}, outside the "
                             "model's folder; external weights must sit beside the model")
        if not location.is_file():
            raise InputError(f"{path} keeps tensor '{tensor.name}' in {location.name}, which is "
                             "missing; copy it beside the model")
        files.add(location)
    return sorted(files)


def model_files(path: Path) -> list[Path]:
    """The .onnx and its external weight files."""
    return [Path(path), *external_data_files(path)]


def copy_model(path: Path, out_dir: Path, name: str | None = None) -> Path:
    """The model and its external weight files, copied into out_dir (references are relative)."""
    target = Path(out_dir) / (name or Path(path).name)
    shutil.copyfile(path, target)
    folder = Path(path).parent.resolve()
    for file in external_data_files(path):
        copied = Path(out_dir) / file.relative_to(folder)
        copied.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(file, copied)
    return target


def _specs(values, reference_specs=None, batch_name: str | None = None) -> list[TensorSpec]:
    specs = []
    shapes, names = [], []
    for value in values:
        dims = value.type.tensor_type.shape.dim
        # a dim_param, or a dim_value of -1 or 0 (Paddle2ONNX writes -1 for "any"), is dynamic
        shapes.append(tuple(d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else None
                            for d in dims))
        names.append(tuple(d.dim_param for d in dims))
    for i, (value, shape, axis) in enumerate(zip(values, shapes, batch_axes_from_names(names, batch_name))):
        layout = guess_image_layout(shape)
        if reference_specs and len(reference_specs) == len(values):
            layout = infer_layout(shape, reference_specs[i])
        specs.append(TensorSpec(value.name, shape, _numpy_dtype(value.type.tensor_type.elem_type),
                                layout, axis))
    return specs


def _batch_name(first_dims) -> str | None:
    """The name the model gives its batch: that of the first input's first dimension."""
    return first_dims[0] if first_dims and isinstance(first_dims[0], str) and first_dims[0] else None


def _numpy_dtype(elem_type: int) -> str:
    from onnx.helper import tensor_dtype_to_np_dtype
    try:
        return np.dtype(tensor_dtype_to_np_dtype(elem_type)).name
    except (KeyError, TypeError, ValueError):  # UNDEFINED or a type numpy lacks
        return "float32"


def open_handle(path: Path, reference: ModelHandle | None = None) -> ModelHandle:
    try:
        import onnx  # noqa: F401
    except ImportError:  # a slim runtime install: read the tensors from onnxruntime
        return _handle_from_session(path, reference)
    graph = load_proto(path).graph
    initializers = {init.name for init in graph.initializer}
    inputs = [v for v in graph.input if v.name not in initializers]
    batch = _batch_name([d.dim_param for d in inputs[0].type.tensor_type.shape.dim] if inputs else ())
    return ModelHandle(
        Path(path), "onnx",
        tuple(_specs(inputs, reference.inputs if reference else None, batch)),
        tuple(_specs(graph.output, reference.outputs if reference else None, batch)))


ORT_TYPES = {"tensor(float)": "float32", "tensor(float16)": "float16", "tensor(double)": "float64",
             "tensor(int64)": "int64", "tensor(int32)": "int32", "tensor(int8)": "int8",
             "tensor(uint8)": "uint8", "tensor(bool)": "bool"}


def _handle_from_session(path: Path, reference: ModelHandle | None) -> ModelHandle:
    sess = session(path)

    first = sess.get_inputs()[0].shape if sess.get_inputs() else ()
    batch = _batch_name(first)

    def specs(values, references):
        result = []
        names = [tuple(d if isinstance(d, str) else "" for d in value.shape) for value in values]
        for i, (value, axis) in enumerate(zip(values, batch_axes_from_names(names, batch))):
            shape = tuple(d if isinstance(d, int) and d > 0 else None for d in value.shape)
            layout = infer_layout(shape, references[i]) if references and \
                len(references) == len(values) else guess_image_layout(shape)
            result.append(TensorSpec(value.name, shape, ORT_TYPES.get(value.type, "float32"),
                                     layout, axis))
        return tuple(result)

    return ModelHandle(Path(path), "onnx", specs(sess.get_inputs(), reference and reference.inputs),
                       specs(sess.get_outputs(), reference and reference.outputs))


def open_source(path: Path, options, fmt: str) -> ModelHandle:
    """An ONNX source; --input-shape fixes dynamic dimensions (the batch stays dynamic),
    for converters that need static shapes (onnx2tf is then told with -ois)."""
    external_data_files(path)  # refuses weights outside the folder or missing, before any runtime
    handle = open_handle(path)
    if not options.input_shapes:
        return handle
    if len(options.input_shapes) != len(handle.inputs):
        raise InputError(f"{path} has {len(handle.inputs)} inputs; give --input-shape once for each")
    inputs = []
    for spec, shape in zip(handle.inputs, options.input_shapes):
        if len(shape) != len(spec.shape) or any(d not in (None, s) for d, s in zip(spec.shape[1:], shape[1:])):
            raise InputError(f"--input-shape {','.join(map(str, shape))} does not fit input "
                             f"'{spec.name}' of {path}: {spec.describe()}")
        inputs.append(replace(spec, shape=(None, *shape[1:])))
    return replace(handle, inputs=tuple(inputs))


def session(path: Path, threads: int | None = None):
    import onnxruntime as ort
    options = ort.SessionOptions()
    options.log_severity_level = 4  # a failing run raises with the same words; keep stderr clean
    if threads:
        options.intra_op_num_threads = threads
    try:
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as error:
        raise InputError(f"onnxruntime cannot load {path}: {first_line(error)}") from error


def make_runner(handle: ModelHandle, threads: int | None = None, execute=None):
    """A runner over onnxruntime. `execute(batch) -> outputs` runs the prepared batches
    elsewhere instead (under emulation: edgekit.emulator), with this same batching."""
    sess = session(handle.path, threads)
    names = [i.name for i in sess.get_inputs()]
    execute = execute or (lambda batch: sess.run(None, dict(zip(names, batch))))

    def run_batch(inputs):
        return execute([x.astype(spec.dtype, copy=False) for spec, x in zip(handle.inputs, inputs)])

    return lambda inputs: in_batches(run_batch, inputs, batch_size(handle), handle)


def op_counts(handle: ModelHandle) -> dict[str, int]:
    return dict(Counter(node.op_type for node in load_proto(handle.path).graph.node))


def from_torch(source: ModelHandle, out_dir: Path, ctx) -> ModelHandle:
    """torch.onnx.export with a dynamic batch dimension on every input and output."""
    import torch
    from .. import torch as torch_format
    module, example = torch_format.module_and_example(source)
    input_names = [s.name for s in source.inputs]
    output_names = [s.name for s in source.outputs]
    axes = {name: {0: "batch"} for name in input_names + output_names}
    program = torch_format.exported_program(source)
    try:
        with silenced():  # exporter warnings (torchvision ops skipped, pytree deprecations)
            if program is not None:  # a torch.export program: only the dynamo exporter takes it
                torch.onnx.export(program, (), str(out_dir / FILE_NAME), input_names=input_names,
                                  output_names=output_names, dynamo=True, external_data=False)
            else:
                # The TorchScript-based exporter: it handles scripted modules as well, is fast,
                # and keeps the weights inside the file.
                torch.onnx.export(module, example, str(out_dir / FILE_NAME), input_names=input_names,
                                  output_names=output_names, dynamic_axes=axes,
                                  opset_version=OPSET, dynamo=False)
    except Exception as error:
        raise ConversionError("torch -> onnx (torch.onnx.export)", str(source.path),
                              first_line(error)) from error
    return open_handle(out_dir / FILE_NAME, source)


def from_savedmodel(source: ModelHandle, out_dir: Path, ctx) -> ModelHandle:
    argv = [sys.executable, "-m", "tf2onnx.convert", "--saved-model", str(source.path),
            "--output", str(out_dir / FILE_NAME), "--opset", str(OPSET)]
    run_tool("savedmodel -> onnx (tf2onnx)", source.path, argv, cwd=out_dir, log=ctx.log_file("tf2onnx"))
    return open_handle(out_dir / FILE_NAME, source)


def quantize(source: ModelHandle, out_dir: Path, ctx) -> ModelHandle:
    """An fp32 ONNX model in, a quantized one out, with onnxruntime.quantization."""
    from ...quantize import PRECISIONS
    target = out_dir / FILE_NAME
    try:
        # It logs "consider pre-processing" to the root logger even where pre-processing was
        # measured to change nothing (int8-dynamic; int8 runs quant_pre_process itself).
        with silenced():
            PRECISIONS[ctx.precision].hooks["onnx"](Path(source.path), target, ctx, source)
    except Exception as error:
        raise ConversionError(f"onnx -> onnx {ctx.precision} (onnxruntime.quantization)",
                              str(source.path), first_line(error)) from error
    return open_handle(target, source)


def rank_layers(handle: ModelHandle, ctx):
    """Tensors of the fp32 ONNX `handle` ranked by int8 damage (QDQ debugging)."""
    from .sensitivity import rank_layers as rank
    return rank(handle, ctx)


QUANTIZER = Converter("onnx", "onnx", "onnxruntime.quantization", quantize,
                      ("onnxruntime", "onnx"), precisions=("fp16", "int8-dynamic", "int8"),
                      keeps_float=("int8",))

CONVERTERS = (
    Converter("torch", "onnx", "torch.onnx.export", from_torch, ("torch", "onnx")),
    Converter("torchscript", "onnx", "torch.onnx.export", from_torch, ("torch", "onnx")),
    Converter("savedmodel", "onnx", "tf2onnx", from_savedmodel, ("tf2onnx", "tensorflow", "onnx"),
              nondeterminism="tf2onnx numbers its generated constants differently from run to run "
                             "(e.g. const_axes__15 / __16); the graph computes the same"),
)


def _every_output(handle: ModelHandle, inputs: list[np.ndarray]) -> list[tuple[str, np.ndarray]]:
    """Every node output, in graph order (each made a graph output in a scratch copy)."""
    import tempfile

    import onnx
    model = onnx.load(str(handle.path))
    known = {o.name for o in model.graph.output}
    names = [out for node in model.graph.node for out in node.output if out and out not in known]
    model.graph.output.extend(onnx.ValueInfoProto(name=name) for name in names)
    with tempfile.TemporaryDirectory(prefix="edgekit-layers-") as scratch:
        path = f"{scratch}/probe.onnx"
        onnx.save(model, path)
        sess = session(Path(path))
        feed = {i.name: to_model_axes(x, s).astype(s.dtype, copy=False)
                for i, s, x in zip(sess.get_inputs(), handle.inputs, inputs)}
        values = sess.run(None, feed)
    return list(zip([o.name for o in sess.get_outputs()], values))


def intermediates(handle: ModelHandle, inputs: list[np.ndarray]) -> list[tuple[str, np.ndarray]]:
    """Every float activation (per-sample tensors), in graph order, for per-layer drift."""
    return [(name, value) for name, value in _every_output(handle, inputs)
            if isinstance(value, np.ndarray) and value.ndim >= 1 and value.dtype.kind == "f"
            and len(value) == len(inputs[0])]


def macs(handle: ModelHandle, sample: list[np.ndarray] | None = None) -> int:
    """Multiply-accumulates of one inference on `sample` (default: zeros, 1 for dynamic
    dimensions): Conv, Gemm and MatMul, with output shapes from one run of the model
    (shape inference misses dynamic dimensions)."""
    import onnx
    from onnx import numpy_helper
    graph = onnx.load(str(handle.path)).graph
    weights = {init.name: numpy_helper.to_array(init).shape for init in graph.initializer}
    sample = sample or [np.zeros([1 if d is None else d for d in s.shape], s.dtype)
                        for s in handle.inputs]
    shapes = {name: np.shape(value) for name, value in _every_output(handle, sample)}
    shapes.update({s.name: x.shape for s, x in zip(handle.inputs, sample)})
    shapes.update(weights)
    total = 0
    for node in graph.node:
        out = shapes.get(node.output[0])
        if node.op_type in CONV_WEIGHT and out is not None:  # weight [M, C/g, kh, kw]
            weight = shapes.get(node.input[CONV_WEIGHT[node.op_type]])
            total += int(np.prod(out)) * int(np.prod(weight[1:])) if weight else 0
        elif node.op_type in MATMUL and out is not None and node.input[0] in shapes:
            total += int(np.prod(out)) * shapes[node.input[0]][-1]  # K, the shared dimension
    return total


CONV_WEIGHT = {"Conv": 1, "ConvInteger": 1, "QLinearConv": 3}  # op -> weight input index
MATMUL = {"Gemm", "MatMul", "MatMulInteger", "QLinearMatMul"}


def weight_bytes(handle: ModelHandle) -> int:
    import onnx
    from onnx import numpy_helper
    graph = onnx.load(str(handle.path)).graph
    return sum(numpy_helper.to_array(init).nbytes for init in graph.initializer)


def gpu_runner(handle: ModelHandle):
    """onnxruntime's CUDA provider, or None when this onnxruntime build has none (asked
    for anyway, it would quietly run on the CPU)."""
    import onnxruntime as ort
    if "CUDAExecutionProvider" not in ort.get_available_providers():
        return None
    sess = ort.InferenceSession(str(handle.path), providers=["CUDAExecutionProvider"])
    names = [i.name for i in sess.get_inputs()]
    return lambda inputs: sess.run(None, dict(zip(names, inputs)))


DYNAMIC_QUANTIZATION_OPS = {"DynamicQuantizeLinear", "MatMulInteger", "ConvInteger"}
STATIC_QUANTIZATION_OPS = {"QuantizeLinear", "QLinearConv", "QLinearMatMul", "QGemm"}


def read_precision(path: Path) -> str | None:
    """The precision an ONNX model was quantized to, from its operators and initializers."""
    model = load_proto(path)
    ops = {node.op_type for node in model.graph.node}
    float16 = 10  # onnx.TensorProto.FLOAT16
    rules = [("int8-dynamic", bool(DYNAMIC_QUANTIZATION_OPS & ops)),
             ("int8", bool(STATIC_QUANTIZATION_OPS & ops)),
             ("fp16", any(t.data_type == float16 for t in model.graph.initializer))]
    return next((name for name, holds in rules if holds), None)


ONNX_FILE = FileKind("onnx", "ONNX", (".onnx",))


def recognize(content):
    """ONNX has no magic number: every writer serialises ModelProto's fields in order, so a
    model starts with ir_version's tag (0x08); then parse the protobuf (safe, no code runs)
    and look for a graph. A slim runtime install has onnxruntime but not onnx: there, trust
    the extension."""
    if not content.head.startswith(b"\x08"):
        return None
    try:
        import onnx
    except ImportError:
        return ONNX_FILE if content.path.suffix.lower() == ".onnx" else None
    try:
        model = onnx.load(str(content.path), load_external_data=False)
    except Exception:
        return None
    return ONNX_FILE if len(model.graph.node) > 0 or len(model.graph.output) > 0 else None


FORMAT = FormatModule(
    runtime="onnxruntime", packages=("onnxruntime",),
    open_handle=open_handle, make_runner=make_runner, op_counts=op_counts,
    open_source=open_source, converters=CONVERTERS, quantizer=QUANTIZER,
    model_files=model_files, copy_model=copy_model, intermediates=intermediates,
    macs=macs, weight_bytes=weight_bytes, rank_layers=rank_layers, gpu_runner=gpu_runner,
    read_precision=read_precision, precision_evidence="read from its operators",
    recognize=recognize, file_kinds=(ONNX_FILE,), runtime_lacks=operators.lacking_in_onnxruntime,
)

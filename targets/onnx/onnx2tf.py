"""onnx2tf, run the way that works offline and never touches the user's file.

Measured pitfalls this module exists for (see ENVIRONMENT.md):
- onnx2tf overwrites its input .onnx in place (it runs `onnxsim IN IN`): it gets a copy.
- it needs `onnxsim` on PATH or dynamic models fail ('Dimension -1 must be >= 0').
- for static 4-D 3-channel inputs it downloads a sample-image file unless one is in its
  working directory: we put a file there, made from seeded values in 0..1.
- it assumes NCHW inputs; channels-last ONNX inputs (e.g. from tf2onnx) are kept as-is.
One run writes both the SavedModel and the float32 TFLite model; both steps reuse it.
"""
from __future__ import annotations

import re
import sys
import tempfile
from pathlib import Path

import numpy as np

from ...errors import ConversionError
from ...model import ModelHandle
from .. import onnx as onnx_format
from .normalize import normalize
from ..tools import run_tool

SAMPLE_FILE = "calibration_image_sample_data_20x128x128x3_float32.npy"


# Options a search variant may ask for (StepContext.options, keyed by TOOL), as onnx2tf
# flags: onnx2tf assumes every 3-D/4-D input is channels-first and transposes it, which
# breaks sequence and token inputs (keep their shapes: -kat); TF.js cannot run grouped
# convolutions (split them: -dgc).
TOOL = "onnx2tf"
OPTION_FLAGS = {
    "keep-input-shapes": lambda source: ["-kat", *[s.name for s in source.inputs]],
    "no-group-conv": lambda source: ["-dgc"],
    # every input with a batch of 1: onnx2tf folds shape computations a dynamic batch keeps
    # symbolic (MiniLM: "Output tensors of a Functional model must be the output of a
    # TensorFlow Layer"; converts and runs with it)
    "batch-one": lambda source: ["-ois", *[f"{s.name}:1,{','.join(map(str, s.shape[1:]))}"
                                           for s in source.inputs if None not in s.shape[1:]]],
}


def variants(reason: str):
    """Variants worth a try after a failure whose message is `reason` (see OPTION_FLAGS)."""
    from ...search import Variant
    found = []
    if re.search(r"shape|[Dd]imensions must be equal|rank", reason):
        found.append(Variant("onnx2tf-kat", options=((TOOL, "keep-input-shapes"),),
                             note="onnx2tf told to keep every input's shape (-kat): it takes 3-D "
                                  "and 4-D inputs for channels-first and transposes them"))
    # a dynamic batch leaves shape computations symbolic that onnx2tf then lays out wrongly
    # (magika's one-hot Expand+Equal: "Dimensions must be equal, but are 2048 and 257")
    if re.search(r"Functional model|TensorFlow Layer|[Dd]imension -?\d+ must be|"
                 r"[Dd]imensions must be equal", reason):
        found.append(Variant("onnx2tf-batch1", options=((TOOL, "batch-one"),),
                             note="onnx2tf given every input with a batch of 1 (-ois): the "
                                  "artifact takes one sample at a time"))
    if re.search(r"depth of input|group", reason):
        found.append(Variant("onnx2tf-dgc", options=((TOOL, "no-group-conv"),),
                             note="onnx2tf told to split grouped convolutions (-dgc), which "
                                  "TF.js cannot run"))
    return tuple(found)


def foreseen(source: ModelHandle, destination: str):
    """Variants the source alone shows to be needed: TF.js has no grouped convolution, so a
    TF.js route from a model with ONNX Convs of several channels per group splits them from
    the start rather than after a failed conversion (an onnx2tf run on PaddleOCR's detector
    takes minutes). One channel per group (depthwise) needs no split: tfjs_graph turns what
    onnx2tf writes for it into TF.js's depthwise op."""
    if destination != "tfjs" or not _has_grouped_convolutions(source.path):
        return ()
    return tuple(v for v in variants("group") if dict(v.options).get(TOOL) == "no-group-conv")


def _has_grouped_convolutions(model: Path) -> bool:
    """Some Conv has groups of more than one input channel (weights [out, in/group, ...],
    read from an initializer or a Constant node; weights computed in the graph are not
    looked at: a failure then still offers the split)."""
    from onnx import AttributeProto
    graph = onnx_format.load_proto(model).graph
    shapes = {tensor.name: list(tensor.dims) for tensor in graph.initializer}
    shapes.update({node.output[0]: list(a.t.dims) for node in graph.node if node.op_type == "Constant"
                   for a in node.attribute if a.type == AttributeProto.TENSOR})
    return any(len(shapes.get(node.input[1], ())) > 1 and shapes[node.input[1]][1] > 1 and
               any(a.name == "group" and a.i > 1 for a in node.attribute)
               for node in graph.node if node.op_type == "Conv")


def convert(source: ModelHandle, ctx) -> Path:
    """Run onnx2tf once per source model and options (its failure too: a fallback route
    through the same tool would only fail again); returns its output folder."""
    key = ("onnx2tf", str(source.path), _options(ctx))
    if key not in ctx.cache:
        try:
            ctx.cache[key] = _run(source, ctx)
        except ConversionError as error:
            ctx.cache[key] = error
    if isinstance(ctx.cache[key], ConversionError):
        raise ctx.cache[key]
    return ctx.cache[key]


def _run(source: ModelHandle, ctx) -> Path:
    work = Path(tempfile.mkdtemp(prefix="onnx2tf-", dir=ctx.work_dir))
    model = onnx_format.copy_model(source.path, work, "model.onnx")  # onnx2tf rewrites its input
    ctx.cache[("onnx2tf-normalized", str(source.path))] = normalize(model)
    np.save(work / SAMPLE_FILE,
            np.random.default_rng(0).random((20, 128, 128, 3), dtype=np.float32))
    argv = [sys.executable, "-c", "import onnx2tf; onnx2tf.main()",
            "-i", str(model), "-o", str(work / "out"), "-osd", "-coion", "-n"]
    channels_last = [s.name for s in source.inputs if s.layout == "NHWC"]
    if channels_last and "keep-input-shapes" not in _options(ctx):
        argv += ["-kat", *channels_last]
    for option in _options(ctx):
        argv += OPTION_FLAGS[option](source)
    fixed = _fixed_by_user(source) if "batch-one" not in _options(ctx) else []
    if fixed:  # dynamic dimensions the user fixed with --input-shape
        argv += ["-ois", *fixed]
    log = ctx.log_file("onnx2tf")
    try:
        run_tool("onnx -> tensorflow (onnx2tf)", source.path, argv, cwd=work, log=log)
    except ConversionError as error:
        node = failing_node(log.read_text(errors="replace"), model)
        if node:
            error.args = (str(error).replace(f"{source.path}: ", f"{source.path}: at {node}: ", 1),)
        raise
    return work / "out"


def failing_node(log: str, model: Path) -> str | None:
    """The node onnx2tf was converting when it failed, as "node 'NAME' (OP)": its log names
    it (`onnx_op_name: wa/model/If_1`, a leading '/' written 'wa/'); the op type comes from
    the graph onnx2tf read, subgraphs (If/Loop branches) included."""
    found = re.findall(r"onnx_op_name:\s*(\S+)", log)
    if not found:
        return None
    name = re.sub(r"^wa/", "/", found[-1])
    op = _op_types(model).get(name)
    return f"node '{name}'" + (f" ({op})" if op else "")


def _op_types(model: Path) -> dict[str, str]:
    from .operators import node_types
    try:
        return node_types(model)
    except Exception:  # the log's node name alone still helps
        return {}


def _options(ctx) -> tuple[str, ...]:
    return tuple(value for tool, value in ctx.options if tool == TOOL)


def _fixed_by_user(source: ModelHandle) -> list[str]:
    """`name:1,d1,...` for inputs whose file shape is dynamic but whose handle shape is not."""
    from . import open_handle
    in_file = {s.name: s.shape for s in open_handle(source.path).inputs}
    return [f"{s.name}:1,{','.join(str(d) for d in s.shape[1:])}" for s in source.inputs
            if None not in s.shape[1:] and None in in_file.get(s.name, ())[1:]]


def normalizations(source: ModelHandle, ctx) -> tuple[str, ...]:
    """What was cleaned up in the working copy onnx2tf read, as report notes."""
    changes = ctx.cache.get(("onnx2tf-normalized", str(source.path)), [])
    return tuple(f"before onnx2tf: {change}" for change in changes)


def float32_tflite(folder: Path) -> Path:
    return next(folder.glob("*_float32.tflite"))

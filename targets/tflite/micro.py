"""TensorFlow Lite for Microcontrollers (TFLM): the runtime firmware runs, from its own
Python package (tflite-micro), to prove a .tflite the way a microcontroller will run it.

TFLM has its own kernels (reference ones here; the CMSIS-NN ones firmware may link are
bit-exact to them for int8) and plans all tensors into one arena given at start-up, so a
run here proves the operators exist in TFLM and measures the arena the model needs. An
app needs two more things, written by `deploy`: the model as a C array with the alignment
TFLM needs, and the op resolver that registers exactly the operators the model uses.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ...errors import MissingDependencyError
from ..quiet import captured

# an arena no microcontroller has: TFLM's recording allocator then reports what it used
MEASURING_ARENA_BYTES = 256 * 1024 * 1024
ARENA_TOTAL = re.compile(r"Arena allocation total (\d+) bytes")
ALIGNMENT = 16  # TFLM reads the model in place: its buffers must be 16-byte aligned
OPERATORS = Path(__file__).with_name("micro_ops.txt")


def interpreter_module():
    try:
        from tflite_micro.python.tflite_micro import runtime
    except ImportError:
        raise MissingDependencyError("TFLite Micro", "pip install tflite-micro") from None
    return runtime


@dataclass
class MicroRunner:
    """A runner (list of arrays -> list of arrays) over TFLM's interpreter, one sample at a
    time (TFLM models have a batch of 1); after a run, `facts` holds the arena it used."""
    path: Path
    output_count: int
    operators: tuple[str, ...]  # the model's TFLite operators, for its op resolver
    facts: dict = field(default_factory=dict)

    def __call__(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        from . import dequantize_output, quantize_input
        runtime = interpreter_module()
        with captured() as log:  # TFLM says why it refuses a model only on stderr
            try:
                it = runtime.Interpreter.from_file(str(self.path), arena_size=MEASURING_ARENA_BYTES)
            except RuntimeError as error:
                failure = error
            else:
                failure = None
        if failure is not None:
            raise RuntimeError(_telling(log[0]) or str(failure))
        inputs_detail = [_detail(it.get_input_details(i)) for i in range(len(inputs))]
        samples = len(inputs[0]) if inputs else 0
        outputs_detail = [_detail(it.get_output_details(k)) for k in range(self.output_count)]
        outputs: list[list[np.ndarray]] = [[] for _ in outputs_detail]
        for n in range(samples):
            for i, (x, detail) in enumerate(zip(inputs, inputs_detail)):
                it.set_input(quantize_input(x[n:n + 1], detail), i)
            it.invoke()
            for k, detail in enumerate(outputs_detail):
                outputs[k].append(dequantize_output(it.get_output(k), detail))
        with captured() as log:
            it.print_allocations()
        match = ARENA_TOTAL.search(log[0])
        self.facts = {"arena_bytes": int(match.group(1)) if match else None,
                      "op_resolver": resolver_calls(self.operators)}
        return [np.concatenate(values) for values in outputs]


def _detail(details: dict) -> dict:
    """TFLM's tensor details in the shape LiteRT's have (dtype, quantization=(scale, zero
    point)), for quantize_input/dequantize_output."""
    parameters = details.get("quantization_parameters") or {}
    scales, zero_points = parameters.get("scales", []), parameters.get("zero_points", [])
    quantization = (float(scales[0]), int(zero_points[0])) if len(scales) else (0.0, 0)
    return {"dtype": details["dtype"], "quantization": quantization}


def _telling(log: str) -> str:
    lines = [line.strip() for line in log.splitlines() if line.strip()]
    wanted = [line for line in lines if "op" in line.lower() or "fail" in line.lower()]
    return "; ".join((wanted or lines)[:2])


def resolver_methods() -> dict[str, str]:
    """TFLite builtin operator -> the MicroMutableOpResolver method registering it."""
    rows = [line.split() for line in OPERATORS.read_text().splitlines()
            if line.strip() and not line.startswith("#")]
    return dict(rows)


def resolver_calls(operators) -> list[str]:
    """The `AddConv2D()` calls an app's op resolver needs for these operators, in order;
    an operator TFLM lacks is named as a comment (the interpreter refused it already)."""
    methods = resolver_methods()
    return [f"{methods[op]}()" if op in methods else f"/* no TFLite Micro kernel: {op} */"
            for op in sorted(set(operators))]


def c_sources(model: bytes, operators, arena_bytes: int | None, name: str) -> dict[str, str]:
    """model_data.h/.cc (the model as an aligned C array, the measured arena) and
    model_ops.h (the op resolver), as the TFLM examples lay them out."""
    calls = resolver_calls(operators)
    rows = ",\n".join("  " + ", ".join(f"0x{byte:02x}" for byte in model[i:i + 12])
                      for i in range(0, len(model), 12))
    arena = "" if arena_bytes is None else (
        f"// Tensor arena measured by TFLite Micro's recording allocator on a 64-bit host: an\n"
        f"// upper bound for 32-bit targets (their structs are smaller).\n"
        f"constexpr unsigned int kTensorArenaSize = {_aligned(arena_bytes)};\n")
    header = (f"// {name}: generated by edgekit; do not edit.\n#pragma once\n\n"
              f"extern const unsigned char g_model_data[];\n"
              f"extern const unsigned int g_model_data_len;\n{arena}")
    source = (f"// {name}: generated by edgekit; do not edit.\n#include \"model_data.h\"\n\n"
              f"alignas({ALIGNMENT}) const unsigned char g_model_data[] = {{\n{rows}\n}};\n"
              f"const unsigned int g_model_data_len = {len(model)};\n")
    registrations = "\n".join(f"  if (resolver.{call} != kTfLiteOk) return kTfLiteError;"
                              for call in calls if not call.startswith("/*"))
    ops = (f"// {name}: the operators this model uses; generated by edgekit.\n#pragma once\n\n"
           f"#include \"tensorflow/lite/micro/micro_mutable_op_resolver.h\"\n\n"
           f"constexpr unsigned int kModelOperatorCount = {len(calls)};\n"
           f"using ModelOpResolver = tflite::MicroMutableOpResolver<kModelOperatorCount>;\n\n"
           f"inline TfLiteStatus RegisterModelOperators(ModelOpResolver& resolver) {{\n"
           f"{registrations}\n  return kTfLiteOk;\n}}\n")
    return {"model_data.h": header, "model_data.cc": source, "model_ops.h": ops}


def _aligned(size: int) -> int:
    return -(-size // ALIGNMENT) * ALIGNMENT

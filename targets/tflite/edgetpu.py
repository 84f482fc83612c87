"""Edge TPU: what its compiler would map, checked where the compiler cannot run.

`edgetpu_compiler` comes from Coral's Debian repository for x86-64 only (not on PyPI, and
this project installs nothing outside its lock), so edgekit cannot run a compiled model.
What it can do is read the int8 model against the compiler's documented operator table:
the compiler maps the graph up to the first operator it cannot map and leaves that one and
every later one to the CPU, so one unsupported operator near the input costs the whole
accelerator. The report lists those operators with their positions and gives the command
to compile on a machine that has the compiler.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

OPERATORS = Path(__file__).with_name("edgetpu_ops.txt")
COMPILER = "edgetpu_compiler"
INTEGER_KINDS = "iu"  # int8/uint8 activations, int32 biases: what the Edge TPU computes


def operator_table() -> dict[str, tuple[str, str]]:
    """TFLite builtin -> (first Edge TPU runtime version mapping it, documented limitation)."""
    table = {}
    for line in OPERATORS.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            head, _, limitation = line.partition("|")
            name, runtime = head.split()
            table[name] = (runtime, limitation.strip())
    return table


def preflight(operators: list[tuple[str, list[str]]], model_path: str) -> dict:
    """`operators`: the model's (name, dtypes of its tensors) in execution order. Which
    would the compiler map, and from which one on does the CPU take over."""
    table = operator_table()
    cpu = []
    for index, (name, dtypes) in enumerate(operators):
        why = "" if name in table else "not in the Edge TPU's operator table"
        floats = sorted({d for d in dtypes if np.dtype(d).kind not in INTEGER_KINDS})
        why = why or (f"computes in {', '.join(floats)}" if floats else "")
        if why or cpu:
            cpu.append({"index": index, "op": name,
                        "why": why or "after the first operator the compiler cannot map"})
    limitations = sorted({f"{name}: {table[name][1]}" for name, _ in operators
                          if name in table and table[name][1]})
    newest = max((int(table[name][0]) for name, _ in operators
                  if name in table and table[name][0] != "all"), default=None)
    return {"edge_tpu_operators": len(operators) - len(cpu), "operators": len(operators),
            "cpu_operators": cpu, "limitations_to_check": limitations,
            "minimum_runtime": newest,
            "compile": f"{COMPILER} -s {model_path}  (not installed here: Coral ships it as a "
                       "Debian package for x86-64; -s prints which operators it mapped)"}

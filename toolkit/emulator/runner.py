"""A runner (list of arrays -> list of arrays) that runs an artifact under arm64 emulation
on one QEMU CPU model. The format's own runner does everything around the runtime call
(batching, model axes, dtypes, int8 quantization of inputs and de-quantization of
outputs) on the host, exactly as for an x86 run; only the runtime calls go to the arm64
Python (inside.py), all batches in one emulated process (its start costs seconds).
"""
from __future__ import annotations

import json
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from .inside import RUNTIMES
from .userland import Userland

INSIDE = Path(__file__).with_name("inside.py")
EMULATED_FORMATS = tuple(RUNTIMES)  # whose runtime has aarch64 wheels (TF.js runs in Node)
TIMEOUT_SECONDS = 1800


class EmulatedRunner:
    def __init__(self, handle, cpu: str, userland: Userland, threads: int = 1):
        self.handle, self.cpu, self.userland, self.threads = handle, cpu, userland, threads

    def __call__(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        from ..targets.registry import format_module
        make_runner = format_module(self.handle.format).make_runner
        batches: list = []  # first pass: the prepared batches, in the order they are run
        make_runner(self.handle, self.threads, execute=lambda batch: batches.append(batch) or [])(inputs)
        answers = iter(self._run(batches))  # second pass: the same batches, answered
        return make_runner(self.handle, self.threads, execute=lambda batch: next(answers))(inputs)

    def _run(self, batches: list) -> list[list[np.ndarray]]:
        with tempfile.TemporaryDirectory(prefix="edgekit-arm64-") as folder:
            folder = Path(folder)
            np.savez(folder / "request.npz", **{f"b{b}_i{i}": np.ascontiguousarray(x)
                                                 for b, batch in enumerate(batches)
                                                 for i, x in enumerate(batch)})
            (folder / "spec.json").write_text(json.dumps({
                "format": self.handle.format, "model": str(Path(self.handle.path).resolve()),
                "batches": len(batches), "inputs": len(batches[0]) if batches else 0,
                "threads": self.threads}))
            process = subprocess.run(
                [str(self.userland.python), str(INSIDE), str(folder / "request.npz"),
                 str(folder / "spec.json"), str(folder / "answer.npz")],
                env={"EMU_CPU": self.cpu}, capture_output=True, text=True, timeout=TIMEOUT_SECONDS)
            if process.returncode != 0:
                lines = [line for line in process.stderr.splitlines() if line.strip()]
                raise RuntimeError(f"under arm64 emulation ({self.cpu}): "
                                   f"{lines[-1] if lines else f'exit {process.returncode}'}")
            answer = np.load(folder / "answer.npz")
            return [[answer[f"b{b}_o{o}"] for o in range(_count(answer, b))]
                    for b in range(len(batches))]


def _count(answer, batch: int) -> int:
    return sum(1 for key in answer.files if key.startswith(f"b{batch}_o"))

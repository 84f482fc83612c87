"""Running a converter's command-line tool in its own process.

Used for tools that are safest out of process (tf2onnx's CLI, onnx2tf, which also shells
out to onnxsim and writes into its working directory). The full output goes to the step's
log (OUT/logs/NN_step.log); a failure becomes a ConversionError naming the step, the input,
the tool's most telling line and the log.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from ..errors import ConversionError

_ERROR_WORDS = ("error", "exception", "failed", "not supported", "unsupported")


def run_tool(step: str, source: Path, argv: list[str], cwd: Path, log: Path) -> None:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    # the venv's bin/ first: onnx2tf finds `onnxsim` on PATH and silently skips it otherwise
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    result = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True)
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "a") as out:  # a step may run several tools
        out.write(f"$ {' '.join(argv)}\n{result.stdout}\n{result.stderr}\n")
    if result.returncode != 0:
        raise ConversionError(step, str(source), f"{telling_line(result.stdout + result.stderr)} "
                                                 f"(full output: {log})")


def telling_line(output: str) -> str:
    """The last line that reads like an error, else the last non-empty line."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    for line in reversed(lines):
        if any(word in line.lower() for word in _ERROR_WORDS):
            return line[:300]
    return lines[-1][:300] if lines else "the tool exited with an error and no output"

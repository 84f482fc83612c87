"""Keeping the frameworks' own log lines off the user's terminal."""
from __future__ import annotations

import contextlib
import os
import sys
import warnings


@contextlib.contextmanager
def silenced(fds=(1, 2)):
    """Silence file descriptors themselves, not just sys.stdout/stderr: TensorFlow's messages
    (oneDNN, CUDA probing) come from C++ absl logging, which TF_CPP_MIN_LOG_LEVEL no longer
    reaches; the TFLite quantizer prints its settings from C++ to stdout; torch's exporters
    log through their own handlers. Python warnings are ignored inside too. Use it only
    around calls whose errors arrive as exceptions, so nothing a user needs is lost."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = {fd: os.dup(fd) for fd in fds}
    devnull = os.open(os.devnull, os.O_WRONLY)
    for fd in fds:
        os.dup2(devnull, fd)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for fd, copy in saved.items():
            os.dup2(copy, fd)
            os.close(copy)
        os.close(devnull)


@contextlib.contextmanager
def captured(fd: int = 2):
    """What native code writes to file descriptor `fd` inside the block, collected into the
    list it yields (one string, after the block): for libraries that report only by
    printing (TFLite Micro's arena figures)."""
    import tempfile
    collected: list[str] = []
    (sys.stdout if fd == 1 else sys.stderr).flush()
    saved = os.dup(fd)
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), fd)
        try:
            yield collected
        finally:
            os.dup2(saved, fd)
            os.close(saved)
            sink.seek(0)
            collected.append(sink.read().decode("utf-8", "replace"))

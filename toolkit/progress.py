"""Progress of a command on stderr, for a person at a terminal and for a CI log.

stdout carries results (the table, `--json`), so progress never goes there. A step begins
with each `progress(message)` call and ends with the next one (or the end of the command):

- not a terminal (a CI log, `2>&1 | cat`): one timestamped line per step with its duration,
  `[00:12] [03] savedmodel -> tflite at int8 (tf.lite.TFLiteConverter) ... 8.4 s`. A step
  shorter than GRACE_S is printed whole when it ends; a longer one is printed once it has
  run GRACE_S (its duration follows on the same line when it ends), so a CI log never
  hides what a slow or hung run is doing, and an input refused in the first instants
  leaves only its `Error:` line.
- a terminal: a live status line (rich) with the current step and its elapsed time; each
  finished step stays above it as the same timestamped line.

Progress writes to its own duplicate of the stderr file descriptor: conversions silence
fds 1 and 2 (edgekit.targets.quiet) to keep the frameworks' C++ logs off the terminal, and
the progress of those very steps must still show. When sys.stderr is no file descriptor
(click's CliRunner, a notebook capturing it) nobody is watching a process: there is no
progress, and the captured text holds only results, warnings and errors, as before.
"""
from __future__ import annotations

import os
import sys
import threading
import time

GRACE_S = 1.0  # a step's line waits this long for the step to end


def clock(seconds: float) -> str:
    minutes, seconds = divmod(int(seconds), 60)
    return f"[{minutes:02d}:{seconds:02d}]"


def duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, seconds = divmod(round(seconds), 60)
    return f"{minutes} min {seconds:02d} s"


def _own_stderr():
    """(stream, owned): a duplicate of fd 2 when sys.stderr is the process's stderr, else
    sys.stderr itself (click's CliRunner, a test's StringIO)."""
    stream = sys.stderr
    try:
        fd = os.dup(stream.fileno())
    except (AttributeError, OSError, ValueError):  # also no stderr at all (`2>&-`)
        return stream, False
    return os.fdopen(fd, "w", encoding=getattr(stream, "encoding", None) or "utf-8",
                     errors="replace"), True


class _Lines:
    """One line per step (see the module's docstring); thread-safe: a timer prints a
    slow step's start."""

    def __init__(self, stream, start: float):
        self.stream, self.start = stream, start
        self.lock = threading.Lock()
        self.step: tuple[float, str] | None = None  # (began, message)
        self.open = False  # the current step's line is printed, its duration is not
        self.timer: threading.Timer | None = None

    def begin(self, message: str) -> None:
        self.end()
        with self.lock:
            self.step, self.open = (time.monotonic(), message), False
            self.timer = threading.Timer(GRACE_S, self._show)
            self.timer.daemon = True
            self.timer.start()

    def _show(self) -> None:
        with self.lock:
            if self.step is not None and not self.open:
                began, message = self.step
                self._write(f"{clock(began - self.start)} {message} ...")
                self.open = True

    def end(self, failure: str = "") -> None:
        if self.timer is not None:
            self.timer.cancel()
        with self.lock:
            if self.step is None:
                return
            began, message = self.step
            took = duration(time.monotonic() - began)
            if self.open:
                self._write(f" {failure or took}\n")
            elif not failure:  # a quick failure prints nothing: its Error line says it all
                self._write(f"{clock(began - self.start)} {message} ... {took}\n")
            self.step, self.open = None, False

    def note(self, text: str) -> None:
        """A line of its own (a warning) without breaking the step's line apart."""
        with self.lock:
            if self.open:  # the step's line is half written: finish it, print it again later
                self._write("\n")
                self.open = False
                self.timer = None
            self._write(text + "\n")

    def _write(self, text: str) -> None:
        self.stream.write(text)
        self.stream.flush()


class _Live:
    """A rich status line with the step's elapsed time; finished steps print above it."""

    def __init__(self, stream, start: float):
        from rich.console import Console
        from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
        from rich.table import Column
        self.start = start
        self.console = Console(file=stream, stderr=True, highlight=False)
        # the elapsed time first: a long message is cut at the terminal's edge, not the
        # time; markup off: messages hold brackets ("[03] onnx -> tflite"); stdout is not
        # redirected into the status (it may be a pipe of its own)
        message = TextColumn("{task.description}", markup=False,
                             table_column=Column(no_wrap=True, overflow="ellipsis", ratio=1))
        self.bar = Progress(SpinnerColumn(), TimeElapsedColumn(), message, console=self.console,
                            expand=True, transient=True, redirect_stdout=False,
                            redirect_stderr=True)
        self.bar.start()
        self.task = None
        self.step: tuple[float, str] | None = None

    def begin(self, message: str) -> None:
        self.end()
        self.step = (time.monotonic(), message)
        self.task = self.bar.add_task(message.strip(), total=None)

    def end(self, failure: str = "") -> None:
        if self.step is None:
            return
        began, message = self.step
        self.console.print(f"{clock(began - self.start)} {message} ... "
                           f"{failure or duration(time.monotonic() - began)}",
                           markup=False, style="dim")
        self.bar.remove_task(self.task)
        self.step = None

    def note(self, text: str) -> None:
        self.console.print(text, markup=False)

    def stop(self) -> None:
        self.bar.stop()


class Progress:
    """`with Progress(quiet) as progress: work(progress=progress, warn=progress.warn)`.
    Calling it starts a step; `warn` prints a warning (also when quiet)."""

    def __init__(self, quiet: bool = False):
        self.quiet = quiet
        self.stream, self.owned = None, False
        self.shown = None

    def __enter__(self) -> "Progress":
        self.stream, self.owned = _own_stderr()
        start = time.monotonic()
        if self.owned and not self.quiet:
            self.shown = self._live(start) if self.stream.isatty() else _Lines(self.stream, start)
        return self

    def _live(self, start: float):
        try:
            return _Live(self.stream, start)
        except ImportError:  # the slim runtime install has no rich: lines work everywhere
            return _Lines(self.stream, start)

    def __call__(self, message: str) -> None:
        if self.shown is not None:
            self.shown.begin(message)

    def warn(self, message: str) -> None:
        text = f"Warning: {message}"
        if self.shown is not None:
            self.shown.note(text)
        elif self.stream is not None:
            self.stream.write(text + "\n")
            self.stream.flush()

    def __exit__(self, kind, error, traceback) -> None:
        if self.shown is not None:
            failure = "" if kind is None else \
                "interrupted" if issubclass(kind, KeyboardInterrupt) else "failed"
            self.shown.end(failure)
            if isinstance(self.shown, _Live):
                self.shown.stop()
        if self.owned:
            self.stream.close()

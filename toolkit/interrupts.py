"""Ctrl-C and SIGTERM as an exception that cannot be lost.

SIGTERM (a cancelled CI job, `timeout`, `docker stop`) unwinds like Ctrl-C, so the work
folder is removed and --out keeps what it had; the exit code is 128 + the signal number.
Python drops an exception raised inside a `__del__` ("Exception ignored in ..."), and
TensorFlow's AtomicFunction.__del__ runs whenever garbage is collected: a signal landing
there was swallowed and the run went on to publish its output (measured: exit 0 after
Ctrl-C). So the handler also records the signal, and `check()` raises it again where it
matters: before each step and before the output is moved into place.
"""
from __future__ import annotations

import contextlib
import signal
import threading

SIGNALS = (signal.SIGINT, signal.SIGTERM)
EXIT_SIGINT = 128 + signal.SIGINT  # what shells report for Ctrl-C


class Interrupted(KeyboardInterrupt):
    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.exit_code = 128 + signum


_received: int | None = None


def _record_and_raise(signum, frame):
    global _received
    _received = signum
    raise Interrupted(signum)


def check() -> None:
    """Raise again a signal that arrived earlier, even if its first exception was lost."""
    if _received is not None:
        raise Interrupted(_received)


@contextlib.contextmanager
def handled():
    """Install the handlers for the duration of a command (main thread only: Python
    delivers signals there, and signal.signal refuses other threads). A signal the parent
    chose to ignore stays ignored, as Python itself does: a shell starts background jobs
    (`edgekit ... &`, nohup) with SIGINT ignored so that Ctrl-C at the prompt spares them."""
    global _received
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _received = None
    previous = {signum: signal.signal(signum, _record_and_raise) for signum in SIGNALS
                if signal.getsignal(signum) is not signal.SIG_IGN}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        _received = None  # the command is over: later API calls in this process start clean


@contextlib.contextmanager
def deferred():
    """Hold signals back while a few operations must happen together (they are delivered,
    and raise, right after)."""
    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)

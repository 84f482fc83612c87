"""Progress on stderr (edgekit.progress): timestamped step lines for CI logs, a live status
on terminals, nothing in captured output, never on stdout."""
import io
import re
import subprocess
import sys
import threading
import time

import pytest

from edgekit import progress as progress_module
from edgekit.progress import Progress, _Lines

pytestmark = pytest.mark.pure  # no framework, runtime or Node (conftest: FRAMEWORKS)

LINE = re.compile(r"^\[\d\d:\d\d\] (?P<message>.*) \.\.\. (?P<end>\d+\.\d s|\d+ min \d\d s|failed|interrupted)$")


class Stream(io.StringIO):
    """A stream a timer thread writes to; `changed` is set on every write."""

    def __init__(self):
        super().__init__()
        self.changed = threading.Event()

    def write(self, text):
        result = super().write(text)
        self.changed.set()
        return result


def wait_for(stream: Stream, text: str) -> None:
    while text not in stream.getvalue():
        stream.changed.clear()
        assert stream.changed.wait(10), f"never printed {text!r}: {stream.getvalue()!r}"


def test_a_quick_step_is_one_whole_line_when_it_ends():
    stream = Stream()
    lines = _Lines(stream, start=time.monotonic())
    lines.begin("[03] onnx -> tflite (onnx2tf)")
    assert stream.getvalue() == ""  # not yet: it may end within the grace period
    lines.begin("      validating tflite (fp32) in its runtime")
    lines.end()
    first, second = stream.getvalue().splitlines()
    assert LINE.match(first)["message"] == "[03] onnx -> tflite (onnx2tf)"
    assert LINE.match(second)["message"] == "      validating tflite (fp32) in its runtime"


def test_a_slow_step_shows_before_it_ends_and_its_duration_follows(monkeypatch):
    monkeypatch.setattr(progress_module, "GRACE_S", 0.0)
    stream = Stream()
    lines = _Lines(stream, start=time.monotonic())
    lines.begin("timing the source keras model")
    wait_for(stream, "timing the source keras model ...")
    assert "\n" not in stream.getvalue()  # the line waits for its duration
    lines.end()
    assert LINE.match(stream.getvalue().rstrip("\n"))["end"].endswith(" s")


def test_a_warning_during_a_step_does_not_break_the_line_apart(monkeypatch):
    monkeypatch.setattr(progress_module, "GRACE_S", 0.0)
    stream = Stream()
    lines = _Lines(stream, start=time.monotonic())
    lines.begin("loading model.keras")
    wait_for(stream, "...")
    lines.note("Warning: --calib is ignored")
    lines.end()
    text = stream.getvalue().splitlines()
    assert text[1] == "Warning: --calib is ignored"
    assert LINE.match(text[2])["message"] == "loading model.keras"  # whole again, with its time


@pytest.mark.parametrize("grace, printed", [(60.0, ""), (0.0, "failed")])
def test_a_failing_step_stays_quiet_when_quick_and_says_failed_when_shown(monkeypatch, grace, printed):
    monkeypatch.setattr(progress_module, "GRACE_S", grace)
    stream = Stream()
    lines = _Lines(stream, start=time.monotonic())
    lines.begin("loading broken.onnx")
    if grace == 0.0:
        wait_for(stream, "...")
    lines.end("failed")
    assert stream.getvalue().strip().endswith(printed)
    assert bool(stream.getvalue()) == bool(printed)  # a quick failure: only its Error line


def test_the_live_status_keeps_brackets_and_prints_finished_steps():
    """On a terminal: rich, with markup off ("[03]" is no style tag)."""
    stream = io.StringIO()
    live = progress_module._Live(stream, start=time.monotonic())
    live.begin("[03] savedmodel -> tflite at int8 (tf.lite.TFLiteConverter)")
    live.begin("[bold]not markup[/bold]")
    live.end()
    live.stop()
    text = stream.getvalue()
    assert "[03] savedmodel -> tflite at int8 (tf.lite.TFLiteConverter) ... " in text
    assert "[bold]not markup[/bold] ... " in text


def test_captured_output_gets_no_progress_but_still_warnings(monkeypatch):
    """click's CliRunner (no file descriptor behind sys.stderr) sees results and errors only."""
    captured = io.StringIO()
    monkeypatch.setattr(sys, "stderr", captured)
    with Progress() as progress:
        progress("a step")
        progress.warn("a warning")
    assert progress.shown is None and captured.getvalue() == "Warning: a warning\n"


QUIET_RUN = """
import sys, time
from edgekit.progress import Progress
with Progress(quiet={quiet}) as progress:
    progress("first step")
    print("result on stdout")
    progress.warn("a warning")
    progress("second step")
"""


@pytest.mark.parametrize("quiet", [False, True])
def test_progress_goes_to_stderr_and_quiet_silences_it(quiet):
    run = subprocess.run([sys.executable, "-c", QUIET_RUN.format(quiet=quiet)],
                         capture_output=True, text=True, timeout=60)
    assert run.stdout == "result on stdout\n"
    lines = run.stderr.splitlines()
    assert "Warning: a warning" in lines  # warnings are not progress: --quiet keeps them
    steps = [LINE.match(line)["message"] for line in lines if LINE.match(line)]
    assert steps == ([] if quiet else ["first step", "second step"])

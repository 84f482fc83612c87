"""Errors a user can act on. The CLI prints them as one `Error: ...` line (exit 1).

Anything that is not an EdgekitError is a bug in edgekit and keeps its traceback.
This module must stay free of click and of heavy imports.
"""


class EdgekitError(Exception):
    """Base class: a problem with the user's input, options or environment."""

    exit_code = 1


class InputError(EdgekitError):
    """A model or data file is missing, unreadable, corrupt or of the wrong shape."""


class UnsupportedError(EdgekitError):
    """A combination edgekit cannot produce (format, precision, target)."""


class MissingDependencyError(EdgekitError):
    """A package or tool a step needs is not installed."""

    def __init__(self, what: str, install: str):
        super().__init__(f"{what} is not installed; install it with: {install}")


class ConversionError(EdgekitError):
    """A converter failed; the message names the step, its input and the tool's own words."""

    def __init__(self, step: str, source: str, detail: str):
        super().__init__(f"step '{step}' failed on {source}: {detail}")


def root_cause(message: str, source: str) -> str:
    """A ConversionError's message without the steps it was re-raised through
    ("step 'a' failed on SOURCE: step 'b' failed on SOURCE: X" -> "b: X"): the step that
    really failed and its tool's words."""
    import re
    prefix = re.compile(rf"step '([^']*)' failed on {re.escape(source)}: ")
    step = None
    while (found := prefix.match(message)):
        step, message = found.group(1), message[found.end():]
    return f"{step}: {message}" if step else message


def first_line(error: BaseException, limit: int = 300) -> str:
    """A third-party exception as one line: its type and the first line of its message."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return f"{type(error).__name__}: {lines[0] if lines else ''}"[:limit]


def raised_in_edgekit(error: BaseException) -> bool:
    """True when the innermost frame of `error` is edgekit's own code: a bug to report (exit
    70), as opposed to a framework or runtime refusing the model or the data."""
    traceback = error.__traceback__
    if traceback is None:
        return False
    while traceback.tb_next is not None:
        traceback = traceback.tb_next
    module = traceback.tb_frame.f_globals.get("__name__", "")
    return module == "edgekit" or module.startswith("edgekit.")

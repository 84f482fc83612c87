"""Models built by the user's own Python function: `FILE.py:FACTORY`.

The file runs as if it were run alone (its folder importable, its own path as sys.argv),
and the object the function returns says which framework takes it from there: a
`torch.nn.Module` is a PyTorch source, a `keras.Model` a Keras one. Nothing is cached:
each caller builds its own model, so no run sees weights another one loaded.
"""
from __future__ import annotations

import importlib.util
import sys
from contextlib import contextmanager
from pathlib import Path

from ..errors import InputError, first_line
from .quiet import silenced
from .tfenv import quiet

# base classes (by module and name, so telling needs neither framework imported) -> format
FRAMEWORKS = {
    ("torch.nn.modules.module", "Module"): "torch",
    ("keras.src.models.model", "Model"): "keras",  # Keras 3: Sequential, functional, subclassed
}


def build(path: Path, factory: str):
    """Run `path` and call its `factory`; the object it returns."""
    spec = importlib.util.spec_from_file_location(f"edgekit_user_model_{path.stem}", path)
    code = importlib.util.module_from_spec(spec)
    quiet()  # the file may import TensorFlow (for Keras): keep its C++ logging down
    with _user_code_box(path), silenced():
        try:
            spec.loader.exec_module(code)
            if not callable(getattr(code, factory, None)):
                raise InputError(f"{path} has no function or class named '{factory}'")
            return getattr(code, factory)()
        except InputError:
            raise
        except Exception as error:  # the user's code failing is theirs to fix, not a bug here
            raise InputError(f"cannot build the model with {path}:{factory}(): "
                             f"{first_line(error)}") from error


def framework_of(built, path: Path, factory: str) -> str:
    """The format of what a factory returned (a key of FRAMEWORKS' values)."""
    for cls in type(built).__mro__:
        fmt = FRAMEWORKS.get((cls.__module__, cls.__name__))
        if fmt:
            return fmt
    raise InputError(f"{path}:{factory}() returned {type(built).__name__}, which is neither a "
                     "torch.nn.Module nor a Keras 3 keras.Model")


def format_of(path: Path, factory: str) -> str:
    return framework_of(build(path, factory), path, factory)


@contextmanager
def _user_code_box(path: Path):
    """Run the user's file as if it were run alone: it may import its neighbours, it sees
    only its own path in sys.argv (a training script's module-level argparse would parse
    edgekit's options), and its sys.exit() cannot end edgekit with a code CI would
    misread (0 = success, 2 = "a budget failed")."""
    saved_argv = sys.argv
    sys.argv = [str(path)]
    sys.path.insert(0, str(path.parent))
    try:
        yield
    except SystemExit as exit_:
        raise InputError(f"{path} called sys.exit({exit_.code!r}) while building the model "
                         "(a script's command-line handling at import?); keep the model "
                         "factory importable without side effects") from exit_
    finally:
        sys.argv = saved_argv
        sys.path.remove(str(path.parent))

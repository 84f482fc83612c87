"""Which pip extra brings each optional package, and the error a missing one becomes.

The slim `[runtime]` install (numpy, click, ai-edge-litert, onnxruntime) runs and times
artifacts; everything else is optional. A step that imports a package the install lacks
raises ModuleNotFoundError deep inside edgekit; `missing_dependency` turns that into a
user error naming the extra to install, instead of an "internal error" (exit 70).
Stdlib only: the CLI's error boundary imports this module on every failure.
"""
from __future__ import annotations

from typing import NamedTuple

from .errors import MissingDependencyError

DISTRIBUTION = "edgekit-toolkit"  # our name on PyPI; `edgekit` there is another project


class OptionalPackage(NamedTuple):
    package: str  # what pip installs
    extra: str  # the extra of DISTRIBUTION that brings it (or, with no_deps, that it goes beside)
    subject: str  # what edgekit reads or makes with it ("inspect of ONNX needs ...")
    # Installed apart with --no-deps: its declared pins contradict TensorFlow 2.21, so no
    # extra can hold it (see pyproject.toml)
    no_deps: bool = False


# Keyed by the top-level module a ModuleNotFoundError names.
OPTIONAL = {
    "onnx": OptionalPackage("onnx", "convert", "ONNX"),
    "onnxscript": OptionalPackage("onnxscript", "convert", "PyTorch to ONNX"),
    "tensorflow": OptionalPackage("tensorflow", "convert", "TensorFlow"),
    "keras": OptionalPackage("keras", "convert", "Keras"),
    "tf_keras": OptionalPackage("tf-keras", "convert", "Keras 2"),
    "torch": OptionalPackage("torch", "convert", "PyTorch"),
    "torch_pruning": OptionalPackage("torch-pruning", "convert", "channel pruning"),
    "tensorflowjs": OptionalPackage("tensorflowjs", "convert", "TF.js", no_deps=True),
    "onnx2tf": OptionalPackage("onnx2tf", "convert", "ONNX to TensorFlow", no_deps=True),
    "tf2onnx": OptionalPackage("tf2onnx", "convert", "TensorFlow to ONNX"),
    "litert_torch": OptionalPackage("litert-torch", "convert", "PyTorch to TFLite"),
    "ai_edge_quantizer": OptionalPackage("ai-edge-quantizer", "convert", "TFLite quantization"),
    "tensorflow_model_optimization": OptionalPackage("tensorflow-model-optimization", "convert", "Keras pruning"),
    "PIL": OptionalPackage("pillow", "convert", "image calibration data"),
    "matplotlib": OptionalPackage("matplotlib", "convert", "report charts"),
    "playwright": OptionalPackage("playwright", "browser", "the browser check"),
    "distributed": OptionalPackage("distributed", "batch", "a batch of more than one job at a time"),
    "tflite_micro": OptionalPackage("tflite-micro", "convert", "TFLite Micro"),
    "ai_edge_litert": OptionalPackage("ai-edge-litert", "runtime", "TFLite"),
    "onnxruntime": OptionalPackage("onnxruntime", "runtime", "ONNX"),
}


def install_command(extra: str, no_deps: tuple[str, ...] = ()) -> str:
    command = f"pip install '{DISTRIBUTION}[{extra}]'"
    if no_deps:
        command += (f", then pip install --no-deps {' '.join(no_deps)} (their declared pins "
                    "conflict with TensorFlow 2.21; versions in requirements/lock.txt)")
    return command


def install_for(packages) -> str:
    """The pip command bringing these distributions: our extras, never the bare packages
    (`pip install onnx2tf` alone would downgrade TensorFlow to the version it pins)."""
    known = {found.package: found for found in OPTIONAL.values()}
    extras = {known[p].extra if p in known else "convert" for p in packages}
    if "convert" in extras:
        extras.discard("runtime")  # [convert] includes [runtime]
    no_deps = tuple(p for p in packages if p in known and known[p].no_deps)
    return install_command(",".join(sorted(extras)), no_deps)


def missing_dependency(error: BaseException, command: str | None = None) -> MissingDependencyError | None:
    """The user error for `error` when it is a known optional package missing, else None
    (any other missing module is a bug in edgekit's packaging and stays one)."""
    if not isinstance(error, ModuleNotFoundError) or not error.name:
        return None
    found = OPTIONAL.get(error.name.split(".")[0])
    if found is None:
        return None
    what = f"{command} of {found.subject}" if command else found.subject
    install = install_command(found.extra, (found.package,) if found.no_deps else ())
    return NeedsExtra(f"{what} needs the {found.package} package: {install}")


class NeedsExtra(MissingDependencyError):
    """MissingDependencyError with a message of its own (the base class words a tool)."""

    def __init__(self, message: str):
        Exception.__init__(self, message)

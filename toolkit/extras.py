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
    extra: str  # the extra of DISTRIBUTION that brings it
    subject: str  # what edgekit reads or makes with it ("inspect of ONNX needs ...")


# Keyed by the top-level module a ModuleNotFoundError names.
OPTIONAL = {
    "onnx": OptionalPackage("onnx", "convert", "ONNX"),
    "onnxscript": OptionalPackage("onnxscript", "convert", "PyTorch to ONNX"),
    "tensorflow": OptionalPackage("tensorflow", "convert", "TensorFlow"),
    "keras": OptionalPackage("keras", "convert", "Keras"),
    "tf_keras": OptionalPackage("tf-keras", "convert", "Keras 2"),
    "torch": OptionalPackage("torch", "convert", "PyTorch"),
    "torch_pruning": OptionalPackage("torch-pruning", "convert", "channel pruning"),
    "tensorflowjs": OptionalPackage("tensorflowjs", "convert", "TF.js"),
    "onnx2tf": OptionalPackage("onnx2tf", "convert", "ONNX to TensorFlow"),
    "tf2onnx": OptionalPackage("tf2onnx", "convert", "TensorFlow to ONNX"),
    "litert_torch": OptionalPackage("litert-torch", "convert", "PyTorch to TFLite"),
    "ai_edge_quantizer": OptionalPackage("ai-edge-quantizer", "convert", "TFLite quantization"),
    "tensorflow_model_optimization": OptionalPackage("tensorflow-model-optimization", "convert", "Keras pruning"),
    "PIL": OptionalPackage("pillow", "convert", "image calibration data"),
    "matplotlib": OptionalPackage("matplotlib", "convert", "report charts"),
    "playwright": OptionalPackage("playwright", "browser", "the browser check"),
    "ai_edge_litert": OptionalPackage("ai-edge-litert", "runtime", "TFLite"),
    "onnxruntime": OptionalPackage("onnxruntime", "runtime", "ONNX"),
}


def install_command(extra: str) -> str:
    return f"pip install '{DISTRIBUTION}[{extra}]'"


def install_for(packages) -> str:
    """The pip command bringing these distributions: our extras, never the bare packages
    (`pip install onnx2tf` alone would downgrade TensorFlow to the version it pins)."""
    by_package = {found.package: found.extra for found in OPTIONAL.values()}
    extras = {by_package.get(package, "convert") for package in packages}
    if "convert" in extras:
        extras.discard("runtime")  # [convert] includes [runtime]
    return install_command(",".join(sorted(extras)))


def missing_dependency(error: BaseException, command: str | None = None) -> MissingDependencyError | None:
    """The user error for `error` when it is a known optional package missing, else None
    (any other missing module is a bug in edgekit's packaging and stays one)."""
    if not isinstance(error, ModuleNotFoundError) or not error.name:
        return None
    found = OPTIONAL.get(error.name.split(".")[0])
    if found is None:
        return None
    what = f"{command} of {found.subject}" if command else found.subject
    return NeedsExtra(f"{what} needs the {found.package} package: {install_command(found.extra)}")


class NeedsExtra(MissingDependencyError):
    """MissingDependencyError with a message of its own (the base class words a tool)."""

    def __init__(self, message: str):
        Exception.__init__(self, message)

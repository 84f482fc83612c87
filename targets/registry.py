"""The two tables behind every conversion: formats (with their runners) and converters.

A route from a source format to an output format is the shortest path through
CONVERTERS; nothing outside these tables branches on format names.
"""
from __future__ import annotations

import importlib
from collections import deque
from dataclasses import dataclass
from typing import Callable

from ..errors import UnsupportedError
from .format import FormatModule

# format name -> the module that ends with `FORMAT = FormatModule(...)` (format.py says what
# it holds); imported on first use, so that naming formats imports no framework
FORMATS: dict[str, str] = {
    "keras": "edgekit.targets.keras",
    "savedmodel": "edgekit.targets.savedmodel",
    "torch": "edgekit.targets.torch",
    "torchscript": "edgekit.targets.torch",
    "onnx": "edgekit.targets.onnx",
    "tflite": "edgekit.targets.tflite",
    "tfjs": "edgekit.targets.tfjs",
}

# formats a user may ask for as outputs (the others are sources or intermediates)
OUTPUT_FORMATS = ("tflite", "onnx", "tfjs", "savedmodel")


@dataclass(frozen=True)
class Converter:
    source: str
    dest: str
    tool: str  # the official converter doing the work, named in the report
    run: Callable  # (handle, out_dir: Path, ctx: StepContext) -> ModelHandle
    packages: tuple[str, ...]  # distributions it needs (checked at plan time, versioned)
    precisions: tuple[str, ...] = ("fp32",)  # what it can produce (ctx.precision)
    # why two identical runs give different bytes ("" when they give the same; measured),
    # and whether that reaches models converted from its output
    nondeterminism: str = ""
    nondeterminism_propagates: bool = True
    # its precisions only change how weights are stored: the runtime de-quantizes them when
    # it loads the model (TF.js), so every precision of one route runs the same float32
    # computation and timing differences between them are noise (edgekit.search)
    dequantizes_at_load: bool = False
    # precisions at which it can keep named layers in float (StepContext.float_nodes): the
    # search's "layers kept in float" follow-ups are offered only there
    keeps_float: tuple[str, ...] = ()
    # option variants worth a try when this converter fails with a given message:
    # (failure text) -> edgekit.search.Variant instances (converter options as data)
    variants: Callable | None = None
    # option variants known from the source model alone to be needed on the way to a
    # destination format, used from the first candidate on instead of after a failure:
    # (source ModelHandle, destination format) -> tuple of edgekit.search.Variant
    foresees: Callable | None = None
    # operators of the source the route cannot take, read before any conversion: (source
    # ModelHandle, the route's destination format) -> (whose table lacks them, {operator:
    # [node names]}); only a route's first converter is asked, as it alone sees the source
    # (edgekit.preflight)
    lacks: Callable | None = None


def copy_converter(fmt: str) -> Converter:
    """When the source already is the wanted format: the artifact is an unmodified copy."""
    module = format_module(fmt)
    return Converter(fmt, fmt, "copy", _copy, (), lacks=None if module.runtime_lacks is None else
                     lambda source, destination: (module.runtime, module.runtime_lacks(source)))


def _copy(source, out_dir, ctx):
    import shutil
    from pathlib import Path
    fmt = format_module(source.format)
    target = out_dir / Path(source.path).name
    if Path(source.path).is_dir():
        shutil.copytree(source.path, target)
    elif fmt.copy_model is not None:  # a format whose model can span several files
        fmt.copy_model(source.path, out_dir)
    else:
        shutil.copyfile(source.path, target)
    return fmt.open_handle(target, source)


def format_module(fmt: str) -> FormatModule:
    """The hooks of format `fmt` (see format.py)."""
    if fmt not in FORMATS:
        raise UnsupportedError(f"unknown format '{fmt}'; known formats: {', '.join(FORMATS)}")
    return importlib.import_module(FORMATS[fmt]).FORMAT


def formats_with(capability: str) -> list[str]:
    """The format names whose module has an optional capability (a FormatModule field), for
    error messages that list what is supported."""
    return [name for name in FORMATS if format_module(name).has(capability)]


def every_format() -> list[FormatModule]:
    """Each format module's record once (torch serves two format names), in FORMATS order."""
    return [importlib.import_module(module).FORMAT for module in dict.fromkeys(FORMATS.values())]


def converters() -> dict[tuple[str, str], Converter]:
    """Every converter, keyed by (source, dest); each output format's module declares its own."""
    return {(c.source, c.dest): c for fmt in every_format() for c in fmt.converters}


def quantizers() -> dict[str, Converter]:
    """Format -> its post-conversion quantizer (fp32 model in, quantized model out), if any."""
    return {fmt.quantizer.dest: fmt.quantizer for fmt in every_format() if fmt.quantizer is not None}


def route(source: str, dest: str) -> list[Converter]:
    """The shortest chain of converters from `source` to `dest` (breadth-first search)."""
    table = converters()
    previous: dict[str, Converter | None] = {source: None}
    queue = deque([source])
    while queue:
        fmt = queue.popleft()
        if fmt == dest:
            break
        for (src, dst), converter in table.items():
            if src == fmt and dst not in previous:
                previous[dst] = converter
                queue.append(dst)
    if dest not in previous:
        reachable = sorted(set(previous) & set(OUTPUT_FORMATS))
        raise UnsupportedError(f"no conversion route from {source} to {dest}; "
                               f"reachable outputs: {', '.join(reachable) or 'none'}")
    chain = []
    while previous[dest] is not None:
        chain.append(previous[dest])
        dest = previous[dest].source
    return chain[::-1]


MAX_ROUTE_LENGTH = 4


def routes(source: str, dest: str, precision: str = "fp32") -> list[list[Converter]]:
    """Every chain from `source` to `dest` that ends producing `precision` (fp32 steps, then
    a converter or quantizer that can produce it), shortest first: the first is the plan's
    route, the others its fallbacks."""
    table = list(converters().values())
    found: list[list[Converter]] = []

    def walk(fmt: str, chain: list[Converter], seen: set[str]) -> None:
        if fmt == dest and chain and precision in chain[-1].precisions:
            found.append(list(chain))
        if len(chain) >= MAX_ROUTE_LENGTH:
            return
        for converter in table:
            if converter.source == fmt and converter.dest not in seen:
                walk(converter.dest, chain + [converter], seen | {converter.dest})

    walk(source, [], {source})
    quantizer = quantizers().get(dest)
    if precision != "fp32" and quantizer is not None and precision in quantizer.precisions:
        fp32 = [] if source == dest else [c for c in routes(source, dest) if c]
        found += [chain + [quantizer] for chain in fp32] or [[quantizer]]
    return sorted(found, key=len)

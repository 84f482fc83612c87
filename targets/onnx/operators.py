"""Which operators of an ONNX graph a tool or runtime cannot handle, read before any
conversion: onnx2tf works for minutes before failing on an operator it has no converter
for (a DynamicQuantizeLSTM, a custom-domain op), and onnxruntime refuses a model only when
a session is made; both are known from the graph and the tools' own tables."""
from __future__ import annotations

import importlib.util
import os
from functools import lru_cache
from pathlib import Path

DEFAULT_DOMAINS = ("", "ai.onnx")


def nodes_by_operator(path: Path) -> dict[tuple[str, str], list[str]]:
    """(domain, op type) -> the names of the nodes using it, If/Loop/Scan bodies included;
    operators the model defines itself (local functions, inlined by the tools) left out."""
    stat = os.stat(path)
    return _read(str(path), stat.st_size, stat.st_mtime_ns)  # a rewritten file is read again


@lru_cache(maxsize=8)
def _read(path: str, size: int, mtime: int) -> dict[tuple[str, str], list[str]]:
    import onnx
    from . import load_proto
    found: dict[tuple[str, str], list[str]] = {}
    model = load_proto(Path(path))
    local = {(function.domain, function.name) for function in model.functions}
    graphs = [model.graph]
    while graphs:
        for node in graphs.pop().node:
            domain = "" if node.domain in DEFAULT_DOMAINS else node.domain
            if (node.domain, node.op_type) in local:
                continue
            found.setdefault((domain, node.op_type), []).append(node.name or f"({node.op_type})")
            for attribute in node.attribute:
                graphs += [attribute.g] if attribute.type == onnx.AttributeProto.GRAPH else \
                    list(attribute.graphs)
    return found


def node_types(path: Path) -> dict[str, str]:
    """Node name -> its op type, subgraphs included."""
    return {name: op for (_, op), names in nodes_by_operator(path).items() for name in names}


def lacking_in_onnx2tf(source, destination: str = "") -> tuple[str, dict[str, list[str]]]:
    """Operators onnx2tf has no converter for: it converts an op type with its module
    onnx2tf/ops/<OpType>.py (whatever the domain), listed without importing onnx2tf."""
    spec = importlib.util.find_spec("onnx2tf")
    if spec is None or not spec.submodule_search_locations:
        return "onnx2tf", {}  # not installed: the plan names the missing package instead
    ops = Path(next(iter(spec.submodule_search_locations))) / "ops"
    handled = {path.stem for path in ops.glob("*.py")}
    return "onnx2tf", {op: names for (_, op), names in nodes_by_operator(source.path).items()
                       if op not in handled}


def lacking_in_onnxruntime(source) -> dict[str, list[str]]:
    """Operators of other domains than ONNX's own that onnxruntime's CPU provider has no
    kernel for (its kernel registry). Standard operators are not judged: onnxruntime
    expands those that ONNX defines as functions, which have no kernel of their own."""
    try:
        from onnxruntime.capi import _pybind_state
        kernels = {("" if k.domain in DEFAULT_DOMAINS else k.domain, k.op_name)
                   for k in _pybind_state.get_all_opkernel_def() if k.provider == "CPUExecutionProvider"}
    except (ImportError, AttributeError):  # a build without the registry: the session decides
        return {}
    return {(f"{domain}:{op}" if domain else op): names
            for (domain, op), names in nodes_by_operator(source.path).items()
            if domain and (domain, op) not in kernels}

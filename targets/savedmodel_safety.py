"""What a SavedModel would do beyond computing: refuse graphs that touch files or Python.

A SavedModel is a program, not data (TensorFlow's security guidance says as much): its
graph may write or read any file the moment it runs, and TensorFlow runs initializer
functions while *loading* it. So the saved_model.pb protobuf is read (parsing runs
nothing) and every function TensorFlow may execute is scanned for such ops before
tf.saved_model.load. The checkpoint *save* function every SavedModel carries (SaveV2,
MergeV2Checkpoints) is left out: only tf.train.Checkpoint.save calls it, never loading or
serving, and edgekit never saves the source model.
"""
from __future__ import annotations

from pathlib import Path

from ..errors import InputError
from . import tfenv
from .trust import UNSAFE_FLAG, granted

REACHING_OUT = {  # op -> what it does outside the model
    **dict.fromkeys(("WriteFile", "Save", "SaveSlices", "SaveV2", "MergeV2Checkpoints"), "writes files"),
    **dict.fromkeys(("ReadFile", "MatchingFiles", "ImmutableConst"), "reads files by path"),
    **dict.fromkeys(("PyFunc", "PyFuncStateless", "EagerPyFunc"), "runs Python"),
    **dict.fromkeys(("CreateSummaryFileWriter", "WriteSummary", "WriteScalarSummary",
                     "WriteHistogramSummary", "WriteImageSummary", "WriteAudioSummary",
                     "WriteRawProtoSummary", "WriteGraphSummary"), "writes summaries"),
    **dict.fromkeys(("DebugIdentityV2", "DebugIdentityV3"), "dumps tensors to files"),
}


def check(folder: Path) -> None:
    """Refuse (unless the user opted in) a SavedModel whose runnable graph reaches out."""
    if granted(folder):
        return
    found = reaching_out(folder / "saved_model.pb")
    if found:
        op, where = found[0]
        raise InputError(f"SavedModel {folder} has ops that reach outside the model ({op} "
                         f"{REACHING_OUT[op]}, in {where}); edgekit does not run such models "
                         f"by default; if you trust this one, pass {UNSAFE_FLAG}")


def reaching_out(saved_model_pb: Path) -> list[tuple[str, str]]:
    """(op, function or 'graph') for each reaching-out op TensorFlow may execute."""
    tfenv.tensorflow()  # its protobuf modules import the whole package: quietly, first
    from tensorflow.core.protobuf import saved_model_pb2
    proto = saved_model_pb2.SavedModel()
    try:
        proto.ParseFromString(saved_model_pb.read_bytes())
    except Exception as error:  # protobuf's DecodeError and friends
        raise InputError(f"{saved_model_pb} is not a readable SavedModel ({error})") from None
    found = []
    for meta_graph in proto.meta_graphs:
        graph = meta_graph.graph_def
        save_node = meta_graph.saver_def.save_tensor_name.split(":")[0]
        functions = {f.signature.name: f for f in graph.library.function}
        only_for_saving = _reachable({save_node}, graph, functions) - _reachable(
            {n.name for n in graph.node if n.name != save_node}, graph, functions)
        found += [(n.op, "graph") for n in graph.node if n.op in REACHING_OUT and n.name != save_node]
        found += [(node.op, name) for name, function in functions.items() if name not in only_for_saving
                  for node in function.node_def if node.op in REACHING_OUT]
    return found


def _reachable(node_names: set[str], graph, functions: dict) -> set[str]:
    """Names of the library functions the given main-graph nodes may call, transitively."""
    pending = [f for node in graph.node if node.name in node_names for f in _called(node)]
    seen: set[str] = set()
    while pending:
        name = pending.pop()
        if name in seen or name not in functions:
            continue
        seen.add(name)
        pending += [f for node in functions[name].node_def for f in _called(node)]
    return seen


def _called(node) -> list[str]:
    """Functions a node refers to (PartitionedCall's f, While's cond/body, If's branches...)."""
    names = []
    for value in node.attr.values():
        if value.HasField("func"):
            names.append(value.func.name)
        names += [f.name for f in value.list.func]
    return names

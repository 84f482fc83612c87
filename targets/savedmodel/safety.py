"""Refuse a SavedModel that would do more than compute, before TensorFlow loads it.

Threat model. A SavedModel is a program, not data (TensorFlow's security guidance says as
much), and tf.saved_model.load runs part of it: it creates and initializes every tracked
resource (lookup tables, ...) by calling functions stored in the model, and for TF1 models
runs the main/init op and the saver's restore op. Serving and converting then run the
signatures. A graph can reach outside the model with ordinary ops: write or append to any
file (WriteFile, PrintV2 to "file://...", DatasetToTFRecord, SaveDataset, snapshots,
summaries, checkpoints), read any file (ReadFile, tf.data readers, LoadDataset, tables
from text files), run Python (PyFunc), talk to other hosts (RPC, collectives, Send/Recv).

What is checked. saved_model.pb (or .pbtxt, as TensorFlow picks it) is parsed, which runs
nothing, and every op TensorFlow may execute must be on an allowlist of pure-compute ops
(savedmodel/pure_ops.txt, generated from TensorFlow's op registry by
savedmodel_pure_ops.py): every node of the main graph and of every library function,
whatever refers to it (signatures, resource initializers, tf.function attributes, or
nothing at all), and every op named where a function is expected (PartitionedCall can call
a bare op). Ops from custom op libraries are never on the list. The one exception is the
checkpoint machinery named by the meta graph's saver_def: the nodes and functions that only
its save tensor reaches may also use the checkpoint writers and readers (SaveV2,
MergeV2Checkpoints, RestoreV2, ShardedFilename...), which only tf.train.Checkpoint.save
runs; those only its restore op reaches may use the readers (TF1 loading restores the
variables through it). A node or function that anything else also reaches gets no such
exception.

What it does not check: the time and memory a graph takes (a While loop may run forever),
bugs in TensorFlow's kernels (a crafted image or proto decoded by an allowed op), and
variables shared by name with other models loaded in the same process.

The opt-in. --allow-unsafe-code (trust.granted) skips this check for that one model: its
initializers run while loading and its graph runs when served, with the user's rights.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from ...errors import InputError
from ...safe_files import read_bytes, read_text
from . import pure_ops as savedmodel_pure_ops
from .. import tfenv
from ..trust import UNSAFE_FLAG, granted

# Checkpoint ops, allowed only in the saver's own machinery: a restore op may read the
# checkpoint, only a save function (never run by loading or serving) may also write it.
CHECKPOINT_READ = frozenset({"RestoreV2", "Restore", "RestoreSlice", "ShardedFilename",
                             "ShardedFilespec"})
CHECKPOINT_WRITE = frozenset({"SaveV2", "Save", "SaveSlices", "MergeV2Checkpoints"})
NOT_LISTED = "is not on edgekit's list of pure-compute ops"
LOADER, RESTORE, SAVE = "load", "restore", "save"


@lru_cache(maxsize=1)
def allowed_ops() -> dict[str, frozenset[str]]:
    """Which ops each part of a SavedModel may use."""
    pure = savedmodel_pure_ops.allowed()
    return {LOADER: pure, RESTORE: pure | CHECKPOINT_READ,
            SAVE: pure | CHECKPOINT_READ | CHECKPOINT_WRITE}


def check(folder: Path) -> None:
    """Refuse (unless the user opted in) a SavedModel that would run an op not on the list."""
    if granted(folder):
        return
    found = unsafe_ops(Path(folder))
    if found:
        op, where, why = found[0]
        more = f"; {len(found) - 1} more such op(s)" if len(found) > 1 else ""
        raise InputError(f"SavedModel {folder} has an op that is not pure computation "
                         f"({op} {why}, in {where}{more}), which TensorFlow may run as soon as "
                         f"it loads the model; edgekit refuses such models: if you trust this "
                         f"model, pass {UNSAFE_FLAG}")


def unsafe_ops(folder: Path) -> list[tuple[str, str, str]]:
    """(op, 'graph' or the function it is in, why) for every op TensorFlow may execute that
    its place does not allow; the most telling first."""
    found = []
    for meta_graph in _parse(folder).meta_graphs:
        found += _meta_graph_unsafe_ops(meta_graph)
    ranks = {why: rank for rank, (why, _) in enumerate(savedmodel_pure_ops.REFUSED)}
    return sorted(dict.fromkeys(found), key=lambda item: ranks.get(item[2], len(ranks)))


def serving_ops(folder: Path) -> dict[str, list[str]]:
    """Op -> the nodes running it when the serving signature is called: the signature's
    main-graph nodes and every library function they reach (the saver's are not)."""
    found: dict[str, list[str]] = {}
    for meta_graph in _parse(folder).meta_graphs:
        graph = meta_graph.graph_def
        nodes = {node.name: node for node in graph.node}
        functions = {f.signature.name: f for f in graph.library.function}
        signature = meta_graph.signature_def.get("serving_default")
        if signature is None:
            continue
        roots = {_node_name(info.name) for info in signature.outputs.values()} & nodes.keys()
        reached = _ancestors(roots, nodes)
        called = _closure({f for name in reached for f in [nodes[name].op, *_called(nodes[name])]},
                          functions)
        for node in [*(nodes[name] for name in reached),
                     *(node for name in called for node in functions[name].node_def)]:
            if node.op not in functions:
                found.setdefault(node.op, []).append(node.name)
    return found


def _parse(folder: Path):
    """The SavedModel proto TensorFlow would read: saved_model.pb, else saved_model.pbtxt."""
    tfenv.tensorflow()  # its protobuf modules import the whole package: quietly, first
    from google.protobuf import text_format
    from tensorflow.core.protobuf import saved_model_pb2
    proto = saved_model_pb2.SavedModel()
    binary, text = folder / "saved_model.pb", folder / "saved_model.pbtxt"
    path = binary if binary.exists() or not text.exists() else text
    try:
        if path is binary:  # read_bytes/read_text: never block on a FIFO
            proto.ParseFromString(read_bytes(path))
        else:
            text_format.Parse(read_text(path), proto)
    except Exception as error:  # missing file, protobuf's DecodeError/ParseError and friends
        raise InputError(f"{path} is not a readable SavedModel ({type(error).__name__}: "
                         f"{str(error).splitlines()[0] if str(error) else ''})") from error
    return proto


def _meta_graph_unsafe_ops(meta_graph) -> list[tuple[str, str, str]]:
    graph = meta_graph.graph_def
    nodes = {node.name: node for node in graph.node}
    functions = {f.signature.name: f for f in graph.library.function}
    node_context, function_context = _contexts(meta_graph, nodes, functions)
    allowed = allowed_ops()
    from tensorflow.python.framework import op_def_registry
    found = []

    def visit(node, where: str, context: str) -> None:
        for op in [node.op, *_called(node)]:  # a registered op's name always means the op
            if op not in allowed[context] and (op not in functions or op_def_registry.get(op)):
                found.append((op, where, savedmodel_pure_ops.refusal(op) or NOT_LISTED))

    for node in graph.node:
        visit(node, "graph", node_context[node.name])
    for function in graph.library.function:  # every copy, should a name appear twice
        for node in function.node_def:
            visit(node, function.signature.name, function_context[function.signature.name])
    return found


def _contexts(meta_graph, nodes: dict, functions: dict) -> tuple[dict, dict]:
    """Where each main-graph node and library function may run: LOADER (loading, serving,
    anything else), RESTORE (only the saver's restore op reaches it) or SAVE (only its save
    tensor does)."""
    saver = meta_graph.saver_def
    save_root, restore_root = _node_name(saver.save_tensor_name), _node_name(saver.restore_op_name)
    saves = _ancestors({save_root} & nodes.keys(), nodes)
    restores = _ancestors({restore_root} & nodes.keys(), nodes)
    named = set(_referenced_nodes(meta_graph)) & nodes.keys()  # signatures, init ops...
    loader_nodes = _ancestors((nodes.keys() - saves - restores) | named, nodes)
    node_context = {name: LOADER if name in loader_nodes else RESTORE if name in restores
                    else SAVE for name in nodes}

    def reached_from(node_names) -> set[str]:
        return _closure({f for n in node_names for f in [nodes[n].op, *_called(nodes[n])]}, functions)

    by_saver = reached_from((saves | restores) - loader_nodes)
    gradients = {g.gradient_func for g in meta_graph.graph_def.library.gradient}  # SymbolicGradient's
    loader_functions = _closure(reached_from(loader_nodes) | (functions.keys() - by_saver) | gradients
                                | set(_object_graph_functions(meta_graph)), functions)
    restore_functions = reached_from(restores - loader_nodes) - loader_functions
    function_context = {name: LOADER if name in loader_functions else RESTORE
                        if name in restore_functions else SAVE for name in functions}
    return node_context, function_context


def _node_name(tensor_name: str) -> str:
    return tensor_name.lstrip("^").split(":")[0]


def _ancestors(names: set[str], nodes: dict) -> set[str]:
    """The given main-graph nodes and every node they take an input from, transitively."""
    return _transitive(names, nodes, lambda node: [_node_name(i) for i in node.input])


def _closure(names: set[str], functions: dict) -> set[str]:
    """The given library functions and every library function they call, transitively."""
    return _transitive(names, functions, lambda function: [
        f for node in function.node_def for f in [node.op, *_called(node)]])


def _transitive(names: set[str], table: dict, neighbours) -> set[str]:
    """The names in `table` reachable from `names` through `neighbours(entry)`."""
    seen: set[str] = set()
    pending = list(names)
    while pending:
        name = pending.pop()
        if name in seen or name not in table:
            continue
        seen.add(name)
        pending += neighbours(table[name])
    return seen


def _called(node) -> list[str]:
    """Functions (or bare ops) a node calls: PartitionedCall's f, While's cond and body, If's
    branches, and functions passed in those functions' own attrs."""
    names: list[str] = []
    pending = list(node.attr.values())
    while pending:
        value = pending.pop()
        funcs = ([value.func] if value.HasField("func") else []) + list(value.list.func)
        names += [f.name for f in funcs if f.name]
        pending += [v for f in funcs for v in f.attr.values()]
    return names


def _referenced_nodes(meta_graph):
    """Main-graph nodes the loader may run by name: signature tensors (including the TF2
    init op's) and node lists in collections (TF1 main_op, legacy_init_op, table init)."""
    pending = [info for signature in meta_graph.signature_def.values()
               for info in [*signature.inputs.values(), *signature.outputs.values()]]
    while pending:  # a TensorInfo names a tensor, a sparse tensor's parts, or components
        info = pending.pop()
        sparse = info.coo_sparse
        yield from (_node_name(name) for name in (info.name, sparse.values_tensor_name,
                                                  sparse.indices_tensor_name,
                                                  sparse.dense_shape_tensor_name) if name)
        pending += info.composite_tensor.components
    for collection in meta_graph.collection_def.values():
        yield from (_node_name(name) for name in collection.node_list.value)


def _object_graph_functions(meta_graph):
    """Functions the TF2 object graph names: tf.function attributes, signatures, resource
    creators and initializers (which loading calls)."""
    objects = meta_graph.object_graph_def
    yield from objects.concrete_functions
    for node in objects.nodes:
        yield from node.function.concrete_functions
        if node.HasField("bare_concrete_function"):
            yield node.bare_concrete_function.concrete_function_name

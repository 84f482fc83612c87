"""The SavedModel allowlist: what loading a SavedModel may run without --allow-unsafe-code.

Each attack is a real SavedModel whose resource initializer (run by tf.saved_model.load)
writes a marker file or reads a secret file; edgekit must refuse it before TensorFlow
loads it, and run it when the user opts in (which proves the attack is real).
"""
from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import SAMPLES
from edgekit.cli import cli

SECRET = "s3cr3t-token"


def tf():
    from edgekit.targets import tfenv
    return tfenv.tensorflow()


# --- attacks --------------------------------------------------------------------------------
# name -> (op the refusal names, "writes" or "reads", attack(paths) -> scalar string tensor).
# An attack runs inside a traced tf.function (the table's initializer) only, never eagerly
# while the test builds the model; `paths` holds the marker and the prepared secret files.

def _after(op, key="a"):
    deps = [op] if op is not None else []
    with tf().control_dependencies(deps):
        return tf().identity(tf().constant(key))


def _print(paths):
    return _after(tf().print("code ran", output_stream=f"file://{paths['marker']}"))


def _to_tfrecord(paths):
    dataset = tf().data.Dataset.from_tensors(tf().constant("code ran"))
    return _after(tf().data.experimental.TFRecordWriter(str(paths["marker"])).write(dataset))


def _save_dataset(paths):
    return _after(tf().data.Dataset.range(3).save(str(paths["marker"])))


def _snapshot(paths):
    total = tf().data.Dataset.range(3).snapshot(str(paths["marker"])).reduce(
        tf().constant(0, tf().int64), lambda a, b: a + b)
    return tf().strings.as_string(total)


def _text_line(paths):
    return tf().data.TextLineDataset(str(paths["text"])).take(1).get_single_element()


def _tfrecord(paths):
    return tf().data.TFRecordDataset(str(paths["tfrecord"])).take(1).get_single_element()


def _fixed_length(paths):
    return tf().data.FixedLengthRecordDataset(str(paths["text"]), record_bytes=len(SECRET)) \
        .take(1).get_single_element()


def _csv(paths):
    return tf().data.experimental.CsvDataset(str(paths["text"]), [tf().string]) \
        .take(1).get_single_element()[0]


def _load_dataset(paths):
    return tf().data.Dataset.load(str(paths["saved_dataset"])).take(1).get_single_element()


def _checkpoint_write(paths):  # a checkpoint op outside the saver's own functions
    return _after(tf().raw_ops.SaveV2(prefix=str(paths["marker"] / "ckpt"), tensor_names=["x"],
                                      shape_and_slices=[""], tensors=[tf().constant(1.0)]))


ATTACKS = {
    "PrintV2": ("PrintV2", "writes", _print),
    "DatasetToTFRecord": ("DatasetToTFRecord", "writes", _to_tfrecord),
    "SaveDataset": ("SaveDataset", "writes", _save_dataset),
    "SnapshotDataset": ("SnapshotDataset", "writes", _snapshot),
    "SaveV2": ("SaveV2", "writes", _checkpoint_write),
    "TextLineDataset": ("TextLineDataset", "reads", _text_line),
    "TFRecordDataset": ("TFRecordDataset", "reads", _tfrecord),
    "FixedLengthRecordDataset": ("FixedLengthRecordDataset", "reads", _fixed_length),
    "CSVDataset": ("CSVDataset", "reads", _csv),
    "LoadDataset": ("LoadDataset", "reads", _load_dataset),
}


def prepared_paths(folder: Path) -> dict:
    """The marker (must never appear) and the secret files the reading attacks read."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "secret.txt").write_text(SECRET)
    with tf().io.TFRecordWriter(str(folder / "secret.tfrecord")) as writer:
        writer.write(SECRET.encode())
    tf().data.Dataset.from_tensors(tf().constant(SECRET)).save(str(folder / "secret_dataset"))
    return {"marker": folder / "marker", "text": folder / "secret.txt",
            "tfrecord": folder / "secret.tfrecord", "saved_dataset": folder / "secret_dataset"}


def attacking_saved_model(folder: Path, attack, paths: dict, where: str = "initializer") -> Path:
    """A SavedModel with a lookup table whose initializer (run while loading) calls `attack`
    and stores what it returns as the table's key; or with `attack` in the serving function
    or in a carried tf.function (where = 'serving' / 'carried')."""
    tf_ = tf()

    class AttackingInit(tf_.lookup.KeyValueTensorInitializer):
        def __init__(self):
            super().__init__(tf_.constant(["unused"]), tf_.constant([1], tf_.int64))

        def initialize(self, table):
            if tf_.executing_eagerly() or where != "initializer":  # building: no attack
                return super().initialize(table)
            key = tf_.reshape(attack(paths), [1])
            return tf_.raw_ops.LookupTableImportV2(table_handle=table.resource_handle, keys=key,
                                                   values=tf_.constant([1], tf_.int64))

    class Model(tf_.Module):
        def __init__(self):
            self.table = tf_.lookup.StaticHashTable(AttackingInit(), -1)
            self.w = tf_.Variable(tf_.ones((4, 3)))

        @tf_.function(input_signature=[tf_.TensorSpec((None, 4), tf_.float32, name="x")])
        def serve(self, x):
            if where == "serving":
                attack(paths)
            return {"y": tf_.matmul(x, self.w)}

        @tf_.function(input_signature=[tf_.TensorSpec((), tf_.string)])
        def find(self, key):
            return self.table.lookup(key)

    model = Model()
    if where == "carried":
        model.carried = tf_.function(lambda: attack(paths), input_signature=[])
    tf_.saved_model.save(model, str(folder), signatures={"serving_default": model.serve})
    for leftover in (paths["marker"],):  # tf.data's save() writes its spec while tracing
        shutil.rmtree(leftover, ignore_errors=True) if leftover.is_dir() else leftover.unlink(missing_ok=True)
    return folder


def refusal_line(output: str) -> str:
    lines = output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), output
    return lines[0]


@pytest.mark.parametrize("name", list(ATTACKS))
def test_an_attack_run_while_loading_is_refused_unless_the_user_opts_in(tmp_path, name):
    op, kind, attack = ATTACKS[name]
    paths = prepared_paths(tmp_path / "files")
    model = attacking_saved_model(tmp_path / "sm", attack, paths)
    assert not paths["marker"].exists()

    refused = CliRunner().invoke(cli, ["inspect", str(model)])
    line = refusal_line(refused.output)
    assert refused.exit_code == 1
    assert op in line and "--allow-unsafe-code" in line and SECRET not in line
    assert not paths["marker"].exists(), "the attack ran before the refusal"

    accepted = CliRunner().invoke(cli, ["inspect", str(model), "--allow-unsafe-code"])
    assert accepted.exit_code == 0, accepted.output
    if kind == "writes":  # the opt-in really loaded the model, and loading ran the attack
        assert paths["marker"].exists()
    else:  # ...and loading read the secret into the table
        loaded = tf().saved_model.load(str(model))
        assert int(loaded.find(tf().constant(SECRET))) == 1


@pytest.mark.parametrize("where", ["serving", "carried"])
def test_an_attack_anywhere_in_the_graph_is_refused_and_named_with_its_function(tmp_path, where):
    paths = prepared_paths(tmp_path / "files")
    model = attacking_saved_model(tmp_path / "sm", _print, paths, where=where)
    refused = CliRunner().invoke(cli, ["inspect", str(model)])
    line = refusal_line(refused.output)
    assert refused.exit_code == 1 and "PrintV2" in line and "__inference_" in line, line
    assert CliRunner().invoke(cli, ["inspect", str(model), "--allow-unsafe-code"]).exit_code == 0


def test_a_tf1_main_op_that_writes_is_refused(tmp_path):
    """TF1 SavedModels: the loader runs the main op (here: tables, then a print to a file)."""
    marker = tmp_path / "marker"
    model = tf1_saved_model(tmp_path / "sm", extra_init=lambda: tf().print(
        "code ran", output_stream=f"file://{marker}"))
    refused = CliRunner().invoke(cli, ["inspect", str(model)])
    line = refusal_line(refused.output)
    assert refused.exit_code == 1 and "PrintV2" in line and "in graph" in line
    assert not marker.exists()
    assert CliRunner().invoke(cli, ["inspect", str(model), "--allow-unsafe-code"]).exit_code == 0
    assert marker.exists()


# --- the saver's own functions -------------------------------------------------------------

def tf1_saved_model(folder: Path, extra_init=None) -> Path:
    tf_ = tf()
    v1 = tf_.compat.v1
    with tf_.Graph().as_default(), v1.Session() as session:
        x = v1.placeholder(tf_.float32, (None, 4), name="x")
        w = v1.get_variable("w", initializer=tf_.ones((4, 3)))
        tf_.lookup.StaticHashTable(tf_.lookup.KeyValueTensorInitializer(["a"], [1]), -1)
        y = tf_.matmul(x, w, name="y")
        session.run(v1.global_variables_initializer())
        init = [v1.tables_initializer()] + ([extra_init()] if extra_init else [])
        builder = v1.saved_model.Builder(str(folder))
        builder.add_meta_graph_and_variables(
            session, ["serve"], main_op=tf_.group(*init),
            signature_def_map={"serving_default": v1.saved_model.predict_signature_def({"x": x}, {"y": y})})
        builder.save()
    return folder


@pytest.fixture(scope="module")
def plain_tf2(tmp_path_factory) -> Path:
    tf_ = tf()

    class Plain(tf_.Module):
        def __init__(self):
            self.w = tf_.Variable(tf_.ones((4, 3)))

        @tf_.function(input_signature=[tf_.TensorSpec((None, 4), tf_.float32, name="x")])
        def serve(self, x):
            return {"y": tf_.matmul(x, self.w)}

    model = Plain()
    folder = tmp_path_factory.mktemp("plain") / "sm"
    tf_.saved_model.save(model, str(folder), signatures={"serving_default": model.serve})
    return folder


def edited(source: Path, folder: Path, edit) -> Path:
    """A copy of a SavedModel whose proto `edit(meta_graph, functions)` changed."""
    from tensorflow.core.protobuf import saved_model_pb2
    shutil.copytree(source, folder)
    proto = saved_model_pb2.SavedModel()
    proto.ParseFromString((folder / "saved_model.pb").read_bytes())
    meta_graph = proto.meta_graphs[0]
    edit(meta_graph, {f.signature.name: f for f in meta_graph.graph_def.library.function})
    (folder / "saved_model.pb").write_bytes(proto.SerializeToString())
    return folder


def unsafe(folder: Path) -> list:
    from edgekit.targets.savedmodel import safety as savedmodel_safety
    return savedmodel_safety.unsafe_ops(folder)


def saver_function(meta_graph, which: str) -> str:
    from edgekit.targets.savedmodel.safety import _node_name
    name = _node_name(getattr(meta_graph.saver_def, which))
    return next(n.attr["f"].func.name for n in meta_graph.graph_def.node if n.name == name)


def test_plain_tf1_and_tf2_saved_models_keep_their_checkpoint_ops_in_the_saver(plain_tf2, tmp_path):
    assert unsafe(plain_tf2) == []
    assert unsafe(tf1_saved_model(tmp_path / "tf1")) == []  # save/SaveV2, save/RestoreV2 nodes


def test_the_save_function_is_refused_when_anything_else_may_call_it(plain_tf2, tmp_path):
    def name_it_in_the_object_graph(meta_graph, functions):  # e.g. as a resource initializer
        meta_graph.object_graph_def.concrete_functions[saver_function(meta_graph, "save_tensor_name")]

    def call_it_from_serving(meta_graph, functions):
        save = saver_function(meta_graph, "save_tensor_name")
        calls = [n for f in functions.values() if "signature_wrapper" in f.signature.name
                 for n in f.node_def if n.op == "StatefulPartitionedCall"]
        calls[0].attr["f"].func.name = save

    def register_it_as_a_gradient(meta_graph, functions):  # SymbolicGradient would call it
        meta_graph.graph_def.library.gradient.add(
            function_name=next(f for f in functions if "signature_wrapper" in f),
            gradient_func=saver_function(meta_graph, "save_tensor_name"))

    for edit in (name_it_in_the_object_graph, call_it_from_serving, register_it_as_a_gradient):
        ops = {op for op, _, _ in unsafe(edited(plain_tf2, tmp_path / edit.__name__, edit))}
        assert {"SaveV2", "MergeV2Checkpoints"} <= ops, edit.__name__


def test_a_tf1_init_op_that_reaches_the_save_node_is_refused(tmp_path):
    def init_after_saving(meta_graph, functions):
        main_op = meta_graph.collection_def["saved_model_main_op"].node_list.value[0]
        node = next(n for n in meta_graph.graph_def.node if n.name == main_op)
        node.input.append("^save/MergeV2Checkpoints")

    model = edited(tf1_saved_model(tmp_path / "tf1"), tmp_path / "sm", init_after_saving)
    assert {(op, where) for op, where, _ in unsafe(model)} >= {("SaveV2", "graph"),
                                                               ("MergeV2Checkpoints", "graph")}


def test_the_restore_function_may_read_checkpoints_but_not_write(plain_tf2, tmp_path):
    def merge_while_restoring(meta_graph, functions):
        restore = functions[saver_function(meta_graph, "restore_op_name")]
        assert "RestoreV2" in {n.op for n in restore.node_def}
        restore.node_def.add(name="merge", op="MergeV2Checkpoints")

    found = unsafe(edited(plain_tf2, tmp_path / "sm", merge_while_restoring))
    assert [(op, why) for op, _, why in found] == [("MergeV2Checkpoints", "writes files")]


def test_an_op_called_where_a_function_is_expected_is_checked_as_an_op(plain_tf2, tmp_path):
    def call_a_bare_op(meta_graph, functions):
        wrapper = next(f for f in functions.values() if "signature_wrapper" in f.signature.name)
        call = next(n for n in wrapper.node_def if n.op == "StatefulPartitionedCall")
        call.attr["f"].func.name = "WriteFile"

    def a_custom_op(meta_graph, functions):
        meta_graph.graph_def.node.add(name="mystery", op="MyCustomOpFromASharedLibrary")

    def a_function_named_like_an_op(meta_graph, functions):
        meta_graph.graph_def.library.function.add().signature.name = "PrintV2"
        meta_graph.graph_def.node.add(name="print", op="PrintV2")

    assert [op for op, _, _ in unsafe(edited(plain_tf2, tmp_path / "bare", call_a_bare_op))] == ["WriteFile"]
    assert [op for op, _, _ in unsafe(edited(plain_tf2, tmp_path / "alias", a_function_named_like_an_op))] \
        == ["PrintV2"]
    found = unsafe(edited(plain_tf2, tmp_path / "custom", a_custom_op))
    assert found == [("MyCustomOpFromASharedLibrary", "graph",
                      "is not on edgekit's list of pure-compute ops")]


def test_a_text_saved_model_is_checked_like_a_binary_one(tmp_path):
    from google.protobuf import text_format
    from tensorflow.core.protobuf import saved_model_pb2
    paths = prepared_paths(tmp_path / "files")
    model = attacking_saved_model(tmp_path / "sm", _print, paths)
    proto = saved_model_pb2.SavedModel()
    proto.ParseFromString((model / "saved_model.pb").read_bytes())
    (model / "saved_model.pb").unlink()
    (model / "saved_model.pbtxt").write_text(text_format.MessageToString(proto))
    refused = CliRunner().invoke(cli, ["inspect", str(model)])
    assert refused.exit_code == 1 and "PrintV2" in refusal_line(refused.output)
    assert not paths["marker"].exists()


# --- ordinary SavedModels still pass -------------------------------------------------------

def test_a_keras3_export_passes(tmp_path):
    import keras
    model = keras.Sequential([keras.Input((4,), name="x"), keras.layers.Dense(8, activation="relu"),
                              keras.layers.BatchNormalization(), keras.layers.Dense(3, activation="softmax")])
    model.export(str(tmp_path / "sm"), verbose=False)
    result = CliRunner().invoke(cli, ["inspect", str(tmp_path / "sm")])
    assert result.exit_code == 0, result.output


def test_a_keras2_saved_model_with_an_optimizer_passes(tmp_path):
    import numpy as np
    import tf_keras
    model = tf_keras.Sequential([tf_keras.Input((4,)), tf_keras.layers.Dense(8, activation="relu"),
                                 tf_keras.layers.Dropout(0.1), tf_keras.layers.Dense(3)])
    model.compile(optimizer="adam", loss="mse")
    model.fit(np.zeros((4, 4), "float32"), np.zeros((4, 3), "float32"), epochs=1, verbose=0)
    model.save(str(tmp_path / "sm"), save_format="tf")
    assert "Adam" in (tmp_path / "sm" / "saved_model.pb").read_bytes().decode("latin-1")
    result = CliRunner().invoke(cli, ["inspect", str(tmp_path / "sm")])
    assert result.exit_code == 0, result.output


def test_the_sample_keras_model_converts_through_its_saved_model(tmp_path):
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["convert", str(SAMPLES / "digits_keras.keras"), "--target",
                                      "server-cpu", "--precision", "fp32", "--bench-runs", "0",
                                      "--out", str(out)])
    assert result.exit_code == 0, result.output
    (saved_model,) = [p.parent for p in out.rglob("saved_model.pb")]
    assert unsafe(saved_model) == []
    assert CliRunner().invoke(cli, ["inspect", str(saved_model)]).exit_code == 0


# --- the allowlist itself ------------------------------------------------------------------

@pytest.fixture(scope="module")
def registry() -> dict:
    from edgekit.targets.savedmodel import pure_ops as savedmodel_pure_ops
    return savedmodel_pure_ops.registered_ops()


@pytest.fixture(scope="module")
def allowed() -> frozenset:
    from edgekit.targets.savedmodel import pure_ops as savedmodel_pure_ops
    return savedmodel_pure_ops.allowed()


# Input/attr names that suggest a file, a path or something outside the process; this test's
# own list, independent of the generator's.
OUTSIDE_ARG = re.compile(r"file|path|prefix|logdir|dir|stream|url|uri|address|host|port|server|"
                         r"socket|target|descriptor|memory_region|source|ckpt|checkpoint|db|sql|"
                         r"protocol|device|worker|job|task|mount|command|shell|exec|library|module",
                         re.IGNORECASE)
# Reviewed: allowed ops' input/attr names OUTSIDE_ARG matches that are not outside targets.
OUTSIDE_ARG_REVIEWED = {
    r"^resources?$": "a variable's resource handle (ReadVariableOp, AssignVariableOp...)",
    r"^source$": "TensorArrayGrad's gradient-source string; XlaSelectAndScatter's source tensor",
    r"^direction$": "CudnnRNN: unidirectional or bidirectional",
    r"^targets$|^recall_target$|^top_paths$": "InTopK's class ids, ApproxTopK's recall, CTC's beam count",
    r"^executor_type$": "PartitionedCall: which in-process executor runs the function",
    r"^(T?host|T?device)_(inputs|outputs|args)$|^num_host_args$|^host_reserved$":
        "fused and cuDNN kernels: which inputs live in host or device memory",
    r"^allowed_devices$|^device_names$": "VarHandleOp/DeviceIndex: device names in this process",
    r"^num_streams$|^quantile_stream_resource_handle$": "BoostedTrees' in-memory quantile sketches",
}
# Op-name families that read, write or reach outside (case-sensitive: "Thread" is not "Read").
OUTSIDE_FAMILY = re.compile(r"Dataset|Iterator|Reader|Summary|Print|PyFunc|Debug|File|Record|Save|"
                            r"Restore|Checkpoint|Snapshot|Dump|Write|Read|Load|Send|Recv|Collective|"
                            r"Nccl|Rpc|Remote|Queue|Proto|Mlir|CallModule|CustomCall|Host|Sleep|"
                            r"Abort|Timestamp|Sql|LMDB|Event|Stream|Socket|Http|Url|Exec|Shell")
# Reviewed: allowed ops whose name OUTSIDE_FAMILY matches, and why each is pure computation.
OUTSIDE_FAMILY_REVIEWED = {
    r"^(ReadVariableOp|ReadVariableXlaSplitND|_ReadVariablesOp|DisableCopyOnRead)$":
        "read a variable held in this process",
    r"^TensorArray(Read|Write)(V2|V3)?$": "read/write an element of an in-memory TensorArray",
    r"^RngReadAndSkip$": "advance an in-memory random-number generator state",
    r"^(HostConst|_HostCast|_CopyFromGpuToHost|_CopyFromHostToGpu)$": "host memory of this process",
    r"^(Is)?BoostedTreesQuantileStream|^BoostedTreesCreateQuantileStreamResource$":
        "BoostedTrees' in-memory quantile sketches",
}

ATTACK_OPS = {
    "WriteFile", "ReadFile", "MatchingFiles", "ImmutableConst", "PrintV2", "Print",
    "DatasetToTFRecord", "ExperimentalDatasetToTFRecord", "TextLineDataset", "TFRecordDataset",
    "TFRecordDatasetV2", "FixedLengthRecordDataset", "FixedLengthRecordDatasetV2", "CSVDataset",
    "CSVDatasetV2", "LoadDataset", "SaveDataset", "SaveDatasetV2", "SnapshotDataset",
    "SnapshotDatasetV2", "InitializeTableFromTextFile", "InitializeTableFromTextFileV2",
    "LoadAndRemapMatrix", "DecodeProtoV2", "EncodeProto", "PyFunc", "PyFuncStateless",
    "EagerPyFunc", "SaveV2", "Save", "SaveSlices", "MergeV2Checkpoints", "RestoreV2",
    "ShardedFilename", "Send", "Recv", "_Send", "_Recv", "_HostSend", "_HostRecv",
    "CollectiveReduce", "CollectiveReduceV2", "RemoteCall", "RpcCall", "DebugIdentityV2",
    "DebugIdentityV3", "CreateSummaryFileWriter", "WriteScalarSummary", "MlirPassthroughOp",
    "XlaCallModule", "XlaCustomCall", "GeneratorDataset", "DataServiceDatasetV4", "Abort",
}
MUST_ALLOW = {
    "Const", "Identity", "IdentityN", "NoOp", "Placeholder", "PlaceholderWithDefault", "MatMul",
    "Conv2D", "DepthwiseConv2dNative", "BiasAdd", "Relu", "Softmax", "FusedBatchNormV3",
    "ResizeBilinear", "StringFormat", "StringJoin", "RandomUniform", "StatelessRandomUniformV2",
    "If", "StatelessIf", "While", "StatelessWhile", "Case", "PartitionedCall",
    "StatefulPartitionedCall", "Enter", "Exit", "Switch", "Merge", "NextIteration", "LoopCond",
    "VarHandleOp", "ReadVariableOp", "AssignVariableOp", "VarIsInitializedOp", "VariableV2",
    "HashTableV2", "InitializeTableV2", "LookupTableFindV2", "LookupTableImportV2",
    "TensorListReserve", "TensorArrayV3", "Assert", "DecodeJpeg", "ParseExampleV2",
}


def test_every_allowed_op_is_registered_and_still_passes_the_generator(registry, allowed):
    from edgekit.targets.savedmodel import pure_ops as savedmodel_pure_ops
    assert sorted(allowed) == (savedmodel_pure_ops.LIST_FILE.read_text().split()), "sorted, one a line"
    assert not allowed - registry.keys(), "ops TensorFlow no longer registers: regenerate the list"
    stale = allowed - set(savedmodel_pure_ops.pure_ops(registry))
    assert not stale, f"the generator now refuses {sorted(stale)}: regenerate the list"


def test_no_allowed_op_takes_a_path_or_an_outside_target(registry, allowed):
    suspicious = {(op, arg) for op in allowed
                  for arg in [a.name for a in registry[op].input_arg] + [a.name for a in registry[op].attr]
                  if OUTSIDE_ARG.search(arg) and not any(re.search(r, arg) for r in OUTSIDE_ARG_REVIEWED)}
    assert not suspicious


def test_no_allowed_op_belongs_to_a_family_that_reaches_outside(allowed):
    suspicious = {op for op in allowed if OUTSIDE_FAMILY.search(op)
                  and not any(re.search(r, op) for r in OUTSIDE_FAMILY_REVIEWED)}
    assert not suspicious


def test_the_known_attack_ops_are_refused_and_the_model_ops_allowed(registry, allowed):
    assert ATTACK_OPS <= registry.keys() and not ATTACK_OPS & allowed
    assert not MUST_ALLOW - allowed

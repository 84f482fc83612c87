"""The ops a SavedModel may use without the user's opt-in, and why the others are refused.

savedmodel_safety reads the allowlist from savedmodel/pure_ops.txt (one op a line, sorted).
That file is generated from TensorFlow's own op registry by this module; regenerate it when
TensorFlow is upgraded, review the diff, and commit it:

    .venv/bin/python -m edgekit.targets.savedmodel.pure_ops   # rewrites savedmodel/pure_ops.txt

An op is kept only if it is pure computation inside the process: math, nn, array, image,
string formatting, parsing of in-memory bytes, random numbers, control flow and function
calls, variables, hash tables built from tensors, TensorArrays. An op is dropped if its
name falls in a family of REFUSED below, or if one of its inputs or attrs names a file, a
path, an address or a stream (PATH_LIKE). Ops not registered by TensorFlow itself (custom
op libraries) are never on the list. Importing this module does not import TensorFlow.
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

LIST_FILE = Path(__file__).with_name("pure_ops.txt")

# (why the op is refused, op-name pattern), most telling first: a refusal names the first.
REFUSED = (
    ("runs Python", r"PyFunc"),
    ("prints to a file or the console", r"^Print(V2)?$"),
    ("writes summaries (event files)", r"Summary|SummaryWriter|^ImportEvent$"),
    ("dumps tensors to files or debug servers", r"Debug|DumpTensor|^Copy(Host)?$"),
    ("writes files", r"^WriteFile$|^Save(V2|Slices)?$|^MergeV2Checkpoints$|^SaveDataset|"
                     r"DatasetToTFRecord|^DistributedSave$|^CalibrationStatisticsSaver$|Snapshot"),
    ("reads files", r"^ReadFile$|^MatchingFiles$|^ImmutableConst$|^Restore(V2|Slice)?$|"
                    r"^DTensorRestoreV2$|^LoadAndRemapMatrix$|^GenerateVocabRemapping$|FromTextFile|"
                    r"^LoadDataset$|TextLine|TFRecord|FixedLengthRecord|CSVDataset|LMDB|Sql|"
                    r"Reader|RecordInput|^Skipgram$|MatchingFilesDataset"),
    ("reads or writes files", r"File|Record|Checkpoint|^Sharded(Filename|Filespec)$"),
    ("decodes protos with a descriptor that may be read from a file", r"^(De|En)codeProto"),
    ("is tf.data machinery (datasets read and write files)",
     r"Dataset|Iterator|StatsAggregator|ThreadPoolHandle|MemoryCache|SeedGenerator|"
     r"^(Anonymous|Delete)?RandomSeedGenerator$|IterationCounter|GlobalIterId|"
     r"^GetElementAtIndex$|^GetOptions$|^WindowOp$"),
    ("talks to other devices, processes or hosts",
     r"Send|Recv|Collective|Nccl|Rpc|^RemoteCall$|AllToAll|AllReduce|ReduceScatter|"
     r"CrossReplica|Infeed|Outfeed|TPU|Tpu|^XlaHostCompute$|HostComputeMlir|WorkerHeartbeat|"
     r"^DTensor|Distributed|^SyncDevice$|FileSystem|"
     r"SparseCore|Minibatch|Fdo|DedupData|CooTensor|Prelinearize|GlobalCoreArray"),
    ("runs code edgekit cannot inspect (a serialized XLA module or custom call)",
     r"^XlaCallModule$|^XlaCustomCall|^XlaLaunch|^_XlaCompile|^_XlaRun$|^XlaSparse|"
     r"^_XlaAotOnlyVarHandleOp$|^MlirPassthroughOp$"),
    ("shares state between sessions or threads (queues, barriers, staging areas)",
     r"Queue|^Barrier|Stage|Accumulator|SessionHandle|SessionTensor|Mutex|"
     r"^(Ordered)?Map(Clear|IncompleteSize|Peek|Size|Unstage|UnstageNoKey)$"),
    ("sleeps, reads the clock or aborts the process", r"Sleep|^Timestamp$|^Abort$"),
)

# Input and attr names that say "a path, an address or a stream outside the model".
PATH_LIKE = re.compile(r"file|path|prefix|dir|logdir|url|uri|address|target|stream|"
                       r"descriptor|memory_region|data_source|protocol|ckpt|checkpoint",
                       re.IGNORECASE)
# Reviewed input/attr names PATH_LIKE matches that are not paths: (op pattern, name).
PATH_LIKE_REVIEWED = (
    (r".", r"^(dims?|direction|.*_dims?|dim_.*|input_dim|.*dilations?.*)$"),  # dimensions
    (r".", r"^targets?$"),  # loss/metric targets (InTopK, SoftmaxCrossEntropy...): tensors
    (r"^ApproxTopK$", r"^recall_target$"),  # a float: the recall to aim for
    (r"^CTCBeamSearchDecoder$", r"^top_paths$"),  # an int: how many paths to return
    (r"^(Is)?BoostedTrees", r"quantile_stream|^num_streams$"),  # in-memory quantile sketches
)


def refusal(op: str) -> str | None:
    """Why an op of this name is refused by its family, or None."""
    return next((why for why, pattern in REFUSED if re.search(pattern, op)), None)


def path_like_args(op_def) -> list[str]:
    """Names of the op's inputs and attrs that look like a path or an outside target."""
    names = [a.name for a in op_def.input_arg] + [a.name for a in op_def.attr]
    return [name for name in names if PATH_LIKE.search(name) and not any(
        re.search(op_pattern, op_def.name) and re.search(arg_pattern, name)
        for op_pattern, arg_pattern in PATH_LIKE_REVIEWED)]


def registered_ops() -> dict:
    """Every op TensorFlow registers in this process: name -> OpDef."""
    import os
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow  # noqa: F401  (registers the ops)
    from tensorflow.core.framework import op_def_pb2
    from tensorflow.python.client import pywrap_tf_session
    ops = op_def_pb2.OpList()
    ops.ParseFromString(pywrap_tf_session.TF_GetBuffer(pywrap_tf_session.TF_GetAllOpList()))
    return {op.name: op for op in ops.op}


def pure_ops(registry: dict) -> list[str]:
    return sorted(name for name, op_def in registry.items()
                  if refusal(name) is None and not path_like_args(op_def))


def allowed() -> frozenset[str]:
    return frozenset(LIST_FILE.read_text().split())


def main() -> None:
    registry = registered_ops()
    ops = pure_ops(registry)
    LIST_FILE.write_text("".join(f"{op}\n" for op in ops))
    import tensorflow as tf
    print(f"{LIST_FILE}: {len(ops)} of {len(registry)} ops registered by TensorFlow "
          f"{tf.__version__}", file=sys.stderr)


if __name__ == "__main__":
    main()

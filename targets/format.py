"""The written interface of a format module: what every format provides, what some do.

Each format module (keras, savedmodel, torch, onnx, tflite, tfjs) ends with one
`FORMAT = FormatModule(...)` naming its own functions; `registry.format_module(name)` returns
it. Code outside `targets/` asks `if fmt.intermediates is None`, never `hasattr(module, ...)`
and never `if format == "tfjs"`: a capability a format lacks is a None field, so adding a
format means filling in this record, and a missing hook shows up in one place.

Stdlib only, and no framework imports: the records are built when a format module is
imported, which must stay cheap (each module imports its framework inside its functions).
"""
from __future__ import annotations

from dataclasses import MISSING, dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    from .registry import Converter


@dataclass(frozen=True)
class PruningHooks:
    """Pruning happens in the source framework: an editable copy of the model, pruned by a
    method's hook (quantize/prune*.py), optionally fine-tuned, then saved as a new source."""
    editable_copy: Callable  # (handle) -> a framework model that may be changed in place
    prunable_weights: Callable  # (model) -> [np.ndarray]: the weights pruning zeroes
    parameter_count: Callable  # (model) -> int
    fine_tune: Callable  # (model, inputs, labels, epochs, seed) -> model
    save_pruned: Callable  # (model, source handle, out_dir) -> ModelHandle
    # (handle) -> an example input, for pruners that trace the model (torch-pruning);
    # None when the framework's pruners need none (Keras masks)
    example_input: Callable | None = None


@dataclass(frozen=True)
class FileKind:
    """A kind of model file a format's `recognize` hook names (edgekit/detect.py)."""
    format: str  # the format name it opens as ("torchscript")
    name: str  # in messages ("TorchScript")
    extensions: tuple[str, ...] = ()  # extensions promising it; the first is the one to use


@dataclass(frozen=True)
class FileContent:
    """What detection read of a file, handed to every format's `recognize` hook, so that
    the file is opened once and a zip archive's integrity is checked before any hook."""
    path: Path
    head: bytes  # the first 16 bytes
    archive_names: frozenset[str] | None  # member names of a zip archive, or None


@dataclass(frozen=True)
class DeviceRuntime:
    """A runtime a device class runs this format's models in besides the format's own
    (TFLite Micro on microcontrollers). A profile naming it (TargetProfile.device_runtime)
    has every candidate that passed in the format's runtime proven again in this one, and
    its deliverable packaged for the device."""
    name: str  # as profiles name it ("tflite-micro")
    runtime: str  # in reports ("TFLite Micro interpreter")
    packages: tuple[str, ...]  # distributions it needs (checked at plan time, versioned)
    # (handle) -> a runner (list of arrays -> list of arrays) whose `facts` dict a run
    # fills with what the device must provide (e.g. arena_bytes); None for a device whose
    # runtime cannot run here (the Edge TPU), which is only assessed
    make_runner: Callable | None = None
    # (handle) -> facts read from the model for the device (which operators it maps)
    assess: Callable | None = None
    # (handle, facts, out_dir) -> [paths]: what an app for the device builds in (C sources)
    package: Callable | None = None


@dataclass(frozen=True)
class FormatModule:
    # --- every format ---
    runtime: str  # what runs its models, named in reports ("LiteRT interpreter")
    packages: tuple[str, ...]  # distributions its runner needs (their versions are reported)
    make_runner: Callable  # (handle, threads | None) -> (list of arrays -> list of arrays)
    op_counts: Callable  # (handle) -> {operator name: count}, for `edgekit inspect`
    # --- how a model file is opened: at least one of the two ---
    # a model that states its own tensors (every output format):
    # (path, reference handle | None) -> ModelHandle, layouts matched to the reference's
    open_handle: Callable | None = None
    # a format edgekit converts from: (path, SourceOptions, format name) -> ModelHandle,
    # with the source's own checks (shapes from options, safety checks before loading)
    open_source: Callable | None = None
    # --- how edgekit/detect.py tells its models apart, by content (an extension only has
    # to agree): (FileContent) -> FileKind, or None when the content is not this format's;
    # it may raise InputError saying what the file is instead (a torch state_dict). Checks
    # cheap marks first: every format's hook is asked about every file.
    recognize: Callable | None = None
    file_kinds: tuple[FileKind, ...] = ()  # every kind `recognize` may name
    folder_files: tuple[str, ...] = ()  # a file that makes its folder a model of this format
    # --- what produces this format ---
    converters: tuple[Converter, ...] = ()  # converters into it, from other formats
    quantizer: Converter | None = None  # fp32 model of this format in, quantized model out

    # --- optional capabilities: None where the format has no such thing ---
    # (handle) -> {operator: [node names]} its runtime has no kernel for, read from the
    # graph before a session is made (edgekit.preflight)
    runtime_lacks: Callable | None = None
    # (path) -> every file a one-file model is made of (ONNX external weights)
    model_files: Callable | None = None
    # (path, out_dir) -> copied path, for a model spanning several files
    copy_model: Callable | None = None
    # (handle, inputs) -> [(tensor name, array)] in graph order, for per-layer drift
    intermediates: Callable | None = None
    # (handle, sample) -> MACs of one inference, and (handle) -> weight bytes: the
    # roofline estimate needs both
    macs: Callable | None = None
    weight_bytes: Callable | None = None
    # (fp32 handle, StepContext) -> layers ranked by int8 damage, for the search's
    # keep-in-float follow-ups
    rank_layers: Callable | None = None
    # (handle, inputs, runs, warmup, threads, budget) -> (times ms, load ms, peak bytes):
    # for a runtime in another process, which must time itself (TF.js in Node)
    time_runs: Callable | None = None
    # (handle) -> a runner on a CUDA device, for timing only (it need not return the
    # outputs), or None when this host has no CUDA runtime for the format
    gpu_runner: Callable | None = None
    # () -> None, raising MissingDependencyError: a runtime outside Python (Node.js),
    # checked at plan time
    runtime_check: Callable | None = None
    # () -> {name: version} of runtime parts that are not Python distributions
    versions: Callable | None = None
    # (path) -> the precision found in an artifact (tensor types, operators), or None;
    # `precision_evidence` says where it was read from ("read from its operators")
    read_precision: Callable | None = None
    precision_evidence: str = ""
    # in-browser execution (`edgekit validate --browser`): (handle, backend) -> runner;
    # a backend the browser lacks raises browser.BackendUnavailable
    browser_runner: Callable | None = None
    browser_backends: tuple[str, ...] = ()
    # runtimes device classes run this format in besides `runtime` (see DeviceRuntime)
    device_runtimes: tuple[DeviceRuntime, ...] = ()
    # --prune works in the source's framework: the hooks above (a prune method's own hook
    # per format lives in quantize/prune*.py)
    pruning: PruningHooks | None = None

    def __post_init__(self):
        for hook in REQUIRED_HOOKS:
            if not callable(getattr(self, hook)):
                raise TypeError(f"a format's {hook} must be callable")
        if self.open_handle is None and self.open_source is None:
            raise TypeError("a format opens its models with open_handle, open_source or both")
        for first, second in PAIRED:  # half of a pair would fail later, mid-run
            if self.has(first) != self.has(second):
                raise TypeError(f"a format gives both {first} and {second}, or neither")

    def has(self, capability: str) -> bool:
        """Whether an optional capability (a field name) is present: for messages that
        list the formats supporting one (registry.formats_with)."""
        return getattr(self, capability) not in (None, (), "")


REQUIRED_HOOKS = ("make_runner", "op_counts")
PAIRED = (("macs", "weight_bytes"), ("recognize", "file_kinds"), ("browser_runner", "browser_backends"),
          ("read_precision", "precision_evidence"))
OPTIONAL = tuple(f.name for f in fields(FormatModule) if f.default is not MISSING)

"""PyTorch sources: `file.py:factory` (+ a state_dict), torch.export `.pt2`, TorchScript `.pt`.

Loading runs no code from a model file: state_dicts load with weights_only=True, a .pt2
loads through pt2_safety (unless --allow-unsafe-code), and a factory spec runs only the
Python file the user named. A factory or TorchScript module records no input shapes,
so those come from --input-shape (a .pt2 program records the shapes it was traced
with). The first dimension is the batch, kept dynamic where the exporter allows.
"""
from __future__ import annotations

import inspect
import zipfile
from collections import Counter
from functools import lru_cache
from pathlib import Path

import numpy as np

from ...errors import InputError, first_line
from ...model import ModelHandle, identity
from ...tensors import TensorSpec, default_layout, guess_image_layout, transposed_shape
from . import pt2_safety
from ..factory import build, framework_of
from ..batching import batch_size, in_batches
from ..format import FileKind, FormatModule, PruningHooks
from .archive import check_storages
from ..trust import granted

def load(path: str, factory: str | None, weights: str | None):
    # trust in the key (see _exported), and the files' versions: a rewritten file is loaded again
    return _load(path, factory, weights, granted(path), identity(path, weights))


@lru_cache(maxsize=4)
def _load(path: str, factory: str | None, weights: str | None, trusted: bool, version: tuple):
    import torch
    try:
        if factory:
            module = _from_factory(Path(path), factory).eval()
            if weights:
                module.load_state_dict(_state_dict(weights))
        elif path.endswith(".pt2"):
            return _exported(path).module()  # already in inference form; has no eval()
        else:
            check_storages(Path(path))  # torch.jit.load crashes on short storages
            module = torch.jit.load(path, map_location="cpu").eval()
    except InputError:
        raise
    except Exception as error:
        raise InputError(f"cannot load PyTorch model {path}: {first_line(error)}") from error
    return module


def _exported(path: str):
    """A .pt2's program, loaded without running code from it unless the user opted in (see
    pt2_safety). The trust decision is part of the cache key: a program loaded with
    --allow-unsafe-code must not be handed to a later run (same process) without it."""
    return _exported_for(path, granted(path), identity(path))


@lru_cache(maxsize=4)
def _exported_for(path: str, trusted: bool, version: tuple):
    return pt2_safety.load(path)  # decides by granted(path), which `trusted` mirrors


def recorded_shapes(path: Path) -> tuple[tuple[int, ...], ...]:
    """Input shapes a torch.export program was traced with (TorchScript records none)."""
    if Path(path).suffix != ".pt2":
        return ()
    try:
        args, _ = _exported(str(path)).example_inputs or ((), {})
    except InputError:
        raise
    except Exception as error:
        raise InputError(f"cannot load PyTorch model {path}: {first_line(error)}") from error
    return tuple(tuple(a.shape) for a in args)


def _from_factory(path: Path, factory: str):
    module = build(path, factory)
    if framework_of(module, path, factory) != "torch":
        raise InputError(f"{path}:{factory}() returned {type(module).__name__}, not a torch.nn.Module")
    return module


def _state_dict(weights: str) -> dict:
    import torch
    if zipfile.is_zipfile(weights):  # the legacy (non-zip) format has no storage members
        check_storages(Path(weights))
    try:
        state = torch.load(weights, map_location="cpu", weights_only=True)
    except Exception as error:
        raise InputError(f"cannot load weights {weights} safely (weights_only=True): "
                         f"{first_line(error)}") from error
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]  # the common {"state_dict": ..., "epoch": ...} checkpoint
    if not isinstance(state, dict):
        raise InputError(f"{weights} holds a {type(state).__name__}, not a state_dict")
    return state


def _module(handle: ModelHandle):
    return load(str(handle.path), handle.factory, str(handle.weights) if handle.weights else None)


def _input_names(module, count: int) -> list[str]:
    try:
        params = [p for p in inspect.signature(module.forward).parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
        names = [p.name for p in params][:count]
    except (TypeError, ValueError):
        names = []
    return names if len(names) == count else [f"input_{i}" for i in range(count)]


def _as_list(result) -> list:
    return list(result) if isinstance(result, (list, tuple)) else [result]


def open_source(path: Path, options, fmt: str) -> ModelHandle:
    shapes = options.input_shapes or (() if options.factory else recorded_shapes(path))
    module = load(str(path), options.factory, str(options.weights) if options.weights else None)
    notes: tuple[str, ...] = ()
    if not shapes and options.data_shapes:
        shapes = _shapes_from_data(module, options.data_shapes, path)
        notes = ("input shapes taken from the evaluation data: " + ", ".join(
            f"Nx{'x'.join(map(str, s[1:]))} {s.dtype}" for s in shapes),)
    if not shapes:
        raise InputError(f"{path} does not record its input shapes; give them with "
                         "--input-shape, e.g. --input-shape 1,3,224,224 (once per input), "
                         "or give --eval data")
    names = _input_names(module, len(shapes))
    # an exported program is specialised to the batch it was traced with; others are not
    batch = shapes[0][0] if not (options.input_shapes or notes) else None
    inputs = tuple(TensorSpec(name, (batch, *shape[1:]), getattr(shape, "dtype", "float32"),
                              default_layout(shape, channels_first=True))
                   for name, shape in zip(names, shapes))
    handle = ModelHandle(Path(path), fmt, inputs, (), factory=options.factory,
                         weights=options.weights, notes=notes)
    try:
        outputs = make_runner(handle)([np.zeros((batch or 1, *s.shape[1:]), s.dtype) for s in inputs])
    except Exception as error:
        raise InputError(f"{path} did not run on inputs of shape "
                         f"{list(shapes)}: {first_line(error)}") from error
    output_specs = [TensorSpec(f"output_{i}", (batch, *o.shape[1:]), o.dtype.name,
                               default_layout(o.shape, channels_first=True))
                    for i, o in enumerate(outputs)]
    return handle.with_specs(inputs, output_specs)


def _shapes_from_data(module, data_shapes, path: Path) -> tuple:
    """Input shapes (batch 1) from the evaluation data's arrays: one per forward()
    parameter of the same name, or the only array for a one-input model."""
    from ...loading import InputShape
    arrays = {name: (shape, dtype) for name, shape, dtype in data_shapes}
    try:
        params = [p.name for p in inspect.signature(module.forward).parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty]
    except (TypeError, ValueError):
        params = []
    if params and all(name in arrays for name in params):
        chosen = [arrays[name] for name in params]
    elif len(arrays) == 1:
        chosen = list(arrays.values())
    else:
        raise InputError(f"{path}: cannot tell which arrays of the evaluation data "
                         f"({', '.join(arrays)}) feed which inputs ({', '.join(params) or '?'}); "
                         "name them after forward()'s parameters, or give --input-shape")

    def dtype(name: str) -> str:  # float data feeds float32 models; ids keep their type
        return "float32" if name.startswith("float") else name

    def channels_first(shape: tuple) -> tuple:  # images given NHWC feed an NCHW module
        return transposed_shape(shape, "NCHW") if guess_image_layout(shape) == "NHWC" else shape
    return tuple(InputShape((1, *channels_first(shape)[1:]), dtype(kind)) for shape, kind in chosen)


def exported_program(handle: ModelHandle):
    """The torch.export program of a .pt2 source, else None."""
    return _exported(str(handle.path)) if Path(handle.path).suffix == ".pt2" else None


def module_and_example(handle: ModelHandle):
    """The module and a batch-1 example input tuple, for exporters that trace."""
    import torch
    example = tuple(torch.zeros((1, *spec.shape[1:]), dtype=getattr(torch, spec.dtype))
                    for spec in handle.inputs)
    return _module(handle), example


def make_runner(handle: ModelHandle, threads: int | None = None):
    import torch
    module = _module(handle)

    def run_batch(inputs):
        # torch's thread count is process-wide: set for this call only, the caller's kept
        previous = torch.get_num_threads()
        torch.set_num_threads(threads or previous)
        try:
            with torch.no_grad():
                result = module(*[torch.from_numpy(np.ascontiguousarray(x)) for x in inputs])
        finally:
            torch.set_num_threads(previous)
        return [r.detach().numpy() for r in _as_list(result)]

    return lambda inputs: in_batches(run_batch, inputs, batch_size(handle), handle)


def op_counts(handle: ModelHandle) -> dict[str, int]:
    """Leaf modules by class (TorchScript keeps each one's original class name)."""
    leaves = [m for _, m in _module(handle).named_modules() if not any(True for _ in m.children())]
    return dict(Counter(getattr(m, "original_name", type(m).__name__) for m in leaves))


# --- pruning support: an editable copy of the model, its weights, fine-tuning, saving ---

def editable_copy(handle: ModelHandle):
    import copy
    return copy.deepcopy(_module(handle))


def prunable_weights(module) -> list[np.ndarray]:
    from ...quantize.prune import torch_layers
    return [m.weight.detach().numpy() for m in torch_layers(module)]


def parameter_count(module) -> int:
    return sum(p.numel() for p in module.parameters())


def fine_tune(module, inputs: list[np.ndarray], labels: np.ndarray, epochs: int, seed: int):
    """A short supervised fine-tune (Adam, batches of 64) on labelled data."""
    import torch
    torch.manual_seed(seed)
    tensors = [torch.from_numpy(np.ascontiguousarray(x)) for x in inputs]
    target = torch.from_numpy(labels)
    optimizer = torch.optim.Adam([p for p in module.parameters() if p.requires_grad], lr=1e-3)
    _set_mode(module, training=True)
    for _ in range(epochs):
        for batch in torch.randperm(len(target)).split(64):
            optimizer.zero_grad()
            output = _as_list(module(*[t[batch] for t in tensors]))[0]
            _classification_loss(output, target[batch]).backward()
            optimizer.step()
    _set_mode(module, training=False)
    return module


def _classification_loss(output, target):
    """Cross-entropy on logits, or negative log-likelihood when the model ends in softmax."""
    import torch
    is_probability = bool((output >= 0).all() and torch.allclose(output.sum(1), torch.ones(len(output)), atol=1e-3))
    if is_probability:
        return torch.nn.functional.nll_loss(torch.log(output + 1e-9), target)
    return torch.nn.functional.cross_entropy(output, target)


def _set_mode(module, training: bool) -> None:
    try:
        module.train(training)
    except NotImplementedError:  # an exported program's module has no train/eval switch
        pass


def save_pruned(module, source: ModelHandle, out_dir: Path) -> ModelHandle:
    """torch.export the pruned module to a .pt2 (it captures removed channels too)."""
    import torch
    _, example = module_and_example(source)
    path = out_dir / "pruned.pt2"
    torch.export.save(torch.export.export(module, example), path)
    from ...loading import SourceOptions
    return open_source(path, SourceOptions(), "torch")


def intermediates(handle: ModelHandle, inputs: list[np.ndarray]) -> list[tuple[str, np.ndarray]]:
    """Every leaf module's output, in call order (forward hooks; for per-layer drift)."""
    import torch
    module = _module(handle)
    recorded, hooks = [], []
    for name, leaf in module.named_modules():
        if not any(True for _ in leaf.children()):
            hooks.append(leaf.register_forward_hook(
                lambda _m, _i, out, name=name: recorded.append((name, out))))
    try:
        with torch.no_grad():
            module(*[torch.from_numpy(np.ascontiguousarray(x)) for x in inputs])
    finally:
        for hook in hooks:
            hook.remove()
    return [(name, out.detach().numpy()) for name, out in recorded if isinstance(out, torch.Tensor)]


def gpu_runner(handle: ModelHandle):
    """A runner on CUDA tensors for timing (it returns nothing), or None without CUDA."""
    import torch
    if not torch.cuda.is_available():
        return None
    module = editable_copy(handle).to("cuda")

    def run(inputs):
        with torch.no_grad():
            module(*[torch.from_numpy(x).to("cuda") for x in inputs])
        torch.cuda.synchronize()  # time the work, not the launch
    return run


def example_input(handle: ModelHandle) -> tuple:
    return module_and_example(handle)[1]


# one record for both "torch" (factory, .pt2) and "torchscript" (.pt) sources
# both containers go by all three extensions in the wild
TORCH_EXPORT = FileKind("torch", "torch.export", (".pt2", ".pt", ".pth"))
TORCHSCRIPT = FileKind("torchscript", "TorchScript", (".pt", ".pt2", ".pth"))


def recognize(content):
    """torch.export (.pt2) and TorchScript zip archives, told apart by their members."""
    names = content.archive_names
    if names is None:
        return None
    base = {name.split("/", 1)[-1] for name in names}
    if "archive_format" in base or any(name.endswith(("serialized_exported_program.json",
                                                     "/models/model.json")) for name in names):
        return TORCH_EXPORT
    if "data.pkl" in base and any("/code/" in name for name in names):
        return TORCHSCRIPT
    if "data.pkl" in base:
        raise InputError(f"{content.path} is a PyTorch state_dict (weights only); load it with "
                         f"the code that builds the model: FILE.py:FACTORY --weights {content.path}")
    return None


FORMAT = FormatModule(
    runtime="torch", packages=("torch",),
    make_runner=make_runner, op_counts=op_counts,
    open_source=open_source, intermediates=intermediates, gpu_runner=gpu_runner,
    recognize=recognize, file_kinds=(TORCH_EXPORT, TORCHSCRIPT),
    pruning=PruningHooks(editable_copy, prunable_weights, parameter_count, fine_tune, save_pruned,
                         example_input=example_input),
)

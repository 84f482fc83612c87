"""`--prune SPARSITY`: prune the source model in its own framework before converting.

Methods (edgekit.quantize.prune*): "magnitude" zeroes the smallest weights of each layer
(smaller compressed download, same dense compute); "channels" removes whole channels
(fewer parameters and FLOPs). An optional fine-tune on labelled data (`--train`,
`--epochs`) recovers accuracy. The pruned model then becomes the reference for conversion
drift, while accuracy is still judged against the unpruned original.
"""
from __future__ import annotations

import zlib
from dataclasses import dataclass
from pathlib import Path


from .errors import InputError, UnsupportedError
from .model import ModelHandle


@dataclass(frozen=True)
class PruneSpec:
    sparsity: float
    method: str = "magnitude"
    train: Path | None = None
    epochs: int = 1


def methods() -> dict:
    from .quantize import prune, prune_channels
    return {"magnitude": prune, "channels": prune_channels}


def check(spec: PruneSpec, source_format: str) -> None:
    """Plan-time checks: a known method, a sparsity in (0, 1), a framework it supports."""
    table = methods()
    if spec.method not in table:
        raise UnsupportedError(f"unknown --prune-method '{spec.method}'; valid: {', '.join(table)}")
    if not 0.0 < spec.sparsity < 1.0:
        raise InputError(f"--prune takes a sparsity between 0 and 1 (e.g. 0.5), got {spec.sparsity}")
    hooks = table[spec.method].HOOKS
    if source_format not in hooks:
        raise UnsupportedError(
            f"--prune-method {spec.method} works on {' and '.join(hooks)} models (pruning happens "
            f"in the source framework); this model is {source_format}")
    if spec.train is not None and not Path(spec.train).is_file():
        raise InputError(f"no such training data file: {spec.train}")


def prune_source(source: ModelHandle, spec: PruneSpec, out_dir: Path, seed: int) -> tuple[ModelHandle, dict]:
    from .data import load_eval
    from .targets.registry import format_module
    framework = format_module(source.format).pruning  # check_prune refused formats without it
    method = methods()[spec.method]
    model = framework.editable_copy(source)
    params_before = framework.parameter_count(model)
    # tracing pruners (torch-pruning) need an example input; Keras masks do not
    example = framework.example_input(source) if framework.example_input is not None else None
    model = method.HOOKS[source.format](model, spec.sparsity, example)
    fine_tuned = None
    if spec.train is not None:
        train = load_eval(Path(spec.train), source)
        if train.labels is None:
            raise InputError(f"{spec.train} has no labels ('y'): fine-tuning needs them")
        model = framework.fine_tune(model, train.inputs, train.labels, spec.epochs, seed)
        fine_tuned = {"data": str(spec.train), "samples": train.samples, "epochs": spec.epochs}
    model = getattr(method, "FINISH", {}).get(source.format, lambda m: m)(model)
    weights = framework.prunable_weights(model)
    zeros = sum(int((w == 0).sum()) for w in weights)
    total = sum(w.size for w in weights)
    pruned = framework.save_pruned(model, source, out_dir)
    params_after = framework.parameter_count(model)
    summary = {
        "method": spec.method, "sparsity_requested": spec.sparsity,
        "zero_fraction": round(zeros / total, 4) if total else 0.0,  # of prunable weights
        "parameter_reduction": round(1 - params_after / params_before, 4),
        "parameters_before": params_before, "parameters_after": params_after,
        "size_bytes_before": source.size_bytes(), "size_bytes_after": pruned.size_bytes(),
        "compressed_bytes_before": compressed_size(source),
        "compressed_bytes_after": compressed_size(pruned),
        "fine_tune": fine_tuned, "path": None,
    }
    return pruned, summary


def compressed_size(handle: ModelHandle) -> int:
    """Bytes after zlib -9 of the model's files (weights included): roughly what a zipped
    download or an APK costs."""
    files = []
    for path in (Path(handle.path), handle.weights):
        if path is not None:
            files += [p for p in sorted(path.rglob("*")) if p.is_file()] if path.is_dir() else [path]
    return sum(len(zlib.compress(p.read_bytes(), 9)) for p in files)

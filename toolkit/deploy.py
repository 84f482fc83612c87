"""The deliverable of each format, where nobody has to look for it: OUT/deploy/<format>/.

A copy of the chosen model (every file it is made of: an ONNX model's external weights,
a TF.js model's shards) and `edgekit.json` beside it: what an app needs to feed and read
the model without opening it (inputs, outputs, layouts, value range, labels), what it is
(precision, route, sha256), and the mapping of the source's outputs to the model's. The
browser demo reads the same file (its `input`, `output`, `preprocessing`, `labels`).
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

from .model import files_of
from .shapes import fixed_shape
from .report import digest

METADATA = "edgekit.json"
METADATA_VERSION = 2


def deploy(outcome, workshop, work: Path, context, profile_name: str) -> dict | None:
    """Copy the chosen candidate of `outcome` to deploy/<format>/; its report entry. A model
    proven in a device's runtime also gets what an app for that device builds in, in
    deploy/<profile name>/ (TFLite Micro: the C array and the op resolver)."""
    if outcome.chosen is None:
        return None
    product = workshop.product_of(outcome.chosen.candidate)
    handle = product.verdict.handle
    source_path = Path(handle.path)
    target = work / "deploy" / outcome.fmt
    target.mkdir(parents=True)
    base = source_path if source_path.is_dir() else source_path.parent
    files = files_of(source_path) if source_path.is_dir() else handle.files()
    for file in files:
        relative = file.relative_to(base)
        if relative.name == METADATA:  # replaced by the complete one below
            continue
        (target / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(file, target / relative)
    model_path = target if source_path.is_dir() else target / source_path.name
    sha256 = digest(model_path)
    metadata = describe(handle, product, context, workshop.source, sha256)
    (target / METADATA).write_text(json.dumps(metadata, indent=2) + "\n")
    device = None
    if product.device is not None:
        runtime = workshop.devices[outcome.fmt]
        files = [] if runtime.package is None else \
            runtime.package(handle, product.device, work / "deploy" / profile_name)
        device = {**product.device, "files": [str(f.relative_to(work)) for f in files]}
    return {"format": outcome.fmt, "path": str(model_path.relative_to(work)), "device": device,
            "shapes": product.shapes, "fixed_shape": fixed_shape(handle),
            "emulated": product.emulated,
            "precision": handle.precision, "route": list(outcome.chosen.candidate.tools),
            "variant": outcome.chosen.candidate.variant.label or None,
            "candidate": outcome.chosen.candidate.describe(),
            "artifact": product.folder, "size_bytes": outcome.chosen.size_bytes,
            "sha256": sha256, "metadata": str((target / METADATA).relative_to(work))}


def describe(handle, product, context, source, sha256: str) -> dict:
    def tensor(spec):
        # batch_axis: where samples go (null: one value per call, e.g. a sample rate)
        return {"name": spec.name, "shape": list(spec.shape), "dtype": spec.dtype,
                "layout": spec.layout, "batch_axis": spec.batch_axis}
    outputs = [tensor(s) for s in handle.outputs]
    first = handle.outputs[0] if handle.outputs else None
    classes = first.shape[-1] if first is not None and first.shape and first.shape[-1] else 0
    labels = list(context.labels) if context.labels else [str(i) for i in range(classes)]
    inputs = [tensor(s) for s in handle.inputs]
    return {
        "format": "edgekit-deploy-metadata", "version": METADATA_VERSION,
        "model_format": handle.format, "precision": handle.precision,
        "source": context.source_name, "route": [c.tool for c in product.route],
        "variant": product.variant.label or None, "sha256": sha256,
        "inputs": inputs, "outputs": outputs,
        "source_outputs": [tensor(s) for s in source.outputs],
        # which of the model's outputs is which of the source's (an app that reads outputs
        # by index is broken by a reorder), and how edgekit matched them
        "output_mapping": product.verdict.output_mapping,
        # the shapes it was proven at besides the evaluation data's (edgekit.shapes), and
        # whether it takes one shape only
        "shapes": product.shapes, "fixed_shape": fixed_shape(handle),
        "preprocessing": {"range": list(context.input_range)},
        "labels": labels,
        # the first input and output, as the browser demo reads them
        "input": inputs[0] if inputs else None, "output": outputs[0] if outputs else None,
        "task": "image-classification" if inputs and len(inputs[0]["shape"]) == 4
        and len(outputs[0]["shape"]) == 2 else "generic",
    }

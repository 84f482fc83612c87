"""The run's report: report.json (stable fields other tools read), written with report.md
and the summary printed at the end (edgekit.report_text) and report.html
(edgekit.report_html).

report.json's fields, with their types and meaning, are the JSON Schema beside this module
(report.schema.json, shipped in the package): the tests validate every report they write
against it, and the README's field list is checked against it.
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

from .data import Dataset
from .drift import Drift
from .host import host
from .model import ModelHandle, files_of
from .plan import Plan

SCHEMA_VERSION = 2  # 2: the search (search, deliverables), files[]; "auto" is gone


@dataclass(frozen=True)
class Record:
    """Everything a run found out, for the report."""
    plan: Plan
    data: Dataset
    source_accuracy: float | None
    workshop: object  # edgekit.workshop.Workshop: the models made and how they were judged
    outcomes: list  # edgekit.search.Outcome per output format
    deliverables: list  # edgekit.deploy entries (None for a format that failed)
    work: Path
    versions: dict
    calibration: object = None
    pruning: dict | None = None
    source: ModelHandle | None = None  # the user's model when the plan's is its pruned version
    timings: dict | None = None  # model path -> edgekit.timing result
    warnings: list = ()


def build(record: Record) -> dict:
    profile, work = record.plan.profile, record.work
    source = record.source or record.plan.source
    products = list(record.workshop.products.values())
    fp32_sizes = {p.verdict.handle.format: p.verdict.handle.size_bytes()
                  for p in products if p.precision == "fp32"}
    kept = {record.workshop.key_of(o.kept.candidate) for o in record.outcomes if o.kept}
    timings = record.timings or {}
    rows = []
    for product in products:
        row = _artifact(product, record.source_accuracy, work, fp32_sizes)
        row.update(_timing(timings.get(str(product.verdict.handle.path))))
        row["deliverable"] = product.key in kept and row["passed"]
        rows.append(row)
    _flag_slow_quantized(rows)
    artifacts = [row for row, product in zip(rows, products) if product.key in kept]
    deliverables = [d for d in record.deliverables if d]
    return {
        "schema_version": SCHEMA_VERSION,
        "edgekit_version": record.versions.get("edgekit"),
        "target": profile.name,
        "profile": {"formats": list(profile.formats), "policy": list(profile.policy),
                    "precision_forced": profile.forced,
                    "threads": profile.threads, "budgets": asdict(profile.budgets),
                    "constraints": list(profile.constraints)},
        "passed": bool(artifacts) and all(a["passed"] for a in artifacts)
        and len(deliverables) == len(profile.formats),
        "source": {"path": str(source.path), "format": source.format,
                   "inputs": [s.describe() for s in source.inputs],
                   "outputs": [s.describe() for s in source.outputs],
                   "size_bytes": source.size_bytes(), "accuracy": record.source_accuracy,
                   **_timing(timings.get(str(source.path)))},
        "host": host(),
        "data": {"origin": record.data.origin, "samples": record.data.samples,
                 "seed": record.data.seed, "labelled": record.data.labels is not None,
                 "notes": list(record.data.notes)},
        "calibration": record.calibration.summary() if record.calibration else None,
        "search": {o.fmt: _search(o, record, rows) for o in record.outcomes},
        "deliverables": deliverables,
        "pruning": record.pruning,
        "artifacts": artifacts,
        "intermediates": [row for row in rows if not any(row is a for a in artifacts)],
        "warnings": list(record.warnings),
        "versions": record.versions,
    }


def _search(outcome, record: Record, rows: list[dict]) -> dict:
    """Every candidate of one format's search: what it was, what it measured, its verdict."""
    budgets = record.plan.profile.budgets
    candidates = []
    for trial in outcome.trials:
        candidate = trial.candidate
        verdict = trial.verdict
        drop = None
        if verdict is not None and verdict.accuracy is not None and record.source_accuracy is not None:
            drop = round((record.source_accuracy - verdict.accuracy) * 100, 4)
        product = record.workshop.product_of(candidate)
        on_disk = product is not None and any(
            r["path"].split("/")[0] == product.folder for r in rows)
        candidates.append({
            "candidate": candidate.describe(), "route": list(candidate.tools),
            "precision": candidate.precision, "variant": candidate.variant.label or None,
            "variant_note": candidate.variant.note or None,
            "status": "chosen" if trial.chosen else trial.status,
            "in_policy": candidate.precision in outcome.policy,
            "size_bytes": trial.size_bytes, "accuracy_drop": drop,
            "drift": summarize(verdict.drifts) if verdict is not None else None,
            "p50_ms": trial.p50_ms, "why": trial.reason,
            "path": product.folder if on_disk else None,
        })
    return {"policy": list(outcome.policy), "budget_points": budgets.max_accuracy_drop,
            "objective": "fastest proven candidate; smaller size breaks ties within timing noise "
                         "(and between precisions of one route that run the same computation)",
            "stopped": outcome.stopped or None, "candidates": candidates,
            "float_ranking": [layer.as_dict() for layer in outcome.ranking[:RANKING_SHOWN]]}


RANKING_SHOWN = 10


def _artifact(product, source_accuracy, work: Path, fp32_sizes: dict) -> dict:
    verdict = product.verdict
    handle = verdict.handle
    route = product.route
    drop = None
    if verdict.accuracy is not None and source_accuracy is not None:
        drop = round((source_accuracy - verdict.accuracy) * 100, 4)
    size = handle.size_bytes()
    fp32_size = fp32_sizes.get(handle.format)
    reasons = list(dict.fromkeys(c.nondeterminism for c in route if c.nondeterminism and (
        c is route[-1] or c.nondeterminism_propagates)))
    return {
        "format": handle.format, "precision": handle.precision,
        "variant": product.variant.label or None,
        "path": str(Path(handle.path).relative_to(work)),
        "size_bytes": size, "sha256": digest(Path(handle.path), handle.files()),
        "byte_reproducible": not reasons,
        "size_ratio_fp32": round(size / fp32_size, 4) if fp32_size and product.precision != "fp32" else None,
        "route": [converter.tool for converter in route],
        "inputs": [s.describe() for s in handle.inputs],
        "outputs": [s.describe() for s in handle.outputs],
        "accuracy": verdict.accuracy, "accuracy_drop": drop,
        "drift": summarize(verdict.drifts),
        "drift_per_output": [d.as_dict() for d in verdict.drifts],
        "output_mapping": verdict.output_mapping,
        "passed": verdict.passed, "problems": verdict.problems,
        "device": product.device, "emulated": product.emulated,
        "notes": [n for n in (verdict.layout_note, *handle.notes, product.variant.note) if n]
        + [f"not byte-reproducible: {reason}" for reason in reasons],
    }


NOT_TIMED = {"latency_ms": None, "threads": None, "load_ms": None, "peak_memory_bytes": None,
             "latency_verdict": None, "estimate": None, "gpu": None}


def _timing(result: dict | None) -> dict:
    """The latency fields of a report row (null when not measured, with why if it failed)."""
    if result is None:
        return dict(NOT_TIMED)
    if "error" in result:
        return {**NOT_TIMED, "latency_error": result["error"]}
    return {"latency_ms": result["latency_ms"], "threads": result["threads"],
            "affinity": result["affinity"], "load_ms": result["load_ms"],
            "peak_memory_bytes": result["peak_memory_bytes"], "latency_verdict": result["verdict"],
            "estimate": result.get("estimate"), "gpu": result.get("gpu")}


def _flag_slow_quantized(rows: list[dict]) -> None:
    """A quantized artifact that is not faster than its fp32 counterpart says so."""
    fp32 = {r["format"]: r for r in rows if r["precision"] == "fp32" and r["latency_ms"]}
    for row in rows:
        base = fp32.get(row["format"])
        if row["precision"] == "fp32" or not base or not row["latency_ms"]:
            continue
        ratio = row["latency_ms"]["p50"] / base["latency_ms"]["p50"]
        row["speedup_vs_fp32"] = round(1 / ratio, 3)
        if ratio >= 0.95:
            row["notes"].append(f"quantized but not faster than fp32 here: p50 "
                                f"{row['latency_ms']['p50']:.4g} ms vs {base['latency_ms']['p50']:.4g} ms")


def digest(path: Path, files: list[Path] | None = None) -> str:
    """SHA-256 of a model: its file or its folder's files, or the `files` it is made of
    (names relative to the model's folder, and bytes, in order)."""
    import hashlib
    sha = hashlib.sha256()
    base = path if path.is_dir() else path.parent
    for file in files if files is not None else files_of(path):
        sha.update(_name_within(file, base).encode())
        sha.update(file.read_bytes())
    return sha.hexdigest()


def _name_within(file: Path, base: Path) -> str:
    try:
        return str(file.resolve().relative_to(base.resolve()))
    except ValueError:  # a --weights file kept elsewhere
        return file.name


def summarize(drifts: list[Drift]) -> dict | None:
    """One drift record over all outputs: the worst value of each metric."""
    if not drifts:
        return None
    agreements = [d.top1_agreement for d in drifts if d.top1_agreement is not None]
    top5 = [d.top5_agreement for d in drifts if d.top5_agreement is not None]
    worst = Drift(min(agreements) if agreements else None, min(top5) if top5 else None,
                  max(d.max_abs_error for d in drifts),
                  max(d.mean_abs_error for d in drifts),
                  min(d.cosine for d in drifts),
                  min(d.sqnr_db for d in drifts), 0.0)
    return worst.as_dict()


def strict_json(report: dict) -> str:
    """JSON that strict readers (JSON.parse, jq) accept: a NaN or infinite figure becomes
    null, and a warning names the field (a bug upstream should never reach CI as `NaN`)."""
    replaced: list[str] = []

    def clean(value, where: str):
        if isinstance(value, float) and not math.isfinite(value):
            replaced.append(where)
            return None
        if isinstance(value, dict):
            return {k: clean(v, f"{where}.{k}") for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [clean(v, f"{where}[{i}]") for i, v in enumerate(value)]
        return value

    cleaned = clean(report, "report")
    if replaced and isinstance(cleaned, dict):
        cleaned.setdefault("warnings", []).extend(
            f"{where} was not a finite number; written as null" for where in replaced)
    return json.dumps(cleaned, indent=2, allow_nan=False) + "\n"


REPORT_FILES = ("report.json", "report.md", "report.html")


def write(report: dict, folder: Path, final: Path | None = None) -> dict:
    """The report files, last: report.json lists every file of the output ("files"), which
    is how a later run recognises the folder as one it may replace (see edgekit.workspace).
    Messages that name the temporary work folder name `final` instead, where the files
    will be. Returns the report as written."""
    from .report_html import render
    from .report_text import markdown
    from .workspace import listing
    if final is not None:
        report = json.loads(json.dumps(report).replace(
            json.dumps(str(folder))[1:-1], json.dumps(str(final))[1:-1]))
    report["files"] = sorted(set(listing(folder)) | set(REPORT_FILES))
    (folder / "report.json").write_text(strict_json(report))
    (folder / "report.md").write_text(markdown(report))
    (folder / "report.html").write_text(render(report))
    return report

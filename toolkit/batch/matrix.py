"""The batch's matrix: every model x target job with its status and, from its report.json,
each format's deliverable (precision, size, drift, accuracy drop, latency). Written as
matrix.json (for `edgekit check`), matrix.md and matrix.html; gated per job by
`edgekit check DIR/matrix.json` (one JUnit test case per job).
"""
from __future__ import annotations

import html
import json
from pathlib import Path

from .. import __version__, json_shape
from ..errors import EdgekitError
from ..safe_files import read_text
from ..gate import FAIL, Finding, Limits, Tolerances, check, load_report, outcome
from ..json_shape import Nullable
from .jobs import JOB_RECORD, Job

KIND = "edgekit-matrix"
SCHEMA_VERSION = 1
HEADER = ["model", "target", "job", "format", "deliverable", "size KB", "drop pt", "SQNR dB",
          "p50 ms", "job s"]
JOB_SHAPE = {"model": str, "target": str, "status": str, "message": str,
             "report": Nullable(str)}
MATRIX_SHAPE = {"kind": str, "jobs": [JOB_SHAPE]}


def build(jobs: list[Job], out: Path, recipe: Path, reused: set[str]) -> dict:
    rows = [_job_row(job, Path(out), job.name in reused) for job in jobs]
    counts = {}
    for row in rows:
        counts[row["status"]] = counts.get(row["status"], 0) + 1
    return {"kind": KIND, "schema_version": SCHEMA_VERSION, "edgekit_version": __version__,
            "recipe": str(recipe), "passed": all(r["status"] == "passed" for r in rows),
            "counts": counts, "jobs": rows}


def _job_row(job: Job, out: Path, reused: bool) -> dict:
    folder = job.folder(out)
    record = _read_json(folder / JOB_RECORD) or {}
    report_path = folder / "report.json"
    report = _read_json(report_path) if record.get("status") in ("passed", "failed") else None
    return {"model": job.model_name, "target": job.target,
            "status": record.get("status", "not run"), "exit_code": record.get("exit_code"),
            "message": record.get("message", ""), "seconds": record.get("seconds"),
            "peak_memory_bytes": record.get("peak_memory_bytes"), "reused": reused,
            "out": str(folder.relative_to(out)),
            "report": str(report_path.relative_to(out)) if report else None,
            "deliverables": _deliverables(report) if report else [],
            "missing_formats": _missing(report) if report else []}


def _deliverables(report: dict) -> list[dict]:
    artifacts = {a["path"].split("/")[0]: a for a in report.get("artifacts") or []}
    found = []
    for delivered in report.get("deliverables") or []:
        artifact = artifacts.get(delivered.get("artifact"), {})
        found.append({"format": delivered["format"], "precision": delivered["precision"],
                      "path": delivered["path"], "size_bytes": delivered["size_bytes"],
                      "accuracy_drop": artifact.get("accuracy_drop"),
                      "sqnr_db": (artifact.get("drift") or {}).get("sqnr_db"),
                      "latency_p50_ms": (artifact.get("latency_ms") or {}).get("p50")})
    return found


def _missing(report: dict) -> list[str]:
    delivered = {d["format"] for d in report.get("deliverables") or []}
    return [f for f in (report.get("profile") or {}).get("formats", []) if f not in delivered]


def _read_json(path: Path):
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def table(matrix: dict) -> list[list[str]]:
    """HEADER, then a row per job and format (a job without a report: one row)."""
    rows = [HEADER]
    for job in matrix["jobs"]:
        head = [job["model"], job["target"], job["status"] + (" (reused)" if job["reused"] else "")]
        seconds = _number(job["seconds"], "{:.0f}")
        for d in job["deliverables"]:
            rows.append(head + [d["format"], d["precision"], _number(d["size_bytes"], "{:.1f}", 1e3),
                                _number(d["accuracy_drop"], "{:.2f}"), _number(d["sqnr_db"], "{:.1f}"),
                                _number(d["latency_p50_ms"], "{:.3g}"), seconds])
        for missing in job["missing_formats"]:
            rows.append(head + [missing, "none passed", "-", "-", "-", "-", seconds])
        if not job["deliverables"] and not job["missing_formats"]:
            rows.append(head + ["-", job["message"][:80] or "-", "-", "-", "-", "-", seconds])
    return rows


def _number(value, pattern: str, scale: float = 1.0) -> str:
    return pattern.format(value / scale) if isinstance(value, (int, float)) else "-"


def _counts(matrix: dict) -> str:
    return ", ".join(f"{n} {status}" for status, n in sorted(matrix["counts"].items()))


def markdown(matrix: dict) -> str:
    rows = table(matrix)
    lines = [f"# edgekit batch: {'PASSED' if matrix['passed'] else 'FAILED'} ({_counts(matrix)})", "",
             f"Recipe: `{matrix['recipe']}`", "",
             "| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(rows[0])]
    lines += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in rows[1:]]
    problems = [f"- **{j['model']} / {j['target']}**: {j['status']}: {j['message']}"
                for j in matrix["jobs"] if j["status"] != "passed" and j["message"]]
    return "\n".join(lines + ([""] + problems if problems else [])) + "\n"


def render_html(matrix: dict) -> str:
    from ..report_html import STYLE, html_table
    header, *rows = table(matrix)
    classes = ["deliver" if row[2].startswith("passed") else "fail" for row in rows]
    passed = matrix["passed"]
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>edgekit batch</title>
<style>{STYLE}</style></head><body>
<h1>edgekit batch: <code>{html.escape(matrix['recipe'])}</code></h1>
<p class="banner {'pass' if passed else 'fail'}"><b>{'PASSED' if passed else 'FAILED'}</b>
({html.escape(_counts(matrix))})</p>
{html_table(header, list(zip(classes, rows)), "matrix-table")}
<ul>{''.join(f'<li class="problem">{html.escape(j["model"])} / {html.escape(j["target"])}: '
             f'{html.escape(j["status"])}: {html.escape(j["message"])}</li>'
             for j in matrix["jobs"] if j["status"] != "passed" and j["message"])}</ul>
</body></html>
"""


def write(matrix: dict, out: Path) -> Path:
    out = Path(out)
    (out / "matrix.md").write_text(markdown(matrix))
    (out / "matrix.html").write_text(render_html(matrix))
    path = out / "matrix.json"
    path.write_text(json.dumps(matrix, indent=2) + "\n")
    return path


def is_matrix(path: Path) -> bool:
    """A batch's matrix.json (a report.json, or anything else, is not): read only when
    it is a regular file, so that a FIFO or a device given to `check` does not block."""
    try:
        data = json.loads(read_text(Path(path)))
    except (EdgekitError, ValueError):
        return False  # the report loader says what is wrong with it
    return isinstance(data, dict) and data.get("kind") == KIND


def gate(path: Path, baseline: Path | None = None, tolerances: Tolerances = Tolerances(),
         limits: Limits = Limits()) -> list[Finding]:
    """One finding per job: its report re-checked by the gate (edgekit.gate), or a failure
    when the job ended without one (an error, a crash, a kill, a time-out)."""
    matrix = json_shape.load(Path(path), MATRIX_SHAPE, "an edgekit matrix.json")
    earlier = _baseline_reports(baseline) if baseline else {}
    findings = []
    for job in matrix["jobs"]:
        name = f"{job['model']}/{job['target']}"
        if job["report"] is None:
            findings.append(Finding(name, FAIL, f"{job['status']}: {job['message'] or 'no report'}"))
            continue
        report = load_report(Path(path).parent / job["report"])
        old = earlier.get((job["model"], job["target"]))
        checks = check(report, load_report(old) if old else None, tolerances, limits)
        verdict = outcome(checks)
        failing = [f"{c.name}: {c.message}" for c in checks if c.outcome == verdict] \
            if verdict != "pass" else ["passed: " + ", ".join(c.name for c in checks)]
        findings.append(Finding(name, verdict, "; ".join(failing)))
    return findings


def _baseline_reports(path: Path) -> dict:
    matrix = json_shape.load(Path(path), MATRIX_SHAPE, "an edgekit matrix.json")
    return {(j["model"], j["target"]): Path(path).parent / j["report"]
            for j in matrix["jobs"] if j["report"]}

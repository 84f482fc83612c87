"""`edgekit check REPORT [--baseline OLD]`: the CI gate over a report edgekit wrote.

Exit codes: 0 every budget holds, 2 a budget failed (accuracy drop, drift, size, latency,
or a regression against the baseline), 3 inconclusive (a latency that decides the outcome
was measured as noisy), 1 user error. Optionally writes JUnit XML, one test case per check.
"""
from __future__ import annotations

import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass
from pathlib import Path

from . import json_shape
from .json_shape import NUMBER, Optional

PASS, FAIL, INCONCLUSIVE = "pass", "fail", "inconclusive"
EXIT_CODES = {PASS: 0, FAIL: 2, INCONCLUSIVE: 3}


@dataclass(frozen=True)
class Tolerances:
    """Allowed regression against a baseline report."""
    accuracy_points: float = 0.5
    size_ratio: float = 1.10  # artifact may grow by 10%
    latency_ratio: float = 1.25  # p50 may grow by 25%


@dataclass(frozen=True)
class Finding:
    name: str  # e.g. "tflite int8: budgets"
    outcome: str
    message: str


ARTIFACT_SHAPE = {"format": str, "precision": str, "passed": bool, "problems": [str],
                  "size_bytes": int, "accuracy": Optional(NUMBER),
                  "latency_ms": Optional({"p50": NUMBER}), "latency_verdict": Optional(str)}
REPORT_SHAPE = {"artifacts": [ARTIFACT_SHAPE],
                "profile": Optional({"budgets": Optional({"max_latency_ms": Optional(NUMBER)})})}


def load_report(path: Path) -> dict:
    """A report.json, checked to have every field the gate reads (with the right types)."""
    return json_shape.load(Path(path), REPORT_SHAPE, "an edgekit report.json")


def check(report: dict, baseline: dict | None = None,
          tolerances: Tolerances = Tolerances()) -> list[Finding]:
    findings = []
    if not report["artifacts"]:
        findings.append(Finding("report", FAIL, "the report lists no artifacts"))
    for artifact in report["artifacts"]:
        name = f"{artifact['format']} {artifact['precision']}"
        findings.append(_budgets(name, artifact, report))
    if baseline is not None:
        old = {(a["format"], a["precision"]): a for a in baseline["artifacts"]}
        for artifact in report["artifacts"]:
            key = (artifact["format"], artifact["precision"])
            if key in old:
                findings += _regressions(f"{key[0]} {key[1]}", artifact, old[key], tolerances)
            else:
                findings.append(Finding(f"{key[0]} {key[1]}: baseline", PASS,
                                        "new artifact: no baseline to compare with"))
    return findings


def _budgets(name: str, artifact: dict, report: dict) -> Finding:
    if not artifact["passed"]:
        return Finding(f"{name}: budgets", FAIL, "; ".join(artifact["problems"]) or "failed")
    limit = (report.get("profile") or {}).get("budgets", {}).get("max_latency_ms")
    latency = artifact.get("latency_ms")
    if limit is not None and latency:
        if latency["p50"] > limit:
            outcome = INCONCLUSIVE if artifact.get("latency_verdict") == "noisy" else FAIL
            return Finding(f"{name}: budgets", outcome,
                           f"p50 {latency['p50']} ms > budget {limit} ms"
                           + (" (measured as noisy)" if outcome == INCONCLUSIVE else ""))
    return Finding(f"{name}: budgets", PASS, "accuracy, drift and size within budget")


def _regressions(name: str, new: dict, old: dict, tolerances: Tolerances) -> list[Finding]:
    findings = []
    if new.get("accuracy") is not None and old.get("accuracy") is not None:
        drop = (old["accuracy"] - new["accuracy"]) * 100
        findings.append(Finding(f"{name}: accuracy vs baseline",
                                FAIL if drop > tolerances.accuracy_points else PASS,
                                f"{old['accuracy']:.4f} -> {new['accuracy']:.4f} ({-drop:+.2f} points)"))
    ratio = new["size_bytes"] / max(old["size_bytes"], 1)
    findings.append(Finding(f"{name}: size vs baseline", FAIL if ratio > tolerances.size_ratio else PASS,
                            f"{old['size_bytes']} -> {new['size_bytes']} bytes (x{ratio:.3f})"))
    if new.get("latency_ms") and old.get("latency_ms"):
        ratio = new["latency_ms"]["p50"] / old["latency_ms"]["p50"]
        noisy = "noisy" in (new.get("latency_verdict"), old.get("latency_verdict"))
        outcome = PASS if ratio <= tolerances.latency_ratio else INCONCLUSIVE if noisy else FAIL
        findings.append(Finding(f"{name}: latency vs baseline", outcome,
                                f"p50 {old['latency_ms']['p50']} -> {new['latency_ms']['p50']} ms "
                                f"(x{ratio:.3f}){' (noisy)' if noisy else ''}"))
    return findings


def outcome(findings: list[Finding]) -> str:
    outcomes = {f.outcome for f in findings}
    return FAIL if FAIL in outcomes else INCONCLUSIVE if INCONCLUSIVE in outcomes else PASS


def write_junit(findings: list[Finding], path: Path) -> None:
    suite = ElementTree.Element("testsuite", name="edgekit", tests=str(len(findings)),
                                failures=str(sum(f.outcome == FAIL for f in findings)),
                                skipped=str(sum(f.outcome == INCONCLUSIVE for f in findings)))
    for finding in findings:
        case = ElementTree.SubElement(suite, "testcase", classname="edgekit.check", name=finding.name)
        if finding.outcome == FAIL:
            ElementTree.SubElement(case, "failure", message=finding.message)
        elif finding.outcome == INCONCLUSIVE:
            ElementTree.SubElement(case, "skipped", message=finding.message)
        else:
            ElementTree.SubElement(case, "system-out").text = finding.message
    ElementTree.ElementTree(suite).write(path, encoding="utf-8", xml_declaration=True)

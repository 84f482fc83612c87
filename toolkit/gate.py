"""`edgekit check REPORT [--baseline OLD]`: the CI gate over a report edgekit wrote.

The gate judges the figures, not the flags: each artifact's accuracy drop, SQNR, size and
latency are re-checked against the profile's budgets in the report (or stricter ones given
to `check`), and a report whose figures contradict its `passed` flags is refused.

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
from .profile import breaks

PASS, FAIL, INCONCLUSIVE = "pass", "fail", "inconclusive"
EXIT_CODES = {PASS: 0, FAIL: 2, INCONCLUSIVE: 3}


@dataclass(frozen=True)
class Tolerances:
    """Allowed regression against a baseline report."""
    accuracy_points: float = 0.5
    size_ratio: float = 1.10  # artifact may grow by 10%
    latency_ratio: float = 1.25  # p50 may grow by 25%


@dataclass(frozen=True)
class Limits:
    """Budgets `check` applies on top of the report's own (None: the report's, if any)."""
    max_accuracy_drop: float | None = None
    min_sqnr_db: float | None = None
    max_size_mb: float | None = None
    max_latency_ms: float | None = None


@dataclass(frozen=True)
class Finding:
    name: str  # e.g. "tflite int8: budgets"
    outcome: str
    message: str


ARTIFACT_SHAPE = {"format": str, "precision": str, "passed": bool, "problems": [str],
                  "size_bytes": int, "accuracy": Optional(NUMBER), "accuracy_drop": Optional(NUMBER),
                  "drift": Optional({"sqnr_db": Optional((int, float, str))}),
                  "latency_ms": Optional({"p50": NUMBER}), "latency_verdict": Optional(str)}
BUDGETS_SHAPE = {"max_accuracy_drop": Optional(NUMBER), "max_size_mb": Optional(NUMBER),
                 "max_latency_ms": Optional(NUMBER)}
REPORT_SHAPE = {"artifacts": [ARTIFACT_SHAPE],
                "profile": Optional({"budgets": Optional(BUDGETS_SHAPE)})}


def load_report(path: Path) -> dict:
    """A report.json, checked to have every field the gate reads (with the right types)."""
    return json_shape.load(Path(path), REPORT_SHAPE, "an edgekit report.json")


def check(report: dict, baseline: dict | None = None,
          tolerances: Tolerances = Tolerances(), limits: Limits = Limits()) -> list[Finding]:
    findings = []
    if not report["artifacts"]:
        findings.append(Finding("report", FAIL, "the report lists no artifacts"))
    budgets = (report.get("profile") or {}).get("budgets") or {}
    for artifact in report["artifacts"]:
        name = f"{artifact['format']} {artifact['precision']}"
        findings.append(_budgets(name, artifact, budgets, limits))
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


def _strictest(*limits, lower_is_stricter: bool = True):
    given = [limit for limit in limits if limit is not None]
    return (min if lower_is_stricter else max)(given) if given else None


def _budgets(name: str, artifact: dict, budgets: dict, limits: Limits) -> Finding:
    """The artifact judged from its figures; its own flag only adds its recorded problems."""
    broken, contradicted = [], False  # contradicted: a budget of the report's own is broken

    def judge(value, own, given, message, lower_is_stricter=True):
        nonlocal contradicted
        limit = _strictest(own, given, lower_is_stricter=lower_is_stricter)
        if value is not None and limit is not None and (
                breaks(value, limit) if lower_is_stricter else value < limit):
            broken.append(message(value, limit))
            contradicted |= own is not None and (breaks(value, own) if lower_is_stricter else value < own)

    judge(artifact.get("accuracy_drop"), budgets.get("max_accuracy_drop"), limits.max_accuracy_drop,
          lambda v, limit: f"accuracy drop {v} points > budget {limit}")
    sqnr = (artifact.get("drift") or {}).get("sqnr_db")
    judge(sqnr if isinstance(sqnr, (int, float)) else None, None, limits.min_sqnr_db,
          lambda v, limit: f"SQNR {v} dB < {limit} dB", lower_is_stricter=False)
    own_size = budgets.get("max_size_mb")
    judge(artifact["size_bytes"] / 1e6, own_size, limits.max_size_mb,
          lambda v, limit: f"size {v:.2f} MB > budget {limit} MB")
    latency, latency_limit = artifact.get("latency_ms"), _strictest(
        budgets.get("max_latency_ms"), limits.max_latency_ms)
    slow = latency_limit is not None and latency and latency["p50"] > latency_limit
    if artifact["passed"] and contradicted:  # its figures say otherwise: not to be trusted
        return Finding(f"{name}: budgets", FAIL, "the report says passed, but its figures break "
                       "its own budget: " + "; ".join(broken))
    if not artifact["passed"] or broken:
        return Finding(f"{name}: budgets", FAIL, "; ".join(broken + artifact["problems"]) or "failed")
    if slow:
        outcome = INCONCLUSIVE if artifact.get("latency_verdict") == "noisy" else FAIL
        return Finding(f"{name}: budgets", outcome, f"p50 {latency['p50']} ms > budget {latency_limit} ms"
                       + (" (measured as noisy)" if outcome == INCONCLUSIVE else ""))
    return Finding(f"{name}: budgets", PASS, "accuracy, drift, size and latency within budget")


def _regressions(name: str, new: dict, old: dict, tolerances: Tolerances) -> list[Finding]:
    findings = []
    if new.get("accuracy") is not None and old.get("accuracy") is not None:
        drop = (old["accuracy"] - new["accuracy"]) * 100
        findings.append(Finding(f"{name}: accuracy vs baseline",
                                FAIL if breaks(drop, tolerances.accuracy_points) else PASS,
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

"""`edgekit check`: exit codes 0 / 2 / 3 / 1, baselines, JUnit XML."""
import copy
import json
import xml.etree.ElementTree as ElementTree

import pytest
from click.testing import CliRunner

from edgekit.cli import cli

ARTIFACT = {"format": "tflite", "precision": "int8", "path": "03_tflite_int8/model.tflite",
            "size_bytes": 42000, "accuracy": 0.972, "passed": True, "problems": [],
            "latency_ms": {"p50": 0.5}, "latency_verdict": "ok"}
REPORT = {"target": "android", "passed": True, "profile": {"budgets": {"max_latency_ms": None}},
          "artifacts": [ARTIFACT]}


def variant(**changes) -> dict:
    report = copy.deepcopy(REPORT)
    budget = changes.pop("max_latency_ms", None)
    report["profile"]["budgets"]["max_latency_ms"] = budget
    report["artifacts"][0].update(changes)
    return report


def gate(tmp_path, report, baseline=None, *extra):
    (tmp_path / "new.json").write_text(json.dumps(report))
    args = ["check", str(tmp_path / "new.json"), *extra]
    if baseline is not None:
        (tmp_path / "old.json").write_text(json.dumps(baseline))
        args += ["--baseline", str(tmp_path / "old.json")]
    return CliRunner().invoke(cli, args)


@pytest.mark.parametrize("report, code", [
    (variant(), 0),
    (variant(passed=False, problems=["accuracy drop 3.00 points > budget 1.0"]), 2),
    (variant(max_latency_ms=0.1), 2),
    (variant(max_latency_ms=0.1, latency_verdict="noisy"), 3),
    (variant(max_latency_ms=1.0, latency_verdict="noisy"), 0),  # noisy but clearly within
])
def test_exit_codes(tmp_path, report, code):
    assert gate(tmp_path, report).exit_code == code


def test_user_errors_exit_1(tmp_path):
    assert CliRunner().invoke(cli, ["check", str(tmp_path / "missing.json")]).exit_code == 1
    (tmp_path / "other.json").write_text('{"hello": 1}')
    result = CliRunner().invoke(cli, ["check", str(tmp_path / "other.json")])
    assert result.exit_code == 1 and "not an edgekit report" in result.output


@pytest.mark.parametrize("changes, code, name", [
    ({"accuracy": 0.960}, 2, "accuracy vs baseline"),
    ({"size_bytes": 60000}, 2, "size vs baseline"),
    ({"latency_ms": {"p50": 0.9}}, 2, "latency vs baseline"),
    ({"latency_ms": {"p50": 0.9}, "latency_verdict": "noisy"}, 3, "latency vs baseline"),
    ({"accuracy": 0.970, "size_bytes": 43000}, 0, "size vs baseline"),
])
def test_regressions_against_a_baseline(tmp_path, changes, code, name):
    result = gate(tmp_path, variant(**changes), REPORT)
    assert result.exit_code == code, result.output
    assert name in result.output


def test_junit_xml(tmp_path):
    gate(tmp_path, variant(accuracy=0.95), REPORT, "--junit", str(tmp_path / "junit.xml"))
    suite = ElementTree.parse(tmp_path / "junit.xml").getroot()
    assert suite.get("failures") == "1" and int(suite.get("tests")) >= 3
    failed = [c.get("name") for c in suite.iter("testcase") if c.find("failure") is not None]
    assert failed == ["tflite int8: accuracy vs baseline"]

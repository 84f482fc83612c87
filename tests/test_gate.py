"""`edgekit check`: exit codes 0 / 2 / 3 / 1, baselines, JUnit XML."""
import copy
import json
import xml.etree.ElementTree as ElementTree

import pytest
from click.testing import CliRunner

from edgekit.cli import cli

pytestmark = pytest.mark.pure  # no framework, runtime or Node (conftest: FRAMEWORKS)

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


def with_budget(report: dict, **budgets) -> dict:
    report = copy.deepcopy(report)
    report["profile"]["budgets"].update(budgets)
    return report


def test_the_gate_judges_the_figures_not_the_flag(tmp_path):
    """A report whose figures show a 20-point drop but whose flags say passed is refused."""
    lying = with_budget(variant(accuracy_drop=20.0), max_accuracy_drop=0.5)
    result = gate(tmp_path, lying)
    assert result.exit_code == 2 and "says passed, but its figures break" in result.output
    honest = with_budget(variant(accuracy_drop=0.3), max_accuracy_drop=0.5)
    assert gate(tmp_path, honest).exit_code == 0


@pytest.mark.parametrize("option, value, changes, code", [
    ("--max-accuracy-drop", "0.2", {"accuracy_drop": 0.3}, 2),
    ("--max-accuracy-drop", "0.5", {"accuracy_drop": 0.3}, 0),
    ("--min-sqnr", "30", {"drift": {"sqnr_db": 25.0}}, 2),
    ("--min-sqnr", "30", {"drift": {"sqnr_db": "inf"}}, 0),
    ("--max-size-mb", "0.01", {}, 2),
    ("--max-latency-ms", "0.1", {}, 2),
])
def test_stricter_budgets_given_to_check(tmp_path, option, value, changes, code):
    assert gate(tmp_path, variant(**changes), None, option, value).exit_code == code


def test_a_drop_of_exactly_the_budget_passes_despite_floating_point(tmp_path):
    drop = (0.972 - 0.967) * 100  # 0.5000000000000004
    assert drop > 0.5
    report = with_budget(variant(accuracy_drop=drop), max_accuracy_drop=0.5)
    assert gate(tmp_path, report).exit_code == 0
    baseline = variant(accuracy=0.972)
    assert gate(tmp_path, variant(accuracy=0.967), baseline).exit_code == 0


def test_convert_counts_a_drop_of_exactly_the_budget_as_within_it(tmp_path):
    import numpy as np

    from edgekit.data import Dataset
    from edgekit.model import ModelHandle
    from edgekit.profile import Budgets
    from edgekit.quantize import PRECISIONS
    from edgekit.tensors import TensorSpec
    from edgekit.judge import judge
    spec = (TensorSpec("x", (None, 2), "float32"),)
    (tmp_path / "m.tflite").write_bytes(b"model")
    handle = ModelHandle(tmp_path / "m.tflite", "tflite", spec, spec)
    labels = np.array([0] * 1000)
    outputs = np.tile(np.array([[1.0, 0.0]], np.float32), (1000, 1))
    outputs[:33, :] = [0.0, 1.0]  # 96.7% right
    data = Dataset([outputs], labels, "test")
    verdict = judge(handle, handle, data, [outputs], PRECISIONS["fp32"].tolerance,
                    Budgets(max_accuracy_drop=0.5), source_accuracy=0.972,
                    runner=lambda inputs: [outputs])
    assert verdict.accuracy == 0.967 and verdict.passed, verdict.problems

"""What a person reads after a run: the table printed by `convert` (fits 100 columns or
$COLUMNS, a legend, `--wide`), report.md's sections, and report.html's charts.

Built from tests/data/report_android_torch.json: the report of a real run (the torch sample
for android with --prune 0.5 and --max-drop 0.2; paths shortened to OUT) into which a
failed and an erroring candidate were edited, since the sample models fail nothing."""
import copy
import json
import subprocess
import sys
from pathlib import Path

import pytest

from edgekit.report_text import markdown, summary

pytestmark = pytest.mark.pure  # no framework, runtime or Node (conftest: FRAMEWORKS)

REPORT = json.loads((Path(__file__).parent / "data" / "report_android_torch.json").read_text())


@pytest.fixture
def report() -> dict:
    return copy.deepcopy(REPORT)


def table_of(text: str) -> list[str]:
    """The table's lines: the header, its rule, one row per model (source + every row)."""
    return text.splitlines()[:3 + len(REPORT["intermediates"]) + len(REPORT["artifacts"])]


def test_the_default_table_fits_100_columns_and_the_wide_one_has_every_column(report, monkeypatch):
    monkeypatch.delenv("COLUMNS", raising=False)
    wide = summary(report, Path("OUT"), wide=True)
    assert max(len(line) for line in table_of(wide)) > 100  # what the default used to print
    assert table_of(wide)[0].split() == ["model", "format", "precision", "size", "KB", "x", "fp32",
                                         "accuracy", "top-1", "agree", "max", "abs", "err", "SQNR",
                                         "dB", "cosine", "p50", "ms", "verdict"]
    assert "05_tflite_int8_float2/model.tflite" in wide
    text = summary(report, Path("OUT"))
    table = table_of(text)
    assert max(len(line) for line in text.splitlines()) <= 100
    assert text.splitlines()[len(table)].startswith("DELIVER: in deploy/")  # the legend follows
    assert set(table[1]) == {"-", " "} and table[2].split()[0] == "source"
    assert table[-1].split()[0] == "03_tflite_int8-dynamic" and table[-1].endswith("DELIVER")
    assert any(line.endswith("(fail)") for line in table)


@pytest.mark.parametrize("columns, most", [("72", 72), ("60", 60), ("300", 100)])
def test_the_table_respects_COLUMNS(report, monkeypatch, columns, most):
    monkeypatch.setenv("COLUMNS", columns)
    table = table_of(summary(report, Path("OUT")))
    assert max(len(line) for line in table) <= most
    header = table[0].split()
    assert {"model", "precision", "accuracy", "verdict"} <= set(header)  # never dropped


def test_a_narrow_table_shortens_model_names_in_the_middle(report, monkeypatch):
    monkeypatch.setenv("COLUMNS", "60")
    rows = [line.split()[0] for line in table_of(summary(report, Path("OUT")))[2:]]
    assert any(".." in name for name in rows)
    assert [name[:2] for name in rows[1:]] == ["01", "02", "04", "05", "03"]  # step numbers kept


def test_the_legend_explains_only_the_marks_shown(report):
    text = summary(report, Path("OUT"), width=100)  # the terminal's width would drop columns
    legend = text[text.index("DELIVER:"):text.index("tflite search")]
    assert "~: noisy timing" in legend and "(ok)/(fail)" in legend and "x fp32" in legend
    for row in report["intermediates"] + report["artifacts"]:
        row["latency_verdict"] = "ok"
    assert "noisy" not in summary(report, Path("OUT"), width=100)


def test_the_last_line_names_report_html(report):
    last = " ".join(summary(report, Path("OUT")).splitlines()[-2:])
    assert "report: OUT/report.html" in last and "PASSED" in last


def test_report_md_has_every_section(report):
    text = markdown(report)
    for expected in ("| model | format | precision |", "(ok)/(fail)", "Deliverable for tflite",
                     "Search for tflite", "**failed**", "**error**", "int8 damage ranking",
                     "Pruning (magnitude", "Calibration: 200 samples", "Versions: edgekit",
                     "GPU: none (no NVIDIA driver found)", "route litert-torch -> ai-edge-quantizer"):
        assert expected in text, expected
    assert "GPU: False" not in text


def test_the_latency_whisker_runs_from_p50_to_p90_only(report):
    from matplotlib.collections import LineCollection

    from edgekit import report_charts
    from edgekit.results_table import models
    timed = [m for m in models(report) if m.get("latency_ms")]
    figure = report_charts.latency(models(report))
    whiskers, = [c for c in figure.axes[0].collections if isinstance(c, LineCollection)]
    spans = [(round(a[1], 6), round(b[1], 6)) for a, b in whiskers.get_segments()]
    assert spans == [(round(m["latency_ms"]["p50"], 6), round(m["latency_ms"]["p90"], 6)) for m in timed]


def test_every_measured_candidate_is_on_the_scatter_and_every_label_is_10_pt(report):
    from matplotlib.text import Text

    from edgekit import report_charts
    from edgekit.results_table import models
    scatter = report_charts.candidates(report)
    measured = [c for c in report["search"]["tflite"]["candidates"]
                if c["size_bytes"] is not None and c["accuracy_drop"] is not None]
    points = [tuple(p) for c in scatter.axes[0].collections for p in c.get_offsets()]
    assert sorted(points) == sorted((c["size_bytes"] / 1e3, c["accuracy_drop"]) for c in measured)
    figures = [report_charts.latency(models(report)), scatter,
               report_charts.layer_damage("tflite", report["search"]["tflite"]["float_ranking"])]
    sizes = [t.get_fontsize() for f in figures for t in f.findobj(Text) if t.get_text().strip()]
    assert sizes and min(sizes) >= 10


def test_report_html_leaves_the_callers_matplotlib_alone():
    # the raw rcParam: matplotlib.get_backend() itself imports pyplot to resolve "auto"
    code = ("import json, sys, matplotlib; backend = lambda: dict.__getitem__(matplotlib.rcParams, 'backend');"
            "before = backend();"
            "from edgekit.report_html import render;"
            f"html = render(json.load(open({str(Path(__file__).parent / 'data' / 'report_android_torch.json')!r})));"
            "assert 'matplotlib.pyplot' not in sys.modules, 'pyplot imported';"
            "assert backend() == before, backend();"
            "print(html.count('<img'))")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert int(run.stdout) == 5  # latency, candidates, size, SQNR, int8 damage


def test_a_failed_run_is_said_in_every_output(report):
    from edgekit.report_html import render
    artifact, = report["artifacts"]
    artifact.update(passed=False, deliverable=False, problems=["accuracy drop 0.90 points > budget 0.2"])
    report.update(passed=False, deliverables=[])
    page = render(report)
    assert '<p class="banner fail"><b>FAILED</b>' in page
    assert '<li class="problem">tflite: nothing delivered (no candidate passed)</li>' in page
    assert '<li class="problem">problem: accuracy drop 0.90 points &gt; budget 0.2</li>' in page
    assert '<tr class="fail"><td>03_tflite_int8-dynamic/model.tflite</td>' in page
    text = summary(report, Path("OUT"))
    assert table_of(text)[-1].endswith("FAIL") and "FAIL: nothing passed" in text
    assert "target android: FAILED" in text


def _schema_fields(schema) -> set[str]:
    """Every property name the schema defines, at any depth."""
    found = set()
    if isinstance(schema, dict):
        found |= set(schema.get("properties", {}))
        for value in schema.values():
            found |= _schema_fields(value)
    elif isinstance(schema, list):
        for value in schema:
            found |= _schema_fields(value)
    return found


def test_the_readme_field_list_agrees_with_the_report_schema():
    """The README names every top-level field of report.json and no field the schema lacks."""
    import re
    from importlib import resources
    schema = json.loads(resources.files("edgekit").joinpath("report.schema.json").read_text())
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    start = readme.index("`report.json` fields:")
    paragraph = readme[start:readme.index("\n\n", start)]
    named = set(re.findall(r"`(\w+)(?:\[\])?`", paragraph)) - {"report"}
    assert set(schema["properties"]) <= named, set(schema["properties"]) - named
    assert named <= _schema_fields(schema), named - _schema_fields(schema)


def test_a_report_breaking_its_schema_is_caught(report, tmp_path):
    """The schema check the session runs over every report is not vacuous."""
    from report_outline import schema_problems
    (tmp_path / "report.json").write_text(json.dumps(report))
    assert schema_problems(tmp_path / "report.json") == []  # the stored report itself is valid
    broken = copy.deepcopy(report)
    broken["artifacts"][0]["drift"]["sqnr_db"] = "very good"
    del broken["target"]
    (tmp_path / "report.json").write_text(json.dumps(broken))
    problems = "\n".join(schema_problems(tmp_path / "report.json"))
    assert "'target' is a required property" in problems and "sqnr_db" in problems


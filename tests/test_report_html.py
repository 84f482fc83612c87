"""report.html in headless Chromium: every section of report.md, failures highlighted,
the deliverable marked, charts loaded, labels readable. A screenshot is kept in the test's
tmp path (report.png) for a person to look at."""
import copy
import json
from pathlib import Path

import pytest

from edgekit.report import write

REPORT = json.loads((Path(__file__).parent / "data" / "report_android_torch.json").read_text())
SECTIONS = ["summary", "results", "deliverables", "routes", "search", "charts", "pruning",
            "calibration", "warnings", "versions"]


def background(page, selector: str) -> str:
    return page.eval_on_selector(selector, "e => getComputedStyle(e).backgroundColor")


@pytest.fixture(scope="module")
def report_page(tmp_path_factory, chromium):
    from edgekit.targets.browser import page as browser_page
    tmp_path = tmp_path_factory.mktemp("report")
    write(copy.deepcopy(REPORT), tmp_path)  # as convert writes it: report.json, .md, .html
    with browser_page() as page:
        page.set_viewport_size({"width": 1280, "height": 900})
        page.goto((tmp_path / "report.html").as_uri())
        page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
        yield page
    assert (tmp_path / "report.png").stat().st_size > 10_000


def test_every_section_of_report_md_is_on_the_page(report_page):
    assert [s.get_attribute("id") for s in report_page.query_selector_all("section")] == SECTIONS
    body = report_page.inner_text("body")
    for expected in ("PASSED", "sparsity requested", "200 samples of sample_models/digits_eval.npz",
                     "litert-torch -> ai-edge-quantizer", "ai-edge-quantizer failed: unsupported op GELU",
                     "model/dense/MatMul", "Versions"):
        assert expected in body, expected
    assert "GPU: none (no NVIDIA driver found)" in body and "GPU: False" not in body


def test_failures_are_highlighted_and_the_deliverable_marked(report_page):
    failed = report_page.query_selector_all("#results-table tr.fail")
    assert [row.inner_text().split("\t")[-1].strip() for row in failed] == ["(fail)"]
    delivered, = report_page.query_selector_all("#results-table tr.deliver")
    assert delivered.inner_text().strip().endswith("DELIVER")
    plain = background(report_page, "#results-table tr:nth-child(3)")  # an (ok) row
    assert background(report_page, "#results-table tr.fail") != plain
    assert background(report_page, "#results-table tr.deliver") not in (plain, background(
        report_page, "#results-table tr.fail"))
    statuses = [row.inner_text().split("\t")[2] for row in report_page.query_selector_all("#search-tflite tr.fail")]
    assert statuses == ["failed", "error"]


def test_every_chart_is_loaded_and_captioned(report_page):
    images = report_page.query_selector_all("#charts img")
    assert len(images) == 5  # latency, candidates, size, SQNR, int8 damage per tensor
    for image in images:
        assert image.evaluate("i => i.complete && i.naturalWidth > 200 && i.naturalHeight > 100")
        assert image.get_attribute("alt")
    smallest = report_page.evaluate(
        "() => Math.min(...[...document.querySelectorAll('body *')].filter(e => e.innerText && "
        "e.children.length === 0).map(e => parseFloat(getComputedStyle(e).fontSize)))")
    assert smallest >= 10 * 96 / 72 * 0.9  # >= ~12 px: the page's own text is readable too

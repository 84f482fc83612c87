"""The browser demo in real headless Chromium, and the demo server's refusals."""
import json
import urllib.error
import urllib.request
from pathlib import Path

import pytest

import edgekit
from conftest import SAMPLES
from edgekit.demo import routes
from edgekit.serve import start, url

SCREENSHOTS = Path(__file__).resolve().parent / "artifacts"
DIGITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


@pytest.fixture(scope="module")
def web_model(tmp_path_factory):
    out = tmp_path_factory.mktemp("web") / "out"
    result = edgekit.convert(str(SAMPLES / "digits_keras.keras"), "web", out,
                             eval_data=SAMPLES / "digits_eval.npz", labels=DIGITS)
    model_dir = out / result.report["artifacts"][0]["path"]
    assert json.loads((model_dir / "edgekit.json").read_text())["labels"] == list(DIGITS)
    return model_dir


@pytest.fixture
def server(web_model, tmp_path):
    (tmp_path / "secret.txt").write_text("not for the browser")
    (web_model.parent / "escape").unlink(missing_ok=True)
    (web_model / "escape.txt").symlink_to(tmp_path / "secret.txt")
    served = start(routes(web_model))
    yield served
    served.shutdown()
    (web_model / "escape.txt").unlink()


def status(address: str, method: str = "GET") -> int:
    request = urllib.request.Request(address, method=method)
    try:
        with urllib.request.urlopen(request) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def test_server_binds_to_localhost_only(server):
    assert server.server_address[0] == "127.0.0.1"


@pytest.mark.parametrize("path, code", [
    ("/", 200), ("/model/model.json", 200), ("/model/edgekit.json", 200),
    ("/vendor/tfjs/dist/tf.min.js", 200), ("/nope.html", 404),
    ("/model/../../README.md", 403), ("/%2e%2e/README.md", 403), ("/model/%2E%2E/x", 403),
    ("/model/escape.txt", 403),  # a symlink out of the served folder
])
def test_server_refuses_paths_outside_its_folders(server, path, code):
    import http.client
    connection = http.client.HTTPConnection("127.0.0.1", server.server_address[1])
    connection.request("GET", path)  # raw: urllib would normalise the `..` away
    assert connection.getresponse().status == code


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE"])
def test_server_refuses_other_methods(server, method):
    assert status(url(server), method) == 405
    assert status(url(server), "HEAD") == 200


def draw_one(page):
    """A vertical stroke down the middle of the pad: a "1"."""
    box = page.locator("#pad").bounding_box()
    x = box["x"] + box["width"] / 2
    page.mouse.move(x, box["y"] + box["height"] * 0.15)
    page.mouse.down()
    for step in range(1, 21):
        page.mouse.move(x, box["y"] + box["height"] * (0.15 + 0.7 * step / 20))
    page.mouse.up()


@pytest.mark.slow
def test_drawing_a_one_in_chromium_predicts_one_on_every_backend(server, chromium):
    from edgekit.targets.browser import page as browser_page
    SCREENSHOTS.mkdir(exist_ok=True)
    with browser_page() as page:
        page.goto(url(server))
        page.evaluate("() => window.edgekitDemo.ready")
        draw_one(page)
        page.wait_for_selector("#top3 li")
        assert page.locator("#top3 li").first.get_attribute("data-label") == "one"  # --labels shown
        page.screenshot(path=str(SCREENSHOTS / "demo-drawn-1.png"))
        seen = {}
        for backend in ("webgl", "wasm", "cpu"):
            page.select_option("#backend", backend)
            page.wait_for_function(f"() => document.querySelector('#timing').textContent.includes('{backend}')"
                                   f" || document.querySelector('#status').textContent !== ''")
            result = page.evaluate("() => window.edgekitDemo.predict()")
            seen[result["backend"]] = result["label"]
        assert set(seen.values()) == {"one"}, seen
        assert "wasm" in seen and "cpu" in seen


@pytest.mark.slow
def test_browser_drift_check_agrees_with_the_original_on_every_backend(web_model, chromium):
    from click.testing import CliRunner

    from edgekit.cli import cli
    result = CliRunner().invoke(cli, ["validate", str(SAMPLES / "digits_keras.keras"), str(web_model),
                                      "--eval", str(SAMPLES / "digits_eval.npz"), "--browser", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output[result.output.index("{"):])
    browser = {run["backend"]: run for run in report["runs"] if run["runtime"] == "chromium"}
    assert set(browser) == {"wasm", "webgl", "cpu"}
    assert browser["wasm"]["available"]
    for run in browser.values():
        if run["available"]:
            assert run["drift"]["top1_agreement"] >= 0.99 and run["passed"]
        else:
            assert run["reason"]  # said plainly, not failed
    metadata = json.loads((web_model / "edgekit.json").read_text())
    assert report["precision"] == metadata["precision"]  # read from the metadata edgekit wrote


@pytest.mark.slow
def test_report_html_opens_in_chromium_with_its_plots(web_model, chromium):
    from edgekit.targets.browser import page as browser_page
    report = web_model.parent.parent / "report.html"
    with browser_page() as page:
        page.goto(report.as_uri())
        assert page.locator("table tr").count() >= 3  # header, source, artifacts
        assert page.locator("#charts img").count() >= 3  # latency, candidates, size, drift (SVG images)
        assert "PASSED" in page.inner_text("body")
        page.screenshot(path=str(SCREENSHOTS / "report.png"), full_page=True)
    markdown = (web_model.parent.parent / "report.md").read_text()
    assert "| model | format |" in markdown and "|---|" in markdown

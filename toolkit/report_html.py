"""report.html: the report for people, with plots (matplotlib, embedded as SVG so the file
stands alone and opens offline): latency, size and drift per model, and per-layer int8
error when the accuracy-aware search measured it."""
from __future__ import annotations

import html
import io

from .report import HEADERS, table_rows


def render(report: dict) -> str:
    rows = table_rows(report)
    table = "<table><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in HEADERS) + "</tr>"
    table += "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>"
                     for row in rows) + "</table>"
    models = [report["source"] | {"path": "source", "precision": "-"}] + \
        report["intermediates"] + report["artifacts"]
    figures = [_bars("p50 latency (ms, host CPU; error bar to p90)", models, _latency),
               _bars("size (KB)", models, lambda m: (m["size_bytes"] / 1e3, None)),
               _bars("SQNR against the reference (dB; higher is closer)", models[1:], _sqnr)]
    for fmt, search in (report.get("search") or {}).items():
        if search["float_ranking"]:
            figures.append(_layers(f"{fmt}: int8 error per tensor (median relative)",
                                   search["float_ranking"]))
    problems = "".join(f"<li><code>{html.escape(a['path'])}</code>: {html.escape(p)}</li>"
                       for a in report["artifacts"] for p in a["problems"] + a["notes"])
    host = report.get("host") or {}
    verdict = "PASSED" if report["passed"] else "FAILED"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>edgekit report: {html.escape(report['target'])}</title>
<style>body{{font-family:system-ui,sans-serif;margin:2rem;color:#222}}
table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:.25rem .5rem;text-align:right}}
td:first-child,th:first-child{{text-align:left}}.plots{{display:flex;flex-wrap:wrap;gap:1rem}}
.pass{{color:#1a7f37}}.fail{{color:#cf222e}}</style></head><body>
<h1>edgekit report: <code>{html.escape(report['source']['path'])}</code> for {html.escape(report['target'])}</h1>
<p class="{'pass' if report['passed'] else 'fail'}"><b>{verdict}</b> on {report['data']['samples']} samples
from {html.escape(str(report['data']['origin']))}. Host: {html.escape(str(host.get('cpu')))},
ISA {html.escape(', '.join(host.get('isa') or []))}; GPU: {html.escape(str((host.get('gpu') or {}).get('available')))}.
Latency figures are host measurements, not device figures.</p>
{table}
<ul>{problems}</ul>
<div class="plots">{''.join(f for f in figures if f)}</div>
</body></html>
"""


def _latency(model: dict):
    latency = model.get("latency_ms")
    return (latency["p50"], latency["p90"] - latency["p50"]) if latency else (None, None)


def _sqnr(model: dict):
    value = (model.get("drift") or {}).get("sqnr_db")
    return (None if value in (None, "inf") else value, None)


def _bars(title: str, models: list[dict], measure, log_when_spread: float = 20.0) -> str:
    labels, values, errors = [], [], []
    for model in models:
        value, error = measure(model)
        if value is not None:
            labels.append(f"{model['path'].split('/')[0]}\n{model['precision']}")
            values.append(value)
            errors.append(error or 0)
    if not values:
        return ""
    figure, axes = _figure(len(values))
    axes.bar(range(len(values)), values, yerr=errors if any(errors) else None, color="#4c72b0")
    axes.set_xticks(range(len(values)), labels, fontsize=7)
    if min(values) > 0 and max(values) / min(values) > log_when_spread:
        axes.set_yscale("log")  # a framework and its TFLite model can be 100x apart
    axes.set_title(title, fontsize=9)
    return _svg(figure)


def _layers(title: str, ranking: list[dict]) -> str:
    if not ranking:
        return ""
    figure, axes = _figure(max(6, len(ranking)))
    axes.barh([r["tensor"][-40:] for r in ranking][::-1],
              [r["median_relative_error"] for r in ranking][::-1], color="#dd8452")
    axes.tick_params(labelsize=6)
    axes.set_title(title, fontsize=9)
    return _svg(figure)


def _figure(count: int):
    import matplotlib
    matplotlib.use("Agg")  # no display: render to files only
    import matplotlib.pyplot as plt
    return plt.subplots(figsize=(max(4.0, 1.1 * count), 3.2))


def _svg(figure) -> str:
    import matplotlib.pyplot as plt
    buffer = io.StringIO()
    figure.tight_layout()
    figure.savefig(buffer, format="svg")
    plt.close(figure)
    text = buffer.getvalue()
    return text[text.index("<svg"):]  # drop the XML prologue: the SVG sits inside HTML

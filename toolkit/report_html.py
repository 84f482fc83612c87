"""report.html: the report for people. Every section of report.md (results, deliverables,
routes, search attempts, pruning, calibration, warnings, host, versions), failures
highlighted, deliverables marked, and charts (edgekit.report_charts) embedded as SVG images
so the file stands alone and opens offline."""
from __future__ import annotations

import base64
import html
import re

from . import report_charts as charts
from .report_text import deliverable_details, gpu_text
from .results_table import WIDE, cells, legend, models, verdict

ROW_CLASS = {"DELIVER": "deliver", "FAIL": "fail", "(fail)": "fail", "reference": "source"}
NUMBER = re.compile(r"^(-|[-+]?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?%?~?|inf)$")  # right-aligned cells
STATUS_CLASS = {"chosen": "deliver", "failed": "fail", "error": "fail"}
STYLE = """body{font-family:system-ui,sans-serif;margin:2rem;color:#222;max-width:80rem}
table{border-collapse:collapse;margin:.5rem 0}td,th{border:1px solid #ccc;padding:.25rem .5rem;text-align:left}
td.num{text-align:right;font-variant-numeric:tabular-nums}th{background:#f3f3f3}
tr.deliver{background:#dafbe1;font-weight:600}tr.fail{background:#ffebe9;color:#82071e}tr.source{background:#f6f8fa}
.banner{padding:.6rem 1rem;border-radius:6px;font-size:1.2rem}.banner.pass{background:#dafbe1}
.banner.fail{background:#ffebe9;color:#82071e}li.problem,.problem{color:#cf222e;font-weight:600}
.legend{color:#555;font-size:.9rem}.charts{display:flex;flex-wrap:wrap;gap:1.5rem}
figure{margin:0}figcaption{font-size:.9rem;color:#555;max-width:40rem}code{font-size:.95em}"""


def _e(value) -> str:
    return html.escape("-" if value is None else str(value))


def html_table(header: list[str], rows: list[tuple[str, list[str]]], table_id: str) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join(f'<tr class="{cls}">' + "".join(
        f'<td class="num">{html.escape(c)}</td>' if NUMBER.match(c) else f"<td>{html.escape(c)}</td>"
        for c in row) + "</tr>" for cls, row in rows)
    return f'<table id="{table_id}"><tr>{head}</tr>{body}</table>'


def _results(report: dict) -> str:
    header, *rows = cells(report, WIDE)
    classes = [ROW_CLASS.get(verdict(m, report), "") for m in models(report)]
    return (html_table(header, list(zip(classes, rows)), "results-table")
            + f'<p class="legend">{html.escape(legend([header, *rows], hidden=False))}</p>')


def _deliverables(report: dict) -> str:
    items = "".join(
        f"<li><b>{_e(d['format'])}</b>: <code>{_e(d['path'])}</code> ({_e(d['candidate'])}), "
        f"{d['size_bytes'] / 1e3:.1f} KB, sha256 <code>{_e(d['sha256'][:16])}</code>..., metadata "
        f"<code>{_e(d['metadata'])}</code>" + _details(d, report) + "</li>"
        for d in report.get("deliverables") or [])
    missing = [f for f in report["profile"]["formats"]
               if f not in {d["format"] for d in report.get("deliverables") or []}]
    items += "".join(f'<li class="problem">{_e(f)}: nothing delivered (no candidate passed)</li>'
                     for f in missing)
    return f"<ul>{items}</ul>"


def _details(d: dict, report: dict) -> str:
    lines = deliverable_details(d, report["profile"]["budgets"])
    return f"<ul>{''.join(f'<li>{_e(line)}</li>' for line in lines)}</ul>" if lines else ""


def _routes(report: dict) -> str:
    parts = []
    for a in report["artifacts"]:
        lines = [f"<li>{'deliverable' if a.get('deliverable') else 'kept, failing'}: "
                 f"<code>{_e(a['path'])}</code> via {_e(' -> '.join(a['route']))}; GPU: "
                 f"{_e(gpu_text(a.get('gpu')))}</li>"]
        lines += [f'<li class="problem">problem: {_e(p)}</li>' for p in a["problems"]]
        lines += [f"<li>note: {_e(n)}</li>" for n in a["notes"]]
        parts.append("<ul>" + "".join(lines) + "</ul>")
    return "".join(parts)


def _search(report: dict) -> str:
    parts = []
    for fmt, search in (report.get("search") or {}).items():
        rows = [(STATUS_CLASS.get(c["status"], ""),
                 [str(i), c["candidate"], c["status"], _num(c["size_bytes"], 1e-3, ".1f"),
                  _num(c["accuracy_drop"], 1, ".2f"), _num(c["p50_ms"], 1, ".4g"), c["why"] or ""])
                for i, c in enumerate(search["candidates"], 1)]
        parts.append(f"<h3>{_e(fmt)}</h3><p>policy {_e(', '.join(search['policy']))}; "
                     f"{_e(search['objective'])}; budget {_e(search['budget_points'])} points"
                     + (f"; {_e(search['stopped'])}" if search["stopped"] else "") + "</p>"
                     + html_table(["#", "candidate", "status", "size KB", "drop pt", "p50 ms", "why"],
                              rows, f"search-{fmt}"))
        if search["float_ranking"]:
            parts.append("<p>int8 damage ranking: " + ", ".join(
                f"<code>{_e(r['tensor'])}</code> ({_e(r['median_relative_error'])})"
                for r in search["float_ranking"]) + "</p>")
    return "".join(parts)


def _num(value, scale: float, pattern: str) -> str:
    return "-" if value is None else format(value * scale, pattern)


def _fields(title_id: str, record: dict | None) -> str:
    if not record:
        return ""
    rows = [("", [key.replace("_", " "), _flat(value)]) for key, value in record.items()]
    return html_table(["field", "value"], rows, title_id)


def _flat(value) -> str:
    if isinstance(value, dict):
        return "; ".join(f"{k} {_flat(v)}" for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return ", ".join(_flat(v) for v in value) or "-"
    return "-" if value is None else str(value)


def _figure(figure, caption: str) -> str:
    if figure is None:
        return ""
    data = base64.b64encode(charts.svg(figure).encode()).decode()
    return (f'<figure><img src="data:image/svg+xml;base64,{data}" alt="{html.escape(caption)}">'
            f"<figcaption>{html.escape(caption)}</figcaption></figure>")


def _charts(report: dict) -> str:
    rows = models(report)
    figures = [
        _figure(charts.latency(rows), "p50 latency per model on the host CPU; the whisker reaches "
                "p90; hatched bars are noisy timings; green: delivered"),
        _figure(charts.candidates(report), "every candidate of the search by size and accuracy "
                "drop (SQNR without labels): the chosen one, the proven ones that lost, the failed"),
        _figure(charts.bars("size", "KB", rows, lambda m: m["size_bytes"] / 1e3), "size per model"),
        _figure(charts.bars("SQNR against the reference (higher is closer)", "dB", rows[1:],
                            lambda m: _finite((m.get("drift") or {}).get("sqnr_db"))),
                "SQNR per model (an identical output, inf, is not drawn)"),
    ]
    figures += [_figure(charts.layer_damage(fmt, s["float_ranking"]), f"{fmt}: int8 damage per tensor")
                for fmt, s in (report.get("search") or {}).items() if s["float_ranking"]]
    return '<div class="charts">' + "".join(f for f in figures if f) + "</div>"


def _finite(value):
    return value if isinstance(value, (int, float)) else None


def _section(section_id: str, title: str, body: str) -> str:
    return f'<section id="{section_id}"><h2>{html.escape(title)}</h2>{body}</section>' if body else ""


def render(report: dict) -> str:
    data, host, profile = report["data"], report.get("host") or {}, report["profile"]
    passed = report["passed"]
    budgets = "; ".join(f"{k.replace('_', ' ')} {v}" for k, v in profile["budgets"].items() if v is not None)
    calibration = report.get("calibration")
    warnings = list(report.get("warnings") or []) + list((calibration or {}).get("warnings") or [])
    summary = (
        f'<p class="banner {"pass" if passed else "fail"}"><b>{"PASSED" if passed else "FAILED"}</b>'
        f" on {_e(data['samples'])} samples from {_e(data['origin'])}"
        + ("" if data["labelled"] else " (no labels: accuracy not measured)") + "</p>"
        + "<ul>" + "".join(f"<li>{_e(n)}</li>" for n in data.get("notes") or [])
        + f"<li>profile {_e(report['target'])}: formats {_e(', '.join(profile['formats']))}, "
        f"{_e(profile['threads'])} thread(s), budgets: {_e(budgets)}</li>"
        f"<li>host: {_e(host.get('cpu'))}, {_e(host.get('cores'))} cores, ISA "
        f"{_e(', '.join(host.get('isa') or []) or 'unknown')}; GPU: {_e(gpu_text(host.get('gpu')))}. "
        "Latencies are measured on this host, not on the device.</li></ul>")
    body = "".join([
        _section("summary", "Summary", summary),
        _section("results", "Results", _results(report)),
        _section("deliverables", "Deliverables", _deliverables(report)),
        _section("routes", "Routes, problems and notes", _routes(report)),
        _section("search", "Search attempts", _search(report)),
        _section("charts", "Charts", _charts(report)),
        _section("pruning", "Pruning", _fields("pruning-table", report.get("pruning"))),
        _section("calibration", "Calibration", _fields("calibration-table", calibration)),
        _section("warnings", "Warnings", "<ul>" + "".join(
            f'<li class="problem">{_e(w)}</li>' for w in warnings) + "</ul>" if warnings else ""),
        _section("versions", "Versions", html_table(["package", "version"], [
            ("", [k, str(v)]) for k, v in (report.get("versions") or {}).items()], "versions-table")),
    ])
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>edgekit report: {_e(report['target'])}</title>
<style>{STYLE}</style></head><body>
<h1>edgekit report: <code>{_e(report['source']['path'])}</code> for {_e(report['target'])}</h1>
{body}
</body></html>
"""

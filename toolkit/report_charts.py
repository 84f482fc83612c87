"""The charts of report.html, drawn with matplotlib's object API (`Figure`, never pyplot
or `matplotlib.use`: a caller's backend and open figures stay as they were) and returned as
Figures for `svg()`. Labels are at least 10 pt.

- latency: the p50 bar with an asymmetric whisker up to p90 (latency spreads upwards; a
  symmetric bar ran below zero, off a log axis), noisy timings hatched;
- size, and SQNR against the reference;
- every candidate of the search: accuracy drop (or SQNR without labels) against size,
  coloured by its verdict, with the accuracy budget;
- the int8 damage per tensor when the search ranked layers.
"""
from __future__ import annotations

import io
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from matplotlib.figure import Figure

FONT = 10  # pt, the smallest text on any chart
BLUE, GREEN, RED, GREY = "#4c72b0", "#1a7f37", "#cf222e", "#8c8c8c"
STATUS_STYLE = {  # search status -> (marker, colour, legend)
    "chosen": ("*", GREEN, "chosen"), "passed": ("o", BLUE, "proven, lost"),
    "failed": ("X", RED, "failed"), "error": ("X", RED, "failed"), "skipped": ("o", GREY, "skipped"),
}
LOG_WHEN_SPREAD = 20.0  # a framework and its TFLite model can be 100x apart


def _figure(width: float, height: float = 3.6):
    from matplotlib.figure import Figure
    return Figure(figsize=(width, height), layout="constrained")


def svg(figure) -> str:
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg")
    return buffer.getvalue()


def _label(model: dict) -> str:
    step = model["path"].split("/")[0]
    return step if step == "source" else f"{step.split('_')[0]}\n{model['precision']}"


def _style(axes, title: str, ylabel: str) -> None:
    axes.set_title(title, fontsize=FONT + 1)
    axes.set_ylabel(ylabel, fontsize=FONT)
    axes.tick_params(labelsize=FONT)


def latency(models: list[dict]) -> "Figure | None":
    timed = [m for m in models if m.get("latency_ms")]
    if not timed:
        return None
    p50 = [m["latency_ms"]["p50"] for m in timed]
    upper = [max(0.0, m["latency_ms"]["p90"] - m["latency_ms"]["p50"]) for m in timed]
    figure = _figure(max(5.0, 1.0 * len(timed) + 1.5))
    axes = figure.subplots()
    noisy = [m.get("latency_verdict") == "noisy" for m in timed]
    bars = axes.bar(range(len(timed)), p50, color=[GREEN if m.get("deliverable") else BLUE for m in timed])
    for bar, hatched in zip(bars, noisy):
        if hatched:
            bar.set_hatch("//")
            bar.set_alpha(0.6)
    axes.errorbar(range(len(timed)), p50, yerr=[[0.0] * len(timed), upper], fmt="none",
                  ecolor="#222", capsize=4, linewidth=1.2)
    axes.set_xticks(range(len(timed)), [_label(m) for m in timed], fontsize=FONT)
    if min(p50) > 0 and max(p + u for p, u in zip(p50, upper)) / min(p50) > LOG_WHEN_SPREAD:
        axes.set_yscale("log")
        axes.set_ylim(bottom=min(p50) / 2)  # bars rise from below the smallest one
    _style(axes, "p50 latency on the host CPU; whisker to p90; hatched: noisy", "ms")
    return figure


def bars(title: str, ylabel: str, models: list[dict], value) -> "Figure | None":
    shown = [(m, value(m)) for m in models if value(m) is not None]
    if not shown:
        return None
    figure = _figure(max(5.0, 1.0 * len(shown) + 1.5))
    axes = figure.subplots()
    values = [v for _, v in shown]
    axes.bar(range(len(shown)), values,
             color=[GREEN if m.get("deliverable") else RED if not m.get("passed", True) else BLUE
                    for m, _ in shown])
    axes.set_xticks(range(len(shown)), [_label(m) for m, _ in shown], fontsize=FONT)
    if min(values) > 0 and max(values) / min(values) > LOG_WHEN_SPREAD:
        axes.set_yscale("log")
    _style(axes, title, ylabel)
    return figure


def candidates(report: dict) -> "Figure | None":
    """Accuracy drop (points; SQNR in dB when there are no labels) against size, for every
    candidate of every format's search that was measured."""
    labelled = report["data"]["labelled"]
    points = []
    for fmt, search in (report.get("search") or {}).items():
        for c in search["candidates"]:
            y = c["accuracy_drop"] if labelled else ((c.get("drift") or {}).get("sqnr_db"))
            if c["size_bytes"] is not None and isinstance(y, (int, float)):
                points.append((c, c["size_bytes"] / 1e3, y))
    if not points:
        return None
    figure = _figure(6.5, 4.0)
    axes = figure.subplots()
    seen = set()
    for i, (c, x, y) in enumerate(points):
        marker, colour, name = STATUS_STYLE.get(c["status"], ("o", GREY, c["status"]))
        axes.scatter([x], [y], marker=marker, color=colour, s=120 if marker == "*" else 60,
                     label=None if name in seen else name, zorder=3)
        seen.add(name)
        axes.annotate(c["precision"] + (f" [{c['variant']}]" if c.get("variant") else ""), (x, y),
                      textcoords="offset points", xytext=(6, 4 if i % 2 else -14), fontsize=FONT)
    sizes = [x for _, x, _ in points]
    if min(sizes) > 0 and max(sizes) / min(sizes) > LOG_WHEN_SPREAD:
        axes.set_xscale("log")
    if labelled:
        budget = next(iter((report.get("search") or {}).values()), {}).get("budget_points")
        if budget is not None:
            axes.axhline(budget, color=RED, linestyle="--", linewidth=1, label=f"budget {budget} pt")
    axes.set_xlabel("size (KB)", fontsize=FONT)
    _style(axes, "every candidate: " + ("accuracy drop vs size (lower is better)" if labelled
                                         else "SQNR vs size (higher is closer)"),
           "accuracy drop (points)" if labelled else "SQNR (dB)")
    axes.legend(fontsize=FONT)
    axes.grid(alpha=0.3)
    return figure


def layer_damage(fmt: str, ranking: list[dict]) -> "Figure | None":
    if not ranking:
        return None
    figure = _figure(7.5, max(2.5, 0.45 * len(ranking) + 1.2))
    axes = figure.subplots()
    axes.barh([r["tensor"][-40:] for r in ranking][::-1],
              [r["median_relative_error"] for r in ranking][::-1], color="#dd8452")
    axes.set_xlabel("median relative error", fontsize=FONT)
    axes.tick_params(labelsize=FONT)
    axes.set_title(f"{fmt}: int8 error per tensor", fontsize=FONT + 1)
    return figure

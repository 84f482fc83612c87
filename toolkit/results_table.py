"""The results table: one row per model (the source, then every model the run kept).

Two widths from one column table. `convert` prints the compact one, which fits a terminal
(at most 100 columns, fewer when $COLUMNS says so): the step folder instead of the model's
path, the format left to the folder's name, no max-abs-error or cosine column. `--wide`,
report.md and report.html show every column. A legend under the table explains its marks
(`~`, `(ok)`, `x fp32`), naming only the ones the table shows.
"""
from __future__ import annotations

import shutil
import textwrap
from dataclasses import dataclass
from typing import Callable

DEFAULT_WIDTH = 100  # the compact table's most columns, however wide the terminal
MIN_MODEL_WIDTH = 12  # the model column is shortened down to this before columns go
SEPARATOR = "  "


def _fmt(value, pattern: str) -> str:
    return "-" if value is None else format(value, pattern)


def _sqnr(row: dict) -> str:
    sqnr = (row.get("drift") or {}).get("sqnr_db")
    return sqnr if isinstance(sqnr, str) else _fmt(sqnr, ".1f")


def _p50(row: dict) -> str:
    latency = row.get("latency_ms")
    if not latency:
        return "-"
    return f"{latency['p50']:.3g}" + ("~" if row.get("latency_verdict") == "noisy" else "")


def verdict(row: dict, report: dict) -> str:
    if row.get("is_source"):
        return "reference"
    if any(row is a for a in report["artifacts"]):
        return "DELIVER" if row["passed"] else "FAIL"
    return "(ok)" if row["passed"] else "(fail)"


def _step_folder(row: dict, report: dict) -> str:
    """The compact path: the model's step folder (`03_tflite_int8`), which names its
    format, precision and variant; the file inside it is the format's usual name."""
    return row["path"].split("/")[0]


@dataclass(frozen=True)
class Column:
    header: str
    cell: Callable[[dict, dict], str]  # (model row, report) -> text
    compact: bool = True  # shown in the default table
    drop_rank: int | None = None  # too narrow even so: dropped lowest rank first (None: kept)
    numeric: bool = True  # right-aligned
    short: str | None = None  # the compact table's header
    compact_cell: Callable[[dict, dict], str] | None = None  # the compact table's text


def _drift(key: str, pattern: str):
    return lambda row, report: _fmt((row.get("drift") or {}).get(key), pattern)


WIDE = [
    Column("model", lambda row, report: row["path"], numeric=False, compact_cell=_step_folder),
    Column("format", lambda row, report: row["format"], compact=False, numeric=False),
    Column("precision", lambda row, report: row["precision"], numeric=False),
    Column("size KB", lambda row, report: _fmt(row["size_bytes"] / 1e3, ".1f"), drop_rank=4),
    Column("x fp32", lambda row, report: _fmt(row.get("size_ratio_fp32"), ".2f"), drop_rank=1),
    Column("accuracy", lambda row, report: _fmt(row["accuracy"], ".2%")),
    Column("top-1 agree", _drift("top1_agreement", ".2%"), drop_rank=3, short="agree"),
    Column("max abs err", _drift("max_abs_error", ".2e"), compact=False),
    Column("SQNR dB", lambda row, report: _sqnr(row), drop_rank=2),
    Column("cosine", _drift("cosine", ".6f"), compact=False),
    Column("p50 ms", lambda row, report: _p50(row)),
    Column("verdict", verdict, numeric=False),
]
COMPACT = [Column(c.short or c.header, c.compact_cell or c.cell, True, c.drop_rank, c.numeric)
           for c in WIDE if c.compact]

# (shown when, text): only the marks the table shows are explained
LEGEND = [
    (lambda cells: "DELIVER" in cells, "DELIVER: in deploy/"),
    (lambda cells: "FAIL" in cells, "FAIL: nothing passed, the closest candidate kept"),
    (lambda cells: "(ok)" in cells or "(fail)" in cells, "(ok)/(fail): proven/failed, not delivered"),
    (lambda cells: any(c.endswith("~") for c in cells), "~: noisy timing"),
    (lambda cells: "x fp32" in cells, "x fp32: size / the fp32 model's"),
    (lambda cells: "agree" in cells or "top-1 agree" in cells, "agree: top-1 agreement with the source"),
]


def models(report: dict) -> list[dict]:
    """The rows: the source first, then the models made on the way, then the kept ones."""
    source = report["source"]
    return [{**source, "path": "source", "precision": "-", "size_ratio_fp32": None,
             "drift": None, "passed": True, "is_source": True}] \
        + report["intermediates"] + report["artifacts"]


def cells(report: dict, columns: list[Column]) -> list[list[str]]:
    """Header and one row of text per model."""
    return [[c.header for c in columns]] + [[c.cell(row, report) for c in columns]
                                            for row in models(report)]


def terminal_width() -> int:
    """$COLUMNS when set, else the terminal's width, else 100; never more than 100."""
    return min(DEFAULT_WIDTH, shutil.get_terminal_size((DEFAULT_WIDTH, 24)).columns)


def fit(report: dict, width: int) -> tuple[list[Column], list[list[str]]]:
    """The compact table within `width`: the model column shortened in its middle (its
    step number stays), then the least needed columns dropped."""
    columns = list(COMPACT)
    while True:
        rows = cells(report, columns)
        excess = _width(rows) - width
        if excess <= 0:
            return columns, rows
        model = max(len(r[0]) for r in rows)
        if model - excess >= MIN_MODEL_WIDTH:
            return columns, [[_elide(r[0], model - excess)] + r[1:] for r in rows]
        droppable = [c for c in columns if c.drop_rank is not None]
        if not droppable:  # as narrow as it gets
            return columns, [[_elide(r[0], MIN_MODEL_WIDTH)] + r[1:] for r in rows]
        columns.remove(min(droppable, key=lambda c: c.drop_rank))


def _width(rows: list[list[str]]) -> int:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return sum(widths) + len(SEPARATOR) * (len(widths) - 1)


def _elide(text: str, width: int) -> str:
    if len(text) <= width:
        return text
    head = (width - 2 + 1) // 2
    return text[:head] + ".." + text[len(text) - (width - 2 - head):]


def render(columns: list[Column], rows: list[list[str]]) -> list[str]:
    """Aligned text: numbers right, names left, a rule under the header."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(columns))]

    def line(row):
        return SEPARATOR.join(cell.rjust(w) if c.numeric else cell.ljust(w)
                              for cell, w, c in zip(row, widths, columns)).rstrip()
    return [line(rows[0]), SEPARATOR.join("-" * w for w in widths)] + [line(r) for r in rows[1:]]


def legend(rows: list[list[str]], hidden: bool) -> str:
    """One line (before wrapping) explaining the marks in `rows`."""
    shown = {cell for row in rows for cell in row}
    parts = [text for applies, text in LEGEND if applies(shown)]
    if hidden:
        parts.append("--wide: all columns")
    return "; ".join(parts)


def wrap(text: str, width: int, indent: str = "") -> list[str]:
    """Prose wrapped to the width; paths and other long words are never broken."""
    return textwrap.wrap(text, width, subsequent_indent=indent, break_long_words=False,
                         break_on_hyphens=False) or [""]

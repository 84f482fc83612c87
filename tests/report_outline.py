"""report.json checked against its schema, and its outline for the golden files.

The outline is what review should see change: every key path of the report (list items
merged, as `artifacts[].drift.sqnr_db`; artifacts and intermediates, one record, together) and the values that do not depend on timing
(target, profile, formats, policies, tensor specs). Regenerate the golden files with
`EDGEKIT_UPDATE_GOLDEN=1 make test` (or that variable on the one test) and commit the diff.
"""
from __future__ import annotations

import json
import os
from functools import lru_cache
from importlib import resources
from pathlib import Path

GOLDEN = Path(__file__).resolve().parent / "golden"
UPDATE = os.environ.get("EDGEKIT_UPDATE_GOLDEN") == "1"
# maps whose keys are data (package names, input names) or depend on the host (a GPU's
# runtime or why there is none): listed, not descended into
OPEN_MAPS = {"versions", "ranges", "gpu"}


@lru_cache(maxsize=1)
def validator():
    import jsonschema
    schema = json.loads(resources.files("edgekit").joinpath("report.schema.json").read_text())
    return jsonschema.Draft202012Validator(schema)


def schema_problems(path: Path) -> list[str]:
    report = json.loads(path.read_text())
    return [f"{path}: at {'/'.join(map(str, error.absolute_path)) or '(top)'}: {error.message[:200]}"
            for error in validator().iter_errors(report)]


def outline(report: dict) -> str:
    """The report's key paths and stable values, one per line, sorted."""
    lines = {f"target = {report['target']}", f"source.format = {report['source']['format']}",
             f"source.inputs = {report['source']['inputs']}",
             f"source.outputs = {report['source']['outputs']}"}
    lines |= {f"profile.{key} = {json.dumps(value, sort_keys=True)}"
              for key, value in report["profile"].items()}
    lines |= {f"search.{fmt}.policy = {search['policy']}" for fmt, search in report["search"].items()}
    # artifact rows share one record; which of them is the deliverable (artifacts) and which
    # lost (intermediates) depends on timing, so their fields are listed together
    rows = report.get("artifacts", []) + report.get("intermediates", [])
    lines |= set(_paths({**report, "artifacts": rows, "intermediates": []}, ""))
    return "\n".join(sorted(lines)) + "\n"


def _paths(value, where: str):
    if isinstance(value, dict):
        for key, item in value.items():
            path = f"{where}.{key}" if where else key
            yield path
            if key not in OPEN_MAPS:
                yield from _paths(item, path)
    elif isinstance(value, list):
        for item in value:
            yield from _paths(item, f"{where}[]")


def matches_golden(report: dict, name: str) -> tuple[bool, str]:
    """(equal, diff) against tests/golden/NAME.txt; with EDGEKIT_UPDATE_GOLDEN=1 the file
    is written instead."""
    import difflib
    golden = GOLDEN / f"{name}.txt"
    current = outline(report)
    if UPDATE:
        golden.parent.mkdir(exist_ok=True)
        golden.write_text(current)
    if not golden.exists():
        return False, f"no {golden}: write it with EDGEKIT_UPDATE_GOLDEN=1"
    expected = golden.read_text()
    diff = "".join(difflib.unified_diff(expected.splitlines(True), current.splitlines(True),
                                        f"golden/{name}.txt", "this run"))
    return expected == current, diff

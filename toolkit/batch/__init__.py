"""`edgekit batch RECIPE --out DIR`: every model x target of a recipe, each job `edgekit
convert` in its own process, on an engine (one after another, or Dask distributed), then
the matrix of outcomes. From the command to the files:

    recipe.py   the recipe file and its schema (convert's own options)
    jobs.py     one job: its resumption key, its process, its memory/time limits, landing
    engines.py  where jobs run: sequentially, or on Dask (embedded on 127.0.0.1, or a cluster)
    matrix.py   matrix.json/.md/.html, and the per-job gate `edgekit check` applies
"""
from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ..errors import InputError
from . import engines, jobs, matrix, recipe


@dataclass(frozen=True)
class BatchResult:
    matrix: dict
    path: Path  # matrix.json
    ran: int
    reused: int

    @property
    def passed(self) -> bool:
        return self.matrix["passed"]


def run_batch(recipe_path, out, *, workers: int = 1, address: str | None = None,
              force: bool = False, progress: Callable[[str], None] = print,
              warn: Callable[[str], None] = print) -> BatchResult:
    """Run the recipe's jobs not already done (all with `force`) on `workers` at once
    (1: one after another; more: an embedded Dask cluster) or on the Dask scheduler at
    `address`; write DIR/matrix.json, .md and .html."""
    loaded = recipe.load(recipe_path)
    out = Path(out).resolve()
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out} is a file, not a folder")
    out.mkdir(parents=True, exist_ok=True)
    every = jobs.jobs_of(loaded)
    todo = every if force else [job for job in every if not jobs.is_done(job, out)]
    reused = {job.name for job in every} - {job.name for job in todo}
    for name in sorted(reused):
        progress(f"{name}: unchanged since its last run, kept (--force redoes it)")
    finished = []

    def done(job, outcome):
        finished.append(job)
        progress(f"[{len(finished)}/{len(todo)}] {job.name}: {outcome.status}"
                 f"{': ' + outcome.message if outcome.message and outcome.status != 'passed' else ''}"
                 f" ({outcome.seconds:.0f} s, peak {outcome.peak_memory_bytes / 1e9:.2f} GB)")

    if todo:
        progress(f"{len(todo)} job(s) to run " + (f"on the Dask scheduler at {address}" if address
                 else "one at a time" if workers <= 1 else f"{workers} at a time (Dask, 127.0.0.1)"))
        if address or workers > 1:
            engines.on_dask(todo, out, done, workers=workers, address=address, warn=warn)
        else:
            engines.sequential(todo, out, done)
        shutil.rmtree(out / jobs.STAGING, ignore_errors=True)  # emptied as each job landed
    result = matrix.build(every, out, loaded.path, reused)
    return BatchResult(result, matrix.write(result, out), len(todo), len(reused))

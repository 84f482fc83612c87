"""`edgekit batch` and `edgekit convert NAME --recipe FILE`: the command line of
edgekit.batch (click only; the batch package is imported when a command runs)."""
from __future__ import annotations

import click

from .cli_options import EXIT_BUDGET_FAILED, QUIET, progress_on_stderr


class FromRecipe(click.Command):
    """`convert NAME --recipe FILE`: NAME is a model entry of the recipe (edgekit.batch.recipe),
    whose options for --target fill every option the command line does not give."""

    def invoke(self, ctx):
        if ctx.params.get("recipe"):
            from click.core import ParameterSource

            from .batch.recipe import load
            recipe = load(ctx.params["recipe"])
            entry = recipe.entry(ctx.params["model"])
            for name, value in recipe.options_for(entry, ctx.params["target"]).items():
                if ctx.get_parameter_source(name) in (ParameterSource.DEFAULT, ParameterSource.DEFAULT_MAP):
                    ctx.params[name] = value
            ctx.params["model"] = entry.model
        return super().invoke(ctx)


@click.command()
@click.argument("recipe", type=click.Path())
@click.option("--out", "-o", default="edgekit-batch", show_default=True, type=click.Path(),
              help="Folder for the jobs' output folders (OUT/MODEL/TARGET) and the matrix.")
@click.option("--jobs", "-j", "workers", default=1, show_default=True, type=click.IntRange(min=1),
              help="Jobs at once: more than 1 runs them on an embedded Dask cluster on "
                   "127.0.0.1 (pip install 'edgekit-toolkit[batch]'), each on its own CPUs.")
@click.option("--address", envvar="DASK_SCHEDULER_ADDRESS", metavar="tcp://HOST:PORT",
              help="Run the jobs on this Dask scheduler instead [$DASK_SCHEDULER_ADDRESS].")
@click.option("--force", is_flag=True, help="Run every job, also those whose inputs and "
              "options are unchanged since their last run.")
@QUIET
def batch(recipe, out, workers, address, force, quiet):
    """Run every model x target job of RECIPE (an edgekit.toml), each as `edgekit convert`
    in its own process, and write OUT/matrix.json, matrix.md and matrix.html.

    Jobs whose inputs (file hashes and options) are unchanged since they last ended with
    a report are kept. Gate the matrix with `edgekit check OUT/matrix.json`.
    Exit codes: 0 every job passed, 2 a job failed or did not finish, 1 user error.
    """
    from pathlib import Path

    from .batch import run_batch
    from .batch.matrix import markdown
    with progress_on_stderr(quiet) as shown:
        result = run_batch(recipe, out, workers=workers, address=address, force=force,
                           progress=shown, warn=shown.warn)
    click.echo(markdown(result.matrix).rstrip())
    click.echo(f"\nmatrix: {Path(out) / 'matrix.json'} ({result.ran} run, {result.reused} kept)")
    return 0 if result.passed else EXIT_BUDGET_FAILED

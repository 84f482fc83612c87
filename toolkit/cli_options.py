"""Click options and helpers that several `edgekit` commands share, and the exit codes.
Click only: importing this module imports no framework (`edgekit --help` stays fast)."""
from __future__ import annotations

import click

EXIT_BUDGET_FAILED = 2  # a proven artifact broke a budget, or a job failed: the CI gate's code

ALLOW_UNSAFE_CODE = click.option(
    "--allow-unsafe-code", is_flag=True,
    help="Load a model you trust although it carries code: Keras Lambda layers, SavedModel "
         "graphs that touch files or Python. Off by default.")


EMULATE = click.option(
    "--emulate", type=click.Choice(["arm64"]),
    help="Also run the artifact under arm64 emulation (QEMU), on the target's CPU models or "
         "--emulate-cpu, against the source and the x86 run (edgekit emulator setup first).")
EMULATE_SAMPLES = click.option("--emulate-samples", default=32, show_default=True,
                               type=click.IntRange(min=1), help="Evaluation samples run under emulation.")
EMULATE_CPU = click.option("--emulate-cpu", "emulate_cpus", multiple=True, metavar="CPU",
                           help="A QEMU CPU model to emulate (repeatable), e.g. cortex-a53, cortex-a76, "
                                "neoverse-n1 [the profile's; validate: cortex-a53 and neoverse-n1].")


def emulation(emulate, samples, cpus):
    from .options import EmulationOptions
    return EmulationOptions(emulate, samples, cpus) if emulate else None


QUIET = click.option(
    "--quiet", "-q", is_flag=True,
    help="No progress on stderr (results, warnings and errors still print).")


def progress_on_stderr(quiet: bool):
    """Progress of the command on stderr (edgekit.progress: a live status on a terminal,
    timestamped lines in a CI log); stdout stays for results."""
    from .progress import Progress
    return Progress(quiet)

"""`edgekit emulator setup`: the command line of edgekit.emulator's arm64 userland (click
only; the emulator package is imported when the command runs)."""
from __future__ import annotations

import click

from .cli_options import QUIET, progress_on_stderr


@click.group()
def emulator():
    """The arm64 emulator that `--emulate arm64` runs artifacts in (QEMU user mode)."""


@emulator.command("setup")
@click.option("--cache", type=click.Path(), help="Folder to build it in [$EDGEKIT_ARM64_CACHE, "
              "else ~/.cache/edgekit/arm64].")
@QUIET
def emulator_setup(cache, quiet):
    """Build (or bring up to date) the arm64 userland: Debian's arm64 Python, aarch64 wheels
    of numpy, ai-edge-litert and onnxruntime at this host's versions, and QEMU 10's static
    qemu-aarch64, from Debian's mirror and PyPI, without touching the host's packages
    (about 160 MB to download, 330 MB on disk, 30 s). Needs apt-get and dpkg-deb."""
    from pathlib import Path

    from .emulator.userland import setup
    with progress_on_stderr(quiet) as shown:
        userland = setup(Path(cache) if cache else None, shown)
    click.echo(f"arm64 emulator ready: {userland.folder}")
    return 0

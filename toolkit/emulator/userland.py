"""The arm64 userland artifacts are run in: Debian's arm64 Python, aarch64 wheels of the
runtimes at this host's own versions, and QEMU 10's static `qemu-aarch64`, in a cache
folder (`~/.cache/edgekit/arm64`, or $EDGEKIT_ARM64_CACHE). `setup_arm64.sh` builds it
(`edgekit emulator setup`) from Debian's mirror and PyPI without touching the host's
package state: a private APT configuration, packages unpacked with dpkg-deb, wheels
installed with --target. Idempotent: each part has a stamp of what it was built from.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ..errors import EdgekitError, MissingDependencyError

CACHE_VARIABLE = "EDGEKIT_ARM64_CACHE"
SCRIPT = Path(__file__).with_name("setup_arm64.sh")
# what runs artifacts under emulation; their dependencies come along at the host's versions
RUNTIMES = ("numpy", "ai-edge-litert", "onnxruntime")
WHEELS_STAMP = "sysroot/usr/local/lib/python3.11/dist-packages/.edgekit-wheels"
STAMPS = ("sysroot/.edgekit-sysroot", "bin/.edgekit-qemu", WHEELS_STAMP)


def cache_folder() -> Path:
    return Path(os.environ.get(CACHE_VARIABLE) or Path.home() / ".cache" / "edgekit" / "arm64")


@dataclass(frozen=True)
class Userland:
    folder: Path

    @property
    def python(self) -> Path:
        """python3.11 (aarch64) under qemu-aarch64; the CPU model comes from $EMU_CPU."""
        return self.folder / "bin" / "arm64-python"


def find(folder: Path | None = None) -> Userland:
    """The userland, built and holding this host's runtime versions; else a one-line error
    saying how to build it."""
    folder = folder or cache_folder()
    missing = [stamp for stamp in STAMPS if not (folder / stamp).is_file()]
    if missing or not Userland(folder).python.is_file():
        raise MissingDependencyError(f"the arm64 emulator (in {folder})", "edgekit emulator setup")
    built = (folder / WHEELS_STAMP).read_text()
    stale = [pin for pin in pins(RUNTIMES) if pin not in built.split()]
    if stale:
        raise EdgekitError(f"the arm64 emulator in {folder} holds other runtime versions than "
                           f"this host ({', '.join(stale)} here): run edgekit emulator setup again")
    return Userland(folder)


def setup(folder: Path | None = None, progress: Callable[[str], None] = print) -> Userland:
    """Build (or bring up to date) the userland; the script's own lines go to `progress`."""
    folder = folder or cache_folder()
    folder.mkdir(parents=True, exist_ok=True)
    constraints = folder / "constraints.txt"
    constraints.write_text("\n".join(pins(RUNTIMES, with_requirements=True)) + "\n")
    environment = {**os.environ, "EMU_CACHE": str(folder), "EMU_LOCK_FILE": str(constraints),
                   "EMU_HOST_PYTHON": sys.executable}
    process = subprocess.Popen(["bash", str(SCRIPT)], env=environment, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True)
    errors = []
    for line in process.stderr:
        line = line.rstrip()
        if line.startswith("[emulator setup] "):
            progress(line[len("[emulator setup] "):])
        elif line:
            errors.append(line)
    if process.wait() != 0:
        said = [e for e in errors if e.startswith("emulator setup: error: ")]
        raise EdgekitError(said[-1][len("emulator setup: "):] if said
                           else "emulator setup failed: " + " / ".join(errors[-3:]))
    return find(folder)


def pins(distributions, with_requirements: bool = False) -> list[str]:
    """`name==version` of these installed distributions (and, with_requirements, of every
    installed distribution they require, transitively): the aarch64 wheels must be the
    very versions the host runs, so that a difference is the ISA's, not a release's."""
    from importlib import metadata
    found, todo = {}, list(distributions)
    while todo:
        name = _canonical(todo.pop())
        if name in found:
            continue
        try:
            distribution = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            if name in map(_canonical, distributions):
                raise MissingDependencyError(name, "pip install 'edgekit-toolkit[runtime]'") from None
            continue  # an optional requirement this host does not have
        found[name] = f"{name}=={distribution.version}"
        if with_requirements:
            todo += [re.split(r"[ ;<>=!~\[(]", r, maxsplit=1)[0] for r in distribution.requires or []
                     if "extra ==" not in r]
    return [found[_canonical(d)] for d in distributions] + sorted(
        pin for name, pin in found.items() if name not in map(_canonical, distributions))


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()

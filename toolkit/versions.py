"""Versions of edgekit and of every converter and runtime a run used, for the report."""
from __future__ import annotations

import importlib.metadata


def package_versions(packages) -> dict[str, str]:
    from . import __version__  # the distribution's name differs (edgekit-toolkit)
    found = {"edgekit": __version__, "numpy": _version("numpy")}
    for package in sorted(set(packages)):
        found[package] = _version(package)
    return found


def _version(distribution: str) -> str:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


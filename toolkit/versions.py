"""Versions of edgekit and of every converter and runtime a run used, for the report."""
from __future__ import annotations

import importlib.metadata
import json
import shutil
import subprocess


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


def tfjs_versions() -> dict[str, str]:
    """Node.js and the @tensorflow/tfjs package the TF.js runner uses."""
    from .targets.tfjs import node_modules
    node = shutil.which("node")
    result = {"node": subprocess.run([node, "--version"], capture_output=True, text=True)
              .stdout.strip() if node else "not installed"}
    manifest = node_modules() / "@tensorflow" / "tfjs" / "package.json"
    result["@tensorflow/tfjs"] = json.loads(manifest.read_text())["version"]
    return result

"""Headless Chromium for the browser demo test and the in-browser drift check.

Debian's chromium driven by Playwright for Python through `executable_path`: never
`playwright install`, which downloads a browser (and fails offline). The flags keep
Chromium from reaching outside hosts.
"""
from __future__ import annotations

import contextlib
import shutil
import tempfile

from ..errors import MissingDependencyError

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def chromium_path() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        raise MissingDependencyError("Chromium", "apt-get install chromium  (or `make setup` as root)")
    return path


@contextlib.contextmanager
def page():
    """A fresh headless Chromium page (own user-data dir), closed on exit."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        raise MissingDependencyError("Playwright for Python", "pip install playwright") from None
    executable = chromium_path()
    with tempfile.TemporaryDirectory(prefix="edgekit-chromium-") as profile, \
            sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            profile, executable_path=executable, headless=True, args=FLAGS)
        try:
            yield context.pages[0] if context.pages else context.new_page()
        finally:
            context.close()


class BackendUnavailable(Exception):
    """A backend this headless browser lacks (e.g. no webgl): reported as "not available",
    not as a failure."""

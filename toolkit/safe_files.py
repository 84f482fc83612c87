"""Reading files named by the user, or by a model or data folder, without blocking or escaping.

A model folder is data someone else wrote: its `model.json` may name a weight shard
`../outside/secret.bin`, and any of its files may be a FIFO (opening one blocks until a
writer appears, i.e. forever) or a device. Every file edgekit reads from such a place goes
through `read_bytes`/`read_text`: opened non-blocking, checked to be a regular file (on the
open descriptor, so it cannot be swapped after the check) and, when `inside` is given,
to resolve to a path inside that folder.
"""
from __future__ import annotations

import os
import stat
from pathlib import Path

from .errors import InputError

DEFAULT_LIMIT = 1 << 31  # 2 GiB: no metadata file (report, model.json) is anywhere near it


def inside_folder(path: Path, folder: Path) -> Path:
    """folder / `path` (`path` relative to `folder`) if it resolves inside `folder`,
    symlinks followed; else an InputError naming both."""
    candidate = Path(folder) / path
    resolved, base = candidate.resolve(), Path(folder).resolve()
    if resolved != base and base not in resolved.parents:
        raise InputError(f"{candidate} points outside its folder {folder}; edgekit reads only "
                         "files inside a model's own folder")
    return candidate


def read_bytes(path: Path, inside: Path | None = None, limit: int = DEFAULT_LIMIT) -> bytes:
    """The bytes of a regular file (never a FIFO, socket or device), at most `limit` long."""
    path = inside_folder(path, inside) if inside is not None else Path(path)
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as error:
        raise InputError(f"cannot open {path}: {error.strerror}") from error
    with os.fdopen(descriptor, "rb") as handle:
        info = os.fstat(descriptor)
        if not stat.S_ISREG(info.st_mode):
            raise InputError(f"{path} is not a regular file (a pipe, socket or device)")
        if info.st_size > limit:
            raise InputError(f"{path} is {info.st_size} bytes, more than the {limit} expected here")
        try:
            return handle.read()
        except OSError as error:
            raise InputError(f"cannot read {path}: {error.strerror}") from error


def read_text(path: Path, inside: Path | None = None, limit: int = DEFAULT_LIMIT) -> str:
    data = read_bytes(path, inside, limit)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise InputError(f"{path} is not UTF-8 text ({error.reason} at byte {error.start})") from error


def regular_file(path: Path, inside: Path | None = None) -> Path:
    """`path` if it is a regular file (inside `inside` when given), checked without opening."""
    path = inside_folder(path, inside) if inside is not None else Path(path)
    try:
        mode = os.stat(path).st_mode
    except OSError as error:
        raise InputError(f"cannot open {path}: {error.strerror}") from error
    if not stat.S_ISREG(mode):
        raise InputError(f"{path} is not a regular file (a pipe, socket, device or folder)")
    return path


def check_folder(folder: Path) -> None:
    """A model folder (SavedModel, TF.js) whose every entry is a regular file or a folder
    inside it: the frameworks open its files themselves, and a FIFO among the variables
    would block TensorFlow forever, a link out would read someone else's file."""
    folder = Path(folder)
    for entry in sorted(folder.rglob("*")):
        inside_folder(entry.relative_to(folder), folder)
        try:
            mode = os.stat(entry).st_mode
        except OSError as error:
            raise InputError(f"cannot open {entry}: {error.strerror}") from error
        if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
            raise InputError(f"{entry} is not a regular file (a pipe, socket or device); a model "
                             "folder holds only files and folders")

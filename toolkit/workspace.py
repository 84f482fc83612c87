"""Atomic output folders: work in a private temporary folder next to --out, move it into
place only when the run succeeded. An interrupted or failed run leaves --out as it was.

A folder is only ever replaced if it is empty or recognised by its content as an earlier
edgekit output: its report.json lists every file edgekit wrote ("files"), and the folder
holds nothing else. A folder of one's own files (even beside a file named report.json),
or an output someone has since added files to, is refused, not wiped.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

from . import interrupts
from .errors import InputError

MARKER = "report.json"  # an output's report, whose "files" list the folder's whole content
WORK_SUFFIX_LENGTH = 48  # ".NAME.edgekit-tmp-PID-XXXXXXXX", with room for long PIDs
MARKER_LIMIT = 64 * 1024 * 1024  # a report.json larger than this is not one edgekit wrote


def listing(folder: Path) -> list[str]:
    """Every file under `folder`, relative and sorted: what the report records as "files"."""
    folder = Path(folder)
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*")
                  if p.is_symlink() or not p.is_dir())


def foreign_files(folder: Path) -> list[str]:
    """Files in `folder` that no earlier edgekit output there accounts for (empty: safe to
    replace). Every file counts as foreign unless the folder's report.json lists it."""
    present = listing(folder)
    marker = folder / MARKER
    try:
        if not marker.is_file() or marker.is_symlink() or marker.stat().st_size > MARKER_LIMIT:
            return present
        listed = json.loads(marker.read_text()).get("files")
    except (OSError, ValueError, AttributeError):  # unreadable, not JSON, not an object
        return present
    if not isinstance(listed, list) or not all(isinstance(name, str) for name in listed):
        return present
    return sorted(set(present) - set(listed) - {MARKER})


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


class OutputFolder:
    def __init__(self, final: Path, protected: tuple[Path, ...] = ()):
        self.final = Path(final).absolute()
        self.temp: Path | None = None
        self._created: list[Path] = []
        try:
            self._check(protected)
        except OSError as error:  # e.g. a parent folder one may not list
            raise InputError(f"cannot use --out {self.final}: {error.strerror}") from error

    def _check(self, protected: tuple[Path, ...]) -> None:
        # the work folder's name is --out's plus ~40 characters; file systems allow 255
        limit = os.pathconf(self.final.parent if self.final.parent.exists() else "/", "PC_NAME_MAX")
        if len(os.fsencode(self.final.name)) + WORK_SUFFIX_LENGTH > limit:
            raise InputError(f"--out name '{self.final.name[:40]}...' is too long (at most "
                             f"{limit - WORK_SUFFIX_LENGTH} bytes here)")
        if self.final.exists() and not self.final.is_dir():
            raise InputError(f"--out {self.final} is a file; give a folder")
        for path in protected:
            path = Path(path).absolute()
            if path == self.final or self.final in path.parents:
                raise InputError(f"--out {self.final} would replace the input {path}; "
                                 "choose another folder")
        foreign = foreign_files(self.final) if self.final.is_dir() else []
        if foreign:
            more = f" and {len(foreign) - 3} more" if len(foreign) > 3 else ""
            raise InputError(f"--out {self.final} already holds files that are not from an edgekit "
                             f"output ({', '.join(foreign[:3])}{more}); choose an empty or new "
                             "folder")

    def __enter__(self) -> Path:
        missing = [p for p in [self.final.parent, *self.final.parent.parents] if not p.exists()]
        try:
            for folder in reversed(missing):
                folder.mkdir()
                self._created.append(folder)
            self._sweep_abandoned()
            self.temp = Path(tempfile.mkdtemp(prefix=f".{self.final.name}.edgekit-tmp-{os.getpid()}-",
                                              dir=self.final.parent))
            self.temp.chmod(0o777 & ~_umask())  # mkdtemp makes it private (0700)
        except OSError as error:
            self._remove_created()
            raise InputError(f"cannot write to {self.final.parent}: {error.strerror}") from error
        return self.temp

    def _sweep_abandoned(self) -> None:
        """Remove work folders of killed runs (their process is gone) for this --out; a
        running parallel conversion's folder is left alone."""
        pattern = f".{self.final.name}.edgekit-*-*"
        for folder in self.final.parent.glob(pattern):
            parts = folder.name[len(self.final.name) + 1:].split("-")
            pid = parts[2] if len(parts) > 2 and parts[1] in ("tmp", "old") else ""
            if pid.isdigit() and not _alive(int(pid)):
                shutil.rmtree(folder, ignore_errors=True)

    def commit(self) -> None:
        """Move the finished work into place, replacing an earlier output if there is one."""
        interrupts.check()  # an interrupt whose exception Python lost must not publish
        old = None
        with interrupts.deferred():  # both renames, or neither
            if self.final.exists():
                old = self.final.with_name(f".{self.final.name}.edgekit-old-{os.getpid()}")
                os.replace(self.final, old)
            os.replace(self.temp, self.final)
            self.temp = None
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)

    def __exit__(self, *exc) -> None:
        if self.temp is not None:  # not committed: discard everything
            shutil.rmtree(self.temp, ignore_errors=True)
            self._remove_created()

    def _remove_created(self) -> None:
        for folder in reversed(self._created):
            try:
                folder.rmdir()
            except OSError:
                pass

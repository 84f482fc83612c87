"""A consistency check of PyTorch zip archives (TorchScript `.pt`, `torch.save` state_dicts)
before torch reads them: every tensor storage the pickle refers to must be a member of the
archive holding at least the bytes the pickle says it has.

torch trusts those numbers: a state_dict or TorchScript file whose storage member is
shorter than its pickle claims made torch.jit.load read past the buffer and crash the
process with SIGSEGV (found by benchmarks/fuzz_inputs.py) instead of raising.

The pickle is read with an Unpickler that imports nothing: every global it names becomes
an inert stand-in, so no code from the file runs; only the storage references
(persistent ids) are collected.
"""
from __future__ import annotations

import io
import pickle
import zipfile
from pathlib import Path

from ...errors import InputError

ELEMENT_BYTES = {  # legacy typed storage classes (what torch.save writes) -> element size
    "DoubleStorage": 8, "FloatStorage": 4, "HalfStorage": 2, "BFloat16Storage": 2,
    "LongStorage": 8, "IntStorage": 4, "ShortStorage": 2, "CharStorage": 1, "ByteStorage": 1,
    "BoolStorage": 1, "ComplexDoubleStorage": 16, "ComplexFloatStorage": 8,
    "QInt8Storage": 1, "QUInt8Storage": 1, "QInt32Storage": 4,
}
PICKLES = ("data.pkl", "constants.pkl")


class _Inert:
    """Whatever the pickle asks for: accepts any arguments and state, does nothing."""

    def __init__(self, *args, **kwargs):
        pass

    def __setstate__(self, state):
        pass

    def __call__(self, *args, **kwargs):
        return _Inert()

    def __setitem__(self, key, value):  # SETITEM(S) on a stand-in dict
        pass

    def append(self, item):  # APPEND(S) on a stand-in list
        pass

    def extend(self, items):
        pass


class _StorageScanner(pickle.Unpickler):
    def __init__(self, data: bytes):
        super().__init__(io.BytesIO(data))
        self.storages: list[tuple] = []

    def find_class(self, module: str, name: str):
        return type(name, (_Inert,), {"qualified": f"{module}.{name}"})

    def persistent_load(self, pid):
        if isinstance(pid, tuple) and pid and pid[0] == "storage":
            self.storages.append(pid)
        return _Inert()


def check_storages(path: Path) -> None:
    """Raise InputError when a storage the archive's pickles refer to is missing or short."""
    try:
        with zipfile.ZipFile(path) as archive:
            members = {info.filename: info for info in archive.infolist()}
            for name in [n for n in members if n.rsplit("/", 1)[-1] in PICKLES]:
                folder = name.rsplit("/", 1)[0]
                scanner = _StorageScanner(archive.read(name))
                scanner.load()
                for pid in scanner.storages:
                    _check_one(pid, folder, members, path)
    except InputError:
        raise
    except Exception as error:  # a pickle the scanner cannot follow: torch would fail too
        raise InputError(f"{path} is not a readable PyTorch archive ({type(error).__name__}: "
                         f"{str(error)[:120]})") from error


def _check_one(pid: tuple, folder: str, members: dict, path: Path) -> None:
    if len(pid) < 5:
        return
    _, storage_type, key, _, numel = pid[:5]
    element = ELEMENT_BYTES.get(getattr(storage_type, "__name__", ""), None)
    member = next((members[name] for name in (f"{folder}/data/{key}", f"{folder}/constants/{key}")
                   if name in members), None)
    if member is None:
        raise InputError(f"{path}: tensor storage '{key}' is missing from the archive")
    if element is not None and isinstance(numel, int) and member.file_size < numel * element:
        raise InputError(f"{path}: tensor storage '{key}' holds {member.file_size} bytes but the "
                         f"model needs {numel * element} (corrupt or truncated)")

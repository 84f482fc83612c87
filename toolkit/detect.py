"""Which format a model path holds, judged by its content; a known extension must agree."""
from __future__ import annotations

import struct
import zipfile
from dataclasses import dataclass
from pathlib import Path

from .errors import InputError
from .safe_files import check_folder
from .targets.format import FileContent, FileKind
from .targets.registry import FORMATS, every_format, format_module

# Each format module says how its files look (FormatModule.recognize, file_kinds and
# folder_files): this module only reads a file once, checks archives, and asks them.
#
# What a model file's extension promises: the content decides the format, but when a known
# extension promises another one the file is refused: an ONNX model named .tflite is almost
# always the wrong file (a stale artifact picked up by a CI step, a copy-paste slip), and
# converting it silently would ship a model nobody asked for. Other extensions (.bin, none)
# are judged by content alone.


@dataclass(frozen=True)
class ModelRef:
    path: Path
    format: str
    factory: str | None = None  # `file.py:factory`: format "torch" until what the
    # function returns says otherwise (edgekit.loading.open_model)


def detect(spec: str) -> ModelRef:
    """Resolve a model argument: a file, a directory, or `file.py:factory`."""
    path_text, _, factory = spec.rpartition(":") if _is_factory_spec(spec) else (spec, "", "")
    path = Path(path_text)
    if not path.exists():
        raise InputError(f"no such file or directory: {path}")
    if factory:
        return ModelRef(path, "torch", factory)
    if path.is_dir():
        fmt = _directory_format(path)
        check_folder(path)
        return ModelRef(path, fmt)
    if not path.is_file():  # reading a pipe or a device would block or never end
        raise InputError(f"{path} is not a regular file or folder (a pipe, socket or device)")
    folder_format = _folder_files().get(path.name)
    if folder_format:  # what TF.js and TensorFlow tools point at: take its folder
        check_folder(path.parent)
        return ModelRef(path.parent, folder_format)
    kind = _recognized(path)
    _check_extension(path, kind)
    return ModelRef(path, kind.format)


def _folder_files() -> dict[str, str]:
    """A file name that makes its folder a model -> that format ("model.json": "tfjs")."""
    return {file: name for name in FORMATS for file in format_module(name).folder_files}


def _recognized(path: Path) -> FileKind:
    with open(path, "rb") as handle:
        head = handle.read(16)
    if not head:
        raise InputError(f"{path} is empty")
    if path.suffix == ".py":
        raise InputError(f"{path} is Python source; name the function that builds the model: "
                         f"{path}:FACTORY (e.g. {path}:build)")
    names = _archive_names(path) if head.startswith(b"PK") else None
    content = FileContent(path, head, names)
    for fmt in every_format():
        kind = fmt.recognize(content) if fmt.recognize else None
        if kind is not None:
            return kind
    kinds = _file_kinds()
    if names is not None:
        raise InputError(f"{path} is a zip archive but not a model edgekit reads "
                         f"({', '.join(kind.name for kind in kinds)})")
    extensions = ", ".join(dict.fromkeys(ext for kind in kinds for ext in kind.extensions))
    folders = " or ".join(name for fmt in every_format() for name in fmt.folder_files[:1])
    raise InputError(f"{path}: unrecognised or corrupt model file (expected {extensions}, "
                     f"or a folder holding {folders})")


def _file_kinds() -> list[FileKind]:
    return [kind for fmt in every_format() for kind in fmt.file_kinds]


def _check_extension(path: Path, kind: FileKind) -> None:
    promising = [k for k in _file_kinds() if path.suffix.lower() in k.extensions]
    if not promising or kind.format in {k.format for k in promising}:
        return
    promised = " or ".join(dict.fromkeys(k.name for k in promising))
    raise InputError(f"{path} holds a model in {kind.name} format, not {promised} as its "
                     f"extension says; check that this is the file you meant (if it is, rename "
                     f"it to {path.with_suffix(kind.extensions[0]).name})")


def _is_factory_spec(spec: str) -> bool:
    head, sep, tail = spec.rpartition(":")
    return bool(sep) and head.endswith(".py") and tail.isidentifier()


def _directory_format(path: Path) -> str:
    folders = _folder_files()
    for name, fmt in folders.items():
        if (path / name).exists():
            return fmt
    raise InputError(f"{path} is a directory but holds no model (looked for "
                     f"{', '.join(folders)})")


def _archive_names(path: Path) -> frozenset[str]:
    """A zip archive's member names, once the archive is checked whole and consistent."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
            archive.testzip()
            _check_local_headers(path, archive.infolist())
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as error:
        raise InputError(f"{path} is a corrupt or truncated archive ({error})") from error
    return frozenset(names)


LOCAL_HEADER = struct.Struct("<4s5H3L2H")  # signature ... crc, sizes, name and extra lengths


def _check_local_headers(path: Path, members) -> None:
    """Python's zipfile trusts the central directory; PyTorch's reader (miniz) reads each
    member's local header, and a local header that disagrees with the directory made
    torch.jit.load crash the process (SIGSEGV, found by benchmarks/fuzz_inputs.py). So
    every local header must agree with the directory before a framework opens the file."""
    with open(path, "rb") as handle:
        for member in members:
            handle.seek(member.header_offset)
            fields = LOCAL_HEADER.unpack(handle.read(LOCAL_HEADER.size))
            signature, _, flags, method, _, _, crc, compressed, size, name_length, _ = fields
            name = handle.read(name_length)
            descriptor = flags & 0x08  # sizes and CRC follow the data instead
            if signature != b"PK\x03\x04" or name.decode("utf-8", "replace") != member.filename \
                    or method != member.compress_type or not descriptor and (
                        crc, compressed, size) != (member.CRC, member.compress_size, member.file_size):
                raise zipfile.BadZipFile(f"member {member.filename}: its local header disagrees "
                                         "with the archive's directory")


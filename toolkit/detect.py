"""Which format a model path holds, judged by its content; a known extension must agree."""
from __future__ import annotations

import struct
import zipfile
from dataclasses import dataclass
from pathlib import Path

from .errors import InputError
from .safe_files import check_folder

HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
TFLITE_IDENTIFIER = b"TFL3"  # flatbuffer file identifier at bytes 4..8

# What a model file's extension promises. The content decides the format, but when a known
# extension promises another one the file is refused: an ONNX model named .tflite is almost
# always the wrong file (a stale artifact picked up by a CI step, a copy-paste slip), and
# converting it silently would ship a model nobody asked for. Other extensions (.bin, none)
# are judged by content alone.
EXTENSION_PROMISES = {  # extension -> (what it promises, formats that keep the promise)
    ".keras": ("Keras", {"keras"}), ".h5": ("Keras", {"keras"}), ".hdf5": ("Keras", {"keras"}),
    ".onnx": ("ONNX", {"onnx"}), ".tflite": ("TFLite", {"tflite"}),
    ".pt": ("PyTorch", {"torchscript", "torch"}), ".pt2": ("PyTorch", {"torchscript", "torch"}),
    ".pth": ("PyTorch", {"torchscript", "torch"}),
}
FOLDER_FILES = {"model.json": "tfjs", "saved_model.pb": "savedmodel"}  # a file naming its folder
FORMAT_NAMES = {"keras": ("Keras", ".keras"), "onnx": ("ONNX", ".onnx"), "tflite": ("TFLite", ".tflite"),
                "torchscript": ("TorchScript", ".pt"), "torch": ("torch.export", ".pt2")}


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
    if path.name in FOLDER_FILES:  # what TF.js and TensorFlow tools point at: take its folder
        check_folder(path.parent)
        return ModelRef(path.parent, FOLDER_FILES[path.name])
    return ModelRef(path, _checked_against_extension(path, _file_format(path)))


def _checked_against_extension(path: Path, fmt: str) -> str:
    promised, keeping = EXTENSION_PROMISES.get(path.suffix.lower(), (None, {fmt}))
    if fmt in keeping:
        return fmt
    name, suffix = FORMAT_NAMES[fmt]
    suffix = ".h5" if fmt == "keras" and _is_hdf5(path) else suffix
    raise InputError(f"{path} holds a model in {name} format, not {promised} as its extension "
                     f"says; check that this is the file you meant (if it is, rename it "
                     f"to {path.with_suffix(suffix).name})")


def _is_hdf5(path: Path) -> bool:
    with open(path, "rb") as handle:
        return handle.read(len(HDF5_MAGIC)) == HDF5_MAGIC


def _is_factory_spec(spec: str) -> bool:
    head, sep, tail = spec.rpartition(":")
    return bool(sep) and head.endswith(".py") and tail.isidentifier()


def _directory_format(path: Path) -> str:
    if (path / "saved_model.pb").exists() or (path / "saved_model.pbtxt").exists():
        return "savedmodel"
    if (path / "model.json").exists():
        return "tfjs"
    raise InputError(f"{path} is a directory but neither a SavedModel (saved_model.pb) "
                     "nor a TF.js model (model.json)")


def _file_format(path: Path) -> str:
    with open(path, "rb") as handle:
        head = handle.read(16)
    if not head:
        raise InputError(f"{path} is empty")
    if head.startswith(HDF5_MAGIC):
        return "keras"
    if head[4:8] == TFLITE_IDENTIFIER:
        return "tflite"
    if head.startswith(b"PK"):
        return _zip_format(path)
    if path.suffix == ".py":
        raise InputError(f"{path} is Python source; name the function that builds the model: "
                         f"{path}:FACTORY (e.g. {path}:build)")
    if _parses_as_onnx(path):
        return "onnx"
    raise InputError(f"{path}: unrecognised or corrupt model file (expected .keras, .h5, "
                     ".onnx, .pt/.pt2, .tflite, a SavedModel or TF.js directory)")


def _zip_format(path: Path) -> str:
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
            archive.testzip()
            _check_local_headers(path, archive.infolist())
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as error:
        raise InputError(f"{path} is a corrupt or truncated archive ({error})") from error
    base = {name.split("/", 1)[-1] for name in names}
    if "config.json" in names and "model.weights.h5" in names:
        return "keras"
    if any(name.endswith("serialized_exported_program.json") or name.endswith("/models/model.json")
           for name in names) or "archive_format" in base:
        return "torch"
    if any("/code/" in name for name in names) and "data.pkl" in base:
        return "torchscript"
    if "data.pkl" in base:
        raise InputError(f"{path} is a PyTorch state_dict (weights only); load it with the code "
                         f"that builds the model: FILE.py:FACTORY --weights {path}")
    raise InputError(f"{path} is a zip archive but not a Keras, TorchScript or torch.export model")


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


def _parses_as_onnx(path: Path) -> bool:
    """ONNX has no magic number: parse the protobuf (safe, no code runs) and look for a graph.
    A slim runtime install has onnxruntime but not onnx: there, trust the extension."""
    try:
        import onnx
    except ImportError:
        return path.suffix == ".onnx"
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception:
        return False
    return len(model.graph.node) > 0 or len(model.graph.output) > 0

"""Loading a torch.export `.pt2` without running code from it, unless the user opts in.

torch.export.load (torch 2.13) runs code from the archive in several ways:
- pickles: weights and constants marked `use_pickle` load with torch.load(weights_only=
  False); sample inputs fall back to it when a weights-only load fails; opaque constants
  go through pickle.loads and torchbind objects through torch._C._pickle_load_obj;
- text in models/model.json that becomes code: symbolic sizes (`expr_str`) go through
  sympy.sympify, which eval's them; `guards_code` and constant string inputs are pasted
  into Python that ExportedProgram.module() exec's; value and attribute names are pasted
  into the forward() source FX generates and exec's; input specs may name modules for
  pytree to import (enum keys, defaultdict factories);
- AOTInductor members are shared libraries that load_pt2 loads.

Without the opt-in edgekit never calls torch.export.load. It reads the archive with
torch's own zip reader and builds the program from parts that cannot run code: raw
tensor members, pickle members through torch's weights-only unpickler (anything it
rejects is refused), and the program JSON once the strings above match what torch
writes. The loaded parts go to torch's deserializer, whose deserialize() takes
already-loaded weights, constants and inputs, so no member can reach a full unpickler,
anticipated or not. This was chosen over patching torch.load / pickle.loads during
torch.export.load: a patch is process-wide while it lasts (other threads), cannot stop
sympify or exec, and misses any unpickling path a later torch adds. The cost is that it
leans on a few private torch helpers; if an upgrade moves them the user is told to opt
in. AOTInductor members, extra files and other programs in the archive are never read.
"""
from __future__ import annotations

import ast
import builtins
import io
import json
import re
import zipfile
from functools import cache
from pathlib import Path

from ...errors import EdgekitError, InputError, first_line
from ..trust import UNSAFE_FLAG, granted

MODEL = "model"  # the program torch.export.load returns; others in the archive are ignored
LEGACY_PROGRAM = "serialized_exported_program.json"  # the layout of torch < 2.6


def load(path):
    """The ExportedProgram in `path`: torch's own loader only if the user trusts the file."""
    import torch
    try:
        if granted(path):
            return torch.export.load(str(path))
        return _load_inert(Path(path))
    except EdgekitError:
        raise
    except Exception as error:  # a damaged archive: torch raises many types
        raise InputError(f"cannot load PyTorch model {path}: {first_line(error)}") from error


def refusal(path, member: str, why: str) -> InputError:
    return InputError(f"{path}: member '{member}' {why}; loading that can run code, which edgekit "
                      f"does not do by default; if you trust this file, pass {UNSAFE_FLAG}")


# --- the archive ---------------------------------------------------------------------

class _Archive:
    """A .pt2's members, read with torch's own zip reader (the one torch.export.load uses,
    so a name means the same bytes to the check and to torch)."""

    def __init__(self, path: Path, torch_parts):
        import torch
        self.path, self.torch = path, torch_parts
        zip_reader = torch._C.PyTorchFileReader(str(path))
        self.names = set(zip_reader.get_all_records())
        format_member = torch_parts.ARCHIVE_FORMAT_PATH
        if format_member not in self.names or \
                zip_reader.get_record(format_member) != torch_parts.ARCHIVE_FORMAT_VALUE.encode():
            raise InputError(f"{path} is a zip archive but not a torch.export .pt2")
        self.reader = torch_parts.PT2ArchiveReader(str(path))  # what torch's tensor helper reads

    def read(self, member: str) -> bytes:
        if member not in self.names:
            raise InputError(f"{self.path} is an incomplete .pt2 archive: it has no '{member}'")
        return self.reader.read_bytes(member)

    def unpickle(self, member: str):
        """A pickle member, through torch's weights-only unpickler: the only one used here."""
        import torch
        data = self.read(member)
        try:
            return torch.load(io.BytesIO(data), weights_only=True)
        except Exception as error:
            raise refusal(self.path, member, "is a pickle torch's weights-only unpickler "
                          f"rejects ({_unpickler_reason(error)})") from error


def _unpickler_reason(error: Exception) -> str:
    """The line of torch's long weights-only message that says what it met."""
    found = re.search(r"WeightsUnpickler error: (.+?)(?= Please|\n|$)", str(error))
    return found.group(1) if found else first_line(error, 120)


@cache
def _torch_parts():
    """torch's pieces the inert loader is built from (some private: see the module doc)."""
    from types import SimpleNamespace

    from torch._export.serde import schema, serialize
    from torch.export.pt2_archive import _package, constants
    return SimpleNamespace(
        **{name: getattr(constants, name) for name in dir(constants) if name.isupper()},
        schema=schema, Deserializer=serialize.ExportedProgramDeserializer,
        to_dataclass=serialize._dict_to_dataclass, PT2ArchiveReader=_package.PT2ArchiveReader,
        payload_config=_package._load_payload_config, raw_tensors=_package._build_file_map,
        size=serialize.deserialize_size, stride=serialize.deserialize_stride,
        offset=serialize.deserialize_storage_offset)


def _load_inert(path: Path):
    try:
        parts = _torch_parts()
    except (ImportError, AttributeError) as error:
        import torch
        raise InputError(f"edgekit's safe .pt2 loader does not know this torch ({torch.__version__}: "
                         f"{first_line(error)}); {path} can only be loaded by torch itself: pass "
                         f"{UNSAFE_FLAG} if you trust the file") from error
    _refuse_legacy_layout(path)
    archive = _Archive(path, parts)
    version = archive.read(parts.ARCHIVE_VERSION_PATH).decode(errors="replace")
    if version != parts.ARCHIVE_VERSION_VALUE:
        raise InputError(f"{path} is a version {version!r} .pt2 archive; this torch reads "
                         f"version {parts.ARCHIVE_VERSION_VALUE}")
    member = parts.MODELS_FILENAME_FORMAT.format(MODEL)
    document = json.loads(archive.read(member))
    check_program(path, member, document)
    program = parts.to_dataclass(parts.schema.ExportedProgram, document)
    return parts.Deserializer().deserialize(program, _payloads(archive, "weights"),
                                            _payloads(archive, "constants"), _sample_inputs(archive))


def _refuse_legacy_layout(path: Path) -> None:
    """torch < 2.6 wrote another layout; torch.export.load reads it with Python's zipfile
    (as here) and unpickles its members with a full-pickle fallback."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except (zipfile.BadZipFile, OSError):
        return  # torch's reader, next, says what is wrong
    if any(name.rsplit("/", 1)[-1] == LEGACY_PROGRAM for name in names):
        raise refusal(path, LEGACY_PROGRAM, "is in the torch < 2.6 layout, whose pickles torch "
                      "loads with a full-pickle fallback (re-save it with torch.export.save)")


# --- weights, constants and sample inputs ----------------------------------------------

def _payload_layout(parts) -> dict[str, tuple[str, str, dict[str, str | None]]]:
    """kind -> (its config member, its members' folder, and by a member's name prefix (how
    torch tells them apart) why edgekit refuses it, or None for a tensor)."""
    return {
        "weights": (parts.WEIGHTS_CONFIG_FILENAME_FORMAT, parts.WEIGHTS_DIR, {"": None}),
        "constants": (parts.CONSTANTS_CONFIG_FILENAME_FORMAT, parts.CONSTANTS_DIR, {
            parts.TENSOR_CONSTANT_FILENAME_PREFIX: None,
            parts.CUSTOM_OBJ_FILENAME_PREFIX: "is a TorchScript (torchbind) object, which "
                                              "torch restores with its full unpickler",
            parts.OPAQUE_OBJ_FILENAME_PREFIX: "is an opaque Python object, which torch "
                                              "restores with pickle.loads",
            "": "is of a kind torch does not know either"}),
    }


def _payloads(archive: _Archive, kind: str) -> dict:
    """name -> tensor, built as torch's _load_state_dict / _load_constants do, except that
    pickles go through the weights-only unpickler and objects are refused."""
    import torch
    parts = archive.torch
    config_format, folder, refused = _payload_layout(parts)[kind]
    legacy = f"{folder}{MODEL}.pt"  # torch < 2.6: all of them in one pickle
    if legacy in archive.names:
        return _of_type(archive.unpickle(legacy), dict, archive.path, legacy)
    config_member = config_format.format(MODEL)
    archive.read(config_member)  # a clear message when it is missing
    config = parts.payload_config(archive.reader, config_member).config
    for meta in config.values():
        why = next(why for prefix, why in refused.items() if meta.path_name.startswith(prefix))
        if why:
            raise refusal(archive.path, folder + meta.path_name, why)
    raw = parts.raw_tensors(archive.reader, parts.schema.PayloadConfig(config=config), folder)
    loaded = {}
    for fqn, meta in config.items():
        member = folder + meta.path_name
        if meta.use_pickle:  # torch would use torch.load(weights_only=False) here
            loaded[fqn] = _of_type(archive.unpickle(member), torch.Tensor, archive.path, member)
            continue
        tensor = torch.as_strided(raw[meta.path_name], parts.size(meta.tensor_meta.sizes),
                                  parts.stride(meta.tensor_meta.strides),
                                  parts.offset(meta.tensor_meta.storage_offset))
        loaded[fqn] = (torch.nn.Parameter(tensor, requires_grad=meta.tensor_meta.requires_grad)
                       if meta.is_param else tensor)
    return loaded


def _of_type(value, expected: type, path, member: str):
    if not isinstance(value, expected):
        raise InputError(f"{path}: member '{member}' holds a {type(value).__name__}, "
                         f"not a {expected.__name__}")
    return value


def _sample_inputs(archive: _Archive):
    """The (args, kwargs) the program was traced with, or None when none were saved."""
    member = archive.torch.SAMPLE_INPUTS_FILENAME_FORMAT.format(MODEL)
    if not archive.read(member):
        return None  # torch saves an empty member for "none"
    inputs = archive.unpickle(member)
    # dict keys become input paths that module() pastes, quoted, into the guards it exec's
    bad = next((key for key in _dict_keys(inputs)
                if type(key) is not int and not _is_plain_text(key)), None)
    if bad is not None:
        raise refusal(archive.path, member, f"has an input named {str(bad)[:40]!r}, which "
                      "torch pastes into Python code it runs")
    return inputs


def _dict_keys(value):
    """Every dict key in a nest of tuples, lists and dicts (what weights-only pickles hold)."""
    if isinstance(value, dict):
        yield from value.keys()
        value = list(value.values())
    for child in value if isinstance(value, (tuple, list)) else ():
        yield from _dict_keys(child)


# --- the program JSON: strings torch turns into code ---------------------------------------

def check_program(path, member: str, document: dict) -> None:
    """Refuse a program whose JSON has a string that torch turns into code and that is not
    of the shape torch itself writes there."""
    for key, text in _strings_with_rules(document):
        what, allowed = STRING_RULES[key]
        if not allowed(text):
            raise refusal(path, member, f"has {key} {str(text)[:60]!r}, which {what}")
    graph = document.get("graph_module", {}).get("graph", {})
    for value in graph.get("inputs", []):
        for kind, constant in value.items() if isinstance(value, dict) else ():
            if kind in CONSTANT_INPUTS and not CONSTANT_INPUTS[kind](constant):
                raise refusal(path, member, f"has constant input {str(constant)[:60]!r}, which "
                              "module() would paste into the input guards it runs")


def _strings_with_rules(node):
    """(key, value) for every value under a key of STRING_RULES (each item, for a list) and
    (\"name\", key) for every key of a NAME_TABLES table, anywhere in the document."""
    if isinstance(node, list):
        for child in node:
            yield from _strings_with_rules(child)
    if not isinstance(node, dict):
        return
    for key, child in node.items():
        if key in NAME_TABLES and isinstance(child, dict):
            yield from (("name", name) for name in child)
        if key in STRING_RULES:
            yield from ((key, item) for item in (child if isinstance(child, list) else [child]))
        yield from _strings_with_rules(child)


def _is_name(text) -> bool:
    """An identifier, or nothing (torch then makes up a name)."""
    return text in ("", None) or (isinstance(text, str) and text.isidentifier())


def _is_plain_text(text) -> bool:
    """No quote, backslash or control character: safe inside a quoted Python literal."""
    return isinstance(text, str) and re.fullmatch(r"[^'\"\\\x00-\x1f\x7f]*", text) is not None


def _imports_nothing(spec) -> bool:
    """A pytree spec that makes torch import nothing (enum keys and defaultdict factories
    are found by importing the module they name)."""
    return isinstance(spec, str) and "__enum__" not in spec and "default_factory_module" not in spec


@cache
def _sympy_classes() -> frozenset[str]:
    """Names sympify may call in torch's expressions: sympy's and torch's sympy classes
    (constructors that only build expressions; sympy's functions like sympify are not)."""
    import sympy
    import torch.utils._sympy.functions as torch_functions
    return frozenset(name for module in (sympy, torch_functions) for name in dir(module)
                     if not name.startswith("_") and isinstance(getattr(module, name), type)
                     and issubclass(getattr(module, name), sympy.Basic))


# the only calls that may take a string in torch's sympy text, and what the string may be
SYMPY_STRING_ARGS = {"Symbol": r"[A-Za-z_]\w*", "Dummy": r"[A-Za-z_]\w*",
                     "Float": r"[-+]?[\d.]+(e[-+]?\d+)?|[-+]?inf|nan", "Integer": r"[-+]?\d+",
                     "Rational": r"[-+]?\d+(/\d+)?"}
NUMBERS = (int, float, bool, type(None))  # constants sympy text may hold besides those strings
OPERATORS = (ast.operator, ast.unaryop, ast.cmpop, ast.boolop, ast.expr_context)
EXPRESSION_NODES = (ast.Expression, ast.BinOp, ast.UnaryOp, ast.Compare, ast.BoolOp,
                    ast.Call, ast.Name, ast.Constant, ast.Tuple, ast.keyword) + OPERATORS


def _parsed(text: str):
    try:
        return ast.parse(text, mode="eval")
    except (SyntaxError, ValueError):
        return None


def _plain_name(name: str) -> bool:
    return not name.startswith("_") and not hasattr(builtins, name)


def _is_sympy_text(text) -> bool:
    """Sympy's srepr/str output (what torch writes): sympy classes called on numbers,
    symbols and such calls. sympify eval's the text, so nothing else may appear: no
    attributes, no builtins, and strings only as a Symbol's name or a number's digits."""
    tree = _parsed(text) if isinstance(text, str) else None
    if tree is None:
        return False
    string_args = {id(call.args[0]) for call in ast.walk(tree)
                   if isinstance(call, ast.Call) and isinstance(call.func, ast.Name)
                   and call.func.id in SYMPY_STRING_ARGS and call.args
                   and isinstance(call.args[0], ast.Constant) and isinstance(call.args[0].value, str)
                   and re.fullmatch(SYMPY_STRING_ARGS[call.func.id], call.args[0].value)}
    return all(isinstance(node, EXPRESSION_NODES)
               and not (isinstance(node, ast.Name) and not _plain_name(node.id))
               and not (isinstance(node, ast.Call) and not (
                   isinstance(node.func, ast.Name) and node.func.id in _sympy_classes()))
               and not (isinstance(node, ast.Constant) and type(node.value) not in NUMBERS
                        and id(node) not in string_args)
               for node in ast.walk(tree))


# what torch's guard printer uses: the inputs (L['x']), math and a few builtins
GUARD_NAMES = frozenset({"L", "math", "inf", "abs", "max", "min", "int", "float", "round", "bool",
                         "IsNonOverlappingAndDenseIndicator", "cast_symbool_to_symint_guardless"})
TENSOR_METHODS = frozenset({"size", "stride", "storage_offset", "dim", "numel"})
GUARD_NODES = {  # node type -> when a guard may hold it (other types never)
    ast.Name: lambda n: n.id in GUARD_NAMES,
    ast.Attribute: lambda n: not n.attr.startswith("_") and (
        n.attr in TENSOR_METHODS or (isinstance(n.value, ast.Name) and n.value.id == "math")),
    ast.Subscript: lambda n: True,  # its value and index are nodes, checked in turn
    ast.Call: lambda n: not n.keywords,  # its function is a node too: a name or an attribute
    ast.Constant: lambda n: type(n.value) in NUMBERS or _is_plain_text(n.value),  # L['x']
    **dict.fromkeys((ast.Expression, ast.BinOp, ast.UnaryOp, ast.Compare, ast.BoolOp),
                    lambda n: True),
}


def _is_guard(text) -> bool:
    """A shape guard as torch writes them, e.g. "L['x'].size()[0] == L['y'].size()[0] - 1":
    module() exec's them, so only inputs, their sizes, math and arithmetic may appear."""
    tree = _parsed(text) if isinstance(text, str) else None
    return tree is not None and all(
        isinstance(node, OPERATORS) or GUARD_NODES.get(type(node), lambda n: False)(node)
        for node in ast.walk(tree))


STRING_RULES = {  # JSON key -> (what torch does with its string, the shape it must have)
    "expr_str": ("sympy.sympify would run as Python", _is_sympy_text),
    "guards_code": ("module() would run as Python", _is_guard),
    "name": ("torch would paste into Python source it runs", _is_name),
    "as_name": ("torch would paste into Python source it runs", _is_name),
    "forward_arg_names": ("torch would paste into Python source it runs", _is_name),
    **dict.fromkeys(("parameter_name", "buffer_name", "tensor_constant_name", "custom_obj_name",
                     "user_input_name", "fqn"),  # FX writes `getattr(self, "<part>")`
                    ("torch would paste into Python source it runs", _is_plain_text)),
    "in_spec": ("makes pytree import a module", _imports_nothing),
    "out_spec": ("makes pytree import a module", _imports_nothing),
}
NAME_TABLES = ("tensor_values", "sym_int_values", "sym_float_values", "sym_bool_values",
               "custom_obj_values")  # keyed by the names FX writes into forward()
CONSTANT_INPUTS = {  # a constant graph input's kind -> what module()'s guards accept for it
    "as_int": lambda v: type(v) is int, "as_float": lambda v: type(v) in (int, float),
    "as_bool": lambda v: type(v) is bool, "as_none": lambda v: True, "as_string": _is_plain_text,
}

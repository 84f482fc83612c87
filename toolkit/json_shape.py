"""Checking the shape of JSON someone else wrote (a report given to `check`, a TF.js
model.json) before reading fields from it, so that a malformed file is a one-line user
error instead of a KeyError deep inside edgekit.

A shape is written as the value it describes: a Python type (`str`, `bool`, `NUMBER`),
`[shape]` for a list of such items, `{key: shape}` for an object with at least those keys
(more are allowed), `Mapping(shape)` for an object whose every value has that shape,
`Nullable(shape)` for "that or null", and `Optional(shape)` for a key that may be absent
(or null).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from .errors import InputError
from .safe_files import read_text

NUMBER = (int, float)


@dataclass(frozen=True)
class Nullable:
    shape: object


@dataclass(frozen=True)
class Optional:
    shape: object


@dataclass(frozen=True)
class Mapping:
    shape: object


class ShapeError(ValueError):
    pass


def check(value, shape, where: str = "$") -> None:
    """Raise ShapeError naming the first place where `value` does not have `shape`."""
    if isinstance(shape, (Nullable, Optional)):
        if value is not None:
            check(value, shape.shape, where)
    elif isinstance(shape, Mapping):
        _expect(value, dict, "an object", where)
        for key, item in value.items():
            check(item, shape.shape, f"{where}.{key}")
    elif isinstance(shape, dict):
        _expect(value, dict, "an object", where)
        for key, inner in shape.items():
            if key not in value and not isinstance(inner, Optional):
                raise ShapeError(f"{where} has no '{key}'")
            check(value.get(key), inner, f"{where}.{key}")
    elif isinstance(shape, list):
        _expect(value, list, "a list", where)
        for i, item in enumerate(value):
            check(item, shape[0], f"{where}[{i}]")
    else:
        _expect(value, shape, _name(shape), where)


def _expect(value, types, name: str, where: str) -> None:
    numeric = types is NUMBER or types is int
    if not isinstance(value, types) or (numeric and isinstance(value, bool)):
        raise ShapeError(f"{where} should be {name}, not {type(value).__name__}")


def _name(types) -> str:
    names = {str: "a string", bool: "true or false", int: "an integer", NUMBER: "a number"}
    return names.get(types, " or ".join(names.get(t, t.__name__) for t in types)
                     if isinstance(types, tuple) else types.__name__)


def _refuse_non_finite(name: str):
    raise ValueError(f"{name} is not JSON (strict readers such as JSON.parse and jq refuse it)")


def load(path: Path, shape, what: str, inside: Path | None = None) -> dict:
    """Read `path` as JSON (a regular file, non-blocking; inside the folder `inside` when
    given, which `path` must start with) and check it has `shape`."""
    try:
        relative = Path(path).relative_to(inside) if inside is not None else path
        value = json.loads(read_text(relative, inside), parse_constant=_refuse_non_finite)
    except ValueError as error:  # JSONDecodeError, or a bare NaN/Infinity
        raise InputError(f"{path} is not valid JSON ({error})") from error
    try:
        check(value, shape)
    except ShapeError as error:
        raise InputError(f"{path} is not {what}: {error}") from error
    return value

"""Recipe files: a model zoo x target profiles written down once (`edgekit.toml`).

    [defaults]                 # `edgekit convert` options for every job
    bench-runs = 20

    [targets.android]          # the targets every model is converted for, each with the
    max-drop = 1.0             # options of its jobs (an empty table: none)
    [targets.web]

    [models.digits]            # one entry per model: the model and its own options
    model = "sample_models/digits_keras.keras"
    eval = "sample_models/digits_eval.npz"
    targets = ["android"]      # optional: a subset (default: every target above)

    [batch]                    # how the jobs run (not convert options)
    memory-gb = 4              # each job's memory need (the engine packs jobs by it) and limit
    timeout-min = 60

Option keys are `edgekit convert`'s own long flags without the dashes, and their values
are checked by the same click types as on the command line: a recipe is the flags
written down (the set of keys comes from the command itself, so the two cannot drift).
For one job the options merge as defaults < target < model. Relative paths are relative
to the recipe's folder. Every error names the entry and the key.
"""
from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field, fields
from pathlib import Path

from ..errors import InputError

# convert's options a recipe cannot set: the batch decides them per job, or they only
# shape what one terminal shows
NOT_IN_RECIPES = {"target", "out", "dry_run", "wide", "quiet"}


class RecipeError(InputError):
    """A malformed recipe; the message names the file, the entry and the key."""


@dataclass(frozen=True)
class BatchSettings:
    """The `[batch]` table: what each job may use."""
    memory_gb: float = 4.0  # declared to the engine; a job past it is stopped
    timeout_min: float = 120.0
    cpus: int = 0  # CPUs each job asks for (0: its profile's thread count)


@dataclass(frozen=True)
class ModelEntry:
    name: str
    model: str  # a path (absolute once loaded) or FILE.py:FACTORY
    options: dict  # convert parameter name -> value, typed by click
    targets: tuple[str, ...]


@dataclass(frozen=True)
class Recipe:
    path: Path
    defaults: dict
    targets: dict  # target -> its options
    models: tuple[ModelEntry, ...]
    batch: BatchSettings = field(default_factory=BatchSettings)

    def entry(self, name: str) -> ModelEntry:
        for model in self.models:
            if model.name == name:
                return model
        raise RecipeError(f"{self.path}: no model entry '{name}'"
                          f"{_suggestion(name, [m.name for m in self.models])}")

    def options_for(self, model: ModelEntry, target: str) -> dict:
        """One job's convert options: defaults < target < model."""
        return {**self.defaults, **self.targets.get(target, {}), **model.options}

    def pairs(self):
        """(model entry, target) for every job, models in file order."""
        return [(model, target) for model in self.models for target in model.targets]


def load(path) -> Recipe:
    path = Path(path)
    try:
        import tomllib  # Python 3.11+, as the conversion stack
    except ModuleNotFoundError:
        raise RecipeError("recipes need Python 3.11 or newer (tomllib)") from None
    try:
        table = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise RecipeError(f"no such recipe: {path}") from None
    except (OSError, UnicodeDecodeError) as error:
        raise RecipeError(f"cannot read recipe {path}: {error}") from None
    except tomllib.TOMLDecodeError as error:
        raise RecipeError(f"{path} is not valid TOML: {error}") from None
    return _recipe(path.resolve(), table)


SECTIONS = {"defaults": dict, "targets": dict, "models": dict, "batch": dict}


def _recipe(path: Path, table: dict) -> Recipe:
    where = str(path)
    _only_keys(table, SECTIONS, where)
    options = _ConvertOptions(path.parent)
    defaults = options.read(_table(table, "defaults", where), f"{where}: [defaults]")
    targets = {name: options.read(_table_value(value, f"{where}: [targets.{name}]"),
                                  f"{where}: [targets.{name}]")
               for name, value in _table(table, "targets", where).items()}
    for name in targets:
        _check_target(name, f"{where}: [targets.{name}]")
    models = tuple(_model(name, _table_value(value, f"{where}: [models.{name}]"), options,
                          tuple(targets), f"{where}: [models.{name}]")
                   for name, value in _table(table, "models", where).items())
    if not models:
        raise RecipeError(f"{where}: no [models.NAME] entry")
    return Recipe(path, defaults, targets, models,
                  _settings(_table(table, "batch", where), f"{where}: [batch]"))


def _model(name: str, table: dict, options: "_ConvertOptions", recipe_targets, where) -> ModelEntry:
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", name):  # it names the job's folder
        raise RecipeError(f"{where}: a model name may hold letters, digits, '.', '_' and '-' only")
    if "model" not in table:
        raise RecipeError(f"{where}: missing key 'model' (a model file, folder or FILE.py:FACTORY)")
    model = table["model"]
    if not isinstance(model, str) or not model:
        raise RecipeError(f"{where}: key 'model' must be a path, not {model!r}")
    targets = table.get("targets", list(recipe_targets))
    if not isinstance(targets, list) or not all(isinstance(t, str) for t in targets):
        raise RecipeError(f"{where}: key 'targets' must be a list of target names")
    for target in targets:
        _check_target(target, f"{where}: key 'targets'")
    if not targets:
        raise RecipeError(f"{where}: no targets (add [targets.NAME] tables, or a 'targets' list here)")
    rest = {key: value for key, value in table.items() if key not in ("model", "targets")}
    return ModelEntry(name, options.model_path(model, where), options.read(rest, where), tuple(targets))


def _settings(table: dict, where: str) -> BatchSettings:
    known = {f.name.replace("_", "-"): f for f in fields(BatchSettings)}
    _only_keys(table, known, where)
    values = {}
    for key, value in table.items():
        kind = known[key].type
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0 or (
                kind == "int" and not isinstance(value, int)):
            raise RecipeError(f"{where}: key '{key}' must be a {'whole ' if kind == 'int' else ''}"
                              f"number of at least 0, not {value!r}")
        values[known[key].name] = value
    return BatchSettings(**values)


class _ConvertOptions:
    """`edgekit convert`'s options, read from the command itself: a recipe key is a long
    flag without its dashes, its value checked by the flag's click type."""

    def __init__(self, folder: Path):
        from ..cli import convert  # click only: no framework
        self.folder = folder
        self.params = {param.opts[0].lstrip("-"): param for param in convert.params
                       if param.param_type_name == "option" and param.name not in NOT_IN_RECIPES}

    def read(self, table: dict, where: str) -> dict:
        _only_keys(table, self.params, where)
        return {self.params[key].name: self._value(self.params[key], value, f"{where}: key '{key}'")
                for key, value in table.items()}

    def _value(self, param, value, where: str):
        import click
        if param.is_flag:
            if not isinstance(value, bool):
                raise RecipeError(f"{where} must be true or false, not {value!r}")
            return value
        values = value if param.multiple else [value]
        if param.multiple and not isinstance(value, list):
            raise RecipeError(f"{where} must be a list (the flag may be given more than once)")
        if any(isinstance(v, (dict, list)) for v in values):
            raise RecipeError(f"{where} must be {'a list of ' if param.multiple else ''}"
                              "plain values, not a table or list")
        if isinstance(param.type, (click.types.StringParamType, click.Path)) and not all(
                isinstance(v, str) for v in values):
            raise RecipeError(f"{where} must be text (in quotes), not {value!r}")
        try:
            converted = [param.type.convert(v if isinstance(v, (int, float)) else str(v), param, None)
                         for v in values]
        except click.BadParameter as error:
            raise RecipeError(f"{where}: {error.message}") from None
        if isinstance(param.type, click.Path) or (
                param.name == "labels" and self._path(converted[0]).is_file()):  # or a list
            converted = [str(self._path(v)) for v in converted]
            _exists(converted, where)
        for v in converted:
            _check_choice(param.name, v, where)
        return converted if param.multiple else converted[0]

    def _path(self, value: str) -> Path:
        path = Path(value).expanduser()
        return path if path.is_absolute() else self.folder / path

    def model_path(self, model: str, where: str) -> str:
        """The model's path made absolute; FILE.py:FACTORY keeps its factory name."""
        file, colon, factory = model.partition(".py:")
        if colon and factory:
            _exists([str(self._path(file + ".py"))], f"{where}: key 'model'")
            return f"{self._path(file + '.py')}:{factory}"
        _exists([str(self._path(model))], f"{where}: key 'model'")
        return str(self._path(model))


def _exists(paths: list[str], where: str) -> None:
    for path in paths:
        if not Path(path).exists():
            raise RecipeError(f"{where}: no such file or folder: {path}")


def _choices() -> dict:
    """Options whose values come from edgekit's tables (records only: no framework)."""
    from ..quantize import CALIBRATION_METHODS, PRECISIONS
    from ..targets.registry import OUTPUT_FORMATS
    return {"formats": OUTPUT_FORMATS, "precision": tuple(PRECISIONS),
            "calib_method": tuple(CALIBRATION_METHODS), "prune_method": ("magnitude", "channels")}


def _check_choice(name: str, value, where: str) -> None:
    valid = _choices().get(name)
    items = [v.strip() for v in value.split(",")] if name == "formats" else [value]
    for item in items if valid else []:
        if item not in valid:
            raise RecipeError(f"{where}: '{item}' is not one of {', '.join(valid)}"
                              f"{_suggestion(item, valid)}")


def command_line(model: str, options: dict) -> list[str]:
    """`edgekit convert`'s arguments for a model and its options (parameter names)."""
    from ..cli import convert
    flags = {param.name: param for param in convert.params}
    argv = [model]
    for name, value in options.items():
        param, flag = flags[name], flags[name].opts[0]
        if param.is_flag:
            argv += [flag] if value else []
        else:
            argv += [part for item in (value if param.multiple else [value]) for part in (flag, str(item))]
    return argv


def input_paths(model: str, options: dict) -> list[Path]:
    """The files and folders a job reads: what its resumption key hashes."""
    from ..cli import convert
    import click
    file, factory, _ = model.partition(".py:")
    paths = [Path(file + ".py" if factory else model)]
    for param in convert.params:
        if param.name in options and isinstance(param.type, click.Path):
            paths += [Path(v) for v in (options[param.name] if param.multiple else [options[param.name]])]
    labels = options.get("labels")
    if labels and Path(labels).is_file():
        paths.append(Path(labels))
    return paths


def _check_target(name: str, where: str) -> None:
    from ..targets.profiles import PROFILES  # records: no framework
    if name not in PROFILES:
        raise RecipeError(f"{where}: unknown target profile '{name}'"
                          f"{_suggestion(name, PROFILES)}; valid: {', '.join(PROFILES)}")


def _table(table: dict, key: str, where: str) -> dict:
    return _table_value(table.get(key, {}), f"{where}: [{key}]")


def _table_value(value, where: str) -> dict:
    if not isinstance(value, dict):
        raise RecipeError(f"{where} must be a table, not {value!r}")
    return value


def _only_keys(table: dict, known, where: str) -> None:
    for key in table:
        if key not in known:
            raise RecipeError(f"{where}: unknown key '{key}'{_suggestion(key, known)}")


def _suggestion(word: str, choices) -> str:
    close = difflib.get_close_matches(word.replace("_", "-"), list(choices), n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""

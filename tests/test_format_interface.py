"""The written format interface (edgekit/targets/format.py): every registered format is a
FormatModule with its required hooks, optional capabilities are explicit fields, and no code
outside targets/ probes a format with hasattr/getattr or branches on a format's name.

Pure Python: importing the format modules must not import their frameworks."""
import ast
import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest

from edgekit.quantize import PRECISIONS
from edgekit.quantize.prune import HOOKS as PRUNE_HOOKS
from edgekit.targets.format import OPTIONAL, REQUIRED_HOOKS, FormatModule
from edgekit.targets.registry import FORMATS, OUTPUT_FORMATS, format_module

pytestmark = pytest.mark.pure  # no framework, runtime or Node (conftest: FRAMEWORKS)

ROOT = Path(__file__).resolve().parents[1]
OUTSIDE_TARGETS = [ROOT / "toolkit", ROOT / "quantize"]
FRAMEWORKS = ("tensorflow", "torch", "keras", "onnx", "onnxruntime", "ai_edge_litert",
              "tensorflowjs", "onnx2tf", "tf2onnx")


@pytest.mark.parametrize("name", FORMATS)
def test_every_registered_format_is_a_format_module(name):
    fmt = format_module(name)
    assert isinstance(fmt, FormatModule)
    assert fmt.runtime and all(isinstance(p, str) for p in fmt.packages)
    for hook in REQUIRED_HOOKS:
        assert callable(getattr(fmt, hook)), hook
    assert fmt.open_handle is not None or fmt.open_source is not None
    for capability in OPTIONAL:  # present capabilities are callables (or their data)
        value = getattr(fmt, capability)
        assert value is None or callable(value) or isinstance(value, (tuple, str)) \
            or dataclasses.is_dataclass(value), capability


@pytest.mark.parametrize("name", OUTPUT_FORMATS)
def test_an_output_format_opens_its_artifacts_and_says_what_makes_it(name):
    fmt = format_module(name)
    assert fmt.open_handle is not None  # validate and inspect open artifacts with it
    assert all(c.dest == name for c in fmt.converters)
    assert fmt.quantizer is None or (fmt.quantizer.source, fmt.quantizer.dest) == (name, name)


def test_precision_hooks_name_only_output_formats():
    for precision in PRECISIONS.values():
        assert set(precision.hooks) <= set(OUTPUT_FORMATS), precision.name


def test_prune_methods_name_only_formats_with_pruning_hooks():
    assert all(format_module(name).pruning is not None for name in PRUNE_HOOKS)


def test_a_half_given_pair_of_hooks_is_refused():
    with pytest.raises(TypeError, match="macs and weight_bytes"):
        FormatModule("r", (), make_runner=len, op_counts=len, open_handle=len, macs=len)
    with pytest.raises(TypeError, match="open_handle, open_source"):
        FormatModule("r", (), make_runner=len, op_counts=len)


def test_importing_the_format_modules_imports_no_framework():
    code = (f"import sys\nfrom edgekit.targets.registry import FORMATS, format_module\n"
            f"[format_module(f) for f in FORMATS]\n"
            f"print([m for m in {FRAMEWORKS!r} if m in sys.modules])")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def _python_files():
    return [path for folder in OUTSIDE_TARGETS for path in sorted(folder.rglob("*.py"))]


def _format_probes(tree: ast.AST) -> list[str]:
    """hasattr/getattr calls on a format's record or module (anything named like one or
    obtained from format_module(...))."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and \
                node.func.id in ("hasattr", "getattr") and node.args:
            target = ast.unparse(node.args[0])
            if "format_module" in target or any(word in target.lower() for word in
                                                ("module", "framework", "fmt", "format")):
                found.append(f"{node.lineno}: {ast.unparse(node)}")
    return found


def _format_name_branches(tree: ast.AST) -> list[str]:
    """Comparisons of something with a format's name: `x == "tfjs"`, `x in ("torch", ...)`."""
    names = set(FORMATS)
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Compare):
            continue
        for operand in [node.left, *node.comparators]:
            literals = [operand] if isinstance(operand, ast.Constant) else \
                list(operand.elts) if isinstance(operand, (ast.Tuple, ast.List, ast.Set)) else []
            if any(isinstance(c, ast.Constant) and c.value in names for c in literals):
                found.append(f"{node.lineno}: {ast.unparse(node)}")
    return found


# Format names that stay outside targets/, each for a reason:
ALLOWED_NAME_BRANCHES = {
    # `edgekit demo` is the TF.js browser demo: it looks for the tfjs artifact in a report
    "demo.py": "row['format'] == 'tfjs'",
}


def test_no_module_outside_targets_probes_a_format_with_hasattr():
    probes = {path.name: _format_probes(ast.parse(path.read_text())) for path in _python_files()}
    assert {name: found for name, found in probes.items() if found} == {}


def test_no_module_outside_targets_branches_on_a_format_name():
    branches = {}
    for path in _python_files():
        found = [b for b in _format_name_branches(ast.parse(path.read_text()))
                 if ALLOWED_NAME_BRANCHES.get(path.name, "\0") not in b]
        if found:
            branches[path.name] = found
    assert branches == {}


def test_the_source_checks_catch_what_they_look_for():
    """The two scans above would pass on anything if they found nothing: they do find the
    patterns they forbid."""
    probe = ast.parse('getattr(format_module(f), "macs", None)\nhasattr(module, "open_source")')
    branch = ast.parse('if handle.format == "onnx": pass\nif fmt in ("torch", "keras"): pass')
    assert len(_format_probes(probe)) == 2 and len(_format_name_branches(branch)) == 2


def test_a_new_format_is_recognised_from_its_own_record(tmp_path, monkeypatch):
    """detect.py holds no format's marks: a format added to the registry with a recognize
    hook is detected, its extension promise is kept, and its folder file names a folder."""
    import types
    from edgekit.detect import detect
    from edgekit.errors import InputError
    from edgekit.targets import registry
    from edgekit.targets.format import FileKind
    kind = FileKind("ort", "ORT", (".ort",))
    record = FormatModule("onnxruntime", (), make_runner=len, op_counts=len, open_handle=len,
                          recognize=lambda c: kind if c.head[4:8] == b"ORTM" else None,
                          file_kinds=(kind,), folder_files=("model.ort.json",))
    monkeypatch.setitem(sys.modules, "trial_ort", types.SimpleNamespace(FORMAT=record))
    monkeypatch.setitem(registry.FORMATS, "ort", "trial_ort")
    (tmp_path / "a.bin").write_bytes(b"\x10\x00\x00\x00ORTM" + bytes(32))
    assert detect(str(tmp_path / "a.bin")).format == "ort"
    (tmp_path / "b.ort").write_bytes(b"\x1c\x00\x00\x00TFL3" + bytes(32))
    with pytest.raises(InputError, match="TFLite format, not ORT.*b.tflite"):
        detect(str(tmp_path / "b.ort"))
    (tmp_path / "c.ort").write_text("hello")
    with pytest.raises(InputError, match="expected .*\\.ort"):
        detect(str(tmp_path / "c.ort"))
    (tmp_path / "web").mkdir()
    (tmp_path / "web" / "model.ort.json").write_text("{}")
    assert detect(str(tmp_path / "web")).format == "ort"

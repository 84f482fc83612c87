"""Fast checks of what the packaging promises: the extras the error messages name bring the
package, the runtime path stays Python 3.9 code, the workflow calls the action with inputs
it has. (The built wheel itself is installed and run in test_slim_runtime.py.)"""
from __future__ import annotations

import ast
import re
import tomllib

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

from conftest import REPO
from edgekit.extras import DISTRIBUTION, OPTIONAL, install_for, missing_dependency

pytestmark = pytest.mark.pure  # no framework, runtime or Node (conftest: FRAMEWORKS)

PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
EXTRAS = PYPROJECT["project"]["optional-dependencies"]
LOCK = (REPO / "requirements" / "lock.txt").read_text()
SOURCES = sorted(p for folder in ("toolkit", "targets", "quantize")
                 for p in (REPO / folder).rglob("*.py"))
OLDEST = (3, 9)


def names_in(extra: str) -> set[str]:
    """The distributions an extra brings, following `edgekit-toolkit[other]` entries."""
    found = set()
    for line in EXTRAS[extra]:
        requirement = Requirement(line)
        if requirement.name == DISTRIBUTION:
            for inner in requirement.extras:
                found |= names_in(inner)
        else:
            found.add(requirement.name)
    return found


def test_the_distribution_is_ours_and_admits_the_oldest_python():
    assert PYPROJECT["project"]["name"] == DISTRIBUTION != "edgekit"
    assert PYPROJECT["project"]["scripts"] == {"edgekit": "edgekit.cli:main"}
    admitted = SpecifierSet(PYPROJECT["project"]["requires-python"])
    assert all(f"3.{minor}" in admitted for minor in range(OLDEST[1], 14))


@pytest.mark.parametrize("module", sorted(OPTIONAL))
def test_each_missing_package_names_an_extra_that_brings_it(module):
    package, extra, _, no_deps = OPTIONAL[module]
    error = missing_dependency(ModuleNotFoundError(f"No module named '{module}'", name=f"{module}.sub"),
                               "inspect")
    assert error.exit_code == 1
    command = f"needs the {package} package: pip install '{DISTRIBUTION}[{extra}]'"
    if not no_deps:
        assert package in names_in(extra), f"{package} is not in [{extra}]"
        assert str(error).endswith(command)
    else:  # beside the extra, with --no-deps, at the lock's version
        assert package not in names_in(extra) and re.search(rf"^{package}==", LOCK, re.M)
        assert f"{command}, then pip install --no-deps {package} (" in str(error)


def test_an_unknown_missing_module_stays_a_bug():
    assert missing_dependency(ModuleNotFoundError("x", name="edgekit.nowhere")) is None
    assert missing_dependency(ImportError("cannot import name 'x'", name="onnx")) is None


def test_the_plan_points_at_the_extra_not_at_bare_packages():
    # `pip install onnx2tf` alone would pull TensorFlow 2.19 and numpy 1.26
    assert install_for(["ai-edge-litert", "onnx"]) == f"pip install '{DISTRIBUTION}[convert]'"
    assert install_for(["onnxruntime"]) == f"pip install '{DISTRIBUTION}[runtime]'"
    assert install_for(["tensorflowjs", "tensorflow"]).startswith(
        f"pip install '{DISTRIBUTION}[convert]', then pip install --no-deps tensorflowjs (")


def test_runtime_is_slim():
    assert names_in("runtime") == {"click", "numpy", "ai-edge-litert", "onnxruntime"}


def _later_python(tree: ast.Module, has_future_annotations: bool) -> list[str]:
    """Constructs newer than OLDEST that would fail at run time (parsing is checked apart)."""
    found = []
    union = lambda node: isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr)  # noqa: E731
    for node in ast.walk(tree):
        annotations = []
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            arguments = node.args.args + node.args.kwonlyargs + node.args.posonlyargs
            annotations = [a.annotation for a in arguments if a.annotation] + [node.returns]
        elif isinstance(node, ast.AnnAssign):
            annotations = [node.annotation]
        if not has_future_annotations and any(a is not None and any(union(n) for n in ast.walk(a))
                                              for a in annotations):
            found.append(f"line {node.lineno}: `X | Y` annotation without `from __future__ import annotations`")
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            if node.func.id in ("isinstance", "issubclass") and len(node.args) == 2 and union(node.args[1]):
                found.append(f"line {node.lineno}: {node.func.id}(x, A | B)")
            if node.func.id == "zip" and any(k.arg == "strict" for k in node.keywords):
                found.append(f"line {node.lineno}: zip(strict=...)")
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and len(node.args) == 1 \
                and node.func.attr in ("print_exception", "format_exception"):
            found.append(f"line {node.lineno}: traceback.{node.func.attr}(error) (3.10+; 3.9 takes "
                         "type, value, traceback)")
        if isinstance(node, ast.Call) and any(k.arg in ("slots", "kw_only") for k in node.keywords) \
                and "dataclass" in ast.unparse(node.func):
            found.append(f"line {node.lineno}: dataclass(slots=/kw_only=)")
    return found


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_the_package_is_python_3_9_code(path):
    """`requires-python` admits 3.9 and [runtime] is measured there: no syntax or run-time
    construct of a later Python (match, `X | Y` evaluated, zip(strict=), ...)."""
    source = path.read_text()
    tree = ast.parse(source, feature_version=OLDEST)  # match statements, except*, ... fail here
    future = re.search(r"^from __future__ import annotations", source, re.M) is not None
    assert _later_python(tree, future) == []


def test_the_workflow_calls_the_action_with_its_inputs():
    action = yaml.safe_load((REPO / "action.yml").read_text())
    workflow = yaml.safe_load((REPO / ".github" / "workflows" / "model-gate.yml").read_text())
    (step,) = [s for job in workflow["jobs"].values() for s in job["steps"] if s.get("uses") == "./"]
    required = {name for name, spec in action["inputs"].items() if spec.get("required")}
    assert set(step["with"]) <= set(action["inputs"]) and required <= set(step["with"])
    assert action["runs"]["using"] == "composite"
    # no step depends on edgekit's own checkout tooling (make setup exists only there)
    assert not [s for s in action["runs"]["steps"] if re.search(r"\bmake\b", s.get("run", ""))]

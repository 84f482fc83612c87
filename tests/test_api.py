"""The public Python API: real signatures, options checked when made, the same checks and
results as the CLI (the heavier commands are exercised through it in the framework tier)."""
import inspect
import json
from pathlib import Path

import pytest

import edgekit
from edgekit import CalibrationOptions, Callbacks, SourceOptions
from edgekit.errors import InputError, UnsupportedError

pytestmark = pytest.mark.pure  # no framework, runtime or Node (conftest: FRAMEWORKS)

REPORT = Path(__file__).parent / "data" / "report_android_torch.json"


@pytest.mark.parametrize("name", ["convert", "validate", "bench", "inspect", "check"])
def test_each_command_has_a_documented_function_with_a_real_signature(name):
    function = getattr(edgekit, name)
    parameters = inspect.signature(function).parameters
    assert function.__doc__ and len(function.__doc__) > 80
    assert not [p for p in parameters.values() if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    assert len(parameters) <= 17  # option groups, not one keyword per CLI flag (convert had 21)


def test_options_are_checked_when_they_are_made(tmp_path):
    with pytest.raises(UnsupportedError, match="unknown calibration method 'kl'"):
        CalibrationOptions(method="kl")
    with pytest.raises(InputError, match="max_size_mb must be a number of at least 0, not -1"):
        edgekit.BudgetOptions(max_size_mb=-1)
    with pytest.raises(InputError, match="no such calibration data"):
        CalibrationOptions(data=tmp_path / "missing.npz")
    with pytest.raises(InputError, match="at least 1"):
        CalibrationOptions(samples=0)
    shapes = SourceOptions(input_shapes=("1,3,8,8", [1, 6], "1,6:int64")).input_shapes
    assert shapes == ((1, 3, 8, 8), (1, 6), (1, 6)) and shapes[2].dtype == "int64"
    assert SourceOptions(weights="w.pt").weights == Path("w.pt")
    messages = []
    Callbacks(progress=messages.append).progress("step")
    assert messages == ["step"] and Callbacks().warn("ignored") is None


def test_check_through_the_api_gives_the_verdict_and_findings(tmp_path):
    verdict, findings = edgekit.check(REPORT)
    assert verdict == "pass" and findings and all(f.outcome == "pass" for f in findings)
    report = json.loads(REPORT.read_text())
    report["artifacts"][0]["accuracy_drop"] = 9.0  # beyond the profile's budget
    (tmp_path / "report.json").write_text(json.dumps(report))
    verdict, findings = edgekit.check(tmp_path / "report.json", baseline=REPORT)
    assert verdict == "fail" and any(f.outcome == "fail" for f in findings)


def test_importing_edgekit_loads_no_framework_and_no_option_module():
    import subprocess
    import sys
    code = ("import sys, edgekit; edgekit.__version__; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('numpy', 'tensorflow', 'torch', 'edgekit.api')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_a_missing_optional_package_names_the_command_and_the_extra(monkeypatch):
    from edgekit import inspection
    from edgekit.errors import MissingDependencyError

    def without_onnx(*args, **kwargs):
        raise ModuleNotFoundError("No module named 'onnx'", name="onnx")
    monkeypatch.setattr(inspection, "open_any", without_onnx)
    with pytest.raises(MissingDependencyError, match=r"^inspect of ONNX needs the onnx package: "):
        edgekit.inspect("model.onnx")

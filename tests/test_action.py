"""The reusable GitHub Action (action.yml): its `run:` steps, as written, in a scratch
repository that holds only a model and an evaluation file.

A small stand-in for the runner: it substitutes the `${{ }}` expressions the action uses
(inputs, github.action_path, earlier steps' outputs) into each step's env, runs the script
with the runner's own bash flags, and carries GITHUB_OUTPUT/GITHUB_ENV/GITHUB_PATH from
step to step. `uses:` steps (actions/setup-python) are GitHub's and are not run; the
action's `python` input points the steps at this checkout's venv instead of a fresh
install of the whole stack (the install command itself is the README's, tested by hand).
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pytest
import yaml

from conftest import REPO, SAMPLES

pytestmark = pytest.mark.slow
ACTION = yaml.safe_load((REPO / "action.yml").read_text())
EXPRESSION = re.compile(r"\$\{\{\s*([^}]*?)\s*\}\}")
RUNNER_BASH = ["bash", "--noprofile", "--norc", "-eo", "pipefail"]  # GitHub's `shell: bash`


def evaluate(text: str, inputs: dict, outputs: dict) -> str:
    """The expressions the action uses; any other is a failure, not a silent empty string."""
    def value(match):
        name = match.group(1)
        if name == "github.action_path":
            return str(REPO)
        if name.startswith("inputs."):
            return inputs[name[len("inputs."):]]
        step = re.fullmatch(r"steps\.([\w-]+)\.outputs\.([\w-]+)", name)
        if step:
            return outputs.get(step.group(1), {}).get(step.group(2), "")
        raise AssertionError(f"the test runner does not know the expression {name!r}")
    return EXPRESSION.sub(value, text)


def read_pairs(path: Path) -> dict:
    lines = path.read_text().splitlines() if path.exists() else []
    return dict(line.split("=", 1) for line in lines if "=" in line)


def run_action(workspace: Path, given: dict, only: set | None = None) -> tuple[dict, list]:
    """Run the `run:` steps of action.yml (those whose id is in `only`, or all) in
    `workspace`; the action's outputs and a log of (step name, exit code)."""
    declared = ACTION["inputs"]
    assert set(given) <= set(declared), set(given) - set(declared)
    inputs = {name: str(given.get(name, spec.get("default", ""))) for name, spec in declared.items()}
    assert all(inputs[n] for n, spec in declared.items() if spec.get("required")), inputs
    runner = workspace.parent / f"runner-{len(list(workspace.parent.glob('runner-*')))}"
    runner.mkdir()
    env = dict(os.environ, GITHUB_WORKSPACE=str(workspace), GITHUB_ACTION_PATH=str(REPO),
               RUNNER_TEMP=str(runner))
    env.pop("EDGEKIT_NODE_MODULES", None)
    outputs, log = {}, []
    for number, step in enumerate(ACTION["runs"]["steps"]):
        if "uses" in step or (only is not None and step.get("id") not in only):
            continue
        assert "if" not in step and step.get("shell") == "bash", step.get("name")
        assert "${{" not in step["run"], f"{step.get('name')}: expressions belong in env"
        files = {kind: runner / f"{kind}-{number}" for kind in ("output", "env", "path")}
        step_env = dict(env, GITHUB_OUTPUT=str(files["output"]), GITHUB_ENV=str(files["env"]),
                        GITHUB_PATH=str(files["path"]))
        step_env.update({key: evaluate(str(value), inputs, outputs)
                         for key, value in step.get("env", {}).items()})
        script = runner / f"step-{number}.sh"
        script.write_text(step["run"])
        code = subprocess.run(RUNNER_BASH + [str(script)], cwd=workspace, env=step_env).returncode
        log.append((step.get("name"), code))
        if code != 0:
            break
        outputs[step.get("id", f"step{number}")] = read_pairs(files["output"])
        env.update(read_pairs(files["env"]))
        if files["path"].exists():
            env["PATH"] = os.pathsep.join(files["path"].read_text().split() + [env["PATH"]])
    declared_outputs = {name: evaluate(spec["value"], inputs, outputs)
                        for name, spec in ACTION["outputs"].items()}
    return declared_outputs, log


@pytest.fixture(scope="module")
def scratch_repo(tmp_path_factory) -> Path:
    """A repository of someone else's: one model, one evaluation file, one commit."""
    workspace = tmp_path_factory.mktemp("action") / "workspace"
    (workspace / "models").mkdir(parents=True)
    shutil.copy(SAMPLES / "digits_keras.keras", workspace / "models" / "net.keras")
    shutil.copy(SAMPLES / "digits_eval.npz", workspace / "eval.npz")
    git = ["git", "-C", str(workspace), "-c", "user.name=t", "-c", "user.email=t@example.invalid"]
    subprocess.run(git[:3] + ["init", "-q"], check=True)
    subprocess.run(git + ["add", "."], check=True)
    subprocess.run(git + ["commit", "-q", "-m", "model"], check=True)
    return workspace


# One fp32 TFLite candidate, untimed (no latency noise to gate on): the steps are under test,
# not the search.
CHEAP = "--formats tflite --precision fp32 --bench-runs 0"
PYTHON = {"python": sys.executable}  # this venv: no fresh install of the whole stack


@pytest.fixture(scope="module")
def gated(scratch_repo):
    """The whole action once, with the model at HEAD converted as the baseline."""
    return run_action(scratch_repo, {"model": "models/net.keras", "target": "android",
                                     "eval": "eval.npz", "baseline-ref": "HEAD", "args": CHEAP,
                                     **PYTHON})


def test_the_action_gates_a_model_against_its_baseline(scratch_repo, gated):
    outputs, log = gated
    assert [code for _, code in log] == [0, 0, 0, 0, 0], log
    for name in ("report-json", "report-md", "report-html", "junit", "baseline-json"):
        assert (scratch_repo / outputs[name]).is_file(), (name, outputs[name])
    assert outputs["exit-code"] == "0"
    suite = ElementTree.parse(scratch_repo / outputs["junit"]).getroot()
    names = [case.get("name") for case in suite.iter("testcase")]
    assert any(name.endswith("vs baseline") for name in names), names
    assert not list(suite.iter("failure"))
    # the scratch repository got only the outputs the action names
    made = {p.name for p in scratch_repo.iterdir()} - {".git"}
    assert made == {"models", "eval.npz", "edgekit-report", "edgekit-junit.xml"}


def test_a_failing_gate_fails_the_step_and_says_so(scratch_repo, gated, tmp_path):
    junit = tmp_path / "gate.xml"
    outputs, log = run_action(scratch_repo, {"model": "models/net.keras", "target": "android",
                                             "check-args": "--max-size-mb 0.01", "junit": junit,
                                             **PYTHON}, only={"install", "gate"})
    assert [code for _, code in log] == [0, 2], log
    assert [f.get("message") for f in ElementTree.parse(junit).getroot().iter("failure")]


def test_the_gate_can_report_without_failing(scratch_repo, gated, tmp_path):
    outputs, log = run_action(scratch_repo, {"model": "models/net.keras", "target": "android",
                                             "check-args": "--max-size-mb 0.01", "fail-on-gate": "false",
                                             "junit": tmp_path / "gate.xml", **PYTHON},
                              only={"install", "gate"})
    assert [code for _, code in log] == [0, 0] and outputs["exit-code"] == "2", (log, outputs)

"""Recipes, job keys, CPU sets and the matrix of `edgekit batch`, without running a job
(the runs themselves: test_batch_runs.py)."""
import json
import xml.etree.ElementTree as ElementTree

import pytest
from click.testing import CliRunner

from edgekit.batch import jobs, matrix, recipe
from edgekit.batch.engines import cpu_sets_for
from edgekit.cli import cli

pytestmark = pytest.mark.pure  # no framework, runtime or Node (conftest: FRAMEWORKS)

GOOD = """
[defaults]
quick = true
bench-runs = 10

[targets.android]
max-drop = 2.5
precision = "int8"
[targets.web]
[targets.server-cpu]
bench-runs = 3

[models.digits]
model = "m.keras"
eval = "data/eval.npz"
bench-runs = 7

[models.other]
model = "net.py:build"
weights = "w.pt"
input-shape = ["1,3,8,8"]
targets = ["web"]

[batch]
memory-gb = 2
cpus = 1
"""


@pytest.fixture
def folder(tmp_path):
    for name in ("m.keras", "data/eval.npz", "net.py", "w.pt"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(name.encode())
    (tmp_path / "edgekit.toml").write_text(GOOD)
    return tmp_path


def test_a_recipe_is_convert_options_merged_defaults_target_model(folder):
    loaded = recipe.load(folder / "edgekit.toml")
    assert [(m.name, t) for m, t in loaded.pairs()] == [
        ("digits", "android"), ("digits", "web"), ("digits", "server-cpu"), ("other", "web")]
    digits = loaded.entry("digits")
    assert digits.model == str(folder / "m.keras")  # relative to the recipe's folder
    android = loaded.options_for(digits, "android")
    assert android == {"quick": True, "bench_runs": 7, "max_drop": 2.5, "precision": "int8",
                       "eval_data": str(folder / "data/eval.npz")}
    assert loaded.options_for(loaded.entry("other"), "web")["input_shapes"] == ["1,3,8,8"]
    assert loaded.entry("other").model == f"{folder / 'net.py'}:build"
    assert loaded.batch == recipe.BatchSettings(memory_gb=2, cpus=1)


def test_a_job_runs_the_flags_the_recipe_wrote_down(folder):
    loaded = recipe.load(folder / "edgekit.toml")
    every = {job.name: job for job in jobs.jobs_of(loaded)}
    argv = every["digits/android"].argv(folder / "out")
    assert argv[:2] == ["convert", str(folder / "m.keras")]
    flags = " ".join(argv)
    for part in ("--quick", "--bench-runs 7", "--max-drop 2.5", "--precision int8",
                 f"--eval {folder / 'data/eval.npz'}", "--target android", f"--out {folder / 'out'}"):
        assert part in flags
    other = " ".join(every["other/web"].argv(folder / "o"))
    assert "--input-shape 1,3,8,8" in other and f"--weights {folder / 'w.pt'}" in other
    # and the same flags parse as a convert command line
    from edgekit.cli import convert
    context = convert.make_context("convert", argv[1:])
    assert context.params["max_drop"] == 2.5 and context.params["bench_runs"] == 7


def test_the_job_key_follows_the_inputs_bytes_and_options(folder):
    def keys():
        return {job.name: job.key for job in jobs.jobs_of(recipe.load(folder / "edgekit.toml"))}
    before = keys()
    assert keys() == before and len(set(before.values())) == 4
    (folder / "w.pt").write_bytes(b"retrained")  # only the model that reads it changes
    after = keys()
    assert after["other/web"] != before["other/web"]
    assert {k: v for k, v in after.items() if k != "other/web"} == \
        {k: v for k, v in before.items() if k != "other/web"}
    (folder / "edgekit.toml").write_text(GOOD.replace("max-drop = 2.5", "max-drop = 1.0"))
    changed = keys()
    assert changed["digits/android"] != after["digits/android"]
    assert changed["digits/web"] == after["digits/web"]


@pytest.mark.parametrize("text, message", [
    ("[targets.android]\nmax_drop = 1\n", "[targets.android]: unknown key 'max_drop' (did you mean 'max-drop'?)"),
    ("[targets.andriod]\n", "[targets.andriod]: unknown target profile 'andriod' (did you mean 'android'?)"),
    ("[targets.android]\nmax-drop = 'x'\n", "[targets.android]: key 'max-drop': 'x' is not a valid float"),
    ("[targets.android]\nquick = 1\n", "[targets.android]: key 'quick' must be true or false, not 1"),
    ("[targets.android]\nformats = 3\n", "key 'formats' must be text (in quotes), not 3"),
    ("[targets.android]\nformats = 'tflite,onxx'\n", "key 'formats': 'onxx' is not one of"),
    ("[targets.android]\nprecision = 'int9'\n", "key 'precision': 'int9' is not one of"),
    ("[targets.android]\ninput-shape = '1,2'\n", "key 'input-shape' must be a list"),
    ("[targets.android]\nout = 'x'\n", "[targets.android]: unknown key 'out'"),
    ("[targets.android]\neval = 'nope.npz'\n", "key 'eval': no such file or folder"),
    ("[targets.android]\n[batch]\nmemory-gb = 'x'\n", "[batch]: key 'memory-gb' must be a number"),
    ("[targets.android]\n[batch]\ncpus = 1.5\n", "[batch]: key 'cpus' must be a whole number"),
    ("[target.android]\n", "unknown key 'target' (did you mean 'targets'?)"),
    ("targets = 3\n", "[targets] must be a table"),
    ("x = [\n", "is not valid TOML"),
])
def test_a_malformed_recipe_is_one_error_naming_entry_and_key(folder, text, message):
    (folder / "bad.toml").write_text(text + '[models.digits]\nmodel = "m.keras"\n'
                                     if "[models" not in text and "x = [" not in text else text)
    result = CliRunner().invoke(cli, ["batch", str(folder / "bad.toml"), "--out", str(folder / "o")])
    assert result.exit_code == 1, result.output
    assert result.output.startswith("Error: ") and result.output.count("\n") == 1
    assert message in result.output
    assert not (folder / "o").exists()  # refused before any job


@pytest.mark.parametrize("model, message", [
    ('[models.digits]\neval = "m.keras"\n', "[models.digits]: missing key 'model'"),
    ('[models.digits]\nmodel = "gone.keras"\n', "[models.digits]: key 'model': no such file"),
    ('[models.digits]\nmodel = "nets.py:build"\n', "key 'model': no such file or folder: "),
    ('[models."../up"]\nmodel = "m.keras"\n', "a model name may hold letters"),
    ('[models.digits]\nmodel = "m.keras"\ntargets = ["phone"]\n', "key 'targets': unknown target profile 'phone'"),
    ('', "no [models.NAME] entry"),
])
def test_model_entries_are_checked(folder, model, message):
    (folder / "bad.toml").write_text("[targets.web]\n" + model)
    result = CliRunner().invoke(cli, ["batch", str(folder / "bad.toml")])
    assert result.exit_code == 1 and message in result.output, result.output


def test_convert_takes_a_recipe_entry_and_the_command_line_wins(folder):
    from edgekit.cli import convert
    seen = {}
    context = convert.make_context("convert", ["digits", "--recipe", str(folder / "edgekit.toml"),
                                               "--target", "android", "--bench-runs", "1"])
    original = convert.callback
    try:
        convert.callback = lambda **params: seen.update(params)  # what convert would be given
        convert.invoke(context)
    finally:
        convert.callback = original
    assert seen["model"] == str(folder / "m.keras")
    assert seen["bench_runs"] == 1  # given on the command line
    assert seen["max_drop"] == 2.5 and seen["precision"] == "int8" and seen["quick"] is True


def test_convert_with_a_recipe_and_an_unknown_entry_is_a_user_error(folder):
    result = CliRunner().invoke(cli, ["convert", "digit", "--recipe", str(folder / "edgekit.toml"),
                                      "--target", "web"])
    assert result.exit_code == 1 and "no model entry 'digit' (did you mean 'digits'?)" in result.output


@pytest.mark.parametrize("workers, need, cpus, expected", [
    (2, 1, [0, 1], [[0], [1]]),
    (2, 2, [0, 1], [[0, 1]]),  # a job asks for both: one at a time
    (4, 4, [0, 1], [[0, 1]]),  # more than the host: all of them
    (3, 2, [0, 1, 2, 3, 4, 5, 6, 7], [[0, 1], [2, 3], [4, 5]]),
])
def test_workers_get_disjoint_cpu_sets_of_what_a_job_asks(workers, need, cpus, expected):
    assert cpu_sets_for(workers, need, cpus) == expected


def _finished(folder, job, status, report=None):
    out = job.folder(folder)
    out.mkdir(parents=True)
    (out / jobs.JOB_RECORD).write_text(json.dumps(
        {"key": job.key, "status": status, "exit_code": 0 if status == "passed" else None,
         "message": "" if report else "killed by SIGKILL (out of memory?)", "seconds": 3.0,
         "peak_memory_bytes": 10**9}))
    if report:
        (out / "report.json").write_text(json.dumps(report))


REPORT = {"target": "web", "passed": True,
          "profile": {"formats": ["tfjs", "onnx"], "budgets": {"max_accuracy_drop": 1.0}},
          "deliverables": [{"format": "tfjs", "precision": "fp16", "path": "deploy/tfjs",
                            "artifact": "02_tfjs_fp16", "size_bytes": 72000}],
          "artifacts": [{"format": "tfjs", "precision": "fp16", "path": "02_tfjs_fp16/model.json",
                         "size_bytes": 72000, "accuracy": 0.97, "accuracy_drop": 0.1,
                         "passed": True, "problems": [], "drift": {"sqnr_db": 60.5},
                         "latency_ms": {"p50": 1.25}, "latency_verdict": "ok"}]}


def test_the_matrix_lists_each_job_and_check_gates_it_one_junit_case_per_job(folder):
    every = jobs.jobs_of(recipe.load(folder / "edgekit.toml"))
    _finished(folder / "out", every[0], "passed", REPORT)
    _finished(folder / "out", every[1], "killed")
    built = matrix.build(every[:2], folder / "out", folder / "edgekit.toml", reused={every[0].name})
    path = matrix.write(built, folder / "out")
    assert built["passed"] is False and built["counts"] == {"passed": 1, "killed": 1}
    first, second = built["jobs"]
    assert first["deliverables"] == [{"format": "tfjs", "precision": "fp16", "path": "deploy/tfjs",
                                      "size_bytes": 72000, "accuracy_drop": 0.1, "sqnr_db": 60.5,
                                      "latency_p50_ms": 1.25}]
    assert first["missing_formats"] == ["onnx"] and first["reused"] is True
    assert second["report"] is None and second["status"] == "killed"
    text = (folder / "out" / "matrix.md").read_text()
    assert "| digits | android | passed (reused) | tfjs | fp16 | 72.0 | 0.10 | 60.5 | 1.25 | 3 |" in text
    assert "| digits | android | passed (reused) | onnx | none passed |" in text
    assert "**digits / web**: killed: killed by SIGKILL" in text
    assert 'id="matrix-table"' in (folder / "out" / "matrix.html").read_text()

    result = CliRunner().invoke(cli, ["check", str(path), "--junit", str(folder / "j.xml")])
    assert result.exit_code == 2, result.output
    assert "PASS         digits/android" in result.output and "FAIL         digits/web: killed" in result.output
    cases = ElementTree.parse(folder / "j.xml").getroot().findall("testcase")
    assert [c.get("name") for c in cases] == ["digits/android", "digits/web"]
    assert [c.find("failure") is not None for c in cases] == [False, True]
    # a stricter budget given to check reaches each job's report
    strict = CliRunner().invoke(cli, ["check", str(path), "--max-size-mb", "0.01"])
    assert "FAIL         digits/android: tfjs fp16: budgets: size 0.07 MB > budget 0.01 MB" in strict.output


def test_a_job_is_kept_only_when_its_key_matches_and_it_ended_with_a_report(folder):
    job = jobs.jobs_of(recipe.load(folder / "edgekit.toml"))[0]
    out = folder / "out"
    assert not jobs.is_done(job, out)
    _finished(out, job, "passed", REPORT)
    assert jobs.is_done(job, out)
    record = json.loads((job.folder(out) / jobs.JOB_RECORD).read_text())
    for changed in ({"key": "other"}, {"status": "killed"}):
        (job.folder(out) / jobs.JOB_RECORD).write_text(json.dumps({**record, **changed}))
        assert not jobs.is_done(job, out)


def test_jobs_in_one_process_run_on_cpus_of_their_own():
    import os
    allowed = sorted(os.sched_getaffinity(0))
    with jobs._claimed_cpus(1) as first, jobs._claimed_cpus(1) as second:
        assert first == allowed[:1]
        if len(allowed) > 1:  # a second job at once gets another CPU
            assert second == allowed[1:2]
        with jobs._claimed_cpus(len(allowed)) as third:  # none free enough: shares
            assert third == allowed
    with jobs._claimed_cpus(1) as again:  # released
        assert again == allowed[:1]

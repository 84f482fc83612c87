"""`edgekit batch` end to end: on the sample models, one job at a time and on an embedded
Dask cluster give the same deliverables and drift, every socket on 127.0.0.1, and a second
run keeps every job; on a tiny ONNX model, a changed model re-runs only its jobs, a job
that is killed or runs out of memory fails alone, a running Dask scheduler gets the jobs
with --address."""
import json
import re
import shutil
import subprocess
import sys
import time

import pytest

from conftest import SAMPLES

pytestmark = pytest.mark.slow

RECIPE = f"""
[defaults]
quick = true
bench-runs = 0          # no timing: the choice between candidates does not depend on load

[targets.android]
[targets.web]
[targets.server-cpu]

[models.keras]
model = "{SAMPLES / 'digits_keras.keras'}"
eval = "{SAMPLES / 'digits_eval.npz'}"

[models.torch]
model = "{SAMPLES / 'digits_torch.py'}:build"
weights = "{SAMPLES / 'digits_torch.pt'}"
eval = "{SAMPLES / 'digits_eval.npz'}"

[batch]
cpus = 1                # each job on one CPU under every engine: the same figures
"""


def edgekit(*args, cwd) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "edgekit", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=1800)


def deliverables(out, job) -> list:
    """What must not depend on the engine: each deliverable's format, precision and route,
    its drift, and its size and bytes where the converter is byte-reproducible (tf2onnx and
    the TF.js converter name nodes differently from run to run: a few bytes)."""
    report = json.loads((out / job / "report.json").read_text())
    artifacts = {a["path"].split("/")[0]: a for a in report["artifacts"]}
    return [(d["format"], d["precision"], d["route"], artifacts[d["artifact"]]["drift_per_output"],
             (d["size_bytes"], d["sha256"]) if artifacts[d["artifact"]]["byte_reproducible"] else None)
            for d in report["deliverables"]]


def sockets_of(root_pid: int) -> tuple[set, set]:
    """(listening addresses, peer addresses) of the TCP sockets of a process tree, from ss."""
    import psutil
    try:
        tree = {root_pid, *(p.pid for p in psutil.Process(root_pid).children(recursive=True))}
    except psutil.Error:
        return set(), set()
    listening, peers = set(), set()
    for flag, found in (("-ltnpH", listening), ("-tnpH", peers)):
        for line in subprocess.run(["ss", flag], capture_output=True, text=True).stdout.splitlines():
            pids = {int(p) for p in re.findall(r"pid=(\d+)", line)}
            if pids & tree:
                fields = line.split()
                found.add(fields[3] if flag == "-ltnpH" else fields[4])
    return listening, peers


def host_of(address: str) -> str:
    return address.rsplit(":", 1)[0].strip("[]")


def test_one_at_a_time_and_on_dask_the_same_then_kept(tmp_path):
    (tmp_path / "edgekit.toml").write_text(RECIPE)
    jobs = [f"{m}/{t}" for m in ("keras", "torch") for t in ("android", "web", "server-cpu")]

    one = edgekit("batch", "edgekit.toml", "--out", "one", cwd=tmp_path)
    assert one.returncode == 0, one.stdout + one.stderr
    assert "(6 run, 0 kept)" in one.stdout

    # on Dask, two jobs at a time, watching every socket of the process tree
    process = subprocess.Popen([sys.executable, "-m", "edgekit", "batch", "edgekit.toml", "--out",
                                "dask", "--jobs", "2"], cwd=tmp_path, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    listening, peers = set(), set()
    while process.poll() is None:
        found = sockets_of(process.pid)
        listening |= found[0]
        peers |= found[1]
        time.sleep(0.5)
    stdout, stderr = process.communicate()
    assert process.returncode == 0, stdout + stderr
    assert "2 at a time (Dask, 127.0.0.1)" in stderr
    assert listening, "the Dask scheduler's sockets were never seen"
    assert {host_of(a) for a in listening | peers} == {"127.0.0.1"}, (listening, peers)

    for job in jobs:
        assert deliverables(tmp_path / "one", job) == deliverables(tmp_path / "dask", job), job
    matrix = json.loads((tmp_path / "dask" / "matrix.json").read_text())
    assert [f"{j['model']}/{j['target']}" for j in matrix["jobs"]] == jobs
    assert matrix["passed"] and matrix["counts"] == {"passed": 6}

    again = edgekit("batch", "edgekit.toml", "--out", "one", cwd=tmp_path)
    assert again.returncode == 0 and "(0 run, 6 kept)" in again.stdout, again.stdout

    gate = edgekit("check", "one/matrix.json", "--junit", "junit.xml", cwd=tmp_path)
    assert gate.returncode == 0, gate.stdout
    assert (tmp_path / "junit.xml").read_text().count("<testcase") == 6


def test_a_changed_model_runs_only_its_own_jobs_again(tmp_path, tiny_onnx):
    for name in ("a.onnx", "b.onnx"):
        shutil.copy(tiny_onnx, tmp_path / name)
    (tmp_path / "edgekit.toml").write_text(
        "[defaults]\nbench-runs = 0\n[targets.server-cpu]\n"
        '[models.a]\nmodel = "a.onnx"\n[models.b]\nmodel = "b.onnx"\n')
    first = edgekit("batch", "edgekit.toml", "--out", "out", cwd=tmp_path)
    assert first.returncode == 0 and "(2 run, 0 kept)" in first.stdout, first.stdout + first.stderr
    records = {p: p.read_text() for p in (tmp_path / "out").glob("*/*/job.json")}
    import onnx  # model b retrained, a little
    model = onnx.load(tmp_path / "b.onnx")
    weights = next(t for t in model.graph.initializer if t.dims)
    values = onnx.numpy_helper.to_array(weights) * 1.001
    weights.CopyFrom(onnx.numpy_helper.from_array(values.astype(values.dtype), weights.name))
    onnx.save(model, tmp_path / "b.onnx")
    changed = edgekit("batch", "edgekit.toml", "--out", "out", cwd=tmp_path)
    assert changed.returncode == 0 and "(1 run, 1 kept)" in changed.stdout, changed.stdout
    for path, before in records.items():
        assert (path.read_text() == before) == (path.parts[-3] == "a"), path


FAILING = """
import os
import signal
import time

import numpy as np


def boom():
    os.kill(os.getpid(), signal.SIGKILL)  # as the kernel's OOM killer would


def hog():
    hoard = np.ones(600_000_000)  # 4.8 GB, past the job's limit, and held
    while hoard.any():
        time.sleep(1)
"""


def test_a_killed_job_and_one_over_its_memory_fail_alone(tmp_path, tiny_onnx):
    (tmp_path / "failing.py").write_text(FAILING)
    (tmp_path / "edgekit.toml").write_text(f"""
[defaults]
quick = true
bench-runs = 0
[targets.server-cpu]
[models.boom]
model = "failing.py:boom"
input-shape = ["1,4"]
[models.hog]
model = "failing.py:hog"
input-shape = ["1,4"]
[models.digits]
model = "{tiny_onnx}"
[batch]
memory-gb = 3
""")
    run = edgekit("batch", "edgekit.toml", "--out", "out", cwd=tmp_path)
    assert run.returncode == 2, run.stdout + run.stderr
    matrix = json.loads((tmp_path / "out" / "matrix.json").read_text())
    status = {j["model"]: (j["status"], j["message"]) for j in matrix["jobs"]}
    assert status["boom"] == ("killed", "killed by SIGKILL (out of memory?)")
    assert status["hog"][0] == "killed" and "over its memory limit of 3 GB" in status["hog"][1]
    assert status["digits"][0] == "passed"
    assert (tmp_path / "out" / "boom" / "server-cpu" / "convert.log").exists()
    gate = edgekit("check", "out/matrix.json", "--junit", "junit.xml", cwd=tmp_path)
    assert gate.returncode == 2
    assert "FAIL         boom/server-cpu: killed" in gate.stdout
    assert "PASS         digits/server-cpu" in gate.stdout
    # the failed jobs run again next time; the passed one is kept
    again = edgekit("batch", "edgekit.toml", "--out", "out", cwd=tmp_path)
    assert "(2 run, 1 kept)" in again.stdout


def test_jobs_go_to_a_running_scheduler_and_their_outputs_come_back(tmp_path, tiny_onnx):
    from distributed import LocalCluster
    (tmp_path / "edgekit.toml").write_text(f"""
[defaults]
bench-runs = 0
[targets.server-cpu]
[models.digits]
model = "{tiny_onnx}"
""")
    with LocalCluster(host="127.0.0.1", n_workers=1, threads_per_worker=1, processes=True,
                      dashboard_address=None, scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
                      resources={"CPU": 2, "MEMORY": 8e9}, local_directory=str(tmp_path / "worker"),
                      memory_limit=0) as cluster:
        run = edgekit("batch", "edgekit.toml", "--out", "out", "--address", cluster.scheduler_address,
                      cwd=tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    assert f"on the Dask scheduler at {cluster.scheduler_address}" in run.stderr
    assert "do not advertise" not in run.stderr  # CPU and MEMORY were declared and packed
    job = tmp_path / "out" / "digits" / "server-cpu"
    assert (job / "report.json").is_file() and (job / "deploy" / "onnx").is_dir()
    assert json.loads((job / "job.json").read_text())["status"] == "passed"


def test_an_unreachable_scheduler_is_a_user_error(tmp_path):
    (tmp_path / "edgekit.toml").write_text(
        f'[targets.web]\n[models.digits]\nmodel = "{SAMPLES / "digits_keras.keras"}"\n')
    run = edgekit("batch", "edgekit.toml", "--address", "tcp://127.0.0.1:9", cwd=tmp_path)
    assert run.returncode == 1 and run.stderr.strip().splitlines()[-1].startswith(
        "Error: cannot reach the Dask scheduler at tcp://127.0.0.1:9")

"""One batch job: a model x target, run as `edgekit convert` in a process of its own
(frameworks keep memory and threads for the life of a process), watched for its memory
and time limits, and its output folder landed in the batch's --out.

A job is skipped on the next run when its key (edgekit's version, the target, the options
and the bytes of every input file) is the one recorded in its folder's job.json and the
job ended with a report (exit 0 or 2); a crash, a kill or a user error is tried again.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass
from pathlib import Path

from .. import __version__
from .recipe import Recipe, command_line, input_paths

JOB_RECORD = "job.json"
JOB_LOG = "convert.log"
STAGING = ".staging"  # beside the job folders: a job's output until it has ended
POLL_SECONDS = 0.25
# convert's exit codes (edgekit.cli), and what a batch calls them
STATUS_BY_EXIT = {0: "passed", 2: "failed", 1: "error", 70: "crashed"}
REPORTED = {"passed", "failed"}  # a report.json was written: resumable


@dataclass(frozen=True)
class Job:
    model_name: str
    target: str
    model: str
    options: dict
    memory_gb: float
    timeout_min: float
    cpus: int  # what the job asks of the engine, and all it runs on under any engine
    key: str

    @property
    def name(self) -> str:
        return f"{self.model_name}/{self.target}"

    def folder(self, out: Path) -> Path:
        return Path(out) / self.model_name / self.target

    def argv(self, out: Path) -> list[str]:
        return ["convert", *command_line(self.model, self.options), "--target", self.target,
                "--out", str(out)]


@dataclass
class Outcome:
    job: str
    status: str  # passed | failed | error | crashed | killed | timed out
    exit_code: int | None
    message: str  # the job's last "Error:" line, or why it was stopped
    seconds: float
    peak_memory_bytes: int
    key: str
    archive: bytes | None = None  # the output folder, when the worker's disk is not ours

    def record(self) -> dict:
        record = asdict(self)
        record.pop("archive")
        return {**record, "edgekit_version": __version__}


def jobs_of(recipe: Recipe) -> list[Job]:
    from ..profile import get_profile
    host_cpus = len(os.sched_getaffinity(0))
    jobs = []
    for model, target in recipe.pairs():
        options = recipe.options_for(model, target)
        cpus = min(recipe.batch.cpus or get_profile(target).threads, host_cpus)
        jobs.append(Job(model.name, target, model.model, options, recipe.batch.memory_gb,
                        recipe.batch.timeout_min, cpus, _key(model.model, target, options, cpus)))
    return jobs


def _key(model: str, target: str, options: dict, cpus: int) -> str:
    digest = hashlib.sha256(json.dumps([__version__, model, target, options, cpus], sort_keys=True,
                                       default=str).encode())
    for path in input_paths(model, options):
        _hash_into(digest, path)
    return digest.hexdigest()


def _hash_into(digest, path: Path) -> None:
    """A file's bytes, or a folder's files (relative names and bytes, in sorted order)."""
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for file in files:
        digest.update(str(file.relative_to(path) if path.is_dir() else file.name).encode())
        try:
            with open(file, "rb") as handle:
                for block in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(block)
        except OSError:
            digest.update(b"<missing>")  # the job itself will say what is wrong


def is_done(job: Job, out: Path) -> bool:
    """The job's output exists, from the same inputs, and it ended with a report."""
    record = job.folder(out) / JOB_RECORD
    try:
        done = json.loads(record.read_text())
    except (OSError, ValueError):
        return False
    return (done.get("key") == job.key and done.get("status") in REPORTED
            and (job.folder(out) / "report.json").is_file())


def run(job: Job, staging: Path | None) -> Outcome:
    """Run the job in its own process. With `staging` (a folder on the batch's disk), the
    output is written there; without (a worker elsewhere), into a temporary folder sent
    back as a tar archive."""
    if staging is not None:
        return _run_into(job, Path(staging))
    with tempfile.TemporaryDirectory(prefix="edgekit-job-") as scratch:
        outcome = _run_into(job, Path(scratch) / "out")
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w") as archive:
            archive.add(Path(scratch) / "out", arcname=".")
        outcome.archive = buffer.getvalue()
        return outcome


def _run_into(job: Job, folder: Path) -> Outcome:
    shutil.rmtree(folder, ignore_errors=True)
    folder.parent.mkdir(parents=True, exist_ok=True)
    log_path = folder.with_name(folder.name + ".log")
    started = time.monotonic()
    with open(log_path, "wb") as log, _claimed_cpus(job.cpus) as cpus:
        process = subprocess.Popen([sys.executable, "-m", "edgekit", *job.argv(folder)],
                                   stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)  # its own group: stopped as a whole
        # Set before the child has imported anything that starts threads (they inherit it).
        with suppress(ProcessLookupError):  # it may have ended already (a bad option)
            os.sched_setaffinity(process.pid, cpus)
        stopped, peak = _watch(process, job.memory_gb * 1e9, job.timeout_min * 60)
    seconds = round(time.monotonic() - started, 1)
    folder.mkdir(parents=True, exist_ok=True)  # a job that died before writing still records
    shutil.move(str(log_path), folder / JOB_LOG)
    code = process.returncode
    if stopped:
        status, message = stopped
    elif code < 0:
        status, message = "killed", f"killed by {signal.Signals(-code).name} (out of memory?)"
    else:
        status, message = STATUS_BY_EXIT.get(code, "crashed"), _last_error(folder / JOB_LOG)
    return Outcome(job.name, status, None if stopped or code < 0 else code, message, seconds,
                   peak, job.key)


_CLAIMED: set[int] = set()  # CPUs of the jobs this process is running (worker threads)
_CLAIMS = threading.Lock()


@contextmanager
def _claimed_cpus(count: int):
    """`count` of the CPUs this process may use (a worker's set, or the host's), none of
    them held by another job this process runs: a job runs on `cpus` CPUs of its own under
    every engine, so its figures do not depend on the engine or on its neighbours. With
    too few free, it shares (the first ones)."""
    with _CLAIMS:
        allowed = sorted(os.sched_getaffinity(0))
        free = [cpu for cpu in allowed if cpu not in _CLAIMED]
        cpus = (free if len(free) >= count else allowed)[:count]
        mine = set(cpus) - _CLAIMED
        _CLAIMED.update(mine)
    try:
        yield cpus
    finally:
        with _CLAIMS:
            _CLAIMED.difference_update(mine)


def _watch(process, memory_limit: float, time_limit: float):
    """Wait for the process, stopping its whole group past the memory or time limit.
    Returns ((status, message) if it was stopped, else None; the peak memory in bytes)."""
    import psutil
    peak, deadline = 0, time.monotonic() + time_limit
    while process.poll() is None:
        rss = _tree_memory(psutil, process.pid)
        peak = max(peak, rss)
        stop = (("killed", f"stopped: {rss / 1e9:.2f} GB is over its memory limit of "
                           f"{memory_limit / 1e9:g} GB") if memory_limit and rss > memory_limit
                else ("timed out", f"stopped after its time limit of {time_limit / 60:g} min")
                if time.monotonic() > deadline else None)
        if stop:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            return stop, peak
        time.sleep(POLL_SECONDS)
    return None, peak


def _tree_memory(psutil, pid: int) -> int:
    try:
        root = psutil.Process(pid)
        processes = [root, *root.children(recursive=True)]
    except psutil.Error:
        return 0
    total = 0
    for process in processes:
        try:
            total += process.memory_info().rss
        except psutil.Error:
            pass  # ended between the listing and the reading
    return total


def _last_error(log: Path) -> str:
    lines = log.read_text(errors="replace").splitlines()
    errors = [line for line in lines if line.startswith("Error: ")]
    return errors[-1][len("Error: "):] if errors else ""


def land(outcome: Outcome, job: Job, out: Path, staged: Path | None) -> Path:
    """Put the job's output in its folder under `out` (replacing an earlier one) with its
    job.json, from the staging folder or from the archive a remote worker sent."""
    folder = job.folder(out)
    incoming = folder.with_name(f".{folder.name}.incoming")
    shutil.rmtree(incoming, ignore_errors=True)
    if staged is not None:
        shutil.move(str(staged), incoming)
    else:
        with tarfile.open(fileobj=io.BytesIO(outcome.archive)) as archive:
            archive.extractall(incoming, filter="data")  # refuses links and paths outside
    (incoming / JOB_RECORD).write_text(json.dumps(outcome.record(), indent=2) + "\n")
    shutil.rmtree(folder, ignore_errors=True)
    incoming.rename(folder)
    return folder

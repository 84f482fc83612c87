"""Where batch jobs run: one after another in this process's care (`--jobs 1`, the default),
or on Dask distributed, embedded on this machine (`--jobs N`) or on a running cluster
(`--address tcp://HOST:8786`).

Why Dask and not Ray: Ray 2.60 could not be kept on loopback here. It listens on every
interface and rewrites a node IP of 127.0.0.1 to the machine's external address unless an
undocumented variable is set, and it probes cloud metadata and DNS addresses on start.
Dask's LocalCluster binds every socket (scheduler, workers, nannies) to the host it is
given; the dashboard is off. See the README ("Batch runs").

Each job is `edgekit convert` in a process of its own (edgekit.batch.jobs), so an engine
worker only starts and watches it. The embedded cluster gives each worker a disjoint set
of this machine's CPUs (the job's threads are pinned inside it), so concurrent jobs never
time their artifacts on the same cores. On a cluster, jobs declare CPU and MEMORY
resources when the workers advertise them (`dask worker ... --resources "CPU=4 MEMORY=16e9"`)
and the scheduler packs them; jobs running at once in one worker process take disjoint
CPUs (edgekit.batch.jobs), so one worker process per node is the layout to start. Inputs
must be on a filesystem the workers share; each output folder comes back to --out as an
archive.
"""
from __future__ import annotations

import logging
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Callable

from ..errors import InputError, first_line
from .jobs import STAGING, Job, Outcome, land, run

Done = Callable[[Job, Outcome], None]
LOOPBACK = "127.0.0.1"


def sequential(jobs: list[Job], out: Path, done: Done) -> None:
    for job in jobs:
        staged = _staging(out, job)
        outcome = run(job, staged)
        land(outcome, job, out, staged)
        done(job, outcome)


def on_dask(jobs: list[Job], out: Path, done: Done, workers: int = 0,
            address: str | None = None, warn: Callable[[str], None] = print) -> None:
    """Submit every job, land each as it ends (in any order)."""
    from distributed import as_completed
    need = max(job.cpus for job in jobs)
    with _client(workers, need, address, warn) as client:
        shared = address is None  # embedded: the workers write to our disk
        resources = _resources(client, warn) if not shared else None
        futures = {}
        for job in jobs:
            staged = _staging(out, job) if shared else None
            future = client.submit(run, job, staged, key=f"edgekit-{job.name}-{job.key[:12]}",
                                   pure=False, resources=resources(job) if resources else None)
            futures[future] = (job, staged)
        for future in as_completed(futures):
            job, staged = futures[future]
            try:
                outcome = future.result()
            except Exception as error:  # the worker itself died (KilledWorker) or was lost
                outcome = Outcome(job.name, "crashed", None, f"the engine lost the job: "
                                  f"{first_line(error)}", 0.0, 0, job.key)
                staged = staged if staged and staged.exists() else None
                outcome.archive = None if staged else _empty_archive()
            land(outcome, job, out, staged)
            done(job, outcome)


def _staging(out: Path, job: Job) -> Path:
    return Path(out) / STAGING / job.model_name / job.target


def _empty_archive() -> bytes:
    import io
    import tarfile
    buffer = io.BytesIO()
    tarfile.open(fileobj=buffer, mode="w").close()
    return buffer.getvalue()


@contextmanager
def _client(workers: int, need: int, address: str | None, warn):
    from distributed import Client
    if address:
        try:
            client = Client(address, timeout="10s")
        except (OSError, TimeoutError) as error:
            raise InputError(f"cannot reach the Dask scheduler at {address}: {first_line(error)}") from None
        with client:
            yield client
        return
    with tempfile.TemporaryDirectory(prefix="edgekit-dask-") as scratch, \
            _embedded(workers, need, scratch, warn) as cluster, Client(cluster) as client:
        yield client


@contextmanager
def _embedded(workers: int, need: int, scratch: str, warn):
    """A LocalCluster with every socket on 127.0.0.1, one single-threaded worker process per
    concurrent job, each pinned to CPUs of its own: as many as a job asks for."""
    from distributed import LocalCluster

    from .pinning import PinnedCPUs
    cpus = sorted(os.sched_getaffinity(0))
    cpu_sets = cpu_sets_for(workers, need, cpus)
    if len(cpu_sets) < workers:
        warn(f"each job asks for {need} CPU(s) (its profile's threads, or [batch] cpus): "
             f"{len(cpus)} CPU(s) run {len(cpu_sets)} job(s) at a time, not {workers}")
    cluster = LocalCluster(
        host=LOOPBACK, n_workers=len(cpu_sets), threads_per_worker=1, processes=True,
        # ":0" would bind every interface: the dashboard's address is given, and is loopback
        dashboard_address=None, scheduler_kwargs={"dashboard_address": f"{LOOPBACK}:0"},
        memory_limit=0,  # the job watcher enforces each job's own limit
        local_directory=scratch, silence_logs=logging.ERROR)
    try:
        cluster.get_client().register_plugin(PinnedCPUs(cpu_sets))
        yield cluster
    finally:
        cluster.close()


def cpu_sets_for(workers: int, need: int, cpus: list[int]) -> list[list[int]]:
    """Disjoint sets of `need` CPUs, at most `workers` of them and at least one (a job
    asking for more CPUs than the host has gets them all)."""
    need = max(1, min(need, len(cpus)))
    return [cpus[i * need:(i + 1) * need] for i in range(max(1, min(workers, len(cpus) // need)))]


def _resources(client, warn):
    """A job's CPU and MEMORY request, when every worker advertises both; else no packing."""
    workers = client.scheduler_info().get("workers", {}).values()
    advertised = [w.get("resources") or {} for w in workers]
    if not advertised or not all({"CPU", "MEMORY"} <= set(r) for r in advertised):
        warn("the cluster's workers do not advertise CPU and MEMORY resources: jobs are not "
             "packed by their needs (start workers with --resources \"CPU=N MEMORY=BYTES\")")
        return None
    most_cpus = max(r["CPU"] for r in advertised)
    return lambda job: {"CPU": min(job.cpus, most_cpus), "MEMORY": job.memory_gb * 1e9}

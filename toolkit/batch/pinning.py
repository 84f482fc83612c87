"""The embedded cluster's worker plugin (imports distributed: loaded only with --jobs > 1)."""
from __future__ import annotations

import os

from distributed import WorkerPlugin


class PinnedCPUs(WorkerPlugin):
    """Each worker process (and so each job it starts) runs on its own CPU set, picked by
    the worker's name (LocalCluster names them 0, 1, ...)."""
    name = "edgekit-pinned-cpus"

    def __init__(self, cpu_sets: list[list[int]]):
        self.cpu_sets = cpu_sets

    def setup(self, worker):
        index = int(worker.name) if str(worker.name).isdigit() else 0
        os.sched_setaffinity(0, self.cpu_sets[index % len(self.cpu_sets)])

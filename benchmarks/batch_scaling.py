"""The fan-out of `edgekit batch`: the sample models x 4 targets run one at a time
(`--jobs 1`) and on the embedded Dask cluster (`--jobs N`), then a simulated larger zoo on
a many-worker Dask cluster to measure what the engine itself costs per job.

    .venv/bin/python benchmarks/batch_scaling.py [--jobs N] [--zoo 400] [--workers 16] [--skip-real]

Part 1 prints wall time, speed-up and peak memory (the whole process tree, sampled) of
each mode, and checks that both delivered the same formats and precisions. Part 2 runs
`--zoo` jobs whose durations are drawn from part 1's real job times (scaled down by
`--time-scale`, sleeping instead of converting, so a 2-core host can stand in for
`--workers` nodes) and reports the makespan against the ideal (total work / workers) and
the scheduler's overhead per job (no-op tasks). Every engine socket is on 127.0.0.1.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "sample_models"
TARGETS = ("android", "web", "server-cpu", "raspberry-pi")
RECIPE = """
[defaults]
quick = true

{targets}

[models.digits-keras]
model = "{samples}/digits_keras.keras"
eval = "{samples}/digits_eval.npz"

[models.digits-torch]
model = "{samples}/digits_torch.py:build"
weights = "{samples}/digits_torch.pt"
eval = "{samples}/digits_eval.npz"

[batch]
cpus = 1     # one CPU per job under both engines: their latency figures are comparable
"""


def run_batch(recipe: Path, out: Path, jobs: int) -> dict:
    """Wall time, peak memory of the process tree, and the matrix of one `edgekit batch`."""
    import psutil
    started = time.monotonic()
    process = subprocess.Popen([sys.executable, "-m", "edgekit", "batch", str(recipe), "--out",
                                str(out), "--jobs", str(jobs), "--force", "-q"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    peak = 0
    while process.poll() is None:
        try:
            root = psutil.Process(process.pid)
            tree = [root, *root.children(recursive=True)]
            peak = max(peak, sum(p.memory_info().rss for p in tree if p.is_running()))
        except psutil.Error:
            pass
        time.sleep(0.2)
    stderr = process.stderr.read()
    if process.returncode not in (0, 2):
        sys.exit(f"edgekit batch --jobs {jobs} failed ({process.returncode}): {stderr[-2000:]}")
    matrix = json.loads((out / "matrix.json").read_text())
    return {"seconds": time.monotonic() - started, "peak_bytes": peak, "matrix": matrix}


def delivered(matrix: dict) -> dict:
    return {(j["model"], j["target"]): sorted((d["format"], d["precision"]) for d in j["deliverables"])
            for j in matrix["jobs"]}


def real(workers: int, folder: Path) -> list[float]:
    recipe = folder / "edgekit.toml"
    recipe.write_text(RECIPE.format(samples=SAMPLES,
                                    targets="\n".join(f"[targets.{t}]" for t in TARGETS)))
    print(f"Part 1: 2 sample models x {len(TARGETS)} targets ({', '.join(TARGETS)}) = "
          f"{2 * len(TARGETS)} jobs, --quick, one CPU per job; host: {os.cpu_count()} CPUs")
    one = run_batch(recipe, folder / "one", 1)
    many = run_batch(recipe, folder / "many", workers)
    print(f"| mode | wall s | speed-up | peak memory GB | jobs passed |\n|---|---|---|---|---|")
    for name, result in ((f"--jobs 1", one), (f"--jobs {workers} (Dask)", many)):
        print(f"| {name} | {result['seconds']:.1f} | {one['seconds'] / result['seconds']:.2f} | "
              f"{result['peak_bytes'] / 1e9:.2f} | {result['matrix']['counts'].get('passed', 0)} |")
    first, second = delivered(one["matrix"]), delivered(many["matrix"])
    differ = [f"{m}/{t}: {first[m, t]} vs {second[m, t]}" for m, t in first if first[m, t] != second[m, t]]
    print(f"same formats and precisions delivered in both modes: {not differ}"
          + "".join(f"\n  {line}" for line in differ))
    return [j["seconds"] for j in one["matrix"]["jobs"] if j["seconds"]]


def simulate(durations: list[float], zoo: int, workers: int, time_scale: float) -> None:
    from distributed import Client, LocalCluster
    rng = random.Random(0)
    work = [rng.choice(durations) * time_scale for _ in range(zoo)]
    print(f"\nPart 2: a zoo of {zoo} jobs on {workers} Dask workers (one job each at a time), "
          f"job times drawn from part 1's {len(durations)} real jobs x {time_scale} "
          f"(mean {sum(work) / zoo:.2f} s); sleeping stands in for converting")
    with tempfile.TemporaryDirectory() as scratch, LocalCluster(
            host="127.0.0.1", n_workers=workers, threads_per_worker=1, processes=True,
            dashboard_address=None, scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
            memory_limit=0, local_directory=scratch) as cluster, Client(cluster) as client:
        client.submit(time.sleep, 0).result()  # workers up
        started = time.monotonic()
        noop = client.map(lambda i: i, range(1000), pure=False)
        client.gather(noop)
        per_task_ms = (time.monotonic() - started) / 1000 * 1e3
        started = time.monotonic()
        client.gather(client.map(time.sleep, work, pure=False))
        makespan = time.monotonic() - started
    ideal = max(sum(work) / workers, max(work))
    print(f"| jobs | workers | total work s | ideal makespan s | measured s | efficiency | "
          f"engine overhead per job ms |\n|---|---|---|---|---|---|---|")
    print(f"| {zoo} | {workers} | {sum(work):.1f} | {ideal:.1f} | {makespan:.1f} | "
          f"{ideal / makespan:.2f} | {per_task_ms:.2f} |")
    real_mean = sum(durations) / len(durations)
    print(f"At real job times (mean {real_mean:.1f} s) the engine's {per_task_ms:.2f} ms per job "
          f"is {per_task_ms / 1e3 / real_mean:.2e} of a job: the fan-out is bound by the jobs, "
          "not the scheduler.")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=os.cpu_count(), help="jobs at once in part 1")
    parser.add_argument("--zoo", type=int, default=400, help="simulated jobs in part 2")
    parser.add_argument("--workers", type=int, default=16, help="simulated workers (nodes) in part 2")
    parser.add_argument("--time-scale", type=float, default=0.02,
                        help="simulated job time as a fraction of the real one")
    parser.add_argument("--skip-real", action="store_true",
                        help="part 2 only, with 15 s jobs as the real durations")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="edgekit-batch-bench-") as folder:
        durations = [15.0] if args.skip_real else real(args.jobs, Path(folder))
    simulate(durations, args.zoo, args.workers, args.time_scale)


if __name__ == "__main__":
    main()

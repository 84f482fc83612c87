"""Is `edgekit bench` repeatable? Runs it twice per artifact and prints the p50 ratio.

    .venv/bin/python benchmarks/bench_stability.py OUTPUT_DIR [--runs 200] [--threads 1]

OUTPUT_DIR is an `edgekit convert` output folder; every artifact and intermediate that a
runtime can time is measured twice, back to back. The issue's target: p50 within 10%
(ratio 0.90..1.10) on an idle machine. Prints, never asserts: timings are not tests.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from edgekit.timing import bench
from edgekit.inspection import open_any


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("out", type=Path)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    report = json.loads((args.out / "report.json").read_text())
    print(f"{'model':<40} {'p50 #1 ms':>10} {'p50 #2 ms':>10} {'ratio':>7} {'robust cv':>9}")
    for row in report["intermediates"] + report["artifacts"]:
        if row["format"] not in ("tflite", "onnx", "tfjs"):
            continue
        handle = open_any(str(args.out / row["path"]))
        first, second = (bench(handle, args.threads, runs=args.runs) for _ in range(2))
        ratio = second.latency_ms.p50 / first.latency_ms.p50
        print(f"{row['path']:<40} {first.latency_ms.p50:>10.4f} {second.latency_ms.p50:>10.4f} "
              f"{ratio:>7.3f} {max(first.latency_ms.robust_cv, second.latency_ms.robust_cv):>9.3f}"
              f"{'' if 0.9 <= ratio <= 1.1 else '  <- outside 10%'}")


if __name__ == "__main__":
    main()

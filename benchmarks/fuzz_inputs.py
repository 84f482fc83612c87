"""Fuzz edgekit with mutated sample models and data files: every run must end the way the
README promises, whatever the bytes.

    .venv/bin/python benchmarks/fuzz_inputs.py [--iterations 500] [--seed 0] [--timeout 120]

Each iteration takes one input (the Keras sample as .keras and .h5, its SavedModel, the
PyTorch sample as TorchScript .pt, torch.export .pt2 and state_dict, its ONNX export, or the
evaluation .npz), mutates a copy (bit flips, truncation, a scrambled header, or an edit of
one zip member), and runs `edgekit convert` on it in this process (fp32, no timing). It
checks: exit code 0, 1 or 2 (never 70, "a bug in edgekit"); on failure exactly one
`Error:` line and no traceback; nothing left in --out unless the run finished; the mutated
input byte-identical afterwards; and no run longer than --timeout (a hang). Prints the
counts per input kind and outcome, and every violation with the command to reproduce it.
The cases run in a worker process; one that dies (a native crash, SIGSEGV) is a violation
of the case it was on. Exit code 1 when anything was violated.
"""
from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import zipfile
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "sample_models"
EXIT_OK = {0, 1, 2}


class Hang(Exception):
    pass


def build_inputs(folder: Path) -> dict[str, tuple[Path, list[str]]]:
    """kind -> (a valid file or folder to mutate, the convert arguments it needs)."""
    import torch
    sys.path.insert(0, str(SAMPLES))
    from digits_torch import build
    module = build()
    module.load_state_dict(torch.load(SAMPLES / "digits_torch.pt", weights_only=True))
    module.eval()
    example = (torch.zeros(1, 1, 28, 28),)
    torch.jit.save(torch.jit.trace(module, example), folder / "digits.pt")
    torch.export.save(torch.export.export(module, example), folder / "digits.pt2")
    torch.onnx.export(module, example, str(folder / "digits.onnx"), input_names=["image"],
                      dynamic_axes={"image": {0: "n"}}, dynamo=False)
    import keras
    keras.models.load_model(SAMPLES / "digits_keras.keras").export(folder / "saved", verbose=False)
    shutil.copy(SAMPLES / "digits_torch.pt", folder / "weights.pt")
    shape = ["--input-shape", "1,1,28,28"]
    eval_args = ["--eval", str(SAMPLES / "digits_eval.npz")]
    return {
        "keras": (SAMPLES / "digits_keras.keras", ["-t", "android"] + eval_args),
        "h5": (SAMPLES / "digits_keras2.h5", ["-t", "android"] + eval_args),
        "savedmodel": (folder / "saved", ["-t", "android"] + eval_args),
        "torchscript": (folder / "digits.pt", ["-t", "server-cpu"] + shape + eval_args),
        "pt2": (folder / "digits.pt2", ["-t", "server-cpu"] + eval_args),
        "state_dict": (folder / "weights.pt", ["-t", "server-cpu"] + shape + eval_args),
        "onnx": (folder / "digits.onnx", ["-t", "server-cpu"] + eval_args),
        "eval_npz": (SAMPLES / "digits_eval.npz", ["-t", "server-cpu"]),
    }


# --- mutations: each takes the bytes and a Random, returns new bytes ---

def flip_bits(data: bytes, rng: random.Random) -> bytes:
    buffer = bytearray(data)
    for _ in range(rng.randint(1, 16)):
        buffer[rng.randrange(len(buffer))] ^= 1 << rng.randrange(8)
    return bytes(buffer)


def truncate(data: bytes, rng: random.Random) -> bytes:
    return data[:rng.randrange(len(data))]


def scramble_header(data: bytes, rng: random.Random) -> bytes:
    head = min(len(data), 64)
    return bytes(rng.randrange(256) for _ in range(head)) + data[head:]


def edit_zip_member(data: bytes, rng: random.Random) -> bytes:
    """Rewrite the archive with one member flipped, truncated, emptied or dropped (a
    consistent zip: the format's own reader, not zipfile's CRC check, meets the damage)."""
    try:
        source = zipfile.ZipFile(io.BytesIO(data))
        members = source.infolist()
    except zipfile.BadZipFile:
        return flip_bits(data, rng)
    victim = rng.choice(members).filename
    how = rng.choice(["flip", "truncate", "empty", "drop"])
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as target:
        for member in members:
            content = source.read(member.filename)
            if member.filename == victim:
                if how == "drop":
                    continue
                content = {"flip": flip_bits, "truncate": truncate}.get(
                    how, lambda d, r: b"")(content, rng) if content else content
            target.writestr(member, content)
    return out.getvalue()


MUTATIONS = {"flip": flip_bits, "truncate": truncate, "header": scramble_header,
             "zip-member": edit_zip_member}


def mutate(original: Path, folder: Path, rng: random.Random) -> tuple[Path, str]:
    """A mutated copy of a file, or of one file inside a model folder."""
    name = rng.choice(list(MUTATIONS))
    if original.is_dir():
        copy = folder / original.name
        shutil.copytree(original, copy)
        files = sorted(p for p in copy.rglob("*") if p.is_file() and p.stat().st_size)
        target = rng.choice(files)
        name += f":{target.relative_to(copy)}"
    else:
        copy = folder / original.name
        shutil.copy(original, copy)
        target = copy
    data = target.read_bytes()
    if data:
        mutated = MUTATIONS[name.split(":")[0]](data, rng)
        target.write_bytes(mutated if mutated != data else data[:-1])
    return copy, name


def fingerprint(path: Path) -> str:
    sha = hashlib.sha256()
    for file in sorted(path.rglob("*")) if path.is_dir() else [path]:
        if file.is_file():
            sha.update(str(file.relative_to(path) if path.is_dir() else file.name).encode())
            sha.update(file.read_bytes())
    return sha.hexdigest()


def run_once(args: list[str], timeout: int) -> tuple[int, str, float]:
    from click.testing import CliRunner

    from edgekit.cli import cli

    def on_alarm(*_):
        raise Hang()
    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(timeout)
    start = time.perf_counter()
    try:
        result = CliRunner().invoke(cli, args)
    except Hang:
        return -1, "hang", time.perf_counter() - start
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    if isinstance(result.exception, Hang):
        return -1, "hang", time.perf_counter() - start
    output = result.output
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        output += f"\nTraceback: {type(result.exception).__name__}: {result.exception}"
    return result.exit_code, output, time.perf_counter() - start


def violations(code: int, output: str, out: Path, before: str, after: str) -> list[str]:
    problems = []
    if code == -1:
        problems.append("hang (timed out)")
    elif code not in EXIT_OK:
        problems.append(f"exit {code}")
    if "Traceback" in output:
        problems.append("traceback")
    errors = [line for line in output.splitlines() if line.startswith("Error: ")]
    if code == 1 and len(errors) != 1:
        problems.append(f"{len(errors)} Error: lines")
    if code not in (0, 2) and out.exists() and any(out.iterdir()):
        problems.append("output left in --out")
    if before != after:
        problems.append("input changed")
    return problems


def prepare(options, scratch: Path) -> list[dict]:
    """Write every mutated case to disk first (a worker that crashes must not change what
    the next one tests): case folder, input kind, mutation, command line, fingerprint."""
    rng = random.Random(options.seed)
    (scratch / "inputs").mkdir()
    inputs = build_inputs(scratch / "inputs")
    if options.kinds:
        inputs = {k: v for k, v in inputs.items() if k in options.kinds.split(",")}
    cases = []
    for iteration in range(options.iterations):
        kind = list(inputs)[iteration % len(inputs)]
        path, extra = inputs[kind]
        case = scratch / f"case{iteration}"
        case.mkdir()
        mutated, how = mutate(path, case, rng)
        if kind == "eval_npz":
            args = ["convert", str(scratch / "inputs" / "digits.onnx"), *extra, "--eval", str(mutated)]
        elif kind == "state_dict":
            args = ["convert", f"{SAMPLES / 'digits_torch.py'}:build", "--weights", str(mutated), *extra]
        else:
            args = ["convert", str(mutated), *extra]
        args += ["--precision", "fp32", "--bench-runs", "0", "--out", str(case / "out")]
        cases.append({"iteration": iteration, "kind": kind, "how": how, "case": str(case),
                      "mutated": str(mutated), "args": args, "before": fingerprint(mutated)})
    originals = {kind: (str(path), fingerprint(path)) for kind, (path, _) in inputs.items()}
    (scratch / "cases.json").write_text(json.dumps({"cases": cases, "originals": originals}))
    return cases


def worker(scratch: Path, start: int, timeout: int) -> None:
    """Run cases from `start` on in this process, one JSON line per case in results.jsonl."""
    cases = json.loads((scratch / "cases.json").read_text())["cases"]
    with open(scratch / "results.jsonl", "a") as results:
        for case in cases[start:]:
            code, output, seconds = run_once(case["args"], timeout)
            problems = violations(code, output, Path(case["case"]) / "out", case["before"],
                                  fingerprint(Path(case["mutated"])))
            results.write(json.dumps({"iteration": case["iteration"], "code": code,
                                      "problems": problems, "seconds": round(seconds, 2),
                                      "last": (output.strip().splitlines() or [""])[-1][:200]}) + "\n")
            results.flush()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--timeout", type=int, default=120, help="seconds before a run counts as hung")
    parser.add_argument("--kinds", help="comma-separated subset of input kinds")
    parser.add_argument("--worker", nargs=2, metavar=("SCRATCH", "START"), help=argparse.SUPPRESS)
    options = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if options.worker:
        worker(Path(options.worker[0]), int(options.worker[1]), options.timeout)
        return 0
    scratch = Path(tempfile.mkdtemp(prefix="edgekit-fuzz-"))
    cases = prepare(options, scratch)
    started = time.perf_counter()
    done: dict[int, dict] = {}
    while len(done) < len(cases):
        start = len(done)
        # a worker process runs the cases; one that dies (a native crash in a framework) is
        # a violation of the case it was on, and a fresh worker carries on after it
        process = subprocess.run([sys.executable, __file__, "--worker", str(scratch), str(start),
                                  "--timeout", str(options.timeout)],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for line in (scratch / "results.jsonl").read_text().splitlines():
            result = json.loads(line)
            done[result["iteration"]] = result
        if len(done) == start or (process.returncode != 0 and len(done) < len(cases)):
            crashed = len(done)
            done[crashed] = {"iteration": crashed, "code": process.returncode,
                             "problems": [f"process died (signal {-process.returncode})"
                                          if process.returncode < 0 else f"worker exit {process.returncode}"],
                             "seconds": None, "last": ""}
            with open(scratch / "results.jsonl", "a") as results:
                results.write(json.dumps(done[crashed]) + "\n")
        print(f"{len(done)}/{len(cases)} runs, {sum(bool(r['problems']) for r in done.values())} "
              f"violations, {time.perf_counter() - started:.0f} s", flush=True)
    return report(scratch, cases, done, started)


OUTCOMES = ("converted", "refused", "failed budget", "VIOLATION")


def report(scratch: Path, cases: list[dict], done: dict, started: float) -> int:
    counts: Counter = Counter()
    bad = []
    for case in cases:
        result = done[case["iteration"]]
        outcome = "VIOLATION" if result["problems"] else {0: "converted", 1: "refused", 2: "failed budget"}[result["code"]]
        counts[(case["kind"], outcome)] += 1
        if result["problems"]:
            bad.append(f"#{case['iteration']} {case['kind']} ({case['how']}): {', '.join(result['problems'])}; "
                       f"exit {result['code']}; {result['last']}\n    edgekit {' '.join(case['args'])}")
    originals = json.loads((scratch / "cases.json").read_text())["originals"]
    for kind, (path, digest) in originals.items():  # the samples themselves must be untouched
        if fingerprint(Path(path)) != digest:
            bad.append(f"the original {kind} input {path} changed")
    kinds = list(dict.fromkeys(case["kind"] for case in cases))
    print(f"\n{'input':<12} " + " ".join(f"{o:>14}" for o in OUTCOMES))
    for kind in kinds:
        print(f"{kind:<12} " + " ".join(f"{counts[(kind, o)]:>14}" for o in OUTCOMES))
    total = Counter()
    for (_, outcome), n in counts.items():
        total[outcome] += n
    print(f"\n{len(cases)} mutations in {time.perf_counter() - started:.0f} s: "
          + ", ".join(f"{n} {o}" for o, n in sorted(total.items())))
    for line in bad:
        print("  " + line)
    print(f"cases kept in {scratch}" if bad else "no violations")
    if not bad:
        shutil.rmtree(scratch, ignore_errors=True)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())

"""The emulated proof of a deliverable: run on each arm64 CPU model a target names, on the
first N evaluation samples, compared with the source (the precision's tolerance) and with
the x86 run of the same artifact (the same tolerance: int8 kernels take other code paths
per ISA, e.g. dot-product instructions, and that is where device-only surprises live).

A CPU model that disagrees is re-checked on a sibling of the same ISA class before the
artifact is blamed: QEMU itself can be wrong (an older QEMU's SME model returned wrong
int8 results silently). Both disagree: the artifact fails on that ISA, named. Only the
first: noted as a suspected emulator fault, not failed.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from ..drift import class_outputs, compare, violations
from ..judge import run_in_layout
from .cpus import ISA_OF, sibling
from .runner import EmulatedRunner



def prove(handle, source, data, reference: list[np.ndarray], tolerance, cpus, samples: int,
          userland, progress: Callable[[str], None] = lambda message: None,
          make_runner=EmulatedRunner) -> dict:
    """The record of the emulated proof (`passed`, `problems`, a row per CPU model).
    `make_runner(handle, cpu, userland)` is the emulated runner (a test may give another)."""
    count = min(samples, data.samples)
    inputs = [x[:count] for x in data.inputs]
    labels = data.labels[:count] if data.labels is not None else None
    expected = [r[:count] for r in reference]
    x86 = run_in_layout(handle, source, inputs)

    def check(cpu: str) -> dict:
        progress(f"      running {handle.format} under arm64 emulation ({cpu}, {count} samples)")
        try:
            arm = run_in_layout(handle, source, inputs, make_runner(handle, cpu, userland))
        except Exception as error:  # noqa: BLE001 - the emulated runtime refusing it, in its words
            return {"cpu": cpu, "isa": ISA_OF.get(cpu, "unknown"), "ran": False,
                    "problems": [f"could not run: {str(error).splitlines()[0][:300]}"]}
        versus_x86 = compare(x86, arm)
        problems = [f"vs x86: {p}" for p in violations(versus_x86, tolerance, class_outputs(
            x86, labels, data.label_output))]
        problems += [f"vs the source: {p}" for p in violations(compare(expected, arm), tolerance,
                                                               class_outputs(expected, labels, data.label_output))]
        return {"cpu": cpu, "isa": ISA_OF.get(cpu, "unknown"), "ran": True,
                "bit_identical": all(np.array_equal(a, b) for a, b in zip(x86, arm)),
                "max_abs_diff_vs_x86": float(max(np.max(np.abs(a.astype(np.float64) - b))
                                                 if a.size else 0.0 for a, b in zip(x86, arm))),
                "top1_agreement_vs_x86": next((d.top1_agreement for d in versus_x86
                                               if d.top1_agreement is not None), None),
                "drift_vs_x86": [d.as_dict() for d in versus_x86], "problems": problems}

    rows, problems, notes = [check(cpu) for cpu in cpus], [], []
    for row in rows:
        if not row["problems"]:
            continue
        other = sibling(row["cpu"])
        recheck = check(other) if other and other not in cpus else \
            next((r for r in rows if r["cpu"] == other), None)
        row["recheck"] = {"cpu": recheck["cpu"], "agrees": not recheck["problems"]} if recheck else None
        where = f"arm64 {row['cpu']} ({row['isa']})"
        if recheck is not None and not recheck["problems"]:
            notes.append(f"{where} disagreed ({'; '.join(row['problems'])}) but {recheck['cpu']}, "
                         "the same ISA class, agrees: suspected emulator fault, not blamed on the artifact")
        else:
            confirmed = f", confirmed on {recheck['cpu']}" if recheck else \
                " (no other CPU model of its ISA class to re-check on)"
            problems += [f"on {where}{confirmed}: {p}" for p in row["problems"]]
    return {"arch": "arm64", "runtime": "QEMU user mode (qemu-aarch64), the runtime's aarch64 wheel",
            "samples": count, "passed": not problems, "problems": problems, "notes": notes,
            "cpus": rows, "timing": "none: emulated time is not a latency"}

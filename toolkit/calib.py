"""Calibration data for precisions that quantize activations (int8, int16x8).

Sources, in order: `--calib FILE` (same formats as --eval) or `--calib FOLDER` of images
(preprocessed by `--calib-preprocess`, see edgekit.images), else up to `--calib-samples`
samples drawn (seeded) from `--eval`. There is no silent fallback to random inputs:
calibrating on noise is a classic cause of int8 collapse, so without data the run stops
at plan time and says how to provide it. Warnings (printed and reported) flag data that
looks like noise and calibration ranges that differ from the evaluation data's.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .data import Dataset, load_eval
from .errors import InputError
from .model import ModelHandle
from .options import DEFAULT_CALIBRATION_SAMPLES

DEFAULT_SAMPLES = DEFAULT_CALIBRATION_SAMPLES  # edgekit.options (the CLI shows it)
RANGE_RATIO_LIMIT = 2.0  # span of one set more than 2x the other's: the ranges "differ"
NOISE_CORRELATION = 0.1  # neighbouring pixels of real images correlate far more than this
FEW_SAMPLES = 32  # below this, a range is one outlier away from wrong (TFLite suggests 100-500)


@dataclass(frozen=True)
class Calibration:
    inputs: list[np.ndarray]  # in the source model's layout
    source: ModelHandle
    origin: str
    ranges: list[tuple[float, float]]
    warnings: tuple[str, ...]

    def summary(self) -> dict:
        return {"origin": self.origin, "samples": len(self.inputs[0]),
                "ranges": {s.name: [round(lo, 6), round(hi, 6)]
                           for s, (lo, hi) in zip(self.source.inputs, self.ranges)},
                "warnings": list(self.warnings)}


def missing_message(precision: str) -> str:
    return (f"precision '{precision}' quantizes activations and needs calibration data: pass "
            "--calib FILE (.npz with x or one array per input, or .npy) or --calib FOLDER of "
            f"images, or --eval FILE to calibrate on up to {DEFAULT_SAMPLES} of its samples")


def load_calibration(source: ModelHandle, precision: str, calib: Path | None,
                     evaluation: Dataset | None, samples: int = DEFAULT_SAMPLES,
                     seed: int = 0, preprocess: str | None = None) -> Calibration:
    if calib is not None and Path(calib).is_dir():
        from .images import Preprocess, load_folder
        if len(source.inputs) != 1:
            raise InputError("a folder of images calibrates single-input models only")
        inputs = [load_folder(Path(calib), source.inputs[0], Preprocess.parse(preprocess), samples)]
        origin = f"{len(inputs[0])} image{'s' * (len(inputs[0]) != 1)} of {calib}"
    elif calib is not None:
        data = load_eval(Path(calib), source)
        inputs, origin = data.inputs, str(calib)
    elif evaluation is not None and evaluation.origin != "random":
        pick = np.random.default_rng(seed).permutation(evaluation.samples)[:samples]
        inputs = [x[np.sort(pick)] for x in evaluation.inputs]
        origin = f"{len(pick)} samples of {evaluation.origin}"
    else:
        raise InputError(missing_message(precision))
    inputs = [x[:samples] for x in inputs]
    ranges = [(float(x.min()), float(x.max())) for x in inputs]
    warnings = _few_samples_warnings(len(inputs[0])) + _noise_warnings(inputs, source)
    if evaluation is not None and evaluation.origin != "random" and calib is not None:
        warnings += _range_warnings(ranges, evaluation, source)
    return Calibration(inputs, source, origin, ranges, tuple(warnings))


def _few_samples_warnings(count: int) -> list[str]:
    if count >= FEW_SAMPLES:
        return []
    return [f"calibration uses only {count} sample{'s' * (count != 1)}: int8 ranges measured on so "
            f"few rarely cover real inputs; give at least 100 (--calib, or more --eval samples)"]


def _noise_warnings(inputs, source) -> list[str]:
    warnings = []
    for x, spec in zip(inputs, source.inputs):
        if x.ndim == 4 and spec.layout and np.issubdtype(x.dtype, np.floating):
            rows = np.moveaxis(x, 2 if spec.layout == "NHWC" else 3, -1)  # width last
            a, b = rows[..., :-1].ravel(), rows[..., 1:].ravel()
            if a.std() > 0 and b.std() > 0 and abs(np.corrcoef(a, b)[0, 1]) < NOISE_CORRELATION:
                warnings.append(f"calibration data for '{spec.name}' looks like random noise "
                                "(neighbouring values are uncorrelated): int8 ranges measured "
                                "on it rarely fit real inputs")
    return warnings


def _range_warnings(ranges, evaluation: Dataset, source) -> list[str]:
    warnings = []
    for (lo, hi), x, spec in zip(ranges, evaluation.inputs, source.inputs):
        elo, ehi = float(x.min()), float(x.max())
        span, espan = hi - lo, ehi - elo
        differ = espan > 0 and (span / espan > RANGE_RATIO_LIMIT or espan / max(span, 1e-12)
                                > RANGE_RATIO_LIMIT or lo > ehi or hi < elo)
        if differ:
            warnings.append(f"calibration range of '{spec.name}' [{lo:.4g}, {hi:.4g}] differs "
                            f"markedly from the evaluation data's [{elo:.4g}, {ehi:.4g}]: check "
                            "both use the same preprocessing")
    return warnings

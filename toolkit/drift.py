"""Drift between the original model's outputs and an artifact's: metrics and verdict.

One comparison used everywhere: shapes and dtypes first (a mismatch is a failure with a
message, not a crash), then the numbers. Accuracy and agreement are fractions in 0..1.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from .quantize.precision import Tolerance  # noqa: F401 (what a precision may cost, judged here)


class Mismatch(ValueError):
    """The artifact's tensors do not line up with the original's (count, shape): a fault
    of the artifact, found on purpose by edgekit's own checks, not a bug in edgekit."""


@dataclass(frozen=True)
class Drift:
    top1_agreement: float | None  # None when the output is not a class score vector
    top5_agreement: float | None  # original's top-1 among the artifact's top 5 (> 5 classes)
    max_abs_error: float
    mean_abs_error: float
    cosine: float  # mean over samples of the per-sample cosine similarity
    sqnr_db: float  # signal-to-quantization-noise ratio; inf when identical
    scale: float  # the original's largest |value|, which max_abs_error is judged against
    nonfinite: int = 0  # NaN/Inf values in the artifact's output where the original is finite

    def as_dict(self) -> dict:
        return {k: _round(v) for k, v in asdict(self).items() if k != "scale"}


def _round(value):
    if value is None or value == float("inf"):
        return None if value is None else "inf"  # JSON has no infinity
    if value != value:  # NaN: JSON has none either; the problem list says why
        return None
    return float(f"{value:.6g}")


def compare(reference: list[np.ndarray], candidate: list[np.ndarray]) -> list[Drift]:
    """Drift per output, matched by position; raises ValueError on shape mismatches."""
    if len(reference) != len(candidate):
        raise Mismatch(f"the artifact has {len(candidate)} outputs, the original {len(reference)}")
    return [_compare_one(r, c, i) for i, (r, c) in enumerate(zip(reference, candidate))]


def _compare_one(ref: np.ndarray, got: np.ndarray, index: int) -> Drift:
    """The metrics are taken over the values both models computed as finite numbers; the
    artifact's NaN/Inf are counted apart, because a NaN makes every comparison false and
    would otherwise switch the tolerance checks off (`nan > limit` is False)."""
    if ref.shape != got.shape:
        raise Mismatch(f"output {index}: shape {got.shape} differs from the original's {ref.shape}")
    ref64, got64 = ref.astype(np.float64), got.astype(np.float64)
    bad = ~np.isfinite(got64)
    nonfinite = int(bad.sum())
    if nonfinite:  # judged on the rest; the count alone fails the artifact (see violations)
        got64 = np.where(bad, 0.0, got64)
    error = np.abs(ref64 - got64)
    return Drift(
        top1_agreement=top1_agreement(ref64, got64),
        top5_agreement=top5_agreement(ref64, got64),
        max_abs_error=float(error.max()) if error.size else 0.0,
        mean_abs_error=float(error.mean()) if error.size else 0.0,
        cosine=_mean_cosine(ref64, got64),
        sqnr_db=sqnr_db(ref64, got64),
        scale=float(np.abs(ref64).max()) if ref64.size else 0.0,
        nonfinite=nonfinite,
    )


def top1_agreement(ref: np.ndarray, got: np.ndarray) -> float | None:
    """Share of samples whose arg-max class is the same (2-D score outputs only)."""
    if ref.ndim != 2 or ref.shape[1] < 2:
        return None
    return float((ref.argmax(1) == got.argmax(1)).mean())


def top5_agreement(ref: np.ndarray, got: np.ndarray) -> float | None:
    """Share of samples whose original top-1 class is among the artifact's five best."""
    if ref.ndim != 2 or ref.shape[1] <= 5:
        return None
    top5 = np.argsort(-got, axis=1)[:, :5]
    return float((top5 == ref.argmax(1)[:, None]).any(1).mean())


def sqnr_db(ref: np.ndarray, got: np.ndarray) -> float:
    """10 log10(signal power / error power): ~6 dB per bit of precision kept."""
    noise = float(np.sum((ref - got) ** 2))
    signal = float(np.sum(ref ** 2))
    if noise == 0:
        return float("inf")
    return 10 * np.log10(max(signal, 1e-30) / noise)


def _mean_cosine(ref: np.ndarray, got: np.ndarray) -> float:
    a, b = ref.reshape(len(ref), -1), got.reshape(len(got), -1)
    norms = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    both_zero = norms == 0
    cosine = np.where(both_zero, 1.0, (a * b).sum(1) / np.where(both_zero, 1.0, norms))
    return float(cosine.mean()) if cosine.size else 1.0


def accuracy(outputs: list[np.ndarray], labels: np.ndarray | None, index: int | None = 0) -> float | None:
    """Top-1 accuracy of output `index` against integer labels (see edgekit.labels for
    which output that is), when there are labels."""
    if labels is None or index is None or outputs[index].ndim != 2:
        return None
    return float((outputs[index].argmax(1) == labels).mean())


def class_outputs(reference: list[np.ndarray], labels, label_output: int | None) -> set[int]:
    """Outputs whose arg-max is a class, where top-1 agreement is judged: the one the labels
    score; without labels, those whose rows are probability distributions (a softmax head).
    An unlabelled 2-D output may as well be an embedding, whose arg-max flips between
    near-equal values (MiniLM: 1 of 16 samples at int8) without meaning anything: such
    outputs are judged on SQNR, cosine and error, and their agreement is only reported."""
    if labels is not None and label_output is not None:
        return {label_output}
    return {i for i, r in enumerate(reference) if r.ndim == 2 and r.shape[1] > 1
            and np.issubdtype(r.dtype, np.floating) and float(r.min()) >= 0
            and np.allclose(r.sum(1), 1.0, atol=1e-3)}


def violations(drifts: list[Drift], tolerance: Tolerance, classes: set[int] | None = None) -> list[str]:
    """Human-readable reasons the drift breaks the tolerance (empty when it holds). Top-1
    agreement is judged on the outputs in `classes` (all 2-D outputs when None)."""
    t = tolerance
    problems = []
    for i, d in enumerate(drifts):
        if d.nonfinite:
            problems.append(f"output {i}: {d.nonfinite} NaN/Inf values where the original's "
                            "are finite")
        # written as "not within" so that a NaN metric fails instead of passing
        limit = None if t.max_abs_error is None else t.max_abs_error * max(1.0, d.scale)
        if limit is not None and not d.max_abs_error <= limit:
            problems.append(f"output {i}: max abs error {d.max_abs_error:.3g} > {limit:.3g}")
        if t.min_cosine is not None and not d.cosine >= t.min_cosine:
            problems.append(f"output {i}: cosine {d.cosine:.6f} < {t.min_cosine}")
        if t.min_sqnr_db is not None and not d.sqnr_db >= t.min_sqnr_db:
            problems.append(f"output {i}: SQNR {d.sqnr_db:.1f} dB < {t.min_sqnr_db} dB")
        if None not in (t.min_top1_agreement, d.top1_agreement) and (classes is None or i in classes) \
                and not d.top1_agreement >= t.min_top1_agreement:
            problems.append(f"output {i}: top-1 agreement {d.top1_agreement:.4f} "
                            f"< {t.min_top1_agreement}")
    return problems


def nonfinite_outputs(reference: list[np.ndarray]) -> list[tuple[int, int]]:
    """(output index, count) of NaN/Inf values in the original's float outputs."""
    counts = [(i, int((~np.isfinite(r)).sum())) for i, r in enumerate(reference)
              if np.issubdtype(r.dtype, np.floating)]
    return [(i, n) for i, n in counts if n]


def constant_outputs(reference: list[np.ndarray]) -> list[int]:
    """Outputs that are (nearly) the same for every sample: comparing against them cannot
    tell a good artifact from a broken one (typical of random weights on random inputs)."""
    flat = [r.reshape(len(r), -1).astype(np.float64) for r in reference if len(r) > 1]
    return [i for i, r in enumerate(flat)
            if float(r.std(0).max()) <= 1e-6 * max(1.0, float(np.abs(r).max()))]

"""Which layer diverges? Per-layer drift between an original model and an artifact.

Tensor names rarely survive a conversion (fused ops, renamed scopes, NCHW -> NHWC), so
edgekit matches by content: for each layer output of the original, in execution order,
it finds the artifact tensor with the same per-sample size (as-is or transposed between
NCHW and NHWC) that is closest in cosine similarity. Converters fuse layers (a conv and
its ReLU become one op), so an original tensor may have no counterpart at all; such gaps
are not divergence. Divergence is what persists: the first divergent layer is the first
one after the last well-matched layer, when that is not the model's last layer.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .quantize import PRECISIONS
from .tensors import NCHW_TO_NHWC, NHWC_TO_NCHW

LAYER_SAMPLES = 16  # per-layer comparison keeps every activation: a few samples suffice


@dataclass(frozen=True)
class LayerMatch:
    layer: str  # the original's layer/tensor name
    match: str | None  # the artifact tensor found closest
    cosine: float  # -1 .. 1; how close the best match is
    max_abs_error: float | None

    def as_dict(self) -> dict:
        return {"layer": self.layer, "match": self.match, "cosine": round(self.cosine, 6),
                "max_abs_error": None if self.max_abs_error is None else float(f"{self.max_abs_error:.4g}")}


def match_layers(original: list[tuple[str, np.ndarray]],
                 artifact: list[tuple[str, np.ndarray]]) -> list[LayerMatch]:
    """For each original tensor, the artifact tensor (or layout view of one) of the same
    per-sample size with the highest mean cosine. A detector has hundreds of tensors of
    a few sizes: the candidates of one size are scored in one matrix product of unit rows,
    not pair by pair (which took 48 s on YOLOv8n at 8 samples)."""
    views = {}  # per-sample size -> [(artifact tensor name, view)]
    for name, array in artifact:
        for view in _views(array):
            views.setdefault(view.shape, []).append((name, view))
    scored = {shape: _unit_stack([view for _, view in group]) for shape, group in views.items()}
    matches = []
    for name, array in original:
        flat = array.reshape(len(array), -1).astype(np.float32)
        if flat.shape not in views:
            matches.append(LayerMatch(name, None, -1.0, None))
            continue
        cosines = _mean_cosines(flat, *scored[flat.shape])
        best = int(np.argmax(cosines))
        other, view = views[flat.shape][best]
        matches.append(LayerMatch(name, other, float(cosines[best]), float(np.abs(flat - view).max())))
    return matches


def _unit_rows(flat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each sample's row scaled to unit length, and which rows are all zero."""
    norms = np.linalg.norm(flat.astype(np.float64), axis=-1, keepdims=True)
    zero = norms[..., 0] == 0
    return (flat / np.where(norms == 0, 1.0, norms)).astype(np.float32), zero


def _unit_stack(group: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    rows, zeros = zip(*(_unit_rows(view) for view in group))
    return np.stack(rows), np.stack(zeros)  # [K, S, D], [K, S]


def _mean_cosines(flat: np.ndarray, units: np.ndarray, zeros: np.ndarray) -> np.ndarray:
    """The mean over samples of the cosine between `flat`'s rows and each candidate's;
    two all-zero rows agree (cosine 1), one all-zero row does not (0)."""
    unit, zero = _unit_rows(flat)
    samples = len(flat)
    dots = units.reshape(len(units), -1) @ unit.reshape(-1)  # sum over samples of row dots
    return (dots.astype(np.float64) + (zeros & zero).sum(axis=1)) / samples


def first_divergent(matches: list[LayerMatch], min_cosine: float) -> LayerMatch | None:
    good = [i for i, m in enumerate(matches) if m.cosine >= min_cosine]
    last_good = good[-1] if good else -1
    return None if last_good == len(matches) - 1 else matches[last_good + 1]


def _views(array: np.ndarray) -> list[np.ndarray]:
    """The tensor flattened per sample, as-is and (for 4-D) in the other image layout."""
    views = [array.reshape(len(array), -1).astype(np.float32)]
    if array.ndim == 4:
        for order in (NCHW_TO_NHWC, NHWC_TO_NCHW):
            views.append(array.transpose(order).reshape(len(array), -1).astype(np.float32))
    return views


def layer_report(source, handle, data, precision: str, samples: int = LAYER_SAMPLES) -> dict:
    """Per-layer drift: each original layer's closest artifact tensor, the first layer from
    which the artifact stays divergent, and the worst layers."""
    from .errors import UnsupportedError
    from .targets.registry import format_module, formats_with
    from .tensors import feed_for
    for fmt in (source.format, handle.format):
        if format_module(fmt).intermediates is None:
            raise UnsupportedError(f"--layers cannot read intermediate tensors of {fmt} models "
                                   f"(supported: {', '.join(formats_with('intermediates'))})")
    sample = [x[:samples] for x in data.inputs]
    feed = feed_for(handle, source, sample)
    matches = match_layers(format_module(source.format).intermediates(source, sample),
                           format_module(handle.format).intermediates(handle, feed))
    threshold = PRECISIONS[precision].layer_cosine
    divergent = first_divergent(matches, threshold)
    return {"min_cosine": threshold, "samples": len(sample[0]),
            "first_divergent": divergent.as_dict() if divergent else None,
            "worst": [m.as_dict() for m in sorted(matches, key=lambda m: m.cosine)[:5]],
            "all": [m.as_dict() for m in matches]}

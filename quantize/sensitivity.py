"""Which layers int8 hurts most: the measure shared by every format's layer ranking.

A tensor's quantization error is judged relative to its *typical* values (medians), not
its energy: a tensor with a few huge outliers gets a coarse int8 step that wipes out all
its ordinary values, yet its SQNR looks fine because the outliers dominate both sums.
Keeping a tensor in float means keeping its producer and every consumer in float:
a float producer alone still feeds an int8 consumer that quantizes the same range.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class LayerDrift:
    tensor: str  # the activation tensor whose quantization was measured
    nodes: tuple[str, ...]  # what must stay float to keep it float (format-specific names)
    error: float  # median |quantized - float| / median |float| over non-zero values

    def as_dict(self) -> dict:
        return {"tensor": self.tensor, "kept_in_float": list(self.nodes),
                "median_relative_error": round(self.error, 6)}


def median_relative_error(reference: np.ndarray, quantized: np.ndarray) -> float:
    reference = np.asarray(reference, np.float64).ravel()
    quantized = np.asarray(quantized, np.float64).ravel()
    nonzero = np.abs(reference) > 0
    if not nonzero.any():
        return 0.0
    typical = np.median(np.abs(reference[nonzero]))
    return float(np.median(np.abs(quantized - reference)[nonzero]) / max(typical, 1e-12))


def worst_first(layers: list[LayerDrift]) -> list[LayerDrift]:
    return sorted(layers, key=lambda layer: -layer.error)


def float_nodes(layers: list[LayerDrift]) -> tuple[str, ...]:
    """The union of the nodes to keep in float, in ranking order, without repeats."""
    return tuple(dict.fromkeys(node for layer in layers for node in layer.nodes))

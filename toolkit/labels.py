"""Which output the labels score, and whether the original scores like a trained model.

A model may have several outputs (MTCNN: box offsets, then face scores); labels score one
of them. `--label-output NAME|INDEX` says which; otherwise it is chosen only when one
output alone fits the labels, and the report says which it was.
"""
from __future__ import annotations

import numpy as np

from .errors import InputError

CHANCE_MARGIN = 0.05  # accuracy within 5 points of chance level gets a warning


def labelled_output(names: list[str], reference: list[np.ndarray], labels: np.ndarray | None,
                    asked: str | None = None) -> tuple[int | None, str | None]:
    """(index of the output the labels score, a note saying how it was chosen)."""
    if labels is None:
        return None, None
    if asked is not None:
        index = _asked(names, asked)
        if reference[index].ndim != 2 or reference[index].shape[1] <= int(labels.max()):
            raise InputError(f"--label-output {asked}: output '{names[index]}' has shape "
                             f"{reference[index].shape}, not one score per class for labels up "
                             f"to {int(labels.max())}")
        return index, f"labels score output '{names[index]}' (--label-output)"
    fits = [i for i, r in enumerate(reference) if r.ndim == 2 and r.shape[1] > int(labels.max())]
    exact = [i for i in fits if reference[i].shape[1] == len(np.unique(labels))]
    chosen = fits if len(fits) == 1 else exact if len(exact) == 1 else []
    if not chosen:
        which = ", ".join(f"'{names[i]}'" for i in fits) or "none"
        return None, (f"accuracy not measured: outputs that fit the labels: {which}; say which "
                      "one with --label-output NAME or INDEX")
    index = chosen[0]
    return index, (None if len(reference) == 1 else
                   f"labels score output '{names[index]}', the only one with one score per class")


def _asked(names: list[str], asked: str) -> int:
    if asked in names:
        return names.index(asked)
    if asked.isdigit() and int(asked) < len(names):
        return int(asked)
    raise InputError(f"--label-output {asked}: no such output; outputs: "
                     + ", ".join(f"{i} '{n}'" for i, n in enumerate(names)))


def chance_warning(accuracy: float | None, labels: np.ndarray | None, classes: int | None) -> str | None:
    """A loud warning when the original scores at chance level on labelled data: most
    likely not the trained model (a FILE.py:FACTORY without --weights) or not its labels."""
    if accuracy is None or labels is None or not classes:
        return None
    majority = np.bincount(labels).max() / len(labels)
    chance = max(1 / classes, float(majority))
    if accuracy > chance + CHANCE_MARGIN:
        return None
    return (f"THE ORIGINAL MODEL SCORES AT CHANCE LEVEL: accuracy {accuracy:.1%} on {classes} "
            f"classes (chance {chance:.1%}); is it the trained model (a FILE.py:FACTORY needs "
            "--weights) and are the labels its classes? Drift figures still compare the "
            "artifacts with it")

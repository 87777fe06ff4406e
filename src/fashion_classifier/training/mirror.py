"""When the mirror view pays: fit the top probability below which the Predictor runs it.

Averaging a photo with its mirror image helps the unsure photos only. A photo whose plain
view is already sure keeps its answer and tier with or without the mirror, so running the
mirror for it doubles the model's cost for nothing. ``fit_mirror_below`` picks, on validation
data, the lowest line such that mirroring only the photos below it gives (nearly) every photo
the answer and tier of mirroring all of them (pure numpy).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

GRID = (0.80, 0.85, 0.90, 0.93, 0.95, 0.97, 0.98, 0.99, 0.995)
ALWAYS = 2.0  # no probability reaches it: the mirror view for every photo (the Predictor's ALWAYS_MIRROR)
MAX_CHANGED = 0.0005  # share of val photos allowed another answer or tier than with the mirror for all


def outcome(probs: np.ndarray, lines: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    """(answer, tier bucket) per row: the likeliest output, and how many tier lines its
    probability reaches."""
    top = probs.max(axis=1)
    return probs.argmax(axis=1), (top[:, None] >= np.asarray(lines)[None, :]).sum(axis=1)


def selective(plain: np.ndarray, mirror: np.ndarray, below: float) -> tuple[np.ndarray, float]:
    """The probabilities when only photos whose plain top probability is below ``below`` are
    averaged with their mirror, and the share of photos that needed it."""
    unsure = plain.max(axis=1) < below
    probs = plain.copy()
    probs[unsure] = (plain[unsure] + mirror[unsure]) / 2
    return probs, float(unsure.mean()) if len(plain) else 0.0


def fit_mirror_below(plain: np.ndarray, mirror: np.ndarray, lines: Sequence[float],
                     max_changed: float = MAX_CHANGED, grid: Sequence[float] = GRID) -> dict:
    """The lowest line of ``grid`` within ``max_changed``, with what it costs and saves on val."""
    answer, tier = outcome((plain + mirror) / 2, lines)
    for below in sorted(grid):
        probs, mirrored = selective(plain, mirror, below)
        a, t = outcome(probs, lines)
        changed = float(((a != answer) | (t != tier)).mean())
        if changed <= max_changed:
            return {"mirror_below": below, "val_mirrored": mirrored, "val_changed": changed}
    return {"mirror_below": ALWAYS, "val_mirrored": 1.0, "val_changed": 0.0}

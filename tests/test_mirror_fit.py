"""training.mirror: the line below which the mirror view runs, fitted on validation views."""

from __future__ import annotations

import numpy as np

from fashion_classifier.training.mirror import ALWAYS, fit_mirror_below, outcome, selective

LINES = (0.70, 0.85)


def _views(rng, n: int, sure: float, flips: float):
    """Plain and mirror probabilities of n photos over 3 outputs: ``sure`` of them have a top
    probability above 0.99 that the mirror agrees with; among the rest, ``flips`` of them have a
    mirror that changes the answer."""
    plain = np.full((n, 3), 0.0)
    mirror = np.full((n, 3), 0.0)
    confident = rng.random(n) < sure
    plain[confident] = mirror[confident] = [0.995, 0.004, 0.001]
    unsure = ~confident
    plain[unsure] = [0.55, 0.40, 0.05]
    flipped = rng.random((unsure.sum(), 1)) < flips
    mirror[unsure] = np.where(flipped, [[0.20, 0.75, 0.05]], [[0.60, 0.35, 0.05]])
    return plain, mirror


def test_the_lowest_line_that_changes_nothing_is_chosen():
    plain, mirror = _views(np.random.default_rng(0), 2000, sure=0.7, flips=0.3)
    fit = fit_mirror_below(plain, mirror, LINES)
    assert fit["mirror_below"] == 0.80  # the unsure ones (top 0.55) are all below the grid's first line
    assert fit["val_changed"] == 0.0
    assert 0.25 < fit["val_mirrored"] < 0.35
    probs, share = selective(plain, mirror, fit["mirror_below"])
    assert share == fit["val_mirrored"]
    answer, tier = outcome(probs, LINES)
    full_answer, full_tier = outcome((plain + mirror) / 2, LINES)
    assert (answer == full_answer).all() and (tier == full_tier).all()


def test_a_mirror_that_matters_even_for_sure_photos_runs_for_every_photo():
    plain, mirror = _views(np.random.default_rng(1), 1000, sure=0.9, flips=0.0)
    mirror[:200] = [0.0, 1.0, 0.0]  # the mirror overturns even confident photos
    fit = fit_mirror_below(plain, mirror, LINES)
    assert fit["mirror_below"] == ALWAYS and fit["val_mirrored"] == 1.0
    probs, share = selective(plain, mirror, fit["mirror_below"])
    assert share == 1.0
    np.testing.assert_allclose(probs, (plain + mirror) / 2)


def test_tier_changes_count_not_only_answer_changes():
    plain = np.array([[0.86, 0.14, 0.0]] * 100)  # auto on its own
    mirror = np.array([[0.80, 0.20, 0.0]] * 100)  # averaged: 0.83, a quick check instead
    fit = fit_mirror_below(plain, mirror, LINES, grid=(0.85, 0.90))
    assert fit["mirror_below"] == 0.90, "0.85 would skip the mirror and keep a wrong auto tier"

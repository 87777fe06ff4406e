"""The open-world measures on small hand-made probability sets (numbers checked by hand)."""

from __future__ import annotations

import numpy as np
import pytest

from fashion_classifier.model.tiers import TierPolicy
from fashion_classifier.training import openworld

CATS = ["A", "B", "C"]
OTHER = 3
POLICY = TierPolicy(0.85, 0.70)


def rows(*pairs):
    """(index, p) -> a probability row with p on index and the rest spread evenly."""
    out = []
    for index, p in pairs:
        row = np.full(4, (1 - p) / 3)
        row[index] = p
        out.append(row)
    return np.array(out)


def test_decide_uses_argmax_and_the_threshold():
    probs = np.array([[0.5, 0.1, 0.1, 0.3], [0.1, 0.1, 0.1, 0.7], [0.6, 0.0, 0.0, 0.4]])
    is_other, closest, closest_p, confidence = openworld.decide(probs, OTHER)
    assert is_other.tolist() == [False, True, False] and closest.tolist() == [0, 0, 0]
    assert confidence.tolist() == [0.5, 0.7, 0.6]
    assert openworld.decide(probs, OTHER, other_threshold=0.35)[0].tolist() == [False, True, True]


def test_auroc_by_hand():
    assert openworld.auroc(np.array([0.1, 0.2]), np.array([0.3, 0.4])) == 1.0
    assert openworld.auroc(np.array([0.3, 0.4]), np.array([0.1, 0.2])) == 0.0
    assert openworld.auroc(np.array([0.1, 0.3]), np.array([0.2, 0.4])) == pytest.approx(0.75)
    assert openworld.auroc(np.array([0.5]), np.array([0.5])) == pytest.approx(0.5)


def test_rates_out_and_in_scope():
    out = rows((3, 0.9), (3, 0.8), (1, 0.95), (2, 0.6))  # two Other, one auto-approved into B
    r = openworld.rates_out(out, OTHER, POLICY, CATS)
    assert r["called_other"] == 0.5 and r["auto_approved"] == 0.25 and r["images"] == 4
    inside = rows((0, 0.9), (1, 0.9), (3, 0.6), (2, 0.75))
    labels = np.array([0, 0, 1, 2])  # the second is wrong, the third called Other
    r = openworld.in_scope_rates(inside, labels, OTHER, POLICY, CATS)
    assert r["called_other"] == 0.25 and r["accuracy"] == 0.5
    assert r["auto_coverage"] == 0.5 and r["auto_precision"] == 0.5


def test_mix_weights_the_other_photos_to_three_to_one():
    inside = rows((0, 0.9), (0, 0.9), (0, 0.9), (0, 0.9), (0, 0.9), (0, 0.9))  # 6 right autos
    out = rows((1, 0.9), (3, 0.9))  # one of two auto-approved; weight 6/3/2 = 1
    r = openworld.mix_rates(inside, np.zeros(6, dtype=int), out, OTHER, POLICY, CATS)
    assert r["auto_precision"] == pytest.approx(6 / 7) and r["other_auto_approved"] == 0.5


def test_fitted_lines_reach_the_target_precision_on_their_data():
    rng = np.random.default_rng(3)
    p = rng.uniform(0.5, 1.0, 400)
    labels = np.where(rng.uniform(size=400) < p, 0, 1)  # the surer, the more often right
    probs = np.zeros((400, 4))
    probs[:, 0], probs[:, 1] = p, 1 - p
    lines = openworld.fit_auto_lines(probs, labels, np.zeros((0, 4)), OTHER, CATS, 0.95, 0.85)
    fitted = openworld.with_auto_lines(POLICY, lines)
    r = openworld.in_scope_rates(probs, labels, OTHER, fitted, CATS)
    assert r["auto_precision"] >= 0.95 and lines["A"] > 0.85
    assert lines["B"] == lines["C"] == 0.85, "too few answers: the fixed line stays"


def test_other_threshold_respects_the_in_scope_budget():
    inside = rows(*[(0, 0.9)] * 95, *[(0, 0.5)] * 5)
    inside[95:, OTHER] = np.linspace(0.2, 0.4, 5)
    threshold = openworld.fit_other_threshold(inside, None, OTHER, max_in_scope_other=0.02)
    assert openworld.decide(inside, OTHER, threshold)[0].mean() <= 0.02
    assert threshold <= 0.4


def test_family_types_count_the_related_category_as_right():
    probs = rows((0, 0.9), (3, 0.9), (1, 0.9))
    r = openworld.rates_family(probs, ["Kurtis"] * 3, {"Kurtis": "A"}, OTHER, CATS)
    assert r["Kurtis"]["as_related"] == pytest.approx(1 / 3)
    assert r["Kurtis"]["called_other"] == pytest.approx(1 / 3)
    assert r["Kurtis"]["as_unrelated"] == pytest.approx(1 / 3)

"""Evaluation maths: metrics, calibration, tiers, on inputs with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from fashion_classifier.data.prepare import Record
from fashion_classifier.labels import CATEGORIES
from fashion_classifier.model import TierPolicy
from fashion_classifier.training.calibration import (
    expected_calibration_error,
    fit_temperature,
    rescale,
)
from fashion_classifier.training.evaluate import (
    SplitPredictions,
    classification_metrics,
    tier_metrics,
    write_errors_csv,
)


def one_hot_probs(predicted, confidence=0.9, k=10):
    probs = np.full((len(predicted), k), (1 - confidence) / (k - 1))
    probs[np.arange(len(predicted)), predicted] = confidence
    return probs


def test_classification_metrics_by_hand():
    labels = np.array([0, 0, 0, 1, 1, 2])
    predicted = np.array([0, 0, 1, 1, 1, 0])
    m = classification_metrics(predicted, labels, CATEGORIES)
    assert m["accuracy"] == pytest.approx(4 / 6)
    tshirts = m["per_class"]["Tshirts"]  # class 0: tp 2, predicted 3, actual 3
    assert tshirts["precision"] == pytest.approx(2 / 3) and tshirts["recall"] == pytest.approx(2 / 3)
    shirts = m["per_class"]["Shirts"]  # class 1: tp 2, predicted 3, actual 2
    assert shirts["precision"] == pytest.approx(2 / 3) and shirts["recall"] == 1.0
    assert m["per_class"]["Casual Shoes"]["f1"] == 0.0
    assert m["confusion_matrix"][2][0] == 1 and np.array(m["confusion_matrix"]).sum() == 6


def test_ece_is_zero_when_confidence_equals_accuracy():
    labels = np.zeros(10, dtype=int)
    predicted = np.array([0] * 8 + [1] * 2)
    assert expected_calibration_error(one_hot_probs(predicted, 0.8), labels) == pytest.approx(0.0, abs=1e-9)
    assert expected_calibration_error(one_hot_probs(predicted, 0.99), labels) == pytest.approx(0.19)


def test_temperature_fit_recovers_an_overconfident_model():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(4000, 10)) * 2
    true_probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    labels = np.array([rng.choice(10, p=p) for p in true_probs])
    overconfident = rescale(true_probs, 0.5)  # as if logits were doubled
    temperature = fit_temperature(overconfident, labels)
    assert temperature == pytest.approx(2.0, rel=0.1)
    assert expected_calibration_error(rescale(overconfident, temperature), labels) < \
        expected_calibration_error(overconfident, labels)


def test_tiers_cover_everything_once():
    labels = np.array([0, 0, 0, 0])
    probs = np.array([one_hot_probs([0], c)[0] for c in (0.95, 0.85, 0.75, 0.5)])
    tiers = tier_metrics(probs.argmax(1), probs.max(1), labels, TierPolicy(), CATEGORIES)
    assert [tiers[t]["images"] for t in ("auto", "check", "review")] == [2, 1, 1]
    assert sum(tiers[t]["coverage"] for t in ("auto", "check", "review")) == pytest.approx(1.0)


def test_tier_policy_boundaries_and_validation():
    policy = TierPolicy(0.85, 0.70)
    assert [policy.tier(c) for c in (0.85, 0.8499, 0.70, 0.6999)] == ["auto", "check", "check", "review"]
    with pytest.raises(ValueError):
        TierPolicy(0.6, 0.7)


def test_temperature_fit_with_mirror_views_uses_their_average():
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(3000, 10)) * 2
    true_probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    labels = np.array([rng.choice(10, p=p) for p in true_probs])
    view = rescale(true_probs, 0.5)
    assert fit_temperature([view, view], labels) == pytest.approx(fit_temperature(view, labels), rel=1e-6)


def test_errors_list_only_mistakes_most_confident_first(tmp_path):
    records = [Record(id=str(i), path=f"images/{i}.jpg", label=CATEGORIES[0], sha256="x" * 64, group=str(i))
               for i in range(4)]
    probs = np.full((4, len(CATEGORIES)), 0.01)
    probs[0, 0] = 0.9   # right
    probs[1, 6] = 0.7   # wrong: Tops, fairly sure
    probs[2, 6] = 0.95  # wrong: Tops, very sure
    probs[3, 0] = 0.5   # right
    seen = SplitPredictions(records, np.zeros((4, 2, 2, 3)), np.zeros(4, dtype=int), probs)
    errors = seen.errors()
    assert [e["id"] for e in errors] == ["2", "1"]
    assert errors[0] == {"index": 2, "id": "2", "path": "images/2.jpg", "true": CATEGORIES[0],
                         "predicted": "Tops", "confidence": 0.95}
    lines = write_errors_csv(errors, tmp_path / "errors.csv").read_text().splitlines()
    assert lines[0] == "id,path,true,predicted,confidence" and lines[1].startswith("2,images/2.jpg,")

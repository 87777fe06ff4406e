"""The ensemble's merged head, and the near-duplicate label check."""

from __future__ import annotations

import numpy as np

from fashion_classifier.training.ensemble import merged_head_weights


def test_merged_head_gives_the_mean_of_the_members_logits():
    rng = np.random.default_rng(7)
    heads = [(rng.normal(size=(d, 10)), rng.normal(size=10)) for d in (5, 3, 4)]
    features = [rng.normal(size=(2, d)) for d in (5, 3, 4)]
    kernel, bias = merged_head_weights(heads)
    assert kernel.shape == (12, 10) and bias.shape == (10,)
    merged = np.concatenate(features, axis=1) @ kernel + bias
    expected = np.mean([f @ w + b for f, (w, b) in zip(features, heads, strict=True)], axis=0)
    np.testing.assert_allclose(merged, expected, rtol=1e-12)


def test_near_duplicate_check_finds_a_shifted_copy_and_its_label():
    from fashion_classifier.training.near_duplicates import check

    rng = np.random.default_rng(3)
    train = rng.integers(0, 256, (3, 160, 120, 3), dtype=np.uint8)
    copy = np.clip(train[1].astype(int) + 4, 0, 255).astype(np.uint8)  # re-encoded: brighter
    test = np.stack([copy, rng.integers(0, 256, (160, 120, 3), dtype=np.uint8)])
    train_y, test_y = np.array([0, 6, 2]), np.array([0, 5])  # the copy is labelled differently
    errors = [{"id": "a", "predicted": "Tops"}, {"id": "b", "predicted": "Tops"}]
    result = check(test, test_y, train, train_y, errors, ["a", "b"], threshold=0.99)
    assert result["test_photos_with_a_near_copy"] == 1
    assert result["of_those_labelled_differently"] == 1
    assert result["errors_with_a_near_copy_labelled_as_predicted"] == 1  # "a": its copy says Tops

"""The ensemble's merged head: one dense layer whose logits are the mean of the members'."""

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

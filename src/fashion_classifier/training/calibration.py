"""Calibration: expected calibration error and temperature scaling."""

from __future__ import annotations

import numpy as np


def rescale(probs: np.ndarray, temperature: float) -> np.ndarray:
    """softmax(log(p) / T): the probabilities a temperature T would have given."""
    logits = np.log(np.clip(probs, 1e-12, 1.0)) / temperature
    logits -= logits.max(axis=1, keepdims=True)
    exp = np.exp(logits)
    return exp / exp.sum(axis=1, keepdims=True)


def nll(probs: np.ndarray, labels: np.ndarray) -> float:
    return float(-np.log(np.clip(probs[np.arange(len(labels)), labels], 1e-12, 1.0)).mean())


def average_views(views: list[np.ndarray], temperature: float = 1.0) -> np.ndarray:
    """Mean of several views' (e.g. an image and its mirror) tempered probabilities."""
    return np.mean([rescale(v, temperature) for v in views], axis=0)


def fit_temperature(probs: np.ndarray | list[np.ndarray], labels: np.ndarray) -> float:
    """The T minimising validation NLL (coarse grid, then a fine one around the best).

    With a list of views, T is applied to each view before averaging, exactly as a
    temperature folded into the head acts on a test-time-augmented prediction.
    """
    views = probs if isinstance(probs, list) else [probs]

    def loss(t):
        return nll(average_views(views, t), labels)

    best = min(np.linspace(0.3, 4.0, 75), key=loss)
    return float(min(np.linspace(max(0.05, best - 0.05), best + 0.05, 41), key=loss))


def reliability_bins(probs: np.ndarray, labels: np.ndarray, n_bins: int = 15) -> list[dict]:
    confidence = probs.max(axis=1)
    correct = probs.argmax(axis=1) == labels
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    bins = []
    for low, high in zip(edges[:-1], edges[1:], strict=True):
        inside = (confidence > low) & (confidence <= high)
        count = int(inside.sum())
        bins.append({"low": float(low), "high": float(high), "count": count,
                     "accuracy": float(correct[inside].mean()) if count else 0.0,
                     "confidence": float(confidence[inside].mean()) if count else 0.0})
    return bins


def expected_calibration_error(probs: np.ndarray, labels: np.ndarray, n_bins: int = 15) -> float:
    total = len(labels)
    return float(sum(b["count"] / total * abs(b["accuracy"] - b["confidence"])
                     for b in reliability_bins(probs, labels, n_bins)))

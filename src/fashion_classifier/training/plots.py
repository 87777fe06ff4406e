"""Training and evaluation plots (matplotlib, headless)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..labels import DEFAULT_CATEGORIES, OTHER


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    _pyplot().close(fig)
    return path


def plot_class_distribution(counts: dict[str, dict[str, int]], path: Path) -> Path:
    cats = list(counts["train"])  # the categories the splits hold
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(10, 4.5))
    x = np.arange(len(cats))
    bottom = np.zeros(len(cats))
    for split, color in zip(("train", "val", "test"), ("#4c72b0", "#dd8452", "#55a868"), strict=True):
        values = np.array([counts[split][c] for c in cats])
        ax.bar(x, values, bottom=bottom, label=split, color=color)
        bottom += values
    for xi, total in zip(x, bottom, strict=True):
        ax.text(xi, total, f"{int(total)}", ha="center", va="bottom", fontsize=8)
    ax.set_xticks(x, cats, rotation=30, ha="right")
    ax.set_ylabel("images")
    ax.set_title("Class distribution by split")
    ax.legend()
    return _save(fig, path)


def plot_training_history(history: dict[str, list[float]], path: Path,
                          stage_boundary: int | None = None) -> Path:
    """Loss and accuracy per epoch; a dashed line where fine-tuning starts."""
    plt = _pyplot()
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(11, 4))
    epochs = np.arange(1, len(history["loss"]) + 1)
    for key, style in (("loss", "-"), ("val_loss", "--")):
        ax_loss.plot(epochs, history[key], style, label=key)
    for key, style in (("accuracy", "-"), ("val_accuracy", "--")):
        ax_acc.plot(epochs, history[key], style, label=key)
    for ax, title in ((ax_loss, "Loss"), (ax_acc, "Accuracy")):
        if stage_boundary:
            ax.axvline(stage_boundary + 0.5, color="grey", linestyle=":", label="fine-tuning starts")
        ax.set_xlabel("epoch")
        ax.set_title(title)
        ax.legend()
    return _save(fig, path)


def plot_confusion_matrix(matrix: np.ndarray, path: Path, names=DEFAULT_CATEGORIES) -> Path:
    cats = list(names)  # rows and columns: the model's labels
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8.5, 7.5))
    row_sums = matrix.sum(axis=1, keepdims=True).clip(min=1)
    normalised = matrix / row_sums
    ax.imshow(normalised, cmap="Blues", vmin=0, vmax=1)
    for i in range(len(cats)):
        for j in range(len(cats)):
            if matrix[i, j]:
                color = "white" if normalised[i, j] > 0.5 else "black"
                ax.text(j, i, str(matrix[i, j]), ha="center", va="center", color=color, fontsize=8)
    ax.set_xticks(range(len(cats)), cats, rotation=40, ha="right")
    ax.set_yticks(range(len(cats)), cats)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title("Confusion matrix (test split; colour = row share)")
    return _save(fig, path)


def plot_category_performance(per_class: dict[str, dict[str, float]], path: Path) -> Path:
    cats = list(per_class)
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(10, 4.5))
    x = np.arange(len(cats))
    width = 0.27
    for offset, metric in zip((-width, 0, width), ("precision", "recall", "f1"), strict=True):
        ax.bar(x + offset, [per_class[c][metric] for c in cats], width, label=metric)
    ax.set_xticks(x, cats, rotation=30, ha="right")
    low = min(min(per_class[c][m] for c in cats) for m in ("precision", "recall", "f1"))
    ax.set_ylim(max(0.0, low - 0.05), 1.0)
    ax.set_title("Per-category precision, recall and F1 (test split)")
    ax.legend(loc="lower right")
    return _save(fig, path)


def plot_reliability(bins: list[dict], ece: float, path: Path, ece_raw: float | None = None) -> Path:
    """Reliability diagram: accuracy against confidence per bin, with the counts below."""
    plt = _pyplot()
    fig, (ax, ax_count) = plt.subplots(2, 1, figsize=(6, 7), gridspec_kw={"height_ratios": [3, 1]},
                                       sharex=True)
    centers = [(b["low"] + b["high"]) / 2 for b in bins if b["count"]]
    accuracy = [b["accuracy"] for b in bins if b["count"]]
    confidence = [b["confidence"] for b in bins if b["count"]]
    ax.plot([0, 1], [0, 1], ":", color="grey", label="perfect calibration")
    ax.bar(centers, accuracy, width=1 / len(bins), edgecolor="black", alpha=0.7, label="accuracy")
    ax.plot(confidence, accuracy, "o-", color="#c44e52", label="mean confidence vs accuracy")
    title = f"Reliability diagram (test), ECE = {ece:.4f}"
    if ece_raw is not None:
        title += f" (before temperature: {ece_raw:.4f})"
    ax.set_title(title, fontsize=10)
    ax.set_ylabel("accuracy")
    ax.legend(loc="upper left", fontsize=8)
    ax_count.bar([(b["low"] + b["high"]) / 2 for b in bins], [b["count"] for b in bins],
                 width=1 / len(bins), color="#4c72b0")
    ax_count.set_yscale("log")
    ax_count.set_xlabel("confidence")
    ax_count.set_ylabel("images")
    return _save(fig, path)


def plot_error_examples(x: np.ndarray, errors: list[dict], confusions: list[dict], path: Path,
                        pairs: int = 4, per_pair: int = 8) -> Path:
    """The most confident mistakes of the most frequent confusions, as the model saw them:
    a person can tell model errors from label noise at a glance."""
    plt = _pyplot()
    shown = list(confusions[:pairs]) or [{"true": "-", "predicted": "-", "count": 0}]
    fig, axes = plt.subplots(len(shown), per_pair, figsize=(1.5 * per_pair, 2.3 * len(shown)), squeeze=False)
    for row, pair in zip(axes, shown, strict=True):
        examples = [e for e in errors if (e["true"], e["predicted"]) == (pair["true"], pair["predicted"])]
        for col, ax in enumerate(row):
            ax.axis("off")
            if col < len(examples):
                ax.imshow(x[examples[col]["index"]].astype(np.uint8))
                ax.set_title(f"id {examples[col]['id']}\np={examples[col]['confidence']:.2f}", fontsize=7)
        row[0].text(-0.1, 0.5, f"true {pair['true']}\n-> {pair['predicted']}\n({pair['count']} images)",
                    transform=row[0].transAxes, ha="right", va="center", fontsize=8)
    fig.suptitle("Most confident test-split errors of the most frequent confusions", fontsize=10)
    return _save(fig, path)


def plot_other_scores(in_scores: np.ndarray, groups: dict[str, np.ndarray], threshold: float | None,
                      path: Path) -> Path:
    """P(Other) of in-scope test photos against other-type photos: how far apart they are."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(9, 4.5))
    bins = np.linspace(0, 1, 41)
    ax.hist(in_scores, bins=bins, density=True, alpha=0.6, label=f"our categories (test, {len(in_scores)})",
            color="#4c72b0")
    for (name, scores), colour in zip(groups.items(), ("#c44e52", "#dd8452", "#8172b2", "#55a868"),
                                      strict=False):
        if len(scores):
            ax.hist(scores, bins=bins, density=True, histtype="step", linewidth=2,
                    label=f"{name} ({len(scores)})", color=colour)
    if threshold is not None:
        ax.axvline(threshold, color="black", linestyle=":", label=f"Other threshold {threshold:.2f}")
    ax.set_yscale("log")
    ax.set_xlabel(f"P({OTHER})")
    ax.set_ylabel("density (log)")
    ax.set_title(f"Score distributions in and out of scope: P({OTHER})")
    ax.legend(fontsize=8)
    return _save(fig, path)

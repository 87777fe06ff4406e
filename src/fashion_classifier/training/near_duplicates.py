"""Label check: near-identical train/test photos, and whether their labels agree.

Byte-identical copies are grouped by data preparation; this looks for the same photo
re-encoded or slightly shifted (grey 32x24 thumbnails, cosine similarity). It answers
"are the test errors copies of mislabelled training photos?" with numbers.
``python -m fashion_classifier.training.near_duplicates --help``
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import numpy as np

from ..config import load_config
from ..labels import CATEGORIES
from .arrays import load_split_arrays, split_records

SIZE = (160, 120)  # the shipped model's input: its arrays are usually cached already


def thumbnails(x: np.ndarray) -> np.ndarray:
    """N x 160 x 120 x 3 uint8 -> unit-length, mean-free grey 32x24 vectors."""
    grey = x.astype(np.float32).mean(-1)
    small = grey.reshape(len(grey), 32, 5, 24, 5).mean((2, 4)).reshape(len(grey), -1)
    small -= small.mean(1, keepdims=True)
    return small / (np.linalg.norm(small, axis=1, keepdims=True) + 1e-6)


def check(test_x, test_y, train_x, train_y, errors: list[dict], ids: list[str], threshold: float) -> dict:
    sims = thumbnails(test_x) @ thumbnails(train_x).T
    best, score = sims.argmax(1), sims.max(1)
    close = score >= threshold
    row = {i: n for n, i in enumerate(ids)}
    backing = sum(CATEGORIES.index(e["predicted"]) in set(train_y[sims[row[e["id"]]] >= threshold])
                  for e in errors)
    return {"threshold": threshold, "test_photos_with_a_near_copy": int(close.sum()),
            "of_those_labelled_differently": int((train_y[best[close]] != test_y[close]).sum()),
            "errors": len(errors), "errors_with_a_near_copy_labelled_as_predicted": int(backing)}


def main(argv=None) -> int:
    config = load_config()
    parser = argparse.ArgumentParser(prog="python -m fashion_classifier.training.near_duplicates",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--errors", type=Path, default=config.path("results_dir") / "test_errors.csv",
                        help="misclassified test photos, from the evaluation (default: %(default)s)")
    parser.add_argument("--threshold", type=float, default=0.99,
                        help="cosine similarity (default: %(default)s)")
    args = parser.parse_args(argv)
    common = dict(dataset_dir=config.path("dataset_dir"), size=SIZE, cache_dir=config.path("cache_dir"))
    train_x, train_y = load_split_arrays(config.path("splits_dir"), "train", **common)
    test_x, test_y = load_split_arrays(config.path("splits_dir"), "test", **common)
    ids = [r.id for r in split_records(config.path("splits_dir"), "test")]
    with open(args.errors, newline="", encoding="utf-8") as handle:
        errors = list(csv.DictReader(handle))
    result = check(test_x, test_y, train_x, train_y, errors, ids, args.threshold)
    for key, value in result.items():
        print(f"{key}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

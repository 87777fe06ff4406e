"""Retrain with the clerks' corrections into a candidate version; the version in service is untouched.

1. export every standing review decision (not undone; corrections, confirmations and
   "not ours" alike) to ``data/corrections/`` (one row per photo content);
2. drop those whose photo is in the validation or test splits (the gate's figures stay
   comparable) and hold back a fixed share, chosen by content hash, for the gate;
3. train from the version in service (its backbone and head) on the training split, the
   other types and the remaining corrections;
4. write the candidate into ``models/versions/<version>/`` with its evaluation on the fixed
   test split and out-of-scope hold-out.

Promote it with ``python -m fashion_classifier.models promote <version>``.
``python -m fashion_classifier.training.retrain --help``
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import logging
import shutil
import sys
from contextlib import closing
from pathlib import Path

from ..config import Config, load_config
from ..data.other import read_other_split
from ..data.prepare import Record, read_split
from ..history import HistoryDB
from ..labels import OTHER
from ..models.store import ModelStore
from ..review import export_corrections
from .arrays import load_arrays

log = logging.getLogger(__name__)
HOLDOUT_CSV = "corrections_holdout.csv"


def held_back(sha256: str, share: float) -> bool:
    """A fixed, content-based choice: the same photo is held back in every retrain."""
    return int(hashlib.sha256(("holdout:" + sha256).encode()).hexdigest()[:8], 16) / 0xFFFFFFFF < share


def protected_hashes(config: Config) -> set[str]:
    """Photos of the validation and test splits (in scope and other types): never trained on."""
    hashes = {r.sha256 for name in ("val", "test") for r in read_split(config.path("splits_dir"), name)}
    for name in ("val", "test", "heldout", "family"):
        hashes |= {r.sha256 for r in read_other_split(config.path("other_splits_dir"), name)}
    return hashes


def split_corrections(records: list[Record], labels, protected: set[str], share: float):
    """(for training, held back, dropped with reasons)."""
    train, holdout, dropped = [], [], []
    for r in records:
        if r.label not in labels:
            dropped.append((r, f"label {r.label!r} is not one of this model's answers"))
        elif r.sha256 and r.sha256 in protected:
            dropped.append((r, "photo is in the validation or test split"))
        elif held_back(r.sha256 or r.id, share):
            holdout.append(r)
        else:
            train.append(r)
    return train, holdout, dropped


def write_holdout(path: Path, records: list[Record], photos_dir: Path) -> None:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(("id", "path", "label", "sha256"))
        for r in records:
            writer.writerow((r.id, str((photos_dir / r.path).resolve()), r.label, r.sha256))


def run(config: Config, args) -> Path:
    from .evaluate import evaluate_and_record
    from .export import read_card
    from .train import Plan
    from .train import run as train_run

    store = ModelStore.of(config)
    base = store.current()
    card = base.card
    labels = tuple(card["labels"])
    categories = tuple(label for label in labels if label != OTHER)
    corrections_dir = config.path("corrections_dir")
    with closing(HistoryDB(config.path("history_db"))) as db:
        exported = export_corrections(db, corrections_dir)
    records = read_split(corrections_dir, "corrections") if exported.rows else []
    train, holdout, dropped = split_corrections(records, labels, protected_hashes(config), args.holdout_share)
    for record, why in dropped:
        log.warning("correction %s not used: %s", record.id, why)
    print(
        f"corrections: {len(records)} standing decisions exported, {len(train)} for training, "
        f"{len(holdout)} held back for the gate, {len(dropped)} not used"
    )
    size = tuple(card["input_size"]["hw"])
    extra = ()
    if train:  # weighted like any training photo (stage 1 adds the mirrored view itself)
        extra = (
            load_arrays(
                train, corrections_dir, size, config.path("cache_dir"), label="corrections", labels=labels
            ),
        )
    staging = store.root / "versions" / f".retrain-{base.name}"
    shutil.rmtree(staging, ignore_errors=True)
    plan = Plan(
        categories, OTHER in labels, args.other_weight, base.folder, args.target_precision, extra_train=extra
    )
    train_run(
        config,
        size,
        args.head_epochs,
        args.epochs,
        args.from_block,
        args.lr,
        args.limit,
        staging,
        staging / "plots",
        plan=plan,
        mirror=card.get("test_time_augmentation") == "hflip",
    )
    write_holdout(staging / HOLDOUT_CSV, holdout, corrections_dir)
    # always on the whole fixed test split and hold-out: the gate compares like with like
    evaluate_and_record(
        config,
        staging,
        staging / "plots",
        keras_parity=False,
        out=staging / "evaluation.json",
    )
    final = store.new_version_folder(read_card(staging)["version"])
    staging.rename(final)
    print(f"candidate {final.name} written to {final} (in service: {base.name}, untouched)")
    print(f"next: python -m fashion_classifier.models promote {final.name}")
    return final


def main(argv=None) -> int:
    config = load_config()
    parser = argparse.ArgumentParser(
        prog="python -m fashion_classifier.training.retrain", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--epochs", type=int, default=1, help="fine-tuning epochs (0: head only; default: %(default)s)"
    )
    parser.add_argument("--head-epochs", type=int, default=10)
    parser.add_argument(
        "--from-block", type=int, default=12, help="fine-tune from this block (default: %(default)s)"
    )
    parser.add_argument("--lr", type=float, default=5e-5)
    parser.add_argument("--other-weight", type=float, default=1.0)
    parser.add_argument("--target-precision", type=float, default=0.99)
    parser.add_argument(
        "--holdout-share",
        type=float,
        default=0.2,
        help="share of the corrections held back for the gate (default: %(default)s)",
    )
    parser.add_argument(
        "--limit", type=int, default=None,
        help="train on at most this many split images (smoke runs; evaluation is always whole)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    run(config, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())

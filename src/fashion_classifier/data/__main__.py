"""``python -m fashion_classifier.data``: verify the dataset and write the splits."""

from __future__ import annotations

import argparse
import logging
import sys

from ..config import load_config
from ..labels import DEFAULT_CATEGORIES, parse_categories
from .other import prepare_other
from .prepare import format_counts, prepare


def main(argv: list[str] | None = None) -> int:
    config = load_config()
    parser = argparse.ArgumentParser(
        prog="python -m fashion_classifier.data",
        description="Verify every image of the Kaggle layout (styles.csv + images/), keep the "
                    "ten categories, group byte-identical images, and write a stratified "
                    "70/15/15 split to data/splits/*.csv with a class-distribution plot.")
    parser.add_argument("--dataset-dir", type=str, default=str(config.path("dataset_dir")),
                        help="folder with styles.csv and images/ (default: %(default)s)")
    parser.add_argument("--out", type=str, default=str(config.path("splits_dir")),
                        help="where the split CSVs go (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=config.seed, help="split seed (default: %(default)s)")
    parser.add_argument("--categories", type=parse_categories, default=DEFAULT_CATEGORIES,
                        help="comma-separated article types to train on (default: the ten)")
    parser.add_argument("--other", action="store_true",
                        help="also split the other-types folder (by type, then by image) into "
                             f"{config.other_splits_dir}/ for the Other answer")
    parser.add_argument("--other-dataset-dir", default=str(config.path("other_dataset_dir")),
                        help="the other-types folder (default: %(default)s)")
    parser.add_argument("--other-out", default=str(config.path("other_splits_dir")),
                        help="where its splits go (default: %(default)s)")
    parser.add_argument("--plot", type=str,
                        default=str(config.path("visualizations_dir") / "class_distribution.png"),
                        help="class-distribution plot path; '' for none (default: %(default)s)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    from pathlib import Path

    report = prepare(Path(args.dataset_dir), Path(args.out), seed=args.seed,
                     plot_path=Path(args.plot) if args.plot else None, categories=args.categories)
    print(format_counts(report["counts"]))
    print(f"images ok: {report['images_ok']} of {report['images_listed']}; "
          f"skipped: {len(report['skipped'])}; duplicate groups: {report['duplicate_groups']}; "
          f"conflicting groups dropped: {len(report['conflicting_groups'])}")
    print(f"data hash: {report['data_hash']}")
    print(f"splits written to {args.out}")
    if args.other:
        other = prepare_other(Path(args.other_dataset_dir), Path(args.other_out), seed=args.seed,
                              exclude=args.categories)
        print("other types: " + ", ".join(f"{k} {v}" for k, v in other["images"].items())
              + f" images; written to {args.other_out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

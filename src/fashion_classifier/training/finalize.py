"""Re-calibrate a trained model without retraining it.

Loads ``models/fashion_classifier.keras``, takes the folded temperature back out,
decides mirror test-time augmentation on the val split, fits and folds a new
temperature, re-exports every artifact and re-evaluates on the test split.
``python -m fashion_classifier.training.finalize --help``
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from ..config import load_config
from ..labels import OTHER
from .arrays import load_split_arrays
from .export import read_card, save_all
from .model import fold_temperature
from .tf_setup import init_tensorflow
from .train import calibrate


def main(argv=None) -> int:
    config = load_config()
    parser = argparse.ArgumentParser(prog="python -m fashion_classifier.training.finalize",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--models", default=str(config.path("models_dir")), help="artifact folder")
    parser.add_argument("--plots", default=str(config.path("visualizations_dir")))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    tf, keras = init_tensorflow(config.seed)
    models_dir = Path(args.models)
    card = read_card(models_dir)
    model = keras.saving.load_model(str(models_dir / "fashion_classifier.keras"), compile=False)
    fold_temperature(model, 1.0 / card["temperature"])  # back to the raw logits
    size = tuple(card["input_size"]["hw"])
    labels = tuple(card["labels"])
    if OTHER in labels:
        raise SystemExit("finalize re-calibrates a closed-set model; retrain an open-world model with "
                         "python -m fashion_classifier.training.train (its calibration fits Other too)")
    val = load_split_arrays(config.path("splits_dir"), "val", config.path("dataset_dir"), size,
                            cache_dir=config.path("cache_dir"), labels=labels)
    training = dict(card["training"], **calibrate(tf, model, val)[0])
    new_card = save_all(model, size, config, models_dir, training, labels=labels)
    print(f"model {new_card['version']} written to {models_dir}")
    from .evaluate import evaluate_and_record

    evaluate_and_record(config, models_dir, Path(args.plots))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Train, calibrate, export and evaluate the classifier.

Stage 1 trains the softmax head on cached backbone features (frozen backbone:
minutes). Stage 2 fine-tunes the top blocks with augmentation, BatchNorm kept
in inference mode. Temperature scaling is fitted on the validation split and
folded into the head, then the model is exported to LiteRT and evaluated on
the test split through the same Predictor that serves it.
``python -m fashion_classifier.training.train --help``
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from ..config import Config, load_config
from ..labels import CATEGORIES
from .arrays import load_split_arrays
from .resolution import parse_size
from .tf_setup import init_tensorflow

log = logging.getLogger(__name__)


def augmenter(keras, size):
    """Training-only augmentation; fills with white like the studio background."""
    fill = dict(fill_mode="constant", fill_value=255.0)
    return keras.Sequential([
        keras.layers.RandomFlip("horizontal"),
        keras.layers.RandomTranslation(0.08, 0.08, **fill),
        keras.layers.RandomZoom((-0.15, 0.1), **fill),
        keras.layers.RandomRotation(0.03, **fill),
        keras.layers.RandomBrightness(0.15, value_range=(0, 255)),
        keras.layers.RandomContrast(0.15),
    ], name="augment")


def train_head(tf, keras, model, features, labels, val_features, val_labels, epochs, seed):
    """Stage 1: softmax head on cached pooled features; weights copied into ``model``."""
    head = keras.Sequential([
        keras.Input(shape=(features.shape[1],)),
        keras.layers.Dropout(0.2),
        keras.layers.Dense(len(CATEGORIES), activation="softmax"),
    ])
    head.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy",
                 metrics=["accuracy"])
    stop = keras.callbacks.EarlyStopping("val_accuracy", patience=6, restore_best_weights=True)
    history = head.fit(features, labels, validation_data=(val_features, val_labels), epochs=epochs,
                       batch_size=128, shuffle=True, callbacks=[stop], verbose=2)
    model.get_layer("head").set_weights(head.layers[-1].get_weights())
    return history.history


def dataset(tf, x, y, batch, augment=None, shuffle=False, seed=0, mirror=False, one_hot=False):
    """uint8 arrays -> float batches, converted per batch (the float copy of the whole
    training set would take gigabytes). ``one_hot`` for losses with label smoothing."""
    ds = tf.data.Dataset.from_tensor_slices((x, y))
    if shuffle:
        ds = ds.shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch)
    ds = ds.map(lambda a, b: (tf.cast(a, tf.float32), b), num_parallel_calls=tf.data.AUTOTUNE)
    if mirror:
        ds = ds.map(lambda a, b: (tf.reverse(a, axis=[2]), b))
    if one_hot:
        ds = ds.map(lambda a, b: (a, tf.one_hot(b, len(CATEGORIES))))
    if augment is not None:
        ds = ds.map(lambda a, b: (tf.clip_by_value(augment(a, training=True), 0.0, 255.0), b),
                    num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE)


def fine_tune(tf, keras, model, train, val, size, first_block, epochs, lr, seed, smoothing=0.0):
    """Stage 2: unfreeze from ``block_<first_block>``, cosine-decayed AdamW, best-on-val kept.

    Label ``smoothing`` > 0 keeps the net from driving ambiguous pairs (Tops/Tshirts)
    to certainty on noisy labels; temperature scaling re-calibrates afterwards."""
    from .model import set_trainable_from

    count = set_trainable_from(model, first_block)
    log.info("fine-tuning %d backbone layers from block_%d for %d epochs", count, first_block, epochs)
    steps = int(np.ceil(len(train[0]) / 64)) * epochs
    schedule = keras.optimizers.schedules.CosineDecay(lr, steps, warmup_target=None)
    one_hot = smoothing > 0
    loss = (keras.losses.CategoricalCrossentropy(label_smoothing=smoothing) if one_hot
            else "sparse_categorical_crossentropy")
    model.compile(optimizer=keras.optimizers.AdamW(schedule, weight_decay=1e-4),
                  loss=loss, metrics=["accuracy"])
    stop = keras.callbacks.EarlyStopping("val_accuracy", patience=epochs, restore_best_weights=True)
    history = model.fit(dataset(tf, *train, 64, augmenter(keras, size), shuffle=True, seed=seed,
                                one_hot=one_hot),
                        validation_data=dataset(tf, *val, 128, one_hot=one_hot), epochs=epochs,
                        callbacks=[stop], verbose=2)
    return history.history


def calibrate(tf, model, val, allow_mirror: bool = True) -> dict:
    """Decide mirror test-time augmentation on val accuracy, then fit and fold the temperature."""
    from .calibration import fit_temperature
    from .model import fold_temperature

    plain = model.predict(dataset(tf, *val, 128), verbose=0)
    mirror = model.predict(dataset(tf, *val, 128, mirror=True), verbose=0)
    acc_plain = float((plain.argmax(1) == val[1]).mean())
    acc_hflip = float(((plain + mirror).argmax(1) == val[1]).mean())
    use_flip = allow_mirror and acc_hflip > acc_plain
    temperature = fit_temperature([plain, mirror] if use_flip else plain, val[1])
    log.info("val accuracy %.4f, with mirror averaging %.4f -> %s; temperature %.3f", acc_plain, acc_hflip,
             "mirror averaging on" if use_flip else "single view", temperature)
    fold_temperature(model, temperature)
    return {"temperature": temperature, "test_time_augmentation": "hflip" if use_flip else "none",
            "val_accuracy_single_view": acc_plain, "val_accuracy_hflip": acc_hflip}


def run(config: Config, size: tuple[int, int], head_epochs: int, tune_epochs: int, first_block: int,
        lr: float, train_limit: int | None, out_dir: Path, plots_dir: Path,
        smoothing: float = 0.0) -> dict:
    from . import export
    from .model import build_classifier, feature_extractor

    tf, keras = init_tensorflow(config.seed)
    started = time.time()
    common = dict(dataset_dir=config.path("dataset_dir"), size=size, cache_dir=config.path("cache_dir"))
    splits_dir = config.path("splits_dir")
    train = load_split_arrays(splits_dir, "train", limit=train_limit, seed=config.seed, **common)
    val = load_split_arrays(splits_dir, "val", limit=train_limit, seed=config.seed, **common)
    weights_dir = config.weights_dir if config.weights_dir.is_absolute() else config.root / config.weights_dir
    model = build_classifier(size, weights_dir)

    log.info("stage 1: caching backbone features (train with mirrored copies, val)")
    extractor = feature_extractor(model)
    f_train = np.concatenate([extractor.predict(dataset(tf, *train, 128, mirror=m), verbose=2)
                              for m in (False, True)])
    f_val = extractor.predict(dataset(tf, *val, 128), verbose=2)
    history = train_head(tf, keras, model, f_train, np.concatenate([train[1], train[1]]),
                         f_val, val[1], head_epochs, config.seed)
    head_epochs_run = len(history["loss"])

    if tune_epochs > 0:
        log.info("stage 2: fine-tuning with augmentation")
        tuned = fine_tune(tf, keras, model, train, val, size, first_block, tune_epochs, lr, config.seed,
                          smoothing)
        for key in history:
            history[key] = list(history[key]) + list(tuned.get(key, []))

    calibration = calibrate(tf, model, val)

    from .plots import plot_training_history

    plot_training_history(history, plots_dir / "training_history.png", stage_boundary=head_epochs_run)
    training_facts = {
        "seconds": round(time.time() - started, 1),
        "head_epochs": head_epochs_run, "fine_tune_epochs": tune_epochs,
        "fine_tune_from_block": first_block, "learning_rate": lr, "label_smoothing": smoothing,
        "seed": config.seed,
        "train_images": int(len(train[0])), "val_images": int(len(val[0])),
        "final_val_accuracy": float(history["val_accuracy"][-1]),
        "best_val_accuracy": float(max(history["val_accuracy"])),
        **calibration,
        "history": {k: [float(v) for v in vals] for k, vals in history.items()},
    }
    return export.save_all(model, size, config, out_dir, training_facts)


def main(argv=None) -> int:
    config = load_config()
    parser = argparse.ArgumentParser(prog="python -m fashion_classifier.training.train",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--size", default="160x120", help="input HEIGHTxWIDTH (default: %(default)s)")
    parser.add_argument("--head-epochs", type=int, default=40)
    parser.add_argument("--epochs", type=int, default=12, help="fine-tuning epochs (0: head only)")
    parser.add_argument("--from-block", type=int, default=0,
                        help="fine-tune MobileNetV2 blocks from this one up (0..16, default: %(default)s)")
    parser.add_argument("--lr", type=float, default=2e-4, help="peak fine-tuning learning rate")
    parser.add_argument("--label-smoothing", type=float, default=0.0,
                        help="label smoothing during fine-tuning (default: %(default)s)")
    parser.add_argument("--limit", type=int, default=None,
                        help="use at most this many train/val images (smoke runs)")
    parser.add_argument("--out", default=str(config.path("models_dir")), help="artifact folder")
    parser.add_argument("--plots", default=str(config.path("visualizations_dir")))
    parser.add_argument("--seed", type=int, default=config.seed)
    parser.add_argument("--no-evaluate", action="store_true", help="skip the test-split evaluation")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    config = replace(config, seed=args.seed)
    out_dir, plots_dir = Path(args.out), Path(args.plots)
    card = run(config, parse_size(args.size), args.head_epochs, args.epochs, args.from_block, args.lr,
               args.limit, out_dir, plots_dir, args.label_smoothing)
    print(f"model {card['version']} written to {out_dir}")
    if not args.no_evaluate:
        from .evaluate import evaluate_and_record

        evaluate_and_record(config, out_dir, plots_dir, limit=args.limit)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Train, calibrate, export and evaluate the classifier.

The categories are an option (default: the ten); with the other article types
prepared (``python -m fashion_classifier.data --other``) the model gets one more
output, ``Other``, taught by outlier exposure: photos of article types that are
none of ours, labelled Other. Stage 1 trains the softmax head on cached backbone
features (frozen backbone: minutes). Stage 2 fine-tunes the backbone with
augmentation, BatchNorm kept in inference mode. ``--init-from`` starts from a
trained model instead of ImageNet (its backbone and the head columns of the
categories it shares). Temperature scaling is fitted on the validation split and
folded into the head; the open-world rule (a P(Other) threshold) and the
auto-approve lines for a target precision are fitted on validation data and
recorded in the model card. The model is exported to LiteRT and evaluated
through the same Predictor that serves it.
``python -m fashion_classifier.training.train --help``
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from ..config import Config, load_config
from ..labels import DEFAULT_CATEGORIES, OTHER, parse_categories
from .arrays import load_other_arrays, load_split_arrays
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


def train_head(tf, keras, model, features, labels, val_features, val_labels, epochs, seed,
               class_weight=None):
    """Stage 1: softmax head on cached pooled features (starting from the model's head);
    weights copied into ``model``."""
    outputs = model.get_layer("head").get_weights()[1].shape[0]
    head = keras.Sequential([
        keras.Input(shape=(features.shape[1],)),
        keras.layers.Dropout(0.2),
        keras.layers.Dense(outputs, activation="softmax"),
    ])
    head.layers[-1].set_weights(model.get_layer("head").get_weights())
    head.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy",
                 metrics=["accuracy"])
    stop = keras.callbacks.EarlyStopping("val_accuracy", patience=6, restore_best_weights=True)
    history = head.fit(features, labels, validation_data=(val_features, val_labels), epochs=epochs,
                       batch_size=128, shuffle=True, callbacks=[stop], verbose=2, class_weight=class_weight)
    model.get_layer("head").set_weights(head.layers[-1].get_weights())
    return history.history


def dataset(tf, x, y, batch, augment=None, shuffle=False, seed=0, mirror=False, one_hot=0):
    """uint8 arrays -> float batches, converted per batch (the float copy of the whole
    training set would take gigabytes). ``one_hot``: the number of outputs, for losses with
    label smoothing (0: integer labels)."""
    ds = tf.data.Dataset.from_tensor_slices((x, y))
    if shuffle:
        ds = ds.shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch)
    ds = ds.map(lambda a, b: (tf.cast(a, tf.float32), b), num_parallel_calls=tf.data.AUTOTUNE)
    if mirror:
        ds = ds.map(lambda a, b: (tf.reverse(a, axis=[2]), b))
    if one_hot:
        ds = ds.map(lambda a, b: (a, tf.one_hot(b, one_hot)))
    if augment is not None:
        ds = ds.map(lambda a, b: (tf.clip_by_value(augment(a, training=True), 0.0, 255.0), b),
                    num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE)


def fine_tune(tf, keras, model, train, val, size, first_block, epochs, lr, seed, smoothing=0.0,
              class_weight=None):
    """Stage 2: unfreeze from ``block_<first_block>``, cosine-decayed AdamW, best-on-val kept.

    Label ``smoothing`` > 0 keeps the net from driving ambiguous pairs (Tops/Tshirts)
    to certainty on noisy labels; temperature scaling re-calibrates afterwards."""
    from .model import set_trainable_from

    count = set_trainable_from(model, first_block)
    log.info("fine-tuning %d backbone layers from block_%d for %d epochs", count, first_block, epochs)
    steps = int(np.ceil(len(train[0]) / 64)) * epochs
    schedule = keras.optimizers.schedules.CosineDecay(lr, steps, warmup_target=None)
    one_hot = model.get_layer("head").get_weights()[1].shape[0] if smoothing > 0 else 0
    loss = (keras.losses.CategoricalCrossentropy(label_smoothing=smoothing) if one_hot
            else "sparse_categorical_crossentropy")
    model.compile(optimizer=keras.optimizers.AdamW(schedule, weight_decay=1e-4),
                  loss=loss, metrics=["accuracy"])
    stop = keras.callbacks.EarlyStopping("val_accuracy", patience=epochs, restore_best_weights=True)
    history = model.fit(dataset(tf, *train, 64, augmenter(keras, size), shuffle=True, seed=seed,
                                one_hot=one_hot),
                        validation_data=dataset(tf, *val, 128, one_hot=one_hot), epochs=epochs,
                        callbacks=[stop], verbose=2, class_weight=None if one_hot else class_weight)
    return history.history


def calibrate(tf, model, val, allow_mirror: bool = True) -> tuple[dict, np.ndarray]:
    """Decide mirror test-time augmentation on val accuracy, then fit and fold the temperature.

    Returns the facts for the card and the val probabilities as the calibrated model
    gives them (the open-world fit reuses them instead of predicting val again)."""
    from ..model import TierPolicy
    from .calibration import average_views, fit_temperature
    from .mirror import fit_mirror_below
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
    facts = {"temperature": temperature, "test_time_augmentation": "hflip" if use_flip else "none",
             "val_accuracy_single_view": acc_plain, "val_accuracy_hflip": acc_hflip}
    if use_flip:  # the mirror only for the photos it can change (training.mirror)
        policy = TierPolicy()
        views = average_views([plain], temperature), average_views([mirror], temperature)
        facts.update(fit_mirror_below(*views, (policy.check_threshold, policy.auto_threshold)))
        log.info("mirror view below a top probability of %s: %.1f%% of val photos", facts["mirror_below"],
                 100 * facts["val_mirrored"])
    return facts, average_views([plain, mirror] if use_flip else [plain], temperature)


@dataclass
class Plan:
    """What to train: categories, the Other output and where to start from."""
    categories: tuple[str, ...] = DEFAULT_CATEGORIES
    other: bool = True  # add the Other output (needs data/splits/other)
    other_weight: float = 1.0  # loss weight of an Other photo relative to an in-scope one
    init_from: Path | None = None  # a trained model folder to start from (its backbone)
    target_precision: float = 0.99  # auto-approve lines fitted on val for this precision
    max_val_other: float = 0.01  # in-scope val photos the Other threshold may call Other
    extra_train: tuple = ()  # more (x, y) training arrays (the clerks' corrections)

    @property
    def labels(self) -> tuple[str, ...]:
        return self.categories + ((OTHER,) if self.other else ())


def load_data(config: Config, plan: Plan, size, limit):
    """(train, val, other val records) arrays: in-scope splits plus the other types (label Other)."""
    common = dict(dataset_dir=config.path("dataset_dir"), size=size, cache_dir=config.path("cache_dir"),
                  labels=plan.categories)
    splits_dir = config.path("splits_dir")
    train = load_split_arrays(splits_dir, "train", limit=limit, seed=config.seed, **common)
    val = load_split_arrays(splits_dir, "val", limit=limit, seed=config.seed, **common)
    parts_train, parts_val = [train, *plan.extra_train], [val]
    if plan.other:
        other = len(plan.categories)
        o_train = load_other_arrays(config, "train", size, other, limit, config.seed, plan.categories)
        o_val = load_other_arrays(config, "val", size, other, limit and max(1, limit // 4), config.seed,
                                  plan.categories)
        if not len(o_train[0]) or not len(o_val[0]):
            raise SystemExit(f"no other-type photos in {config.path('other_splits_dir')}: run "
                             "python -m fashion_classifier.data --other (or train with --no-other)")
        parts_train.append(o_train[:2])
        parts_val.append(o_val[:2])
    join = lambda parts: (np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]))  # noqa: E731
    return join(parts_train), join(parts_val), len(val[0])


def initial_model(keras, config: Config, plan: Plan, size):
    from .export import read_card
    from .model import build_classifier, start_from

    weights_dir = config.weights_dir if config.weights_dir.is_absolute() else config.root / config.weights_dir
    model = build_classifier(size, weights_dir, outputs=len(plan.labels))
    if plan.init_from:
        card = read_card(plan.init_from)
        if tuple(card["input_size"]["hw"]) != tuple(size):
            raise SystemExit(f"--init-from {plan.init_from} has input {card['input_size']['hw']}, not {size}")
        previous = keras.saving.load_model(str(Path(plan.init_from) / "fashion_classifier.keras"),
                                           compile=False)
        copied = start_from(model, previous, card["labels"], plan.labels,
                            float(card.get("temperature", 1.0)))
        log.info("started from %s (%s): backbone and %d head columns", plan.init_from, card["version"],
                 copied)
    return model


def class_weights(plan: Plan) -> dict[int, float] | None:
    return {len(plan.categories): plan.other_weight} if plan.other and plan.other_weight != 1.0 else None


def run(config: Config, size: tuple[int, int], head_epochs: int, tune_epochs: int, first_block: int,
        lr: float, train_limit: int | None, out_dir: Path, plots_dir: Path,
        smoothing: float = 0.0, plan: Plan | None = None, mirror: bool = True) -> dict:
    from . import export
    from .model import feature_extractor

    plan = plan or Plan()
    tf, keras = init_tensorflow(config.seed)
    started = time.time()
    train, val, val_in_scope = load_data(config, plan, size, train_limit)
    model = initial_model(keras, config, plan, size)
    weights = class_weights(plan)

    log.info("stage 1: caching backbone features (train with mirrored copies, val)")
    from .features import LiteFeatures

    extract = LiteFeatures(feature_extractor(model))
    f_train = np.concatenate([extract(train[0], mirror=m, label="train features" + " (mirrored)" * m)
                              for m in (False, True)])
    f_val = extract(val[0], label="val features")
    history = train_head(tf, keras, model, f_train, np.concatenate([train[1], train[1]]),
                         f_val, val[1], head_epochs, config.seed, weights)
    head_epochs_run = len(history["loss"])

    if tune_epochs > 0:
        log.info("stage 2: fine-tuning with augmentation")
        tuned = fine_tune(tf, keras, model, train, val, size, first_block, tune_epochs, lr, config.seed,
                          smoothing, weights)
        for key in history:
            history[key] = list(history[key]) + list(tuned.get(key, []))

    calibration, val_probs = calibrate(tf, model, val, allow_mirror=mirror)
    open_world = fit_open_world(val_probs, val[1], val_in_scope, plan, config) if plan.other else None

    from .plots import plot_training_history

    plot_training_history(history, plots_dir / "training_history.png", stage_boundary=head_epochs_run)
    training_facts = {
        "seconds": round(time.time() - started, 1),
        "head_epochs": head_epochs_run, "fine_tune_epochs": tune_epochs,
        "fine_tune_from_block": first_block, "learning_rate": lr, "label_smoothing": smoothing,
        "seed": config.seed, "categories": list(plan.categories),
        "other_weight": plan.other_weight if plan.other else None,
        "init_from": str(plan.init_from) if plan.init_from else None,
        "extra_train_images": int(sum(len(x) for x, _ in plan.extra_train)),
        "train_images": int(len(train[0])), "val_images": int(len(val[0])),
        "final_val_accuracy": float(history["val_accuracy"][-1]),
        "best_val_accuracy": float(max(history["val_accuracy"])),
        **calibration,
        "history": {k: [float(v) for v in vals] for k, vals in history.items()},
    }
    extra = {"open_world": open_world} if open_world else {}
    return export.save_all(model, size, config, out_dir, training_facts, labels=plan.labels, extra=extra)


def fit_open_world(probs: np.ndarray, labels: np.ndarray, val_in_scope: int, plan: Plan,
                   config: Config) -> dict:
    """The Other threshold and the target-precision auto-approve lines, fitted on the calibrated
    val probabilities (in-scope photos first, then the other types)."""
    from ..data.other import HELD_OUT_TYPES, LOOKALIKES, SAME_FAMILY, other_data_hash
    from ..model.tiers import TierPolicy
    from . import openworld

    other = len(plan.categories)
    p_in, y_in, p_out = probs[:val_in_scope], labels[:val_in_scope], probs[val_in_scope:]
    threshold = openworld.fit_other_threshold(p_in, p_out, other, plan.max_val_other)
    lines = openworld.fit_auto_lines(p_in, y_in, p_out, other, plan.categories, plan.target_precision,
                                     config.auto_threshold, threshold)
    policy = TierPolicy(config.auto_threshold, config.check_threshold)
    return {
        "method": "outlier exposure: an Other output trained on photos of article types that are none of "
                  "ours; Other when it is the likeliest output or P(Other) reaches other_threshold",
        "other_threshold": threshold,
        "other_threshold_rule": f"lowest P(Other) calling at most {plan.max_val_other:.0%} of in-scope "
                                "val photos Other",
        "auto_approve": {"target_precision": plan.target_precision, "auto": config.auto_threshold,
                         "per_category": lines,
                         "fitted_on": f"val mix, {openworld.MIX_IN_PER_OUT} in-scope photos per other one"},
        "val": {"in_scope": openworld.in_scope_rates(p_in, y_in, other, policy, plan.categories, threshold),
                "other_types": openworld.rates_out(p_out, other, policy, plan.categories, threshold)},
        "held_out_types": list(HELD_OUT_TYPES), "same_family": SAME_FAMILY, "lookalikes": LOOKALIKES,
        "other_data_hash": other_data_hash(config.path("other_splits_dir")),
    }


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
    parser.add_argument("--categories", type=parse_categories, default=DEFAULT_CATEGORIES,
                        help="comma-separated categories, as prepared in the splits (default: the ten)")
    parser.add_argument("--no-other", dest="other", action="store_false",
                        help="no Other output (a closed-set model, as before the open-world work)")
    parser.add_argument("--other-weight", type=float, default=1.0,
                        help="loss weight of an Other photo (default: %(default)s)")
    parser.add_argument("--init-from", type=Path, default=None,
                        help="start from this trained model folder instead of ImageNet")
    parser.add_argument("--target-precision", type=float, default=0.99,
                        help="auto-approve lines fitted on val for this precision, recorded in the card "
                             "and used with FASHION_TIER_MODE=precision (default: %(default)s)")
    parser.add_argument("--no-mirror", dest="mirror", action="store_false",
                        help="never average with the mirror image at test time (half the latency)")
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
    plan = Plan(args.categories, args.other, args.other_weight, args.init_from, args.target_precision)
    card = run(config, parse_size(args.size), args.head_epochs, args.epochs, args.from_block, args.lr,
               args.limit, out_dir, plots_dir, args.label_smoothing, plan, mirror=args.mirror)
    print(f"model {card['version']} written to {out_dir}")
    if not args.no_evaluate:
        from .evaluate import evaluate_and_record

        evaluate_and_record(config, out_dir, plots_dir, limit=args.limit)
    return 0


if __name__ == "__main__":
    sys.exit(main())

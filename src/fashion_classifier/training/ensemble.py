"""Combine trained models into one graph that averages their logits.

Each member is an artifact folder written by ``training.train``. The combined model
takes the largest member's input size and resizes the image inside the graph for the
smaller members, so the Predictor still feeds one array and the preprocessing stays
in one place. The members' heads become one dense layer over their concatenated
features, softmax(mean of the members' logits), a plain Keras graph that exports to
LiteRT like a single model; the temperature is then fitted and folded on val as usual.
``python -m fashion_classifier.training.ensemble --help``
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import numpy as np

from ..config import load_config
from ..labels import OTHER
from .arrays import load_split_arrays
from .export import KERAS_NAME, read_card, save_all

log = logging.getLogger(__name__)


def member_features(keras, model, name: str):
    """Image -> pooled features of one trained member (its own graph, renamed to be unique)."""
    return keras.Model(model.input, model.get_layer("head_dropout").input, name=name)


def merged_head_weights(heads: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """One dense layer over [f_1, ..., f_k] whose logits are the mean of the members' logits."""
    k = len(heads)
    kernel = np.concatenate([w for w, _ in heads], axis=0) / k
    bias = np.sum([b for _, b in heads], axis=0) / k
    return kernel, bias


def build_ensemble(keras, members: list, sizes: list[tuple[int, int]]):
    size = max(sizes, key=lambda s: s[0] * s[1])
    inputs = keras.Input(shape=(size[0], size[1], 3), name="image")
    features = []
    for i, (model, (h, w)) in enumerate(zip(members, sizes, strict=True)):
        x = inputs if (h, w) == size else keras.layers.Resizing(h, w, name=f"resize_{h}x{w}_{i}")(inputs)
        features.append(member_features(keras, model, f"member_{i}_{h}x{w}")(x))
    joined = keras.layers.Concatenate(name="features")(features)
    width = members[0].get_layer("head").get_weights()[1].shape[0]  # the members' label list
    head = keras.layers.Dense(width, activation="softmax", name="head")
    outputs = head(joined)
    ensemble = keras.Model(inputs, outputs, name="fashion_classifier_ensemble")
    head.set_weights(merged_head_weights([m.get_layer("head").get_weights() for m in members]))
    return ensemble, size


def run(config, member_dirs: list[Path], out_dir: Path, mirror: bool) -> dict:
    from .model import fold_temperature
    from .tf_setup import init_tensorflow
    from .train import calibrate

    tf, keras = init_tensorflow(config.seed)
    cards = [read_card(d) for d in member_dirs]
    labels = tuple(cards[0]["labels"])
    if any(tuple(c["labels"]) != labels for c in cards) or OTHER in labels:
        raise SystemExit("ensemble: the members must share one label list without Other "
                         "(an open-world ensemble is not supported)")
    members = []
    for directory, card in zip(member_dirs, cards, strict=True):
        model = keras.saving.load_model(str(directory / KERAS_NAME), compile=False)
        fold_temperature(model, 1.0 / card["temperature"])  # back to each member's raw logits
        members.append(model)
    sizes = [tuple(c["input_size"]["hw"]) for c in cards]
    ensemble, size = build_ensemble(keras, members, sizes)
    log.info("ensemble of %s at input %dx%d", ", ".join(c["version"] for c in cards), *size)
    val = load_split_arrays(config.path("splits_dir"), "val", config.path("dataset_dir"), size,
                            cache_dir=config.path("cache_dir"), labels=labels)
    calibration, _ = calibrate(tf, ensemble, val, allow_mirror=mirror)
    architecture = ("average of the logits of " + " and ".join(
        f"MobileNetV2 fine-tuned at {h}x{w}" for h, w in sizes) + " (one graph: the image is resized "
        "inside it for the smaller members; ImageNet weights from ../shared/weights) "
        f"+ dense softmax ({len(labels)})")
    training = {"ensemble_of": [{"version": c["version"], "input_hw": list(s), "training": c["training"]}
                                for c, s in zip(cards, sizes, strict=True)], **calibration}
    return save_all(ensemble, size, config, out_dir, training, labels=labels, architecture=architecture)


def main(argv=None) -> int:
    config = load_config()
    parser = argparse.ArgumentParser(prog="python -m fashion_classifier.training.ensemble",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("members", nargs="+", type=Path, help="artifact folders of trained models")
    parser.add_argument("--out", type=Path, default=config.path("models_dir"), help="artifact folder")
    parser.add_argument("--plots", type=Path, default=config.path("visualizations_dir"))
    parser.add_argument("--no-mirror", dest="mirror", action="store_false",
                        help="never choose mirror averaging at test time (it doubles the latency)")
    parser.add_argument("--no-evaluate", action="store_true", help="skip the test-split evaluation")
    args = parser.parse_args(argv)
    if len(args.members) < 2:
        parser.error("an ensemble needs at least two members")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    card = run(config, args.members, args.out, args.mirror)
    print(f"model {card['version']} written to {args.out}")
    if not args.no_evaluate:
        from .evaluate import evaluate_and_record

        evaluate_and_record(config, args.out, args.plots)
    return 0


if __name__ == "__main__":
    sys.exit(main())

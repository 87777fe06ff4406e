"""Write the model artifacts: Keras model, LiteRT export, labels, model card."""

from __future__ import annotations

import hashlib
import json
import logging
from datetime import UTC, datetime
from pathlib import Path

from .. import __version__
from ..labels import DEFAULT_CATEGORIES, split_labels

log = logging.getLogger(__name__)

KERAS_NAME = "fashion_classifier.keras"
TFLITE_NAME = "fashion_classifier.tflite"
LABELS_NAME = "labels.json"
CARD_NAME = "model_card.json"


def to_tflite(model) -> bytes:
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    return converter.convert()


def save_keras(model, path: Path) -> None:
    """Save weights and graph only: the optimizer state would triple the file for nothing."""
    import keras

    # saved as it is, a model compiled for fine-tuning keeps its AdamW moments (27 MB instead
    # of 9; a clone kept them too): loaded uncompiled and saved again, it holds the weights alone
    model.save(path)
    keras.saving.load_model(str(path), compile=False).save(path)


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def architecture_of(labels) -> str:
    categories, other = split_labels(labels)
    return ("MobileNetV2 (alpha 1.0, ImageNet weights from ../shared/weights) + global average pooling "
            f"+ dropout 0.2 + dense softmax ({len(categories)} categories"
            + (" + Other, trained with outlier exposure)" if other else ")"))


def save_all(model, size, config, out_dir: Path, training: dict, labels=DEFAULT_CATEGORIES,
             architecture: str | None = None, extra: dict | None = None) -> dict:
    """Every artifact and the model card. ``extra``: more card sections (open_world, data)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    save_keras(model, out_dir / KERAS_NAME)
    (out_dir / TFLITE_NAME).write_bytes(to_tflite(model))
    (out_dir / LABELS_NAME).write_text(json.dumps(list(labels), indent=2) + "\n")
    created = datetime.now(UTC)
    report_path = config.path("splits_dir") / "report.json"
    data_report = json.loads(report_path.read_text()) if report_path.is_file() else {}
    card = {
        "name": "fashion_classifier",
        "version": f"{__version__}+{size[0]}x{size[1]}.{created:%Y%m%d%H%M}",
        "created": created.isoformat(timespec="seconds"),
        "architecture": architecture or architecture_of(labels),
        "input_size": {"hw": [size[0], size[1]],
                       "note": "height x width; source photos are about 60x80 (w x h)"},
        "preprocessing": "decode (EXIF upright, any mode -> RGB, alpha on white), letterbox onto white "
                         "at the input size keeping aspect ratio (bilinear), float 0..255; the graph "
                         "scales to [-1, 1] (MobileNetV2 preprocess_input)",
        "labels": list(labels),
        "categories": list(split_labels(labels)[0]),
        "temperature": training["temperature"],
        "test_time_augmentation": training.get("test_time_augmentation", "none"),
        **({"mirror_below": training["mirror_below"]} if "mirror_below" in training else {}),
        "temperature_note": "softmax temperature fitted on val, folded into the head weights",
        "data": {"dataset": str(config.dataset_dir), "data_hash": data_report.get("data_hash"),
                 "counts": data_report.get("counts"), "split_seed": data_report.get("seed")},
        "training": {k: v for k, v in training.items() if k != "history"},
        "artifacts": {name: {"sha256": sha256(out_dir / name), "bytes": (out_dir / name).stat().st_size}
                      for name in (KERAS_NAME, TFLITE_NAME, LABELS_NAME)},
        "metrics": {},
        **(extra or {}),
    }
    write_card(out_dir, card)
    log.info("artifacts written to %s (version %s)", out_dir, card["version"])
    return card


def write_card(out_dir: Path, card: dict) -> None:
    path = Path(out_dir) / CARD_NAME
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(card, indent=2) + "\n")
    tmp.replace(path)


def read_card(out_dir: Path) -> dict:
    return json.loads((Path(out_dir) / CARD_NAME).read_text())

"""Evaluate the shipped model on the test split, through the serving Predictor.

Accuracy, per-class precision/recall/F1, macro-F1, confusion matrix, expected
calibration error, the refund tiers (coverage and accuracy), and the parity of
the LiteRT export with the Keras model. Writes ``results/evaluation.json``, the
plots, and the metrics into the model card.
``python -m fashion_classifier.training.evaluate --help``
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..config import Config, load_config
from ..data.prepare import Record
from ..labels import CATEGORIES
from ..model import TIERS, Predictor, TierPolicy
from ..model.predictor import ModelInfo
from ..progress import progress
from .arrays import load_arrays, split_records
from .calibration import expected_calibration_error, reliability_bins, rescale

log = logging.getLogger(__name__)


@dataclass
class SplitPredictions:
    """What the evaluation saw: the test records, their model inputs, labels and probabilities."""
    records: list[Record]
    x: np.ndarray
    y: np.ndarray
    probs: np.ndarray

    def errors(self) -> list[dict]:
        """Misclassified images, most confident first (the likeliest label-noise candidates)."""
        predicted, confidence = self.probs.argmax(1), self.probs.max(1)
        wrong = np.flatnonzero(predicted != self.y)
        return [{"index": int(i), "id": self.records[i].id, "path": self.records[i].path,
                 "true": CATEGORIES[self.y[i]], "predicted": CATEGORIES[predicted[i]],
                 "confidence": round(float(confidence[i]), 4)}
                for i in sorted(wrong, key=lambda i: -confidence[i])]


def write_errors_csv(errors: list[dict], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=["id", "path", "true", "predicted", "confidence"],
                                extrasaction="ignore")
        writer.writeheader()
        writer.writerows(errors)
    return path


def classification_metrics(probs: np.ndarray, labels: np.ndarray) -> dict:
    predicted = probs.argmax(axis=1)
    k = len(CATEGORIES)
    matrix = np.zeros((k, k), dtype=np.int64)
    np.add.at(matrix, (labels, predicted), 1)
    per_class = {}
    for i, name in enumerate(CATEGORIES):
        tp = matrix[i, i]
        precision = tp / max(1, matrix[:, i].sum())
        recall = tp / max(1, matrix[i, :].sum())
        f1 = 2 * precision * recall / max(1e-12, precision + recall)
        per_class[name] = {"precision": float(precision), "recall": float(recall), "f1": float(f1),
                           "support": int(matrix[i, :].sum())}
    return {
        "accuracy": float((predicted == labels).mean()),
        "macro_f1": float(np.mean([m["f1"] for m in per_class.values()])),
        "per_class": per_class,
        "confusion_matrix": matrix.tolist(),
        "images": int(len(labels)),
    }


def tier_metrics(probs: np.ndarray, labels: np.ndarray, policy: TierPolicy) -> dict:
    confidence = probs.max(axis=1)
    correct = probs.argmax(axis=1) == labels
    tiers = np.array([policy.tier(c) for c in confidence])
    out = {}
    for name in TIERS:
        inside = tiers == name
        out[name] = {"coverage": float(inside.mean()), "images": int(inside.sum()),
                     "accuracy": float(correct[inside].mean()) if inside.any() else None}
    out["thresholds"] = {"auto": policy.auto_threshold, "check": policy.check_threshold}
    return out


def top_confusions(matrix: list[list[int]], n: int = 8) -> list[dict]:
    pairs = [(matrix[i][j], CATEGORIES[i], CATEGORIES[j])
             for i in range(len(CATEGORIES)) for j in range(len(CATEGORIES)) if i != j and matrix[i][j]]
    return [{"true": t, "predicted": p, "count": c} for c, t, p in sorted(pairs, reverse=True)[:n]]


def predict_in_chunks(predictor: Predictor, x: np.ndarray, label: str, chunk: int = 256) -> np.ndarray:
    starts = range(0, len(x), chunk)
    return np.concatenate([predictor.predict_arrays(x[s:s + chunk])
                           for s in progress(starts, label, unit="chunk")])


def evaluate(config: Config, models_dir: Path, limit: int | None = None,
             keras_parity: bool = True) -> tuple[dict, SplitPredictions]:
    info = ModelInfo.load(models_dir / "labels.json", models_dir / "model_card.json")
    policy = TierPolicy(config.auto_threshold, config.check_threshold)
    predictor = Predictor(models_dir / "fashion_classifier.tflite", info, tiers=policy)
    records = split_records(config.path("splits_dir"), "test", limit, config.seed)
    x, y = load_arrays(records, config.path("dataset_dir"), predictor.input_size,
                       config.path("cache_dir"), label="test")
    probs = predict_in_chunks(predictor, x, "LiteRT on test")
    result = classification_metrics(probs, y)
    temperature = float(info.card.get("temperature", 1.0))
    result["ece"] = expected_calibration_error(probs, y)
    result["ece_before_temperature"] = expected_calibration_error(rescale(probs, 1 / temperature), y)
    result["temperature"] = temperature
    result["reliability_bins"] = reliability_bins(probs, y)
    result["tiers"] = tier_metrics(probs, y, policy)
    result["top_confusions"] = top_confusions(result["confusion_matrix"])
    result["model_version"] = info.version
    if keras_parity:
        keras_predictor = Predictor(models_dir / "fashion_classifier.keras", info, backend="keras",
                                    tiers=policy, warmup=False)
        keras_probs = predict_in_chunks(keras_predictor, x, "Keras on test")
        result["litert_vs_keras"] = {
            "top1_agreement": float((keras_probs.argmax(1) == probs.argmax(1)).mean()),
            "max_probability_difference": float(np.abs(keras_probs - probs).max()),
            "keras_accuracy": float((keras_probs.argmax(1) == y).mean()),
        }
    return result, SplitPredictions(records, x, y, probs)


def format_report(result: dict) -> str:
    lines = [f"model {result['model_version']} on {result['images']} test images",
             f"accuracy {100 * result['accuracy']:.2f} %   macro-F1 {result['macro_f1']:.4f}   "
             f"ECE {result['ece']:.4f} (before temperature {result['ece_before_temperature']:.4f}, "
             f"T={result['temperature']:.3f})",
             f"{'category':<14}{'precision':>10}{'recall':>8}{'f1':>8}{'support':>9}"]
    for name, m in result["per_class"].items():
        lines.append(f"{name:<14}{m['precision']:>10.4f}{m['recall']:>8.4f}{m['f1']:>8.4f}{m['support']:>9}")
    lines.append("refund tiers:")
    for name in TIERS:
        t = result["tiers"][name]
        acc = "-" if t["accuracy"] is None else f"{100 * t['accuracy']:.2f} %"
        lines.append(f"  {name:<7} coverage {100 * t['coverage']:6.2f} %  ({t['images']:>5})  accuracy {acc}")
    lines.append("most frequent confusions: " + ", ".join(
        f"{c['true']}->{c['predicted']} {c['count']}" for c in result["top_confusions"]))
    if "litert_vs_keras" in result:
        p = result["litert_vs_keras"]
        lines.append(f"LiteRT vs Keras: top-1 agreement {100 * p['top1_agreement']:.3f} %, "
                     f"max probability difference {p['max_probability_difference']:.2e}")
    return "\n".join(lines)


def evaluate_and_record(config: Config, models_dir: Path, plots_dir: Path, limit: int | None = None,
                        keras_parity: bool = True, out: Path | None = None) -> dict:
    from .export import read_card, write_card
    from .plots import plot_category_performance, plot_confusion_matrix, plot_error_examples, plot_reliability

    result, seen = evaluate(config, Path(models_dir), limit=limit, keras_parity=keras_parity)
    print(format_report(result))
    errors = seen.errors()
    plot_error_examples(seen.x, errors, result["top_confusions"], Path(plots_dir) / "error_examples.png")
    plot_confusion_matrix(np.array(result["confusion_matrix"]), Path(plots_dir) / "confusion_matrix.png")
    plot_category_performance(result["per_class"], Path(plots_dir) / "category_performance.png")
    plot_reliability(result["reliability_bins"], result["ece"], Path(plots_dir) / "reliability_diagram.png",
                     ece_raw=result["ece_before_temperature"])
    out = out or config.path("results_dir") / "evaluation.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    write_errors_csv(errors, out.parent / "test_errors.csv")
    card = read_card(models_dir)
    card["metrics"] = {"split": "test", "images": result["images"], "accuracy": result["accuracy"],
                       "macro_f1": result["macro_f1"], "ece": result["ece"],
                       "ece_before_temperature": result["ece_before_temperature"],
                       "per_class": result["per_class"], "tiers": result["tiers"],
                       "litert_vs_keras": result.get("litert_vs_keras")}
    write_card(models_dir, card)
    return result


def main(argv=None) -> int:
    config = load_config()
    parser = argparse.ArgumentParser(prog="python -m fashion_classifier.training.evaluate",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--models", default=str(config.path("models_dir")), help="artifact folder")
    parser.add_argument("--plots", default=str(config.path("visualizations_dir")))
    parser.add_argument("--out", default=str(config.path("results_dir") / "evaluation.json"))
    parser.add_argument("--limit", type=int, default=None, help="evaluate on a subset")
    parser.add_argument("--no-keras", action="store_true", help="skip the Keras parity check (no TF)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    evaluate_and_record(config, Path(args.models), Path(args.plots), limit=args.limit,
                        keras_parity=not args.no_keras, out=Path(args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())

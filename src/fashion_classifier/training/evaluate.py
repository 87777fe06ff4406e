"""Evaluate the shipped model on the test split, through the serving Predictor.

Accuracy, per-class precision/recall/F1, macro-F1, confusion matrix, expected
calibration error, the refund tiers (coverage and accuracy), and the parity of
the LiteRT export with the Keras model. For a model with the Other output, the
open world too: the held-out article types (never trained on) per type, the
trained other types' test share (look-alikes apart), the same-family types,
the AUROC of in against out of scope, the 3:1 open-world mix, under the fixed
thresholds and the card's target-precision lines, and a plot of the P(Other)
distributions. Writes ``results/evaluation.json``, the plots, and the metrics
into the model card.
``python -m fashion_classifier.training.evaluate --help``
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import sys
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from ..config import Config, load_config
from ..data.prepare import Record
from ..labels import DEFAULT_CATEGORIES, OTHER
from ..model import TIERS, Predictor, TierPolicy
from ..model.predictor import ModelInfo
from ..model.tiers import policy_from
from ..progress import progress
from . import openworld
from .arrays import load_arrays, load_other_arrays, split_records
from .calibration import expected_calibration_error, reliability_bins, rescale

log = logging.getLogger(__name__)


@dataclass
class SplitPredictions:
    """What the evaluation saw: the test records, their model inputs, labels and probabilities."""
    records: list[Record]
    x: np.ndarray
    y: np.ndarray
    probs: np.ndarray
    labels: tuple[str, ...] = ()
    predicted: np.ndarray | None = None  # the Predictor's answer per photo (index in labels)
    confidence: np.ndarray | None = None

    def __post_init__(self):
        self.labels = tuple(self.labels) or DEFAULT_CATEGORIES
        if self.predicted is None:
            self.predicted, self.confidence = answers(self.probs, self.labels, None)

    def errors(self) -> list[dict]:
        """Misclassified images, most confident first (the likeliest label-noise candidates)."""
        wrong = np.flatnonzero(self.predicted != self.y)
        return [{"index": int(i), "id": self.records[i].id, "path": self.records[i].path,
                 "true": self.labels[self.y[i]], "predicted": self.labels[self.predicted[i]],
                 "confidence": round(float(self.confidence[i]), 4)}
                for i in sorted(wrong, key=lambda i: -self.confidence[i])]


def answers(probs: np.ndarray, labels, other_threshold: float | None) -> tuple[np.ndarray, np.ndarray]:
    """The Predictor's rule on a matrix: (answer index in labels, its confidence) per row."""
    if OTHER not in labels:
        return probs.argmax(1), probs.max(1)
    other = list(labels).index(OTHER)
    is_other, closest, _, confidence = openworld.decide(probs, other, other_threshold)
    return np.where(is_other, other, closest), confidence


def write_errors_csv(errors: list[dict], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=["id", "path", "true", "predicted", "confidence"],
                                extrasaction="ignore")
        writer.writeheader()
        writer.writerows(errors)
    return path


def classification_metrics(predicted: np.ndarray, labels: np.ndarray, names) -> dict:
    """Over the model's labels (an Other answer for an in-scope photo counts as wrong);
    per-class figures and macro-F1 over the categories only."""
    k = len(names)
    matrix = np.zeros((k, k), dtype=np.int64)
    np.add.at(matrix, (labels, predicted), 1)
    per_class = {}
    for i, name in enumerate(names):
        if name == OTHER:
            continue
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


def tier_metrics(predicted, confidence, labels: np.ndarray, policy: TierPolicy, names) -> dict:
    correct = predicted == labels
    tiers = np.array([policy.tier(float(c), names[p]) for c, p in zip(confidence, predicted, strict=True)])
    out = {}
    for name in TIERS:
        inside = tiers == name
        out[name] = {"coverage": float(inside.mean()), "images": int(inside.sum()),
                     "accuracy": float(correct[inside].mean()) if inside.any() else None}
    out["thresholds"] = {"auto": policy.auto_threshold, "check": policy.check_threshold,
                         "mode": policy.mode, "per_category": dict(policy.per_category)}
    return out


def top_confusions(matrix: list[list[int]], names, n: int = 8) -> list[dict]:
    k = len(names)
    pairs = [(matrix[i][j], names[i], names[j])
             for i in range(k) for j in range(k) if i != j and matrix[i][j]]
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
    labels = info.labels
    records = split_records(config.path("splits_dir"), "test", limit, config.seed)
    x, y = load_arrays(records, config.path("dataset_dir"), predictor.input_size,
                       config.path("cache_dir"), label="test", labels=labels)
    probs = predict_in_chunks(predictor, x, "LiteRT on test")
    predicted, confidence = answers(probs, labels, info.other_threshold)
    result = classification_metrics(predicted, y, labels)
    temperature = float(info.card.get("temperature", 1.0))
    result["ece"] = expected_calibration_error(probs, y)
    result["ece_before_temperature"] = expected_calibration_error(rescale(probs, 1 / temperature), y)
    result["temperature"] = temperature
    result["reliability_bins"] = reliability_bins(probs, y)
    result["tiers"] = tier_metrics(predicted, confidence, y, policy, labels)
    fitted = policy_from(replace(config, tier_mode="precision"), info.card)
    runs = [(policy, predictor, probs)]
    if fitted.mode == "precision":  # its own Predictor: its auto lines decide where the mirror runs
        precise = Predictor(models_dir / "fashion_classifier.tflite", info, tiers=fitted)
        precise_probs = same_or_predicted(precise, predictor, probs, x, "LiteRT on test (precision tiers)")
        runs.append((fitted, precise, precise_probs))
        precise_answers = answers(precise_probs, labels, info.other_threshold)
        result["tiers_precision_mode"] = tier_metrics(*precise_answers, y, fitted, labels)
    result["top_confusions"] = top_confusions(result["confusion_matrix"], labels)
    result["model_version"] = info.version
    result["labels"] = list(labels)
    if info.has_other:
        result["open_world"] = open_world_metrics(config, runs, y, limit)
    if keras_parity:
        keras_predictor = Predictor(models_dir / "fashion_classifier.keras", info, backend="keras",
                                    tiers=policy, warmup=False)
        keras_probs = predict_in_chunks(keras_predictor, x, "Keras on test")
        result["litert_vs_keras"] = {
            "top1_agreement": float((keras_probs.argmax(1) == probs.argmax(1)).mean()),
            "max_probability_difference": float(np.abs(keras_probs - probs).max()),
            "keras_accuracy": float((keras_probs.argmax(1) == y).mean()),
        }
    return result, SplitPredictions(records, x, y, probs, labels, predicted, confidence)


def same_or_predicted(predictor: Predictor, other: Predictor, other_probs, x, label: str) -> np.ndarray:
    """``other``'s probabilities when both run the mirror view for the same photos, else predicted."""
    if np.array_equal(predictor.mirror_lines, other.mirror_lines):
        return other_probs
    return predict_in_chunks(predictor, x, label)


def _other_splits(config: Config, predictor: Predictor, limit) -> dict:
    info, categories = predictor.info, list(predictor.categories)
    other = list(info.labels).index(OTHER)
    seen = {}
    for name in ("heldout", "test", "family"):
        x_o, _, records = load_other_arrays(config, name, predictor.input_size, other, limit, config.seed,
                                            categories)
        seen[name] = (predict_in_chunks(predictor, x_o, f"LiteRT on other/{name}") if len(x_o)
                      else np.zeros((0, len(info.labels))), [r.label for r in records])
    return seen


def open_world_metrics(config: Config, runs, y, limit=None) -> dict:
    """Every open-world figure of the issue, under each tier policy (fixed, fitted lines).

    ``runs``: (policy, its Predictor, its in-scope test probabilities), the fixed policy first;
    the distributions and AUROC are the first run's."""
    from ..data.other import LOOKALIKES, SAME_FAMILY

    _, predictor, probs = runs[0]
    info, categories = predictor.info, list(predictor.categories)
    other, threshold = list(info.labels).index(OTHER), info.other_threshold
    seen_by_lines: dict[bytes, dict] = {}

    def seen_of(run_predictor):
        key = run_predictor.mirror_lines.tobytes()
        if key not in seen_by_lines:
            seen_by_lines[key] = _other_splits(config, run_predictor, limit)
        return seen_by_lines[key]

    seen = seen_of(predictor)
    held, held_types = seen["heldout"]
    trained, trained_types = seen["test"]
    look = np.isin(trained_types, list(LOOKALIKES))
    out = {"other_threshold": threshold, "in_per_out": openworld.MIX_IN_PER_OUT,
           "auroc_in_vs_heldout": openworld.auroc(probs[:, other], held[:, other]) if len(held) else None,
           "auroc_in_vs_trained_types": openworld.auroc(probs[:, other], trained[:, other])
           if len(trained) else None,
           "family": openworld.rates_family(*seen["family"], SAME_FAMILY, other, categories, threshold),
           "score_samples": {"in_scope": probs[:, other], "held-out types": held[:, other],
                             "trained types (test share)": trained[~look, other],
                             "look-alikes (test share)": trained[look, other]}}
    for policy, run_predictor, probs in runs:
        seen = seen_of(run_predictor)
        held, held_types = seen["heldout"]
        trained, trained_types = seen["test"]
        args = (other, policy, categories, threshold)
        out[policy.mode] = {
            "in_scope": openworld.in_scope_rates(probs, y, *args),
            "held_out_types": openworld.rates_out(held, *args),
            "held_out_by_type": openworld.rates_by_type(held, held_types, *args),
            "trained_types_test": openworld.rates_out(trained[~look], *args),
            "lookalikes_test": openworld.rates_by_type(trained[look], np.asarray(trained_types)[look], *args),
            "mix": openworld.mix_rates(probs, y, held, *args),
        }
    return out


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
    if "open_world" in result:
        lines += format_open_world(result["open_world"])
    return "\n".join(lines)


def _pct(value) -> str:
    return "-" if value is None else f"{100 * value:.2f} %"


def format_open_world(ow: dict) -> list[str]:
    auroc = lambda v: "-" if v is None else f"{v:.4f}"  # noqa: E731
    lines = [f"open world (Other threshold {ow['other_threshold']}): AUROC in vs held-out types "
             f"{auroc(ow['auroc_in_vs_heldout'])}, in vs trained types "
             f"{auroc(ow['auroc_in_vs_trained_types'])}"]
    for mode in ("fixed", "precision"):
        if mode not in ow:
            continue
        m = ow[mode]
        inside = m["in_scope"]
        lines += [f"  [{mode} tiers] in-scope test: called Other {_pct(inside['called_other'])}, "
                  f"accuracy {_pct(inside['accuracy'])}, auto-approve {_pct(inside['auto_coverage'])}"
                  f" at {_pct(inside['auto_precision'])} precise",
                  f"    held-out types: called Other {_pct(m['held_out_types']['called_other'])}, "
                  f"auto-approved {_pct(m['held_out_types']['auto_approved'])}; trained types (test share): "
                  f"Other {_pct(m['trained_types_test']['called_other'])}",
                  f"    open-world mix {ow['in_per_out']}:1: auto-approve "
                  f"{_pct(m['mix']['auto_precision'])} precise"]
    held = ow["fixed"]["held_out_by_type"]
    lines.append("  held-out types (Other / auto-approved / most taken as): " + "; ".join(
        f"{t} {_pct(v['called_other'])}/{_pct(v['auto_approved'])}/{v['most_taken_as'] or '-'}"
        for t, v in held.items()))
    lines.append("  look-alikes (test share, Other): " + "; ".join(
        f"{t} {_pct(v['called_other'])}" for t, v in ow["fixed"]["lookalikes_test"].items()))
    lines.append("  same family (Other / as related / as another): " + "; ".join(
        f"{t} {_pct(v['called_other'])}/{_pct(v['as_related'])}/{_pct(v['as_unrelated'])}"
        for t, v in ow["family"].items()))
    return lines


def evaluate_and_record(config: Config, models_dir: Path, plots_dir: Path, limit: int | None = None,
                        keras_parity: bool = True, out: Path | None = None) -> dict:
    from .export import read_card, write_card
    from .plots import (
        plot_category_performance,
        plot_confusion_matrix,
        plot_error_examples,
        plot_other_scores,
        plot_reliability,
    )

    result, seen = evaluate(config, Path(models_dir), limit=limit, keras_parity=keras_parity)
    print(format_report(result))
    errors = seen.errors()
    plot_error_examples(seen.x, errors, result["top_confusions"], Path(plots_dir) / "error_examples.png")
    plot_confusion_matrix(np.array(result["confusion_matrix"]), Path(plots_dir) / "confusion_matrix.png",
                          result["labels"])
    ow = result.get("open_world")
    if ow:
        samples = ow.pop("score_samples")
        plot_other_scores(samples.pop("in_scope"), samples, ow["other_threshold"],
                          Path(plots_dir) / "other_score_distribution.png")
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
    if ow:
        card["metrics"]["open_world"] = {
            "auroc_in_vs_heldout": ow["auroc_in_vs_heldout"],
            **{mode: {k: ow[mode][k] for k in ("in_scope", "held_out_types", "trained_types_test", "mix")}
               for mode in ("fixed", "precision") if mode in ow}}
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

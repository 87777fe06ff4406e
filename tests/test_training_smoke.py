"""A real (tiny) training run end to end: train, calibrate, export, evaluate, plots, card."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from conftest import ROOT
from PIL import Image

from fashion_classifier.labels import CATEGORIES
from fashion_classifier.model import Predictor
from fashion_classifier.model.predictor import ModelInfo

pytest.importorskip("tensorflow", reason="training needs requirements-train.txt")


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("smoke")
    env = dict(os.environ, FASHION_RESULTS_DIR=str(out / "results"), FASHION_CACHE_DIR=str(out / "cache"),
               TF_CPP_MIN_LOG_LEVEL="2")
    done = subprocess.run(
        [sys.executable, "-m", "fashion_classifier.training.train", "--size", "64x48", "--limit", "160",
         "--head-epochs", "3", "--epochs", "1", "--from-block", "14", "--label-smoothing", "0.1",
         "--out", str(out / "models"),
         "--plots", str(out / "plots")],
        capture_output=True, text=True, cwd=ROOT, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return out, done


def test_smoke_training_writes_every_artifact(smoke_run):
    out, done = smoke_run
    for name in ("fashion_classifier.keras", "fashion_classifier.tflite", "labels.json", "model_card.json"):
        assert (out / "models" / name).stat().st_size > 0, name
    card = json.loads((out / "models" / "model_card.json").read_text())
    assert card["input_size"]["hw"] == [64, 48]
    assert card["training"]["fine_tune_from_block"] == 14
    assert card["training"]["train_images"] == 160 + 160  # in scope + other types
    assert card["training"]["label_smoothing"] == 0.1
    assert 0.3 < card["temperature"] < 4.0
    metrics = card["metrics"]
    assert card["labels"] == [*CATEGORIES, "Other"], "the Other output, taught from the other types"
    assert card["open_world"]["method"].startswith("outlier exposure")
    assert set(card["open_world"]["auto_approve"]["per_category"]) == set(CATEGORIES)
    assert "held_out_types" in metrics["open_world"]["fixed"]
    assert set(metrics["per_class"]) == set(CATEGORIES)
    assert 0.0 <= metrics["accuracy"] <= 1.0 and 0.0 <= metrics["ece"] <= 1.0
    assert metrics["litert_vs_keras"]["top1_agreement"] >= 0.99
    assert sum(metrics["tiers"][t]["images"] for t in ("auto", "check", "review")) == metrics["images"] == 160


def test_smoke_training_shows_progress_and_plots(smoke_run):
    out, done = smoke_run
    assert "decoding train" in done.stderr and "stage 2: fine-tuning" in done.stderr
    assert "accuracy" in done.stdout and "refund tiers" in done.stdout and "open world" in done.stdout
    for plot in ("training_history", "confusion_matrix", "category_performance", "reliability_diagram",
                 "error_examples", "other_score_distribution"):
        with Image.open(out / "plots" / f"{plot}.png") as image:
            assert image.size[0] > 400, plot
    evaluation = json.loads((out / "results" / "evaluation.json").read_text())
    assert len(evaluation["confusion_matrix"]) == len(CATEGORIES) + 1  # the answers include Other
    errors = (out / "results" / "test_errors.csv").read_text().splitlines()
    correct = sum(row[i] for i, row in enumerate(evaluation["confusion_matrix"]))
    assert errors[0] == "id,path,true,predicted,confidence"
    assert len(errors) - 1 == evaluation["images"] - correct, "one row per misclassified test image"


def test_smoke_model_serves_through_the_predictor(smoke_run, repo_config):
    out, _ = smoke_run
    info = ModelInfo.load(out / "models" / "labels.json", out / "models" / "model_card.json")
    predictor = Predictor(out / "models" / "fashion_classifier.tflite", info)
    assert predictor.input_size == (64, 48)
    photo = next((repo_config.path("dataset_dir") / "images").glob("*.jpg")).read_bytes()
    assert predictor.predict_bytes(photo).category in (*CATEGORIES, "Other")


def test_ensemble_of_two_input_sizes_exports_one_servable_model(smoke_run, repo_config, tmp_path):
    """A second tiny member at another size, merged with the smoke model into one graph."""
    out, _ = smoke_run
    env = dict(os.environ, FASHION_RESULTS_DIR=str(out / "results"), FASHION_CACHE_DIR=str(out / "cache"),
               TF_CPP_MIN_LOG_LEVEL="2")
    small, large = tmp_path / "small", tmp_path / "large"
    member = ["fashion_classifier.training.train", "--limit", "160", "--head-epochs", "2", "--epochs", "0",
              "--no-other", "--no-evaluate", "--plots", str(tmp_path / "plots")]  # closed-set members
    steps = [
        [*member, "--size", "64x48", "--out", str(large)],
        [*member, "--size", "48x36", "--out", str(small)],
        ["fashion_classifier.training.ensemble", str(large), str(small), "--no-mirror",
         "--no-evaluate", "--out", str(tmp_path / "ensemble")],
    ]
    for step in steps:
        done = subprocess.run([sys.executable, "-m", *step], capture_output=True, text=True, cwd=ROOT,
                              env=env, timeout=600)
        assert done.returncode == 0, done.stderr[-3000:]
    folder = tmp_path / "ensemble"
    card = json.loads((folder / "model_card.json").read_text())
    assert card["input_size"]["hw"] == [64, 48] and card["test_time_augmentation"] == "none"
    assert [m["input_hw"] for m in card["training"]["ensemble_of"]] == [[64, 48], [48, 36]]
    info = ModelInfo.load(folder / "labels.json", folder / "model_card.json")
    litert = Predictor(folder / "fashion_classifier.tflite", info)
    keras = Predictor(folder / "fashion_classifier.keras", info, backend="keras", warmup=False)
    photos = sorted((ROOT / "tests" / "fixtures" / "photos").glob("*/*.jpg"))[:6]
    for photo in photos:
        a, b = litert.predict_bytes(photo.read_bytes()), keras.predict_bytes(photo.read_bytes())
        assert a.category == b.category
        for name in CATEGORIES:
            assert abs(a.probabilities[name] - b.probabilities[name]) < 1e-4

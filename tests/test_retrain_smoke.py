"""Retrain from the clerks' corrections (tiny data): a candidate beside the version in service,
judged by the gate. A real batch, real review decisions, real training, the real CLI."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from contextlib import closing

import pytest
from batch_support import clean_env, copy_photos, run_batch
from conftest import ROOT

from fashion_classifier.data.prepare import read_split
from fashion_classifier.history import HistoryDB
from fashion_classifier.labels import category_names
from fashion_classifier.review import decide, pending_items
from fashion_classifier.training.retrain import protected_hashes

pytest.importorskip("tensorflow", reason="training needs requirements-train.txt")


def test_retrain_writes_a_gated_candidate_and_leaves_the_service_alone(tmp_path, repo_config):
    models = tmp_path / "models"
    models.mkdir()
    for name in ("fashion_classifier.tflite", "fashion_classifier.keras", "labels.json", "model_card.json"):
        shutil.copyfile(ROOT / "models" / name, models / name)
    incoming, out = tmp_path / "incoming", tmp_path / "out"
    copy_photos(incoming, 40)
    done = run_batch(incoming, out, "--local", "--no-alerts")
    assert done.returncode == 0, done.stderr[-2000:]
    db_path, processed = out / "logs" / "execution_history.db", out / "data" / "processed_batches"
    with closing(HistoryDB(db_path)) as db:
        items = pending_items(db, processed)
        assert items, "no photo of the batch needs review: nothing to correct"
        for item in items[:6]:
            other = next(c for c, _ in item.guesses if c != item.category)
            decide(db, processed, item.id, other, "Clerk", category_names(repo_config))
    env = clean_env(FASHION_MODELS_DIR=str(models), FASHION_HISTORY_DB=str(db_path),
                    FASHION_CORRECTIONS_DIR=str(tmp_path / "corrections"),
                    FASHION_CACHE_DIR=str(tmp_path / "cache"),
                    FASHION_RESULTS_DIR=str(tmp_path / "results"), TF_CPP_MIN_LOG_LEVEL="2")
    retrain = subprocess.run(
        [sys.executable, "-m", "fashion_classifier.training.retrain", "--limit", "48", "--epochs", "0",
         "--head-epochs", "2"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert retrain.returncode == 0, retrain.stderr[-3000:]
    candidates = [p for p in (models / "versions").iterdir() if not p.name.startswith(".")]
    assert len(candidates) == 1 and not (models / "CURRENT").exists(), "the version in service is untouched"
    candidate = candidates[0]
    card = json.loads((candidate / "model_card.json").read_text())
    used = card["training"]["extra_train_images"]
    held = (candidate / "corrections_holdout.csv").read_text().splitlines()[1:]
    exported = read_split(tmp_path / "corrections", "corrections")
    in_eval_splits = sum(r.sha256 in protected_hashes(repo_config) for r in exported)
    assert len(exported) == min(len(items), 6)
    assert used + len(held) + in_eval_splits == len(exported), "every decision is used, held back or kept out"
    assert f"{in_eval_splits} not used" in retrain.stdout, "photos of the val/test splits never train"
    assert card["training"]["init_from"] == str(models)
    assert (candidate / "evaluation.json").is_file() and card["metrics"]["accuracy"] > 0
    assert f"promote {candidate.name}" in retrain.stdout

    def models_cli(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "fashion_classifier.models", *args], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=300)

    gate = models_cli("promote", candidate.name)
    worse = "WORSE" in gate.stdout
    assert gate.returncode == (1 if worse else 0), gate.stdout + gate.stderr
    assert "both on 3354 test photos  ok" in gate.stdout, "the candidate is judged on the whole test split"
    assert "replay of the last 1 nights: 40 photos" in gate.stdout
    assert ("refused" in gate.stdout) is worse
    assert (models / "CURRENT").exists() is not worse

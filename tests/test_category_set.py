"""A different category set, end to end: the model's own label list drives everything.

A tiny model is trained on four categories, one of them (Wallets) an article type of the
other-types folder, with Other taught from a handful of other types. The same code then
serves it through the API, sorts a real batch with it, writes the reports and runs the review
queue on it, none of which knows the ten categories.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from contextlib import closing
from dataclasses import replace
from pathlib import Path

import pytest
from api_support import make_app, state, upload
from batch_support import clean_env, run_batch
from conftest import ROOT

from fashion_classifier.config import Config
from fashion_classifier.model import Predictor

pytest.importorskip("tensorflow", reason="training needs requirements-train.txt")

CATEGORIES = ("Tshirts", "Watches", "Handbags", "Wallets")
OTHER_TYPES = ("Socks", "Belts", "Flip Flops", "Perfume and Body Mist", "Kurtis", "Sandals")
PER_TYPE = 36
SHARED = Config(root=ROOT)


def _mini_dataset(source: Path, target: Path, types, per_type: int) -> dict[str, list[str]]:
    """A Kaggle-layout folder with the first ``per_type`` photos of each type (copied)."""
    (target / "images").mkdir(parents=True)
    with open(source / "styles.csv", encoding="utf-8", errors="replace", newline="") as handle:
        header = handle.readline()
        chosen: dict[str, list[str]] = {t: [] for t in types}
        lines = [header]
        for line in handle:
            parts = line.split(",", 9)
            if len(parts) > 4 and parts[4] in chosen and len(chosen[parts[4]]) < per_type:
                if (source / "images" / f"{parts[0]}.jpg").is_file():
                    chosen[parts[4]].append(parts[0])
                    lines.append(line)
    (target / "styles.csv").write_text("".join(lines), encoding="utf-8")
    for ids in chosen.values():
        for item in ids:
            shutil.copyfile(source / "images" / f"{item}.jpg", target / "images" / f"{item}.jpg")
    return chosen


@pytest.fixture(scope="module")
def four(tmp_path_factory):
    work = tmp_path_factory.mktemp("four")
    other_source = SHARED.path("other_dataset_dir")
    ids = _mini_dataset(SHARED.path("dataset_dir"), work / "ds", CATEGORIES[:3], PER_TYPE)
    wallets = _mini_dataset(other_source, work / "wallets", ("Wallets",), PER_TYPE)
    for item in wallets["Wallets"]:  # the fourth category comes from the other-types folder
        shutil.copyfile(work / "wallets" / "images" / f"{item}.jpg", work / "ds" / "images" / f"{item}.jpg")
    with open(work / "ds" / "styles.csv", "a", encoding="utf-8") as handle:
        handle.writelines((work / "wallets" / "styles.csv").read_text(encoding="utf-8").splitlines(True)[1:])
    ids.update(wallets)
    others = _mini_dataset(other_source, work / "other", OTHER_TYPES, PER_TYPE)
    env = dict(clean_env(), TF_CPP_MIN_LOG_LEVEL="2", FASHION_DATASET_DIR=str(work / "ds"),
               FASHION_SPLITS_DIR=str(work / "splits"), FASHION_OTHER_DATASET_DIR=str(work / "other"),
               FASHION_OTHER_SPLITS_DIR=str(work / "splits" / "other"), FASHION_CACHE_DIR=str(work / "cache"),
               FASHION_RESULTS_DIR=str(work / "results"))
    names = ",".join(CATEGORIES)
    for step in (["fashion_classifier.data", "--categories", names, "--other", "--plot", ""],
                 ["fashion_classifier.training.train", "--categories", names, "--size", "64x48",
                  "--head-epochs", "4", "--epochs", "0", "--out", str(work / "models"),
                  "--plots", str(work / "plots")]):
        done = subprocess.run([sys.executable, "-m", *step], capture_output=True, text=True, cwd=ROOT,
                              env=env, timeout=600)
        assert done.returncode == 0, done.stderr[-3000:]
    models = work / "models"
    model_env = {"FASHION_MODEL_PATH": str(models / "fashion_classifier.tflite"),
                 "FASHION_LABELS_PATH": str(models / "labels.json"),
                 "FASHION_MODEL_CARD_PATH": str(models / "model_card.json")}
    return work, ids, others, model_env, done.stdout


def test_the_model_defines_its_categories(four):
    work, _, _, _, stdout = four
    labels = json.loads((work / "models" / "labels.json").read_text())
    assert labels == [*CATEGORIES, "Other"]
    card = json.loads((work / "models" / "model_card.json").read_text())
    assert card["categories"] == list(CATEGORIES)
    assert card["open_world"]["auto_approve"]["per_category"].keys() == set(CATEGORIES)
    assert set(card["metrics"]["per_class"]) == set(CATEGORIES)
    assert "open world" in stdout and "held-out types" in stdout
    with open(work / "splits" / "other" / "heldout.csv", newline="") as handle:
        held = {row["label"] for row in csv.DictReader(handle)}
    assert held == {"Belts", "Flip Flops"}, "the held-out types are never trained on"


def test_api_serves_the_four_categories_and_other(four, tmp_config):
    work, ids, _, model_env, _ = four
    config = replace(tmp_config, model_path=Path(model_env["FASHION_MODEL_PATH"]),
                     labels_path=Path(model_env["FASHION_LABELS_PATH"]),
                     model_card_path=Path(model_env["FASHION_MODEL_CARD_PATH"]))
    app = make_app(config, Predictor.from_config(config))
    try:
        client = app.test_client()
        assert client.get("/classes").get_json()["classes"] == list(CATEGORIES)
        photo = (work / "ds" / "images" / f"{ids['Wallets'][0]}.jpg").read_bytes()
        body = upload(client, photo).get_json()
        assert body["category"] in (*CATEGORIES, "Other")
        assert set(body["all_predictions"]) == {*CATEGORIES, "Other"}
        assert body["in_scope"] is (body["category"] != "Other")
        assert body["closest_category"] in CATEGORIES
    finally:
        state(app).recorder.close()


def test_batch_reports_and_review_run_on_the_four_categories(four, tmp_path):
    work, ids, others, model_env, _ = four
    incoming = tmp_path / "incoming"
    incoming.mkdir()
    for category, source in (("Watches", "ds"), ("Wallets", "ds"), ("Socks", "other")):
        group = ids.get(category) or others[category]
        for item in group[:3]:
            shutil.copyfile(work / source / "images" / f"{item}.jpg", incoming / f"{category}_{item}.jpg")
    out = tmp_path / "out"
    done = run_batch(incoming, out, "--local", "--no-alerts", env=clean_env(**model_env))
    assert done.returncode == 0, done.stderr[-3000:]
    folders = {p.name for p in (out / "data" / "processed_batches").iterdir()}
    assert folders and folders <= {*CATEGORIES, "Other"}
    summary = json.loads(next((out / "results" / "batch_results").glob("summary_*.json")).read_text())
    assert sum(summary["categories"].values()) == 9 and set(summary["categories"]) <= {*CATEGORIES, "Other"}
    html = next((out / "results" / "batch_results").glob("batch_report_*.html")).read_text()
    assert "Not one of our categories" in html

    from fashion_classifier.dashboard import create_app

    config = replace(Config(root=out), api_url="http://127.0.0.1:9",
                     labels_path=Path(model_env["FASHION_LABELS_PATH"]))
    app = create_app(config)
    try:
        client = app.test_client()
        page = client.get("/review").get_data(as_text=True)
        assert "Wallets" in page and "Shirts" not in page
        items = client.get("/api/review/items").get_json()["items"]
        if not items:
            pytest.fail("the tiny model put every photo in auto-approve: nothing to review")
        item = f"/api/review/items/{items[0]['id']}"
        refused = client.post(item, json={"category": "Shirts", "reviewer": "x"})
        assert refused.status_code == 400, "a category of another model is not a valid answer"
        moved = client.post(item, json={"category": "Wallets", "reviewer": "Sam"})
        assert moved.status_code == 201, moved.get_json()
        assert (out / "data" / "processed_batches" / "Wallets").is_dir()
    finally:
        app.extensions["dashboard_db"].close()
    assert os.environ.get("FASHION_LABELS_PATH") is None  # nothing leaked into this process


def _answered_other(predictor, photos: list[Path]) -> list[Path]:
    return [p for p in photos if predictor.predict_bytes(p.read_bytes()).category == "Other"]


def test_other_answers_through_api_batch_reports_and_review(four, tmp_config, tmp_path):
    """The contract of an Other answer everywhere it shows, on the photos the model calls Other."""
    from openpyxl import load_workbook

    from fashion_classifier.history import HistoryDB
    from fashion_classifier.review import decide, export_corrections, pending_items

    work, ids, others, model_env, _ = four
    config = replace(tmp_config, model_path=Path(model_env["FASHION_MODEL_PATH"]),
                     labels_path=Path(model_env["FASHION_LABELS_PATH"]),
                     model_card_path=Path(model_env["FASHION_MODEL_CARD_PATH"]))
    predictor = Predictor.from_config(config)
    taught = ("Socks", "Perfume and Body Mist", "Sandals")
    candidates = [work / "other" / "images" / f"{i}.jpg" for t in taught for i in others[t]]
    chosen = _answered_other(predictor, candidates)[:4]
    assert chosen, "the tiny model answers Other for none of the other-type photos it was taught"
    app = make_app(config, predictor)
    try:
        client = app.test_client()
        body = upload(client, chosen[0].read_bytes()).get_json()
        assert body["category"] == "Other" and body["in_scope"] is False and body["tier"] == "review"
        assert body["closest_category"] in CATEGORIES
        assert body["confidence"] == body["all_predictions"]["Other"]
    finally:
        state(app).recorder.close()

    incoming = tmp_path / "incoming"
    incoming.mkdir()
    for photo in chosen:
        shutil.copyfile(photo, incoming / f"other_{photo.name}")
    out = tmp_path / "out"
    done = run_batch(incoming, out, "--local", "--no-alerts", env=clean_env(**model_env))
    assert done.returncode == 0, done.stderr[-3000:]
    other_dir = out / "data" / "processed_batches" / "Other"
    assert len(list(other_dir.glob("*.jpg"))) == len(chosen)
    results = out / "results" / "batch_results"
    summary = json.loads(next(results.glob("summary_*.json")).read_text())
    assert summary["categories"] == {"Other": len(chosen)} and summary["other"]["count"] == len(chosen)
    assert summary["failed"] == 0 and summary["tiers"]["manual review"] == len(chosen), "review work"
    book = load_workbook(next(results.glob("batch_results_*.xlsx")), read_only=True)
    assert sum(1 for _ in book["Other (not ours)"].iter_rows()) == len(chosen) + 1
    html = next(results.glob("batch_report_*.html")).read_text()
    assert f"Not one of our categories ({len(chosen)})" in html

    processed = out / "data" / "processed_batches"
    with closing(HistoryDB(out / "logs" / "execution_history.db")) as db:
        queue = pending_items(db, processed)
        assert len(queue) == len(chosen), "every Other photo is queued"
        assert all(i.category == "Other" for i in queue)
        assert all(i.guesses[0][0] == "Other" for i in queue), "key 1 confirms: not ours"
        kept = decide(db, processed, queue[0].id, "Other", "Clerk", CATEGORIES)
        assert kept.action == "confirmed" and Path(kept.new_path).parent == other_dir
        if len(queue) > 1:
            moved = decide(db, processed, queue[1].id, "Wallets", "Clerk", CATEGORIES)
            assert Path(moved.new_path).parent.name == "Wallets" and Path(moved.new_path).is_file()
        export_corrections(db, tmp_path / "corrections")
    exported = (tmp_path / "corrections" / "corrections.csv").read_text()
    assert ",Other," in exported, "the next training learns from it"

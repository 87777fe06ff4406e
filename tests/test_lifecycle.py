"""Model lifecycle: the store, the gated promotion, rollback, hot reload under load, the batch.

Real files, a real history database, the real CLI in a subprocess and real gunicorn.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import threading
import time
from contextlib import closing
from dataclasses import replace
from pathlib import Path

import pytest
import requests
from api_support import real_photo_paths
from batch_support import BATCH_KEY, ApiServer, clean_env, copy_photos, csv_rows, start_batch, wait_for_line
from conftest import ROOT

from fashion_classifier.config import Config
from fashion_classifier.history import HistoryDB
from fashion_classifier.models.gate import compare_cards
from fashion_classifier.models.store import SHIPPED, ModelStore, StoreError, serving_config

SHIPPED_FILES = ("fashion_classifier.tflite", "labels.json", "model_card.json")


def make_store(root: Path, *versions: tuple[str, dict]) -> ModelStore:
    """A models folder with the shipped model and copies of it as other versions (card edited)."""
    models = root / "models"
    models.mkdir(parents=True)
    for name in SHIPPED_FILES:
        shutil.copyfile(ROOT / "models" / name, models / name)
    for version, metrics in versions:
        folder = models / "versions" / version
        folder.mkdir(parents=True)
        for name in SHIPPED_FILES[:2]:
            shutil.copyfile(ROOT / "models" / name, folder / name)
        card = json.loads((ROOT / "models" / "model_card.json").read_text())
        card["version"], card["created"] = version, f"2026-12-01T0{len(version) % 9}:00:00+00:00"
        card["metrics"].update(metrics)
        (folder / "model_card.json").write_text(json.dumps(card))
    return ModelStore(models)


def cli(root: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    env = clean_env(FASHION_MODELS_DIR=str(root / "models"), FASHION_HISTORY_DB=str(root / "history.db"))
    return subprocess.run([sys.executable, "-m", "fashion_classifier.models", "--actor", "tester", *args],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)


def test_store_points_at_one_version_and_falls_back_to_the_shipped_model(tmp_path):
    store = make_store(tmp_path, ("v2", {}))
    assert [v.name for v in store.versions()] == [SHIPPED, "v2"]
    assert store.current().name == SHIPPED and store.pointer_stamp() is None
    store.switch("v2")
    assert store.current().name == "v2" and store.pointer.read_text() == "v2\n"
    assert not list(store.root.glob(".CURRENT*")), "no temporary pointer left behind"
    config = Config(root=tmp_path)
    assert serving_config(config).model_path == store.root / "versions" / "v2" / "fashion_classifier.tflite"
    explicit = replace(config, model_path=tmp_path / "elsewhere.tflite")
    assert serving_config(explicit).model_path == tmp_path / "elsewhere.tflite", "FASHION_MODEL_PATH wins"
    for bad in ("../etc", "v3", "", ".hidden"):
        with pytest.raises(StoreError):
            store.switch(bad)
    store.pointer.write_text("gone-version\n")  # a pointer to a deleted folder must not stop serving
    assert store.current().name == SHIPPED


def test_gate_compares_every_figure_with_a_tolerance():
    current = {"metrics": {"accuracy": 0.94, "macro_f1": 0.93}}
    slightly = {"metrics": {"accuracy": 0.937, "macro_f1": 0.931}}
    worse = {"metrics": {"accuracy": 0.92, "macro_f1": 0.93}}
    assert compare_cards(current, slightly, 0.005).passed
    result = compare_cards(current, worse, 0.005)
    assert not result.passed and "WORSE by 2.00 points" in result.report()
    assert compare_cards(current, worse, 0.03).passed
    elsewhere = {"metrics": {"accuracy": 0.99, "macro_f1": 0.99, "images": 48}}
    current["metrics"]["images"] = 3354
    result = compare_cards(current, elsewhere, 0.03)
    assert not result.passed and "NOT COMPARABLE" in result.report(), "figures of another test set"


def test_promote_is_gated_recorded_and_rolled_back(tmp_path):
    make_store(tmp_path, ("worse", {"accuracy": 0.80}), ("better", {"accuracy": 0.95}))
    listing = cli(tmp_path, "list")
    assert listing.returncode == 0 and "* shipped" in listing.stdout and "80.00%" in listing.stdout
    refused = cli(tmp_path, "promote", "worse")
    assert refused.returncode == 1 and "refused" in refused.stdout and "WORSE" in refused.stdout
    assert not (tmp_path / "models" / "CURRENT").exists()
    accepted = cli(tmp_path, "promote", "better")
    assert accepted.returncode == 0, accepted.stdout + accepted.stderr
    assert (tmp_path / "models" / "CURRENT").read_text() == "better\n"
    forced = cli(tmp_path, "promote", "worse", "--force")
    assert forced.returncode == 0 and "forced" in forced.stdout
    back = cli(tmp_path, "rollback")
    assert back.returncode == 0 and "to better" in back.stdout
    assert (tmp_path / "models" / "CURRENT").read_text() == "better\n"
    with closing(HistoryDB(tmp_path / "history.db")) as db:
        events = db.model_events()
    assert [(e["action"], e["from_version"], e["to_version"], e["forced"]) for e in reversed(events)] == [
        ("promote", "shipped", "better", 0), ("promote", "better", "worse", 1),
        ("rollback", "worse", "better", 0)]
    assert all(e["actor"] == "tester" for e in events)
    assert json.loads(events[-1]["metrics"])["gate"]["test accuracy"]["candidate"] == 0.95
    assert cli(tmp_path, "promote", "nonexistent").returncode == 2
    assert cli(tmp_path, "--help").returncode == 0


def test_api_switches_version_under_load_without_failing_a_request(tmp_path):
    """Three clients hammer /predict on one worker while the CLI promotes, then rolls back."""
    make_store(tmp_path, ("v2-hot", {}))
    shipped = json.loads((ROOT / "models" / "model_card.json").read_text())["version"]
    photos = [p.read_bytes() for p in real_photo_paths(4)]
    answers: list[tuple[int, float, int, str | None]] = []  # client, time, status, version
    stop = threading.Event()

    def client(n: int) -> None:
        session = requests.Session()
        for i in range(2000):  # bounded: stops on the event long before
            if stop.is_set():
                return
            r = session.post(server.url + "/predict", files={"file": ("p.jpg", photos[i % 4])}, timeout=30)
            answers.append((n, time.monotonic(), r.status_code, r.json().get("model_version")))

    with ApiServer(tmp_path, workers=1, FASHION_MODELS_DIR=str(tmp_path / "models"),
                   RATELIMIT_ENABLED="false", FASHION_API_THREADS="1",
                   FASHION_MODEL_RELOAD_SECONDS="0.2") as server:
        threads = [threading.Thread(target=client, args=(n,)) for n in range(3)]
        for t in threads:
            t.start()
        time.sleep(1.5)
        promoted_at = time.monotonic()
        assert cli(tmp_path, "promote", "v2-hot").returncode == 0
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not (answers and answers[-1][3] == "v2-hot"):
            time.sleep(0.05)
        time.sleep(1.0)
        stop.set()
        for t in threads:
            t.join(30)
        version = requests.get(server.url + "/version", timeout=5).json()
        health = requests.get(server.url + "/health", timeout=5).json()
        metrics = requests.get(server.url + "/metrics", timeout=5).text
    assert answers and all(status == 200 for _, _, status, _ in answers), "no request may fail"
    versions = [v for _, _, _, v in sorted(answers, key=lambda a: a[1])]
    switch = versions.index("v2-hot")
    assert set(versions[:switch]) == {shipped} and set(versions[switch:]) == {"v2-hot"}, \
        "one worker: the answers switch version at one point"
    assert all(t >= promoted_at for _, t, _, v in answers if v == "v2-hot")
    assert version["model_version"] == "v2-hot" and health.get("model_version") == "v2-hot"
    assert 'fashion_model_info{backend="litert",version="v2-hot"} 1.0' in metrics


def test_fallback_keeps_the_version_the_run_started_with(tmp_path):
    from fashion_classifier.batch.local import LocalClassifier

    store = make_store(tmp_path, ("pinned", {}), ("newer", {}))
    store.switch("pinned")
    config = Config(root=tmp_path)
    local = LocalClassifier(config)
    local.pin("pinned")
    store.switch("newer")  # promoted while the run was going on
    assert local.predictor.version == "pinned"
    assert LocalClassifier(config).predictor.version == "newer"


def test_batch_through_the_api_during_a_promotion_records_both_versions(tmp_path):
    make_store(tmp_path, ("v2-batch", {}))
    shipped = json.loads((ROOT / "models" / "model_card.json").read_text())["version"]
    incoming = tmp_path / "incoming"
    copy_photos(incoming, 600)
    out = tmp_path / "out"
    with ApiServer(tmp_path, workers=1, FASHION_MODELS_DIR=str(tmp_path / "models"),
                   FASHION_MODEL_RELOAD_SECONDS="0.2") as server:
        env = clean_env(API_URL=server.url, FASHION_BATCH_KEY=BATCH_KEY,
                        FASHION_MODELS_DIR=str(tmp_path / "models"))
        batch = start_batch(incoming, out, "--chunk-size", "1", "--concurrency", "1", "--no-alerts", env=env)
        try:
            assert wait_for_line(batch, "API is healthy", timeout=60) is not None
            assert cli(tmp_path, "promote", "v2-batch").returncode == 0
            _, err = batch.communicate(timeout=300)
        finally:
            if batch.poll() is None:
                batch.kill()
    assert batch.returncode == 0, err[-2000:]
    rows = csv_rows(out)
    seen = [r["model_version"] for r in rows if r["status"] == "success"]
    assert set(seen) <= {shipped, "v2-batch"} and seen[0] == shipped
    summary = json.loads(next((out / "results" / "batch_results").glob("summary_*.json")).read_text())
    assert summary["model_versions"] == list(dict.fromkeys(seen))
    if "v2-batch" in seen:
        assert summary["model_versions"] == [shipped, "v2-batch"]
        assert "switched model version" in err
        html = next((out / "results" / "batch_results").glob("batch_report_*.html")).read_text()
        assert f"model {shipped}, v2-batch" in html
        from openpyxl import load_workbook

        book = load_workbook(next((out / "results" / "batch_results").glob("batch_results_*.xlsx")))
        sheet = book["All results"]
        assert {row[-1] for row in sheet.iter_rows(min_row=2, values_only=True)} >= {shipped, "v2-batch"}
    else:
        pytest.fail("the batch finished before the promotion reached the API (make the run longer)")


def test_dashboard_shows_the_version_in_service_and_every_switch(tmp_path):
    from fashion_classifier.dashboard import create_app

    store = make_store(tmp_path, ("v2-dash", {}))
    store.switch("v2-dash")
    config = replace(Config(root=tmp_path), api_url="http://127.0.0.1:9")
    with closing(HistoryDB(config.path("history_db"))) as db:
        db.record_model_event("promote", "Sarah", "shipped", "v2-dash")
    app = create_app(config)
    try:
        client = app.test_client()
        page = client.get("/").get_data(as_text=True)
        overview = client.get("/api/overview").get_json()
    finally:
        app.extensions["dashboard_db"].close()
    assert 'id="model-versions"' in page and "v2-dash" in page and "Sarah" in page
    assert overview["model"]["in_service"] == "v2-dash"
    assert overview["model"]["events"][0]["to_version"] == "v2-dash"

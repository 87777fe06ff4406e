"""The dashboard app through Flask's test client: data, decisions, photos, CSV, protection."""

from __future__ import annotations

import io
import subprocess
import sys
from dataclasses import replace
from datetime import datetime, timedelta

import pytest
from alert_servers import free_port
from markupsafe import escape
from PIL import Image
from werkzeug.security import check_password_hash

from fashion_classifier.config import Config
from fashion_classifier.dashboard import create_app
from fashion_classifier.dashboard.server import hash_password_line
from fashion_classifier.dashboard.server import main as server_main
from fashion_classifier.history import HistoryDB
from fashion_classifier.monitoring.common import OUTPUT_FIELDS

from .history_support import MONITORING, connect, db_path

JSON = {"Content-Type": "application/json"}
HOSTILE = """<img src=x onerror=alert(1)>"'&.jpg"""  # a legal file name on Linux


def dashboard_config(out, **extra) -> Config:
    base = Config()
    paths = {name: out / getattr(base, name) for name in OUTPUT_FIELDS}
    return replace(base, api_url=f"http://127.0.0.1:{free_port()}", **paths, **extra)


@pytest.fixture
def client(history_copy):
    app = create_app(dashboard_config(history_copy))
    yield app.test_client(), history_copy
    app.extensions["dashboard_db"].close()


def first_item(c) -> dict:
    items = c.get("/api/review/items").get_json()["items"]
    assert items, "nothing to review"
    return items[0]


def test_overview_json_matches_the_history(client):
    c, out = client
    data = c.get("/api/overview?days=7").get_json()
    with connect(out) as conn:
        last = dict(conn.execute("SELECT * FROM batch_runs ORDER BY timestamp DESC LIMIT 1").fetchone())
        since = (datetime.now() - timedelta(days=7)).isoformat(timespec="seconds")
        week = conn.execute("SELECT COUNT(*), SUM(total_images) FROM batch_runs WHERE timestamp >= ?",
                            (since,)).fetchone()
        waiting = conn.execute("SELECT COUNT(*) FROM batch_files WHERE status = 'success' AND state = 'done'"
                               " AND tier IN ('check', 'review')").fetchone()[0]
    assert data["api"]["up"] is False and "cannot connect" in data["api"]["detail"]
    assert data["last_run"]["run_id"] == last["run_id"]
    assert data["last_run"]["total_images"] == last["total_images"]
    assert (data["last_7_days"]["runs"], data["last_7_days"]["images"]) == tuple(week)
    assert len(data["daily"]) == 7 and data["review_queue"]["waiting"] == waiting
    assert data["alerts"][0]["subject"] == "Batch Processing Complete"


def test_pages_render_with_every_chart(client):
    c, _ = client
    page = c.get("/?days=30")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    for name in ("volume", "success_rate", "throughput", "confidence_mix", "category_mix", "last_categories",
                 "last_confidence", "api_latency", "errors"):
        assert f'data-chart="{name}"' in html, name
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    assert "http://" not in html.split("<body>")[0].replace("http-equiv", ""), "no external assets"
    fragment = c.get("/fragment/overview?days=7").get_data(as_text=True)
    assert "Last updated:" in fragment and "<html" not in fragment
    assert c.get("/review").status_code == 200
    assert c.get("/static/review.js").status_code == 200


def _recent_activity(out) -> None:
    """A /predict answer and a corrupt upload (as the API records them), then a batch failure whose
    file name is markup."""
    db = HistoryDB(db_path(out))
    ago = [(datetime.now() - timedelta(minutes=m)).isoformat(timespec="seconds") for m in (10, 5, 1)]
    call = {"endpoint": "/predict", "response_time": 0.02, "images": 1}
    db.record_api_calls([
        {**call, "timestamp": ago[0], "status_code": 200, "success": True, "category": "Watches",
         "confidence": 0.912, "tier": "auto"},
        {**call, "timestamp": ago[1], "status_code": 400, "success": False, "error": "corrupt_image"}])
    db.execute("INSERT INTO batch_files (run_id, seq, source_path, rel_name, state, status, error_code,"
               " error, classified_at) VALUES ('20991231_020000', 1, ?, ?, 'done', 'error',"
               " 'truncated_image', 'image file is truncated', ?)", ("/in/" + HOSTILE, HOSTILE, ago[2]))
    db.close()


def test_recent_predictions_and_error_distribution(client):
    c, out = client
    _recent_activity(out)
    html = c.get("/?days=7").get_data(as_text=True)
    recent = html.split('id="recent-predictions"')[1].split("</section>")[0]
    rows = recent.split("<tr data-source=")[1:]
    assert len(rows) == 20
    assert HOSTILE not in html and "<img src=x" not in html, "the file name must be escaped"
    assert f'title="{escape(HOSTILE)}">{escape(HOSTILE)}</td>' in rows[0]
    assert "✗ truncated_image" in rows[0] and "20991231_020000" in rows[0]
    assert '"api" data-status="error"' in rows[1] and "✗ corrupt_image" in rows[1]
    assert "Watches" in rows[2] and "91.2%" in rows[2]
    assert '<span class="tier auto">auto-approve</span>' in rows[2]
    with connect(out) as conn:
        names = [r[0] for r in conn.execute("SELECT rel_name FROM batch_files WHERE rel_name != ?"
                                            " ORDER BY classified_at DESC, id DESC LIMIT 17", (HOSTILE,))]
    assert [r.split('class="file" title="')[1].split('"')[0] for r in rows[3:]] == names, "newest first"
    chart = html.split('id="error-distribution"')[1].split("</figure>")[0]
    assert "last 24 hours: 2 errors" in chart and '<svg class="chart" data-chart="errors"' in chart
    assert chart.count("<rect") == 2 + 2, "two bars and the legend's two keys"
    assert "API 400 · corrupt_image: 1" in chart and "Batch · truncated_image: 1" in chart
    data = c.get("/api/overview").get_json()
    assert data["recent_predictions"][0]["filename"] == HOSTILE
    assert [p["source"] for p in data["recent_predictions"][:3]] == ["batch", "api", "api"]
    assert data["recent_predictions"][2] | {"timestamp": None} == {
        "timestamp": None, "source": "api", "origin": "/predict", "filename": None, "status": "success",
        "category": "Watches", "confidence": 0.912, "tier": "auto", "error": None, "images": 1,
        "failed": None}
    errors = data["error_distribution"]
    assert (errors["window_hours"], errors["total"]) == (24, 2)
    assert sorted((g["source"], g["status_code"], g["kind"], g["count"]) for g in errors["groups"]) == [
        ("api", 400, "corrupt_image", 1), ("batch", None, "truncated_image", 1)]


def test_an_empty_history_shows_both_empty_states(tmp_path):
    app = create_app(dashboard_config(tmp_path))
    c = app.test_client()
    html = c.get("/").get_data(as_text=True)
    assert "No predictions recorded yet." in html
    assert '<p class="muted" data-chart="errors">No errors in the last 24 hours.</p>' in html
    assert "last 24 hours: 0 errors" in html
    data = c.get("/api/overview").get_json()
    assert data["recent_predictions"] == []
    assert (data["error_distribution"]["total"], data["error_distribution"]["groups"]) == (0, [])
    app.extensions["dashboard_db"].close()


def test_decision_through_the_api_moves_the_photo(client):
    c, out = client
    item = first_item(c)
    new = next(g["category"] for g in item["guesses"] if g["category"] != item["category"])
    response = c.post(f"/api/review/items/{item['id']}", json={"category": new, "reviewer": "Sarah"})
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["decision"]["folder"] == new and body["counts"]["corrected"] == 1
    assert (out / "data" / "processed_batches" / new / item["name"]).is_file()
    again = c.post(f"/api/review/items/{item['id']}", json={"category": new, "reviewer": "Bob"})
    assert again.status_code == 409 and "Sarah" in again.get_json()["error"]
    bad = c.post(f"/api/review/items/{first_item(c)['id']}", json={"category": "Hats", "reviewer": "x"})
    assert bad.status_code == 400


def test_undo_through_the_api_puts_the_photo_back(client):
    c, out = client
    item = first_item(c)
    processed = out / "data" / "processed_batches"
    new = next(g["category"] for g in item["guesses"] if g["category"] != item["category"])
    assert c.post(f"/api/review/items/{item['id']}/undo", json={"reviewer": "Sarah"}).status_code == 404
    decided = c.post(f"/api/review/items/{item['id']}", json={"category": new, "reviewer": "Sarah"})
    assert decided.status_code == 201 and item["id"] != first_item(c)["id"]
    cross = c.post(f"/api/review/items/{item['id']}/undo", json={"reviewer": "x"},
                   headers={"Origin": "http://evil.example"})
    form = c.post(f"/api/review/items/{item['id']}/undo", data={"reviewer": "x"})
    assert (cross.status_code, form.status_code) == (403, 415)
    assert (processed / new / item["name"]).is_file(), "nothing undone by refused calls"
    decision_id = decided.get_json()["decision"]["id"]
    undone = c.post(f"/api/review/items/{item['id']}/undo",
                    json={"reviewer": "Sarah", "decision_id": decision_id})
    assert undone.status_code == 200, undone.get_json()
    body = undone.get_json()
    assert body["undo"]["folder"] == item["folder"] and body["item"]["id"] == item["id"]
    assert body["counts"]["corrected"] == 0
    assert (processed / item["folder"] / item["name"]).is_file()
    assert not (processed / new / item["name"]).exists()
    assert item["id"] in {i["id"] for i in c.get("/api/review/items").get_json()["items"]}
    assert c.get(f"/review/photo/{item['id']}?size=thumb").status_code == 200
    twice = c.post(f"/api/review/items/{item['id']}/undo", json={"reviewer": "Bob"})
    assert twice.status_code == 409 and "already undone by Sarah" in twice.get_json()["error"]
    assert c.post(f"/api/review/items/{item['id']}/undo", json={"reviewer": "Bob", "decision_id": "x"}
                  ).status_code == 400
    again = c.post(f"/api/review/items/{item['id']}", json={"category": item["category"], "reviewer": "Bob"})
    assert again.status_code == 201 and again.get_json()["counts"]["confirmed"] == 1
    with connect(out) as conn:
        rows = [dict(r) for r in conn.execute("SELECT * FROM review_decisions ORDER BY id")]
    assert [(r["action"], r["undone_by"]) for r in rows] == [("corrected", "Sarah"), ("confirmed", None)]


def test_state_changes_only_as_same_origin_json(client):
    c, _ = client
    item = first_item(c)
    cross = c.post(f"/api/review/items/{item['id']}", json={"category": item["category"], "reviewer": "x"},
                   headers={"Origin": "http://evil.example"})
    assert cross.status_code == 403
    form = c.post(f"/api/review/items/{item['id']}", data={"category": item["category"], "reviewer": "x"})
    assert form.status_code == 415
    assert first_item(c)["id"] == item["id"], "nothing was decided"


def test_photos_are_served_only_from_the_category_folders(client):
    c, out = client
    item = first_item(c)
    thumb = c.get(f"/review/photo/{item['id']}?size=thumb")
    assert thumb.status_code == 200 and thumb.mimetype == "image/jpeg"
    assert max(Image.open(io.BytesIO(thumb.data)).size) <= 240
    with connect(out) as conn:
        failed = conn.execute("SELECT id FROM batch_files WHERE status != 'success' LIMIT 1").fetchone()[0]
    assert c.get(f"/review/photo/{failed}").status_code == 404
    assert c.get("/review/photo/999999").status_code == 404


def test_history_csv_and_corrections_download(client):
    c, _ = client
    response = c.get("/export/history.csv?days=7")
    lines = response.get_data(as_text=True).strip().splitlines()
    assert response.mimetype == "text/csv" and lines[0].startswith("run_id,timestamp,status")
    assert len(lines) - 1 == c.get("/api/overview?days=7").get_json()["period"]["runs"] == 7
    assert c.get("/review/corrections.csv").status_code == 404
    item = first_item(c)
    c.post(f"/api/review/items/{item['id']}", json={"category": item["category"], "reviewer": "Sarah"})
    exported = c.post("/api/review/export", json={})
    assert exported.get_json()["rows"] == 1
    assert c.get("/review/corrections.csv").get_data(as_text=True).startswith("id,path,label,sha256,group")


def test_login_protects_everything_and_names_the_reviewer(history_copy, tmp_path):
    users = tmp_path / "users"
    users.write_text("# clerks\n" + hash_password_line("sarah", "correct horse") + "\n")
    config = dashboard_config(history_copy, dashboard_users_file=users, dashboard_api_keys=("k-123",))
    app = create_app(config)
    c = app.test_client()
    assert c.get("/").status_code == 302 and "/login" in c.get("/").headers["Location"]
    assert c.get("/api/overview").status_code == 401
    assert c.get("/api/overview", headers={"X-API-Key": "wrong"}).status_code == 401
    assert c.get("/api/overview", headers={"X-API-Key": "k-123"}).status_code == 200
    assert c.get("/healthz").status_code == 200
    wrong = c.post("/login", data={"username": "sarah", "password": "nope", "next": "/review"})
    assert wrong.status_code == 401
    ok = c.post("/login", data={"username": "sarah", "password": "correct horse", "next": "//evil.example/"})
    assert ok.status_code == 302 and ok.headers["Location"] == "/", "open redirect"
    item = first_item(c)
    decided = c.post(f"/api/review/items/{item['id']}",
                     json={"category": item["category"], "reviewer": "Mallory"})
    assert decided.get_json()["decision"]["reviewer"] == "sarah"
    c.post("/logout")
    assert c.get("/review").status_code == 302
    app.extensions["dashboard_db"].close()


def test_server_refuses_an_open_dashboard_on_the_network(history_copy, capsys):
    config = dashboard_config(history_copy)
    assert server_main(["--host", "0.0.0.0"], config) == 2
    assert "refusing to serve 0.0.0.0 without a login" in capsys.readouterr().err


def test_hash_password_makes_a_users_file_line():
    result = subprocess.run([sys.executable, str(MONITORING / "dashboard.py"), "--hash-password", "mike"],
                            input="s3cret\n", capture_output=True, text=True, timeout=60)
    name, hashed = result.stdout.strip().split(":", 1)
    assert name == "mike" and check_password_hash(hashed, "s3cret")


def test_without_its_database_the_dashboard_answers_why(tmp_path):
    blocker = tmp_path / "logs"
    blocker.write_text("a file where the logs folder should be")  # even root cannot create the database
    app = create_app(replace(dashboard_config(tmp_path), history_db=blocker / "execution_history.db"))
    client = app.test_client()
    for path in ("/", "/healthz", "/api/overview", "/review"):
        response = client.get(path)
        assert response.status_code == 503, path
        body = response.get_json()
        assert body["code"] == "database_unavailable"
        assert "cannot open its history database" in body["error"] and str(blocker) in body["error"]
    assert "Content-Security-Policy" in client.get("/").headers

"""Migration 6 (what an API call answered) and the dashboard's activity queries, on real SQLite files."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta

import pytest

from fashion_classifier.history import MIGRATIONS, SCHEMA_VERSION, HistoryDB
from fashion_classifier.monitoring.activity import error_groups, recent_classifications

NOW = datetime(2026, 11, 25, 14, 0, 0)


def at(**delta) -> str:
    """A local ISO time relative to NOW, as the API and the batch write them."""
    return (NOW - timedelta(**delta)).isoformat(timespec="seconds")


def api_call(when: str, endpoint="/predict", status=200, **fields) -> dict:
    return {"timestamp": when, "endpoint": endpoint, "status_code": status, "response_time": 0.01,
            "success": 0 < status < 400, "method": "POST", "images": 1, **fields}


def add_batch_file(db: HistoryDB, run_id: str, seq: int, name: str, when: str | None, status="success",
                   category=None, confidence=None, tier=None, error_code=None) -> None:
    db.execute("INSERT INTO batch_files (run_id, seq, source_path, rel_name, state, status, category,"
               " confidence, tier, error_code, classified_at) VALUES (?, ?, ?, ?, 'done', ?, ?, ?, ?, ?, ?)",
               (run_id, seq, f"/in/{name}", name, status, category, confidence, tier, error_code, when))


def old_database(path, version: int) -> None:
    """A history file as the code of schema ``version`` left it, with rows of that time."""
    conn = sqlite3.connect(path)
    for script in MIGRATIONS[:version]:
        conn.executescript(script)
    conn.execute(f"PRAGMA user_version = {version}")
    conn.execute("INSERT INTO api_calls (timestamp, endpoint, status_code, response_time, success)"
                 " VALUES (?, '/predict', 200, 0.05, 1), (?, '/predict', 404, 0.01, 0)",
                 (at(hours=2), at(hours=1)))
    conn.commit()
    conn.close()


@pytest.mark.parametrize("version", [1, 5])
def test_an_old_database_is_migrated_and_its_rows_read(tmp_path, version):
    path = tmp_path / "old.db"
    old_database(path, version)
    db = HistoryDB(path)
    assert db.execute("PRAGMA user_version")[0][0] == SCHEMA_VERSION
    columns = {r["name"] for r in db.execute("PRAGMA table_info(api_calls)")}
    assert {"id", "timestamp", "endpoint", "status_code", "response_time", "success"} <= columns, \
        "the spec's columns stay"
    assert {"category", "confidence", "tier", "error", "failed", "images"} <= columns
    indexes = {r["name"] for r in db.execute("PRAGMA index_list(batch_files)")}
    assert "idx_batch_files_classified" in indexes
    db.record_api_calls([api_call(at(minutes=5), category="Heels", confidence=0.93, tier="auto")])
    recent = recent_classifications(db)
    assert [(c.category, c.confidence, c.tier, c.status) for c in recent] == [
        ("Heels", 0.93, "auto", "success"), (None, None, None, "error"), (None, None, None, "success")]
    groups = error_groups(db, at(hours=24))
    assert [(g.status_code, g.kind, g.count, g.label) for g in groups] == [(404, None, 1, "API 404")], \
        "an old row without an error code groups by its status"
    db.close()


def test_recent_classifications_merge_both_sources_newest_first(tmp_path):
    db = HistoryDB(tmp_path / "h.db")
    db.record_api_calls([
        api_call(at(minutes=50), category="Watches", confidence=0.97, tier="auto", request_id="a"),
        api_call(at(minutes=30), status=400, error="corrupt_image"),
        api_call(at(minutes=20), endpoint="/predict_batch", images=3, failed=1, error="empty_file"),
        api_call(at(minutes=10), endpoint="/health", images=0),  # not a classification
        api_call(at(minutes=5), endpoint="/predict_batch", status=0, error="refused"),  # never arrived
    ])
    add_batch_file(db, "20261125_020000", 1, "a.jpg", at(minutes=40), category="Kurtas", confidence=0.81,
                   tier="check")
    add_batch_file(db, "20261125_020000", 2, "b.jpg", at(minutes=15), status="error",
                   error_code="truncated_image")
    add_batch_file(db, "20261125_020000", 3, "c.jpg", None, status=None)  # listed, not classified yet
    recent = recent_classifications(db)
    assert [(c.source, c.origin, c.filename) for c in recent] == [
        ("batch", "20261125_020000", "b.jpg"), ("api", "/predict_batch", None), ("api", "/predict", None),
        ("batch", "20261125_020000", "a.jpg"), ("api", "/predict", None)]
    batch_call, failed_upload, kurtas = recent[1], recent[2], recent[3]
    assert (batch_call.images, batch_call.failed, batch_call.category, batch_call.error) == \
        (3, 1, None, "empty_file")
    assert (failed_upload.status, failed_upload.error) == ("error", "corrupt_image")
    assert (kurtas.category, kurtas.confidence, kurtas.tier, kurtas.error) == ("Kurtas", 0.81, "check", None)
    assert recent[0].as_json()["error"] == "truncated_image"
    assert [c.filename for c in recent_classifications(db, limit=2)] == ["b.jpg", None]
    db.close()


def test_recent_classifications_keep_the_limit_of_each_source(tmp_path):
    db = HistoryDB(tmp_path / "h.db")
    db.record_api_calls([api_call(at(minutes=m), category="Tops") for m in range(100, 70, -1)])
    for seq, m in enumerate(range(60, 30, -1)):
        add_batch_file(db, "r", seq, f"{seq}.jpg", at(minutes=m), category="Heels", confidence=0.9,
                       tier="auto")
    recent = recent_classifications(db, limit=20)
    assert len(recent) == 20 and {c.source for c in recent} == {"batch"}
    assert recent[0].timestamp == at(minutes=31) and recent[-1].timestamp == at(minutes=50)
    db.close()


def test_error_groups_count_the_window_by_status_and_kind(tmp_path):
    db = HistoryDB(tmp_path / "h.db")
    db.record_api_calls([
        api_call(at(hours=1), status=400, error="corrupt_image"),
        api_call(at(hours=2), status=400, error="corrupt_image"),
        api_call(at(hours=3), status=415, error="unsupported_format"),
        api_call(at(hours=4), endpoint="/nope", status=404, error="not_found"),
        api_call(at(hours=5), endpoint="/predict_batch", status=0, error="timed out after 30 s"),
        api_call(at(hours=6), endpoint="/predict_batch", status=0, error="connection refused"),
        api_call(at(hours=7), endpoint="/predict_batch", images=4, failed=2, error="empty_file"),  # a 200
        api_call(at(hours=25), status=400, error="corrupt_image"),  # before the window
    ])
    add_batch_file(db, "r", 1, "t1.jpg", at(hours=3), status="error", error_code="truncated_image")
    add_batch_file(db, "r", 2, "t2.jpg", at(hours=3), status="error", error_code="truncated_image")
    add_batch_file(db, "r", 3, "t3.jpg", at(hours=3), status="error", error_code="truncated_image")
    add_batch_file(db, "r", 4, "e.jpg", at(hours=3), status="error", error_code=None)
    add_batch_file(db, "r", 5, "d.jpg", at(hours=3), status="duplicate", category="Tops",
                   error_code="duplicate")  # not a failure
    add_batch_file(db, "r", 6, "old.jpg", at(hours=30), status="error", error_code="empty_file")
    add_batch_file(db, "r", 7, "ok.jpg", at(hours=2), category="Tops", confidence=0.9, tier="auto")
    groups = error_groups(db, at(hours=24))
    assert [(g.source, g.status_code, g.kind, g.count) for g in groups] == [
        ("batch", None, "truncated_image", 3),
        ("api", 0, "no_response", 2),
        ("api", 400, "corrupt_image", 2),
        ("api", 404, "not_found", 1),
        ("api", 415, "unsupported_format", 1),
        ("batch", None, "error", 1),
    ]
    assert groups[0].label == "Batch · truncated_image" and groups[2].label == "API 400 · corrupt_image"
    assert groups[2].as_json() == {"source": "api", "status_code": 400, "kind": "corrupt_image", "count": 2,
                                   "label": "API 400 · corrupt_image"}
    earlier = error_groups(db, at(hours=24), at(hours=2))  # the end is excluded: both corrupt uploads drop
    assert earlier == [g for g in groups if g.kind != "corrupt_image"]
    db.close()

"""The api_calls recorder: off the request path, never failing a request, nothing lost on shutdown."""

from __future__ import annotations

import sqlite3

import pytest
from api_support import flush, make_app, product_png, state, upload

from fashion_classifier.api.recorder import CallRecorder, close_all
from fashion_classifier.api.stats import latency_summary, percentile
from fashion_classifier.history import MIGRATIONS, HistoryDB, now_iso


def call_row(i: int, endpoint="/predict", status=200) -> dict:
    return {"timestamp": now_iso(), "endpoint": endpoint, "status_code": status, "response_time": 0.001 * i,
            "success": status < 400, "request_id": f"r{i}", "method": "POST", "category": None,
            "images": 1, "error": None}


def count(db_path, table="api_calls") -> int:
    db = HistoryDB(db_path)
    try:
        return db.execute(f"SELECT COUNT(*) FROM {table}")[0][0]
    finally:
        db.close()


def test_close_writes_everything_queued(tmp_path):
    recorder = CallRecorder(tmp_path / "h.db")
    prediction = {"timestamp": now_iso(), "request_id": "r", "endpoint": "/predict", "category": "Heels",
                  "confidence": 0.9, "tier": "auto"}
    for i in range(2000):
        assert recorder.record(call_row(i), [prediction])
    assert recorder.close(timeout=30)
    assert count(tmp_path / "h.db") == 2000
    assert count(tmp_path / "h.db", "api_predictions") == 2000
    assert recorder.written == 2000 and recorder.failed == 0


def test_close_all_flushes_every_recorder(tmp_path):
    recorders = [CallRecorder(tmp_path / f"{i}.db") for i in range(3)]
    for recorder in recorders:
        recorder.record(call_row(1))
    close_all(timeout=10)
    assert [count(tmp_path / f"{i}.db") for i in range(3)] == [1, 1, 1]


def test_a_full_queue_drops_instead_of_blocking(tmp_path):
    db_path = tmp_path / "h.db"
    HistoryDB(db_path).close()
    locker = sqlite3.connect(db_path, timeout=1)
    locker.execute("BEGIN EXCLUSIVE")  # the writer now waits on the lock
    recorder = CallRecorder(db_path, max_queue=5, batch_size=1)
    outcomes = [recorder.record(call_row(i)) for i in range(50)]
    assert not all(outcomes) and recorder.dropped == outcomes.count(False)
    locker.rollback()
    locker.close()
    assert recorder.close(timeout=30)
    assert count(db_path) == outcomes.count(True)


def test_requests_succeed_while_the_database_is_locked(tmp_config, shipped_predictor):
    app = make_app(tmp_config, shipped_predictor)
    db_path = tmp_config.path("history_db")
    locker = sqlite3.connect(db_path, timeout=1)
    locker.execute("BEGIN EXCLUSIVE")
    client = app.test_client()
    assert [upload(client, product_png()).status_code for _ in range(5)] == [200] * 5
    locker.rollback()
    locker.close()
    flush(app)
    assert count(db_path) == 5
    state(app).recorder.close()


def test_an_unusable_database_never_fails_a_request(tmp_config, shipped_predictor, tmp_path):
    not_a_db = tmp_path / "dir.db"
    not_a_db.mkdir()  # a directory where the database file should be
    app = make_app(tmp_config, shipped_predictor, history_db=not_a_db)
    client = app.test_client()
    assert upload(client, product_png()).status_code == 200
    flush(app)
    health = client.get("/health")  # answered, but not healthy: its calls are not being recorded
    assert health.status_code == 503 and health.get_json()["history_writable"] is False
    flush(app)
    assert state(app).recorder.failed == 2
    assert client.get("/stats").status_code == 500  # /stats itself needs the database
    state(app).recorder.close()


def test_rows_after_close_start_a_new_writer(tmp_path):
    recorder = CallRecorder(tmp_path / "h.db")
    recorder.record(call_row(1))
    recorder.close()
    recorder.record(call_row(2))
    recorder.close()
    assert count(tmp_path / "h.db") == 2


def test_old_database_gains_the_predictions_table(tmp_path):
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    for script in MIGRATIONS[:2]:
        conn.executescript(script)
    conn.execute("PRAGMA user_version = 2")
    conn.execute("INSERT INTO api_calls (timestamp, endpoint, status_code, response_time, success)"
                 " VALUES ('2026-01-01T00:00:00', '/predict', 200, 0.1, 1)")
    conn.commit()
    conn.close()
    recorder = CallRecorder(path)
    recorder.record(call_row(1), [{"timestamp": now_iso(), "request_id": "r1", "endpoint": "/predict",
                                   "category": "Watches", "confidence": 0.5, "tier": "review"}])
    recorder.close()
    assert count(path) == 2 and count(path, "api_predictions") == 1


def test_percentiles():
    values = sorted(float(v) for v in range(1, 101))
    assert percentile(values, 50) == 50 and percentile(values, 95) == 95 and percentile(values, 100) == 100
    assert percentile([], 50) is None and percentile([7.0], 95) == 7.0
    summary = latency_summary([0.003, 0.001, 0.002])
    assert summary == {"count": 3, "p50": 2.0, "p95": 3.0, "p99": 3.0, "mean": 2.0}
    assert latency_summary([])["p50"] is None


@pytest.mark.parametrize("window_hours, expected", [(24.0, 1), (24.0 * 365 * 20, 2)])
def test_latency_window(tmp_config, shipped_predictor, window_hours, expected):
    db = HistoryDB(tmp_config.path("history_db"))
    db.record_api_calls([{**call_row(5), "timestamp": "2020-01-01T00:00:00"}])
    db.close()
    app = make_app(tmp_config, shipped_predictor, stats_window_hours=window_hours)
    client = app.test_client()
    upload(client, product_png())
    flush(app)
    body = client.get("/stats").get_json()
    assert body["total_requests"] == 2  # totals cover all time
    assert body["latency_ms"]["by_endpoint"].get("/predict", {"count": 0})["count"] == expected
    state(app).recorder.close()


def test_sql_percentiles_match_the_nearest_rank_definition(tmp_path):
    import random

    from fashion_classifier.api.stats import collect
    from fashion_classifier.labels import CATEGORIES

    rng = random.Random(7)
    rows = {"/predict": [rng.uniform(0.001, 0.5) for _ in range(137)],
            "/health": [rng.uniform(0.0001, 0.01) for _ in range(23)],
            "/weird/path": [0.2], "/another": [0.4, 0.1]}
    db = HistoryDB(tmp_path / "h.db")
    db.record_api_calls([{**call_row(0, endpoint), "response_time": t}
                         for endpoint, times in rows.items() for t in times])
    db.close()
    latency = collect(tmp_path / "h.db", CATEGORIES, 24.0)["latency_ms"]
    assert latency["by_endpoint"]["/predict"] == latency_summary(rows["/predict"])
    assert latency["by_endpoint"]["/health"] == latency_summary(rows["/health"])
    assert latency["by_endpoint"]["other"] == latency_summary([0.2, 0.4, 0.1])
    assert latency["all"] == latency_summary([t for times in rows.values() for t in times])
    empty = collect(tmp_path / "empty.db", CATEGORIES, 24.0)["latency_ms"]
    assert empty["all"]["count"] == 0 and empty["by_endpoint"] == {}

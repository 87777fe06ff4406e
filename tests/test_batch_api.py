"""The batch through the real API (gunicorn on loopback): trusted caller, fallback, API killed mid-run."""

from __future__ import annotations

import json
import sqlite3
import time

import pytest
from batch_support import (
    BATCH_KEY,
    RESULTS,
    ApiServer,
    bad_inputs,
    categories_by_hash,
    check_exactly_once,
    clean_env,
    copy_photos,
    dataset_photos,
    db_rows,
    phone_photo,
    remaining_inputs,
    run_batch,
    start_batch,
    write_file,
)


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    """Strict public limits (2 batch calls per hour per worker): only a trusted caller gets through."""
    with ApiServer(tmp_path_factory.mktemp("api"), FASHION_RATELIMIT_BATCH="2 per hour") as server:
        yield server


def batch_env(api_url: str, key: str | None = BATCH_KEY, **extra: str) -> dict:
    env = clean_env(API_URL=api_url, FASHION_API_RETRIES="2", FASHION_API_BACKOFF_SECONDS="0.2", **extra)
    if key:
        env["FASHION_BATCH_KEY"] = key
    return env


def local_reference(tmp_path, inputs_maker) -> dict[str, str]:
    incoming, out = tmp_path / "ref_in", tmp_path / "ref_out"
    inputs = inputs_maker(incoming)
    assert run_batch(incoming, out, "--local").returncode == 0
    return categories_by_hash(check_exactly_once(inputs, incoming, out))


def photos_with_phone_shots(incoming):
    inputs = copy_photos(incoming, 30) | bad_inputs(incoming)
    for i, source in enumerate(dataset_photos(2, offset=60)):
        inputs |= write_file(incoming, f"20261124/phone_{i}.jpg", phone_photo(source))
    return inputs


def test_end_to_end_through_the_api_as_a_trusted_caller(tmp_path, api):
    reference = local_reference(tmp_path, photos_with_phone_shots)
    incoming, out = tmp_path / "in", tmp_path / "out"
    inputs = photos_with_phone_shots(incoming)
    result = run_batch(incoming, out, "--chunk-size", "4", "--concurrency", "3", env=batch_env(api.url))
    assert result.returncode == 0, result.stderr
    assert "API is healthy and ready" in result.stderr
    rows = check_exactly_once(inputs, incoming, out, reference)
    assert {r["filename"] for r in rows if r["status"] == "error"} == {
        "truncated.jpg", "not_an_image.jpg", "empty.jpg"}
    summary = json.loads(next((out / RESULTS).glob("summary_*.json")).read_text())
    assert summary["classifier_path"] == "api"
    paths = {r["classified_by"] for r in db_rows(out, "SELECT classified_by FROM batch_files")}
    assert paths == {"api", "batch"}, "photos by the API; empty file rejected by the batch itself"
    deadline = time.monotonic() + 10
    while True:  # the API writes its rows in batches, up to half a second after its answers
        with sqlite3.connect(api.folder / "api_history.db") as conn:
            statuses = [row[0] for row in conn.execute(
                "SELECT status_code FROM api_calls WHERE endpoint = '/predict_batch'")]
        if len(statuses) >= 9 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert len(statuses) >= 9 and set(statuses) == {200}, "more calls than the public limit, none throttled"


def test_untrusted_caller_is_throttled_and_falls_back(tmp_path, api):
    incoming, out = tmp_path / "in", tmp_path / "out"
    inputs = copy_photos(incoming, 24)
    result = run_batch(incoming, out, "--chunk-size", "2", "--concurrency", "1",
                       env=batch_env(api.url, key=None))
    assert result.returncode == 0, result.stderr
    check_exactly_once(inputs, incoming, out)
    summary = json.loads(next((out / RESULTS).glob("summary_*.json")).read_text())
    assert summary["classifier_path"] == "api+local"
    assert "rate-limited" in result.stderr and "FASHION_BATCH_KEY" in result.stderr
    paths = {r["classified_by"] for r in db_rows(out, "SELECT classified_by FROM batch_files")}
    assert paths == {"api", "local"}


# enough that the API cannot answer them all before the test sees ten done and kills it
# (160 single-photo calls once took the API under a second)
PHOTOS_KILLED_RUN = 600


def test_api_killed_mid_run_then_fallback_finishes_the_night(tmp_path):
    incoming, out = tmp_path / "in", tmp_path / "out"
    inputs = copy_photos(incoming, PHOTOS_KILLED_RUN)
    with ApiServer(tmp_path) as server:
        process = start_batch(incoming, out, "--chunk-size", "1", "--concurrency", "1",
                              env=batch_env(server.url))
        journal = out / "logs" / "execution_history.db"
        deadline = time.monotonic() + 60
        done = 0
        while done < 10 and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.02)
            try:
                done = db_rows(out, "SELECT COUNT(*) AS n FROM batch_files WHERE state = 'done'")[0]["n"] \
                    if journal.exists() else 0
            except sqlite3.OperationalError:
                pass
        server.kill()
        process.wait(timeout=120)
    stderr = process.stderr.read()
    assert done >= 10 and process.returncode == 0, stderr
    rows = check_exactly_once(inputs, incoming, out)
    assert len(rows) == PHOTOS_KILLED_RUN
    counts = {r["classified_by"]: r["n"] for r in db_rows(
        out, "SELECT classified_by, COUNT(*) AS n FROM batch_files GROUP BY classified_by")}
    assert counts["api"] >= 10 and counts["local"] >= 1 and sum(counts.values()) == PHOTOS_KILLED_RUN
    assert db_rows(out, "SELECT classifier_path FROM batch_runs")[0]["classifier_path"] == "api+local"
    unreached = db_rows(out, "SELECT * FROM api_calls WHERE status_code = 0")
    assert unreached and all(r["endpoint"] == "/predict_batch" and not r["success"] for r in unreached)
    alerts = db_rows(out, "SELECT severity, subject FROM alerts")
    assert {"severity": "CRITICAL", "subject": "API Down"} in alerts


def test_api_down_from_the_start(tmp_path):
    incoming, out = tmp_path / "in", tmp_path / "out"
    inputs = copy_photos(incoming, 5)
    dead = "http://127.0.0.1:9"  # discard port: nothing listens
    refused = run_batch(incoming, out, "--no-fallback", env=batch_env(dead))
    assert refused.returncode == 1, refused.stderr
    assert len(remaining_inputs(incoming)) == 5, "nothing moves when nothing could classify"
    assert db_rows(out, "SELECT status FROM batch_runs")[0]["status"] == "failed"
    fallback = run_batch(incoming, out, env=batch_env(dead))
    assert fallback.returncode == 0, fallback.stderr
    rows = check_exactly_once(inputs, incoming, out)
    run = db_rows(out, "SELECT * FROM batch_runs")
    run_id = run[0]["run_id"]
    assert {r["_file"] for r in rows} == {f"batch_results_{run_id}.csv"}, "the failed run was resumed"
    assert len(run) == 1 and run[0]["status"] == "success" and run[0]["classifier_path"] == "local"
    assert "completed on attempt 2" in run[0]["error_message"]

"""The real server: gunicorn (2 workers, preloaded model) on a free loopback port, and the dev server."""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from api_support import free_port, product_png, real_photos, stop, wait_ready

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
TRUSTED = {"X-Batch-Key": "nightly-test-key"}
pytestmark = pytest.mark.timeout(240)  # a hung server fails the test instead of the whole run


def server_env(tmp_path: Path, port: int, **extra: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    env.update({"PORT": str(port), "FASHION_HISTORY_DB": str(tmp_path / "history.db"),
                "FASHION_LOGS_DIR": str(tmp_path / "logs"),
                "FASHION_API_WORKERS": "2",
                "FASHION_TRUSTED_KEYS": TRUSTED["X-Batch-Key"], "FASHION_RATELIMIT_STATS": "3 per minute",
                "FASHION_API_LOG_LEVEL": "WARNING", **extra})
    return env


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("gunicorn")
    port = free_port()
    log = open(tmp_path / "server.log", "wb")
    process = subprocess.Popen(
        [str(BIN / "gunicorn"), "-c", "api/gunicorn.conf.py", "-b", f"127.0.0.1:{port}", "api.wsgi:app"],
        cwd=ROOT, env=server_env(tmp_path, port), stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url + "/readyz", process)
        yield {"url": url, "process": process, "db": tmp_path / "history.db", "log": tmp_path / "server.log"}
    finally:
        stop(process)
        log.close()


def test_predict_over_http(server):
    photo = real_photos(1)[0]
    response = requests.post(server["url"] + "/predict", files={"file": ("p.jpg", photo)}, timeout=30)
    body = response.json()
    assert response.status_code == 200, body
    assert body["request_id"] == response.headers["X-Request-ID"]
    assert 0 < body["confidence"] <= 1 and len(body["all_predictions"]) == 11  # ten and Other


def test_batch_over_http(server):
    photos = real_photos(20)
    files = [("files", (f"{i}.jpg", p)) for i, p in enumerate(photos)] + [("files", ("bad.jpg", b"nope"))]
    body = requests.post(server["url"] + "/predict_batch", files=files, headers=TRUSTED, timeout=60).json()
    assert (body["total"], body["successful"], body["failed"]) == (21, 20, 1)
    assert body["results"][20] == {"index": 20, "filename": "bad.jpg", "status": "error",
                                   "error": body["results"][20]["error"], "code": "unsupported_format"}


def test_errors_are_json_over_http(server):
    response = requests.get(server["url"] + "/nowhere", timeout=10)
    assert response.status_code == 404 and response.json()["code"] == "not_found"
    response = requests.post(server["url"] + "/predict", files={"file": ("x.jpg", b"")}, timeout=10)
    assert response.status_code == 400 and response.json()["code"] == "empty_file"


def test_body_over_10_mb_is_413_json_over_http(server):
    big = b"\xff\xd8\xff" + bytes(11 * 1024 * 1024)
    response = requests.post(server["url"] + "/predict", files={"file": ("big.jpg", big)}, timeout=60)
    assert response.status_code == 413 and response.json()["code"] == "payload_too_large"
    assert requests.get(server["url"] + "/healthz", timeout=10).status_code == 200


def test_metrics_sum_all_workers(server):
    url = server["url"]
    before = _counter(requests.get(url + "/metrics", timeout=10).text, "fashion_api_predictions_total")
    for _ in range(12):  # separate connections: both workers get some
        with requests.Session() as session:
            assert session.post(url + "/predict", files={"file": ("a.png", product_png())},
                                headers=TRUSTED, timeout=30).status_code == 200
    text = requests.get(url + "/metrics", timeout=10).text
    assert _counter(text, "fashion_api_predictions_total") == before + 12
    assert "fashion_model_load_seconds" in text
    assert 'fashion_api_request_duration_seconds_bucket{endpoint="/predict"' in text


def _counter(text: str, name: str) -> float:
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(name + "{"))


def test_stats_cover_all_workers(server):
    url = server["url"]
    for _ in range(6):
        requests.get(url + "/classes", timeout=10)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:  # rows land a moment after the responses
        body = requests.get(url + "/stats", headers=TRUSTED, timeout=10).json()
        if body["requests_by_endpoint"].get("/classes", {}).get("requests", 0) >= 6:
            break
        time.sleep(0.2)
    assert body["requests_by_endpoint"]["/classes"]["requests"] >= 6
    assert body["total_predictions"] >= 1


def test_stats_rate_limit_429(server):
    url = server["url"]
    statuses = []
    for _ in range(20):  # 3 per minute per worker; two workers with in-memory counters
        response = requests.get(url + "/stats", timeout=10)
        statuses.append(response.status_code)
        if response.status_code == 429:
            break
    assert statuses[-1] == 429, statuses
    assert set(statuses[:-1]) == {200}
    assert int(response.headers["Retry-After"]) > 0
    assert response.json()["code"] == "rate_limited"


def test_graceful_stop_loses_no_history_rows(tmp_path):
    port = free_port()
    env = server_env(tmp_path, port)
    log = tmp_path / "server.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [str(BIN / "gunicorn"), "-c", "api/gunicorn.conf.py", "-b", f"127.0.0.1:{port}", "api.wsgi:app"],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            wait_ready(f"http://127.0.0.1:{port}/readyz", process)
            ids = []
            with requests.Session() as session:
                for _ in range(40):
                    ids.append(session.get(f"http://127.0.0.1:{port}/healthz", timeout=10)
                               .headers["X-Request-ID"])
        finally:
            code = stop(process)
    assert code == 0, log.read_text()[-2000:]
    conn = sqlite3.connect(tmp_path / "history.db")
    recorded = {row[0] for row in conn.execute("SELECT request_id FROM api_calls")}
    conn.close()
    assert set(ids) <= recorded


def test_a_stop_right_after_the_start_stops_every_worker(tmp_path):
    """SIGTERM as soon as the first worker answers, while the others may still be building
    their interpreters (post_fork): every worker must stop, and quickly. Before post_fork reset
    the master's inherited signal handlers, such a worker ignored the signal until the master
    killed it after the graceful timeout."""
    for attempt in range(3):
        port = free_port()
        log = tmp_path / f"server-{attempt}.log"
        with open(log, "wb") as out:
            argv = [str(BIN / "gunicorn"), "-c", "api/gunicorn.conf.py", "-b", f"127.0.0.1:{port}",
                    "api.wsgi:app"]
            env = server_env(tmp_path, port, FASHION_API_WORKERS="4")
            process = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
            try:
                wait_ready(f"http://127.0.0.1:{port}/readyz", process)
                started = time.monotonic()
                code = stop(process, timeout=20)
            finally:
                if process.poll() is None:
                    process.kill()
        assert code == 0, log.read_text()[-2000:]
        assert time.monotonic() - started < 15, "a worker did not stop on SIGTERM"


def test_api_never_imports_tensorflow(tmp_path):
    code = ("import sys; from fashion_classifier.api import create_app; app = create_app(); "
            "c = app.test_client(); assert c.get('/readyz').status_code == 200; "
            "bad = [m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras', 'tf_keras')]; "
            "print('IMPORTED', bad); sys.exit(1 if bad else 0)")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                            env=server_env(tmp_path, 0), timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "IMPORTED []" in result.stdout


def test_dev_server_and_help(tmp_path):
    help_text = subprocess.run([sys.executable, "api/app.py", "--help"], cwd=ROOT, capture_output=True,
                               text=True, timeout=60)
    assert help_text.returncode == 0 and "--port" in help_text.stdout
    port = free_port()
    process = subprocess.Popen([sys.executable, "api/app.py"], cwd=ROOT, env=server_env(tmp_path, port),
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_ready(f"http://127.0.0.1:{port}/health", process)
        assert requests.get(f"http://127.0.0.1:{port}/classes", timeout=10).json()["count"] == 10
    finally:
        stop(process)


def test_workers_share_the_rotating_log_files_without_losing_a_line(tmp_path):
    """Two gunicorn workers (sync, one request at a time each), rotating api.log every few
    lines: each request's line is in api.log or a backup exactly once."""
    from concurrent.futures import ThreadPoolExecutor

    from batch_support import ApiServer

    with ApiServer(tmp_path, workers=2, FASHION_API_THREADS="1", FASHION_API_LOG_LEVEL="INFO",
                   FASHION_API_LOG_MAX_BYTES="3000", FASHION_API_LOG_BACKUPS="200",
                   RATELIMIT_ENABLED="false") as api:
        def call(i: int) -> str:
            return requests.get(f"{api.url}/classes", timeout=30, headers={"X-Request-ID": f"req-{i:03d}"}
                                ).headers["X-Request-ID"]

        with ThreadPoolExecutor(8) as pool:
            sent = list(pool.map(call, range(120)))
    # read once the server stopped: each worker writes its queued request lines as it exits
    logs = tmp_path / "api_logs"
    files = [logs / "api.log", *logs.glob("api.log.*[0-9]")]
    lines = [line for f in files for line in f.read_text().splitlines()]
    logged = [m.group(1) for line in lines for m in [re.search(r"request_id=(req-\d{3}) ", line)] if m]
    assert sorted(logged) == sorted(sent), "a request's log line was lost or doubled"
    assert len(files) > 5, "the test did not rotate"
    assert all(line.startswith("[") for line in lines), "a line was split"

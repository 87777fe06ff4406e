"""check_api_health.py against a real API (gunicorn), a dead port, and an API without its model."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from alert_servers import free_port
from batch_support import ApiServer, clean_env
from werkzeug.serving import make_server

from fashion_classifier.api import create_app
from fashion_classifier.config import Config

from .history_support import MONITORING, run_script


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    with ApiServer(tmp_path_factory.mktemp("api"), workers=1) as server:
        yield server


def check_env(tmp_path, base: dict | None = None, **extra: str) -> dict:
    """The check's own history, state and log folders under tmp_path."""
    return dict(base or clean_env(), FASHION_HISTORY_DB=str(tmp_path / "logs" / "history.db"),
                FASHION_LOGS_DIR=str(tmp_path / "logs"), FASHION_MONITORING_STATE_DIR=str(tmp_path / "state"),
                **extra)


def rows(tmp_path, sql: str) -> list[tuple]:
    with sqlite3.connect(tmp_path / "logs" / "history.db") as conn:
        return conn.execute(sql).fetchall()


def test_healthy_api_exits_0_and_logs_the_check(api, tmp_path):
    env = check_env(tmp_path)
    result = run_script("check_api_health.py", "--url", api.url, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "API OK" in result.stdout and "/health answered 200" in result.stdout
    ready = run_script("check_api_health.py", "--url", api.url, "--endpoint", "readyz", env=env)
    assert ready.returncode == 0 and "/readyz answered 200" in ready.stdout
    logged = rows(tmp_path, "SELECT target, ok, status_code, consecutive_failures FROM health_checks")
    assert logged == [(api.url + "/health", 1, 200, 0), (api.url + "/readyz", 1, 200, 0)]


def test_a_slow_answer_is_a_warning(api, tmp_path):
    result = run_script("check_api_health.py", "--url", api.url,
                        env=check_env(tmp_path, FASHION_HEALTH_CHECK_SLOW_SECONDS="0"))
    assert result.returncode == 1 and "API WARNING" in result.stdout and "slow: over 0s" in result.stdout


def test_alert_after_three_failures_once_then_once_on_recovery(api, tmp_path, receivers):
    smtp, slack, base = receivers
    env = check_env(tmp_path, base)
    dead = f"http://127.0.0.1:{free_port()}"
    codes, mails, posts = [], [], []
    for _ in range(4):
        result = run_script("check_api_health.py", "--url", dead, env=env)
        codes.append(result.returncode)
        mails.append(len(smtp.mailbox.messages))
        posts.append(len(slack.posts))
    assert codes == [1, 1, 2, 2]
    assert mails == [0, 0, 1, 1] and posts == [0, 0, 1, 1], "alerted before the 3rd failure, or twice"
    assert "Connection refused" in result.stdout and "4 consecutive failures" in result.stdout
    assert smtp.mailbox.messages[0]["subject"] == "[CRITICAL] Fashion Classifier - API Down"
    assert "Consecutive failed checks: 3" in smtp.mailbox.messages[0]["body"]
    assert slack.texts[0].startswith("🔴 CRITICAL") and "API Down" in slack.texts[0]

    recovered = run_script("check_api_health.py", "--url", api.url, env=env)
    assert recovered.returncode == 0 and "recovered after 4 failed checks" in recovered.stdout
    again = run_script("check_api_health.py", "--url", api.url, env=env)
    assert again.returncode == 0 and "recovered" not in again.stdout
    assert [m["subject"] for m in smtp.mailbox.messages] == [
        "[CRITICAL] Fashion Classifier - API Down", "[INFO] Fashion Classifier - API Recovered"]
    assert len(slack.posts) == 2 and "API Recovered" in slack.texts[1]
    assert rows(tmp_path, "SELECT severity, subject, source FROM alerts ORDER BY id") == [
        ("CRITICAL", "API Down", "monitoring"), ("INFO", "API Recovered", "monitoring")]
    assert [r[0] for r in rows(tmp_path, "SELECT consecutive_failures FROM health_checks ORDER BY id")] \
        == [1, 2, 3, 4, 0, 0]
    log = (tmp_path / "logs" / "alerts.log").read_text()
    assert "CRITICAL monitoring: API Down (email=sent slack=sent)" in log


def test_a_new_outage_alerts_again(tmp_path, receivers, api):
    smtp, _, base = receivers
    env = check_env(tmp_path, base, FASHION_HEALTH_CHECK_FAILURES_TO_ALERT="1")
    dead = f"http://127.0.0.1:{free_port()}"
    for url in (dead, api.url, dead):
        run_script("check_api_health.py", "--url", url, env=env)
    subjects = [m["subject"].split(" - ")[1] for m in smtp.mailbox.messages]
    assert subjects == ["API Down", "API Recovered", "API Down"]


def test_api_without_its_model_alerts_model_not_loaded(tmp_path, receivers):
    smtp, slack, base = receivers
    config = Config(model_path=tmp_path / "missing.tflite", history_db=tmp_path / "api.db", logs_dir=tmp_path,
                    ratelimit_enabled=False, api_log_level="CRITICAL")
    server = make_server("127.0.0.1", 0, create_app(config), threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        result = run_script("check_api_health.py", "--url", f"http://127.0.0.1:{server.server_port}",
                            "--failures", "1", env=check_env(tmp_path, base))
    finally:
        server.shutdown()
    assert result.returncode == 2, result.stdout
    assert "HTTP 503: model not loaded" in result.stdout
    assert [m["subject"] for m in smtp.mailbox.messages] == [
        "[CRITICAL] Fashion Classifier - Model Not Loaded"]
    assert "Model Not Loaded" in slack.texts[0]


def test_corrupt_state_file_starts_afresh_and_no_alerts_sends_nothing(tmp_path, receivers):
    smtp, slack, base = receivers
    env = check_env(tmp_path, base)
    (tmp_path / "state").mkdir()
    (tmp_path / "state" / "api_health.json").write_text("{not json")
    dead = f"http://127.0.0.1:{free_port()}"
    first = run_script("check_api_health.py", "--url", dead, "--no-alerts", env=env)
    assert first.returncode == 1 and "failure 1 of 3" in first.stdout
    assert "ignoring unreadable state file" in first.stderr
    for _ in range(2):
        last = run_script("check_api_health.py", "--url", dead, "--no-alerts", env=env)
    assert last.returncode == 2 and "not sent (--no-alerts)" in last.stdout
    assert smtp.mailbox.messages == [] and slack.posts == []
    state = json.loads((tmp_path / "state" / "api_health.json").read_text())
    assert state["consecutive_failures"] == 3 and state["alerted"] is True


def test_cron_wrapper_loads_the_env_file_logs_and_keeps_the_exit_code(tmp_path):
    env_file = tmp_path / "batch.env"
    dead = f"http://127.0.0.1:{free_port()}"
    env_file.write_text(f"API_URL={dead}\nFASHION_HEALTH_CHECK_FAILURES_TO_ALERT=1\n")
    env = check_env(tmp_path, FASHION_BATCH_ENV=str(env_file), FASHION_CRON_LOG_DIR=str(tmp_path / "cron"),
                    FASHION_VENV=str(Path(sys.executable).parent.parent))
    result = subprocess.run([str(MONITORING / "run_monitoring.sh"), "check_api_health.py", "--no-alerts"],
                            env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2, result.stderr
    log = (tmp_path / "cron" / "cron_monitoring.log").read_text()
    assert f"API CRITICAL - {dead}/health" in log
    bad = subprocess.run([str(MONITORING / "run_monitoring.sh"), "rm"], env=env, capture_output=True,
                         text=True, timeout=60)
    assert bad.returncode == 64 and "no such monitoring command" in bad.stderr

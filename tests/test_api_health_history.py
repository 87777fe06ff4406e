"""/health and /readyz are not green while the history database cannot be written.

As root every folder is writable, so these use what root cannot write either: a
history path under a regular file, and a history path that is a folder (the write
fails). The container test (tests/test_image.py) covers a volume uid 10001 cannot write.
"""

from __future__ import annotations

from api_support import make_app, product_png, state, upload


def test_history_under_a_file_is_unhealthy_and_not_ready(tmp_config, shipped_predictor, tmp_path):
    blocker = tmp_path / "logs-is-a-file"
    blocker.write_text("not a folder")
    app = make_app(tmp_config.with_overrides(history_db=blocker / "execution_history.db"), shipped_predictor)
    client = app.test_client()
    health = client.get("/health")
    assert health.status_code == 503
    body = health.get_json()
    assert body["status"] == "unhealthy" and body["model_loaded"] is True
    assert body["history_writable"] is False
    assert "logs-is-a-file" in body["problem"] and "not writable" in body["problem"]
    ready = client.get("/readyz")
    assert ready.status_code == 503 and ready.get_json()["code"] == "not_ready"
    assert "history database folder" in ready.get_json()["error"]
    assert client.get("/healthz").status_code == 200  # alive: a restart would not help
    state(app).recorder.close()


def test_a_failed_history_write_makes_the_api_unhealthy_until_one_succeeds(tmp_config, shipped_predictor):
    history = tmp_config.path("history_db")
    history.mkdir(parents=True)  # a folder where the database file should be: sqlite cannot open it
    app = make_app(tmp_config, shipped_predictor)
    client = app.test_client()
    assert client.get("/readyz").status_code == 200  # nothing has failed yet
    assert upload(client, product_png()).status_code == 200  # the request itself never suffers
    recorder = state(app).recorder
    assert recorder.flush(10) and recorder.failed >= 1  # every call is recorded, probes too
    health = client.get("/health").get_json()
    assert health["history_writable"] is False and "could not be written" in health["problem"]
    assert client.get("/readyz").status_code == 503
    history.rmdir()  # the operator fixes it: the next write succeeds and health comes back
    assert upload(client, product_png()).status_code == 200
    assert recorder.flush(10) and recorder.last_error is None
    assert client.get("/health").get_json()["history_writable"] is True
    assert client.get("/readyz").status_code == 200
    recorder.close()


def test_healthy_api_reports_a_writable_history(client):
    body = client.get("/health").get_json()
    assert body["history_writable"] is True and "problem" not in body

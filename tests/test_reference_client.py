"""Black box: the reference system's clients, commands and settings against ours (issue 16).

What the seed repository named in the spec does, done here against real processes:
its start command ``gunicorn api.app:app`` on a free loopback port, the requests of its
``api/test_api.py``, ``tests/test_api.py`` and ``src/batch_processor.py`` (multipart and
base64, every key they read), its ``from api.app import app``, its alert settings
(``SMTP_SERVER`` ...) with ``monitoring/alerting.py --test`` against a real SMTP server and
Slack receiver, and our batch against an API shaped like the reference's.
"""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from alert_servers import PASSWORD, USER, SlackReceiver, SmtpServer, self_signed_cert
from api_support import free_port, stop, wait_ready
from batch_support import ROOT, clean_env, copy_photos, csv_rows, run_batch, write_file
from conftest import real_photos

from fashion_classifier.api.routes.docs import _curl
from fashion_classifier.labels import load_labels, split_labels

BIN = Path(sys.executable).parent
# the shipped model's categories (the reference's own test asserts 10; the model decides)
CLASSES = len(split_labels(load_labels(ROOT / "models" / "labels.json"))[0])
pytestmark = pytest.mark.timeout(300)
REFERENCE_NAMES = ("SMTP_SERVER", "SMTP_PORT", "SMTP_USER", "SMTP_PASSWORD", "ALERT_EMAIL", "SLACK_WEBHOOK",
                   "PROMETHEUS_MULTIPROC_DIR", "GUNICORN_CMD_ARGS", "PORT")


def plain_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """No settings from outside; history and logs in ``tmp_path``."""
    env = {k: v for k, v in clean_env().items() if k not in REFERENCE_NAMES}
    env.update({"FASHION_HISTORY_DB": str(tmp_path / "history.db"),
                "FASHION_LOGS_DIR": str(tmp_path / "logs"), "FASHION_API_LOG_LEVEL": "INFO", **extra})
    return env


def start(command: list[str], env: dict, log: Path, ready_path: str,
          port: int) -> tuple[subprocess.Popen, str]:
    handle = open(log, "wb")
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=handle, stderr=subprocess.STDOUT)
    handle.close()
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url + ready_path, process)
    except Exception:
        stop(process)
        raise AssertionError(f"{command} did not start:\n{log.read_text()[-3000:]}") from None
    return process, url


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """``gunicorn api.app:app``, the reference's command as typed (the port through gunicorn's
    own GUNICORN_CMD_ARGS), with the reference's rate limits except a roomier /stats."""
    tmp = tmp_path_factory.mktemp("reference-start")
    port = free_port()
    # (its control socket off too: several servers of the test suite may run side by side)
    env = plain_env(tmp, GUNICORN_CMD_ARGS=f"--bind 127.0.0.1:{port} --no-control-socket",
                    FASHION_RATELIMIT_STATS="100 per minute")
    process, url = start([str(BIN / "gunicorn"), "api.app:app"], env, tmp / "server.log", "/health", port)
    try:
        yield {"url": url, "logs": tmp / "logs", "process": process}
    finally:
        stop(process)


def photo(index: int = 0) -> tuple[str, bytes]:
    category, path = real_photos()[index]
    return category, path.read_bytes()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


# --- the reference's API tests (tests/test_api.py, api/test_api.py) --------------------------
def test_home_health_and_classes_answer_the_reference_keys(server):
    url = server["url"]
    home = requests.get(url + "/", timeout=10).json()
    assert "service" in home and "endpoints" in home
    assert home["status"] == "running" and home["model"] == {"loaded": True, "classes": CLASSES}
    health = requests.get(url + "/health", timeout=10).json()
    assert health["status"] == "healthy" and health["model_loaded"] is True and health["classes"] == CLASSES
    classes = requests.get(url + "/classes", timeout=10).json()
    assert classes["total"] == CLASSES == classes["count"] == len(classes["classes"])
    assert isinstance(classes["classes"], list)
    for path in ("/", "/health", "/classes", "/stats"):  # TestAPIResponseFormat: all valid JSON
        assert requests.get(url + path, timeout=10).headers["Content-Type"].startswith("application/json")
    missing = requests.get(url + "/invalid_endpoint", timeout=10)
    assert missing.status_code == 404 and "error" in missing.json()


def test_multipart_predict_as_the_reference_clients_read_it(server):
    category, data = photo(0)
    response = requests.post(server["url"] + "/predict", files={"file": ("product.jpg", data)}, timeout=30)
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["category"] in requests.get(server["url"] + "/classes", timeout=10).json()["classes"]
    assert 0 < result["confidence"] <= 1
    top5 = list(result["all_probabilities"].items())[:5]  # api/test_api.py prints these
    assert len(top5) == 5 and [p for _, p in top5] == sorted((p for _, p in top5), reverse=True)
    assert top5[0] == (result["category"], result["confidence"])
    assert result["all_probabilities"] == result["all_predictions"]
    assert abs(sum(result["all_probabilities"].values()) - 1) < 1e-3
    assert "timestamp" in result


def test_base64_predict_answers_as_the_upload(server):
    _, data = photo(3)
    upload = requests.post(server["url"] + "/predict", files={"file": ("p.jpg", data)}, timeout=30).json()
    sent = requests.post(server["url"] + "/predict", json={"image": b64(data)}, timeout=30)
    assert sent.status_code == 200, sent.text
    body = sent.json()
    assert (body["category"], body["confidence"]) == (upload["category"], upload["confidence"])
    assert body["all_probabilities"] == upload["all_probabilities"]


def test_predict_batch_multipart_base64_and_instances(server):
    photos = [photo(i)[1] for i in (1, 4, 7)]
    files = [("files", (f"return_{i}.jpg", data)) for i, data in enumerate(photos)]
    multipart = requests.post(server["url"] + "/predict_batch", files=files, timeout=60).json()
    assert [r["filename"] for r in multipart["results"]] == ["return_0.jpg", "return_1.jpg", "return_2.jpg"]
    assert multipart["total_processed"] == multipart["total"] == 3
    as_json = requests.post(server["url"] + "/predict_batch", json={"images": [b64(d) for d in photos]},
                            timeout=60).json()
    instances = requests.post(server["url"] + "/predict_batch",
                              json={"instances": [{"b64": b64(d)} for d in photos]}, timeout=60).json()
    for body in (as_json, instances):
        assert [r["filename"] for r in body["results"]] == ["image_0.jpg", "image_1.jpg", "image_2.jpg"]
        assert body["total_processed"] == 3
    for a, b, c in zip(multipart["results"], as_json["results"], instances["results"], strict=True):
        assert a["category"] == b["category"] == c["category"] and a["confidence"] == b["confidence"]
        assert a["all_probabilities"] == a["all_predictions"] == c["all_probabilities"]


def test_errors_are_json_400s_with_a_code(server):
    url = server["url"] + "/predict"
    nothing = requests.post(url, timeout=10)  # the reference's test_predict_endpoint_without_file
    assert nothing.status_code == 400 and "error" in nothing.json()
    cases = [
        (requests.post(url, json={"image": "not base64 at all!"}, timeout=10), "invalid_base64"),
        (requests.post(url, files={"file": ("notes.jpg", b"a delivery note\n" * 50)}, timeout=10),
         "unsupported_format"),
        (requests.post(url, json={"image": b64(b"%PDF-1.4 an invoice")}, timeout=10), "unsupported_format"),
        (requests.post(url, data=b"{not json", headers={"Content-Type": "application/json"}, timeout=10),
         "invalid_json"),
    ]
    for response, code in cases:
        assert response.status_code == 400, response.text
        body = response.json()
        assert body["code"] == code and body["error"] and body["status"] == 400, body


def settled_stats(url: str) -> dict:
    """/stats once the earlier calls' rows are all written (the API writes them in batches,
    up to half a second after its answers): two reads 0.7 s apart that agree."""
    deadline = time.monotonic() + 20
    last = requests.get(url + "/stats", timeout=10).json()
    while time.monotonic() < deadline:
        time.sleep(0.7)
        now = requests.get(url + "/stats", timeout=10).json()
        if now["total_images_processed"] == last["total_images_processed"] and \
                now["total_requests"] == last["total_requests"] + 1:  # only the previous /stats call
            return now
        last = now
    raise AssertionError("/stats never settled")


def test_stats_count_images_as_the_reference_defines_them(server):
    url = server["url"]
    before = settled_stats(url)
    _, data = photo(5)
    requests.post(url + "/predict", files={"file": ("a.jpg", data)}, timeout=30)
    requests.post(url + "/predict", json={"image": b64(data)}, timeout=30)
    requests.post(url + "/predict", files={"file": ("b.jpg", b"no image")}, timeout=30)
    deadline, after = time.monotonic() + 20, before
    while after["total_images_processed"] < before["total_images_processed"] + 3:
        assert time.monotonic() < deadline, f"/stats never counted the three images: {after}"
        time.sleep(0.2)
        after = requests.get(url + "/stats", timeout=10).json()
    assert after["successful_predictions"] == before["successful_predictions"] + 2
    assert after["failed_predictions"] == before["failed_predictions"] + 1
    total = after["total_images_processed"]
    assert total == after["successful_predictions"] + after["failed_predictions"]
    assert after["success_rate"] == round(100 * after["successful_predictions"] / total, 2)
    assert after["model_loaded"] is True and after["total_requests"] > before["total_requests"]
    assert re.fullmatch(r"(\d+ days?, )?\d+:\d\d:\d\d", after["uptime_human"]), after["uptime_human"]
    assert after["uptime_seconds"] >= before["uptime_seconds"]


def test_log_files_are_written_beside_stderr(server):
    response = requests.post(server["url"] + "/predict", files={"file": ("x.jpg", b"")}, timeout=10)
    rid = response.headers["X-Request-ID"]
    log = server["logs"] / "api.log"
    deadline = time.monotonic() + 10
    while rid not in (log.read_text() if log.exists() else ""):
        assert time.monotonic() < deadline, "the request never reached logs/api.log"
        time.sleep(0.1)
    line = next(line for line in log.read_text().splitlines() if rid in line)
    assert re.match(r"\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\] INFO: POST /predict 400 \(", line), line
    assert "error_code=empty_file" in line
    errors = (server["logs"] / "api_errors.log").read_text()
    assert " INFO: " not in errors and " WARNING: " not in errors


def test_the_documented_curl_commands_work(server, tmp_path):
    if not (shutil.which("curl") and shutil.which("base64") and shutil.which("bash")):
        pytest.skip("curl, base64 and bash are needed to run the documented commands")
    for i, name in enumerate(("product.jpg", "a.jpg", "b.png")):
        (tmp_path / name).write_bytes(photo(i)[1])
    for path in ("/predict", "/predict_batch"):
        for command in _curl("post", path, {}).replace("http://localhost:5000", server["url"]).splitlines():
            done = subprocess.run(["bash", "-c", command], cwd=tmp_path, capture_output=True, text=True,
                                  timeout=60)
            body = json.loads(done.stdout)
            assert "category" in body or body["successful"] >= 1, (command, done.stdout[:300], done.stderr)


def shell_commands(doc: Path, start: str) -> list[str]:
    """The commands of a doc that begin with ``start``, continuation lines joined."""
    lines, commands = doc.read_text().splitlines(), []
    for i, line in enumerate(lines):
        if line.startswith(start):
            command = line
            while command.endswith("\\"):
                i += 1
                command = command[:-1] + lines[i]
            commands.append(command)
    return commands


def test_the_base64_commands_of_readme_and_api_doc_work(server, tmp_path):
    if not (shutil.which("curl") and shutil.which("base64") and shutil.which("bash")):
        pytest.skip("curl, base64 and bash are needed to run the documented commands")
    (tmp_path / "product.jpg").write_bytes(photo(2)[1])
    runs = [(c, ROOT) for c in shell_commands(ROOT / "README.md", "(printf")]
    runs += [(c, tmp_path) for c in shell_commands(ROOT / "docs" / "API.md", "(printf")]
    assert len(runs) == 2
    for command, cwd in runs:
        command = re.sub(r"http://(127\.0\.0\.1|localhost):5000", server["url"], command)
        done = subprocess.run(["bash", "-c", command], cwd=cwd, capture_output=True, text=True, timeout=60)
        assert "category" in json.loads(done.stdout), (command, done.stdout[:300], done.stderr)


def test_the_start_command_binds_loopback_with_the_defaults(server):
    # the reference's bare command: gunicorn's defaults (one sync worker), here on the port we chose
    assert server["process"].args == [str(BIN / "gunicorn"), "api.app:app"]
    assert server["url"].startswith("http://127.0.0.1:")


# --- importing the app, the development server ---------------------------------------------
def test_from_api_app_import_app_builds_it_once(tmp_path):
    code = ("from api.app import app\nimport api.app as module\nassert module.app is app\n"
            "client = app.test_client()\nprint(client.get('/health').get_json()['classes'])")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=plain_env(tmp_path),
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(CLASSES)
    assert (tmp_path / "logs" / "api.log").read_text().count("INFO: API ready") == 1


def test_dev_server_loads_the_model_once_and_help_not_at_all(tmp_path):
    help_run = subprocess.run([sys.executable, "api/app.py", "--help"], cwd=ROOT, env=plain_env(tmp_path),
                              capture_output=True, text=True, timeout=60)
    assert help_run.returncode == 0 and "--port" in help_run.stdout
    assert not (tmp_path / "logs" / "api.log").exists(), "--help built the app"
    port = free_port()
    process, url = start([sys.executable, "api/app.py", "--port", str(port)], plain_env(tmp_path),
                         tmp_path / "dev.log", "/readyz", port)
    try:
        assert requests.get(url + "/classes", timeout=10).json()["total"] == CLASSES
    finally:
        stop(process)
    assert (tmp_path / "logs" / "api.log").read_text().count("INFO: API ready") == 1


# --- the reference's alert settings ----------------------------------------------------------
@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    if not shutil.which("openssl"):
        pytest.skip("the openssl command is needed to make the SMTP server's test certificate")
    return self_signed_cert(tmp_path_factory.mktemp("tls"))


def reference_alert_env(tmp_path: Path, smtp: SmtpServer, slack: SlackReceiver, certificate) -> dict:
    return plain_env(tmp_path, SMTP_SERVER="127.0.0.1", SMTP_PORT=str(smtp.port), SMTP_USER=USER,
                     SMTP_PASSWORD=PASSWORD, ALERT_EMAIL="returns-lead@example.com", SLACK_WEBHOOK=slack.url,
                     # our own setting: trust the test server's self-signed certificate
                     FASHION_SMTP_CA_FILE=str(certificate[0]), FASHION_ALERT_RETRIES="0")


def alerting(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "monitoring/alerting.py", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


def test_alerting_test_sends_every_severity_on_every_channel(tmp_path, certificate):
    with SmtpServer(*certificate) as smtp, SlackReceiver() as slack:
        done = alerting(reference_alert_env(tmp_path, smtp, slack, certificate), "--test")
    assert done.returncode == 0, done.stdout + done.stderr
    severities = ["INFO", "WARNING", "ERROR", "CRITICAL"]
    mails = smtp.mailbox.messages
    assert sorted(m["subject"] for m in mails) == sorted(f"[{s}] Fashion Classifier - System Test"
                                                         for s in severities)
    assert all(m["to"] == ["returns-lead@example.com"] and m["tls"] and m["login"] for m in mails)
    assert sorted(next(s for s in severities if f"{s}: Fashion Classifier Alert" in t) for t in slack.texts) \
        == sorted(severities)
    assert "✓ email worked: 4/4" in done.stdout and "✓ slack worked: 4/4" in done.stdout
    assert f"SMTP 127.0.0.1:{smtp.port}" in done.stdout and PASSWORD not in done.stdout
    log = (tmp_path / "logs" / "alerts.log").read_text()
    assert log.count("test: System Test (email=sent slack=sent)") == 4


def test_alerting_test_says_which_channel_failed(tmp_path, certificate):
    with SmtpServer(*certificate) as smtp, SlackReceiver(fail_first=-1) as slack:
        done = alerting(reference_alert_env(tmp_path, smtp, slack, certificate), "--test")
    assert done.returncode == 1, done.stdout
    assert "✓ email worked: 4/4" in done.stdout
    assert "✗ slack FAILED: 0/4" in done.stdout and "webhook answered 500" in done.stdout
    assert len(smtp.mailbox.messages) == 4 and slack.attempts == 4


def test_alerting_without_channels_or_without_test(tmp_path):
    helped = alerting(plain_env(tmp_path), "--help")
    assert helped.returncode == 0 and "--test" in helped.stdout and "SMTP_SERVER" in helped.stdout
    bare = alerting(plain_env(tmp_path))
    assert bare.returncode == 2 and "--test" in bare.stdout
    assert not (tmp_path / "logs" / "alerts.log").exists(), "the bare command sent something"
    done = alerting(plain_env(tmp_path), "--test")
    assert done.returncode == 2
    assert "email: not configured" in done.stdout and "slack: not configured" in done.stdout


# --- our batch against an API shaped like the reference's ----------------------------------------
@pytest.fixture(scope="module")
def reference_api(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("reference-api")
    port = free_port()
    command = [str(BIN / "gunicorn"), "--pythonpath", "tests", "-b", f"127.0.0.1:{port}",
               "--no-control-socket", "reference_api:app"]
    process, url = start(command, plain_env(tmp), tmp / "server.log", "/health", port)
    try:
        yield url
    finally:
        stop(process)


def test_our_batch_classifies_through_the_reference_api(reference_api, tmp_path, shipped_predictor):
    incoming, out = tmp_path / "incoming", tmp_path / "out"
    inputs = copy_photos(incoming, 6)
    inputs |= write_file(incoming, "packing_list.txt", b"order 1234: 2 shirts, 1 watch\n")
    env = clean_env(API_URL=reference_api, FASHION_FALLBACK_LOCAL="false", FASHION_API_RETRIES="0")
    done = run_batch(incoming, out, "--no-alerts", env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    rows = csv_rows(out)
    assert len(rows) == 6 and all(r["status"] == "success" for r in rows), rows
    for row in rows:  # the reference API answered, and it answered what our model says
        expected = shipped_predictor.predict_bytes((out / row["destination"]).read_bytes())
        assert row["category"] == expected.category, row
        assert abs(float(row["confidence"]) - expected.confidence) < 1e-4
    summary = json.loads(next((out / "results" / "batch_results").glob("summary_*.json")).read_text())
    assert summary["classifier_path"] == "api" and summary["failed"] == 0
    assert (incoming / "packing_list.txt").exists(), "the document was not left in place"
    assert [s["filename"] for s in summary["skipped"]] == ["packing_list.txt"]

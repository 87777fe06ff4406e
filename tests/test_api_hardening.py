"""Hostile and unlucky clients against the real server: gunicorn (the API's GuardedThreadWorker)
on a free loopback port, spoken to with raw sockets where a well-behaved client library would
not misbehave. Every slow client here is bounded: a few bytes, a socket timeout, a deadline."""

from __future__ import annotations

import io
import json
import socket
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests
from api_support import free_port, product_png, real_photos
from PIL import Image
from test_api_gunicorn import stop, wait_ready
from test_imaging_fuzz import corrupt_heif

from fashion_classifier import imaging

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
HEADER_TIMEOUT, BODY_TIMEOUT = 2, 3
pytestmark = pytest.mark.timeout(240)
JSON_KEYS = {"error", "status", "code", "timestamp", "request_id"}


def start_server(tmp_path: Path, bind: bool = True, **settings: str):
    port = free_port()
    env = {k: v for k, v in __import__("os").environ.items()
           if not k.startswith("FASHION_") and k not in ("PROMETHEUS_MULTIPROC_DIR", "PORT")}
    env.update({"PORT": str(port), "FASHION_HISTORY_DB": str(tmp_path / "history.db"),
                "FASHION_LOGS_DIR": str(tmp_path / "logs"), "FASHION_API_WORKERS": "2",
                "FASHION_API_THREADS": "4", "FASHION_API_LOG_LEVEL": "WARNING",
                "FASHION_API_HEADER_TIMEOUT_SECONDS": str(HEADER_TIMEOUT),
                "FASHION_API_BODY_TIMEOUT_SECONDS": str(BODY_TIMEOUT), **settings})
    log = open(tmp_path / "server.log", "wb")
    command = [str(BIN / "gunicorn"), "-c", "api/gunicorn.conf.py", "api.wsgi:app"]
    if bind:
        command[1:1] = ["-b", f"127.0.0.1:{port}"]
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url + "/readyz", process)
    except BaseException:
        stop(process)
        log.close()
        raise
    return {"url": url, "port": port, "process": process, "log": log, "tmp": tmp_path}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    # no FASHION_TRUSTED_KEYS: the key the server makes at first start is the only trusted one
    running = start_server(tmp_path_factory.mktemp("hardened"), FASHION_RATELIMIT_BATCH="2 per hour",
                           FASHION_REQUEST_MAX_PIXELS="3000000")
    key = (running["tmp"] / "logs" / "internal.key").read_text().strip()
    running["trusted"] = {"X-Batch-Key": key}
    yield running
    stop(running["process"])
    running["log"].close()


# --- raw HTTP -------------------------------------------------------------------------
def exchange(port: int, head: bytes, trickle: bytes = b"", every: float = 0.5, wait: float = 20,
             end: bool = False) -> bytes:
    """Send ``head`` at once, then ``trickle`` one byte per ``every`` s (``end``: then say that was
    all, a half-close); return all that comes back."""
    with socket.create_connection(("127.0.0.1", port), timeout=wait) as sock:
        sock.sendall(head)
        if end:
            sock.shutdown(socket.SHUT_WR)
        for byte in trickle:
            try:
                sock.sendall(bytes([byte]))
            except OSError:  # the server answered and closed: stop sending
                break
            time.sleep(every)
        answer = b""
        try:
            while chunk := sock.recv(65536):
                answer += chunk
        except ConnectionResetError:
            pass
    return answer


def parsed(answer: bytes) -> tuple[int, dict, dict]:
    head, _, body = answer.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
    return int(lines[0].split()[1]), {k.lower(): v for k, v in headers.items()}, json.loads(body)


def assert_json_error(answer: bytes, status: int, code: str) -> dict:
    got, headers, body = parsed(answer)
    assert got == status, answer[:500]
    assert headers["content-type"].startswith("application/json")
    assert JSON_KEYS <= set(body) and body["status"] == status and body["code"] == code, body
    assert body["request_id"] == headers["x-request-id"]
    return body


def multipart(parts: list[tuple[bytes, bytes]], boundary: bytes = b"BOUNDARY") -> bytes:
    out = b""
    for name, data in parts:
        out += (b"--" + boundary + b'\r\nContent-Disposition: form-data; name="files"; filename="' + name
                + b'"\r\nContent-Type: application/octet-stream\r\n\r\n' + data + b"\r\n")
    return out + b"--" + boundary + b"--\r\n"


# --- 1: a corrupt HEIF is a 4xx, and only its own ----------------------------------------
def test_corrupt_heif_is_a_400_and_fails_only_itself_in_a_batch(server):
    if not imaging.HEIF_SUPPORTED:
        pytest.skip("pillow-heif is not installed on this platform")
    response = requests.post(server["url"] + "/predict", files={"file": ("poison.heic", corrupt_heif())},
                             headers=server["trusted"], timeout=30)
    assert response.status_code == 400 and response.json()["code"] == "corrupt_image", response.text
    good = real_photos(2)
    files = [("files", ("a.jpg", good[0])), ("files", ("poison.heic", corrupt_heif())),
             ("files", ("b.jpg", good[1]))]
    body = requests.post(server["url"] + "/predict_batch", files=files, headers=server["trusted"],
                         timeout=60).json()
    assert [r["status"] for r in body["results"]] == ["success", "error", "success"], body
    assert body["results"][1]["code"] == "corrupt_image" and body["results"][1]["index"] == 1
    assert requests.get(server["url"] + "/readyz", timeout=10).status_code == 200


# --- 3: slow clients ------------------------------------------------------------------------
POST_HEAD = (b"POST /predict HTTP/1.1\r\nHost: t\r\nContent-Type: multipart/form-data; boundary=BOUNDARY\r\n"
             b"Content-Length: 100000\r\n\r\n")


def test_headers_sent_too_slowly_get_a_json_408(server):
    answer = exchange(server["port"], b"POST /predict HTTP/1.1\r\n", trickle=b"Host: slowly-but-surely\r\n",
                      every=0.5)
    body = assert_json_error(answer, 408, "request_timeout")
    assert "headers" in body["error"]


def test_a_body_trickling_in_gets_a_json_408(server):
    answer = exchange(server["port"], POST_HEAD, trickle=b"--BOUNDARY\r\n" + b"x" * 30, every=0.5)
    body = assert_json_error(answer, 408, "request_timeout")
    assert f"{BODY_TIMEOUT} s" in body["error"]


def test_a_body_that_stops_midway_gets_a_json_408(server):
    answer = exchange(server["port"], POST_HEAD + b"--BOUNDARY\r\nContent-Disposition: form-")
    assert_json_error(answer, 408, "request_timeout")


def test_slow_clients_do_not_keep_others_waiting(server):
    """Five clients trickle bodies at 2 bytes/s (more than the three workers the issue saw pinned);
    a normal photo sent meanwhile is answered while they are all still sending."""
    answers: list[bytes] = []
    slow = [threading.Thread(target=lambda: answers.append(
        exchange(server["port"], POST_HEAD, trickle=b"y" * 20, every=0.5))) for _ in range(5)]
    for thread in slow:
        thread.start()
    time.sleep(0.5)  # all five connected and sending
    response = requests.post(server["url"] + "/predict", files={"file": ("p.png", product_png())},
                             headers=server["trusted"], timeout=30)
    still_sending = sum(thread.is_alive() for thread in slow)
    for thread in slow:
        thread.join(30)
    assert response.status_code == 200, response.text
    assert still_sending == 5, "the normal request was only answered after the slow ones ended"
    assert len(answers) == 5 and all(parsed(a)[0] == 408 for a in answers)


# --- 4: expensive images: the decode budget ------------------------------------------------
def flat_png(side: int, shade: int) -> bytes:
    """A big image in few bytes (what costs the decoder seconds and the worker memory)."""
    buffer = io.BytesIO()
    Image.new("RGB", (side, side), (shade, 100, 50)).save(buffer, format="PNG")
    return buffer.getvalue()


def test_a_batch_past_its_pixel_budget_answers_the_rest_as_a_clear_error(server):
    # the server's budget: 3 MP a request; each image is 1.44 MP
    files = [("files", (f"{i}.png", flat_png(1200, 10 * i))) for i in range(4)]
    response = requests.post(server["url"] + "/predict_batch", files=files, headers=server["trusted"],
                             timeout=60)
    body = response.json()
    assert response.status_code == 200, body
    assert [r["status"] for r in body["results"]] == ["success", "success", "error", "error"]
    assert {r["code"] for r in body["results"][2:]} == {"request_budget_exceeded"}
    assert "send this image again" in body["results"][2]["error"]
    assert [r["index"] for r in body["results"]] == [0, 1, 2, 3]
    # the first image of a request always fits, whatever its size: resending works
    again = requests.post(server["url"] + "/predict_batch", files=files[2:], headers=server["trusted"],
                          timeout=60).json()
    assert [r["status"] for r in again["results"]] == ["success", "success"]


def test_a_batch_past_its_time_budget_answers_the_rest_as_a_clear_error(tmp_path):
    running = start_server(tmp_path, FASHION_REQUEST_DECODE_SECONDS="0")
    try:
        files = [("files", (f"{i}.png", product_png(color=(10 * i, 20, 30)))) for i in range(3)]
        body = requests.post(running["url"] + "/predict_batch", files=files, timeout=60).json()
    finally:
        stop(running["process"])
        running["log"].close()
    assert [r["status"] for r in body["results"]] == ["success", "error", "error"], body
    assert "decode budget" in body["results"][1]["error"]


# --- 5: odd multipart file names --------------------------------------------------------------
def test_multipart_names_not_utf8_or_with_newlines_keep_every_part_and_index(server):
    png = product_png()
    names = [b"first.png", b"caf\xe9.png", b"line\nbreak.png", b"cr\r\nlf.png", b"last.png"]
    response = requests.post(server["url"] + "/predict_batch", data=multipart([(n, png) for n in names]),
                             headers={**server["trusted"],
                                      "Content-Type": "multipart/form-data; boundary=BOUNDARY"}, timeout=60)
    body = response.json()
    assert response.status_code == 200, body
    assert [(r["index"], r["filename"], r["status"]) for r in body["results"]] == [
        (0, "first.png", "success"), (1, "café.png", "success"), (2, "linebreak.png", "success"),
        (3, "crlf.png", "success"), (4, "last.png", "success")]


# --- 6: broken requests gunicorn itself answers, and a broken chunked body -------------------------
def test_a_malformed_chunked_upload_is_a_json_400(server):
    head = (b"POST /predict HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n"
            b"Content-Type: multipart/form-data; boundary=BOUNDARY\r\n\r\n")
    assert_json_error(exchange(server["port"], head + b"ZZ\r\nnot a chunk\r\n"), 400, "malformed_body")
    truncated = head + b"10\r\n--BOUNDARY\r\nCon"  # 16 bytes promised, 15 sent, then the end
    assert_json_error(exchange(server["port"], truncated, end=True), 400, "malformed_body")


@pytest.mark.parametrize(("request_bytes", "status", "code"), [
    (b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: t\r\n\r\n", 414, "uri_too_long"),
    (b"GET / HTTP/1.1\r\nHost: t\r\n" + b"".join(b"X-H%d: v\r\n" % i for i in range(150)) + b"\r\n",
     431, "header_fields_too_large"),
    (b"GET / HTTP/1.1\r\nHost: t\r\nX-Big: " + b"v" * 9000 + b"\r\n\r\n", 431, "header_fields_too_large"),
    (b"NOT A REQUEST LINE\r\n\r\n", 400, "bad_request"),
    (b"GET / HTTP/9.9\r\nHost: t\r\n\r\n", 400, "bad_request"),
], ids=["uri-too-long", "too-many-headers", "header-too-large", "bad-request-line", "bad-version"])
def test_errors_gunicorn_answers_itself_are_json(server, request_bytes, status, code):
    assert_json_error(exchange(server["port"], request_bytes), status, code)


# --- 9: the batch's key, made at first start -----------------------------------------------------
def test_the_internal_key_is_made_private_and_trusted(server):
    path = server["tmp"] / "logs" / "internal.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(path.read_text().strip()) == 64
    files = [("files", ("a.png", product_png()))]
    for _ in range(4):  # over the 2-per-hour limit: a trusted caller is never limited
        assert requests.post(server["url"] + "/predict_batch", files=files, headers=server["trusted"],
                             timeout=30).status_code == 200
    statuses = [requests.post(server["url"] + "/predict_batch", files=files, timeout=30).status_code
                for _ in range(6)]  # two workers, each with its own in-memory counter
    assert 429 in statuses
    wrong = {"X-Batch-Key": "0" * 64}  # 2 workers x 2 allowed: at most 4 untrusted calls pass in all
    statuses = [requests.post(server["url"] + "/predict_batch", files=files, headers=wrong,
                              timeout=30).status_code for _ in range(5)]
    assert statuses.count(429) >= 3, statuses


def test_the_internal_key_survives_a_restart_and_is_never_replaced(tmp_path):
    key_file = tmp_path / "logs" / "internal.key"
    key_file.parent.mkdir()
    key_file.write_text("k" * 64 + "\n")
    key_file.chmod(0o600)
    running = start_server(tmp_path, FASHION_RATELIMIT_BATCH="1 per hour")
    try:
        files = [("files", ("a.png", product_png()))]
        codes = [requests.post(running["url"] + "/predict_batch", files=files,
                               headers={"X-Batch-Key": "k" * 64}, timeout=30).status_code for _ in range(3)]
    finally:
        stop(running["process"])
        running["log"].close()
    assert codes == [200, 200, 200]
    assert key_file.read_text() == "k" * 64 + "\n"


# --- 10: loopback unless told otherwise ----------------------------------------------------------
@pytest.mark.parametrize(("host", "listening"), [(None, "127.0.0.1"), ("0.0.0.0", "0.0.0.0")])
def test_gunicorn_config_binds_loopback_by_default(tmp_path, host, listening):
    settings = {"FASHION_API_HOST": host} if host else {}
    running = start_server(tmp_path, bind=False, **settings)  # the bind of api/gunicorn.conf.py
    stop(running["process"])
    running["log"].close()
    log = (tmp_path / "server.log").read_text()
    assert f"Listening at: http://{listening}:{running['port']}" in log, log[-1500:]

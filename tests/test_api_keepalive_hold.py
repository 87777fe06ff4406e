"""The keep-alive hold (api/worker.py): a thread that answered a kept-alive connection serves
the client's next request itself if it comes within ``FASHION_API_KEEPALIVE_HOLD_MS``.

Real gunicorn on a free loopback port; each connection is one ``http.client`` connection or a
raw socket, so which connection carried which request is known. Whether a request was served
on a held connection is read from ``fashion_api_keepalive_held_requests_total`` in /metrics."""

from __future__ import annotations

import http.client
import json
import re
import signal
import socket
import threading
import time

import pytest
from api_support import product_png, real_photos
from test_api_gunicorn import stop
from test_api_hardening import HEADER_TIMEOUT, assert_json_error, exchange, start_server

from fashion_classifier.api.worker import HOLD_MAX_REQUESTS

pytestmark = pytest.mark.timeout(240)
BOUNDARY = "holdtest"


def photo_body(photo: bytes) -> bytes:
    return (f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="p.jpg"\r\n'
            "Content-Type: image/jpeg\r\n\r\n").encode() + photo + f"\r\n--{BOUNDARY}--\r\n".encode()


HEADERS = {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}


def held(port: int) -> float:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", "/metrics")
        text = conn.getresponse().read().decode()
    finally:
        conn.close()
    found = re.search(r"^fashion_api_keepalive_held_requests_total (\S+)$", text, re.M)
    return float(found.group(1)) if found else 0.0


def predict_in_a_row(port: int, photos: list[bytes], count: int) -> list[dict]:
    """``count`` predictions back to back on one connection; fails if it was ever reopened."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    answers, first_socket = [], None
    try:
        for i in range(count):
            conn.request("POST", "/predict", body=photo_body(photos[i % len(photos)]), headers=HEADERS)
            response = conn.getresponse()
            answers.append({"status": response.status, "body": json.loads(response.read())})
            first_socket = first_socket or conn.sock
            assert conn.sock is first_socket, f"request {i}: the server closed the kept-alive connection"
    finally:
        conn.close()
    return answers


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    running = start_server(tmp_path_factory.mktemp("hold"), RATELIMIT_ENABLED="false")
    yield running
    stop(running["process"])
    running["log"].close()


def test_requests_back_to_back_are_served_on_the_held_connection(server):
    photos = real_photos(8)
    before = held(server["port"])
    answers = predict_in_a_row(server["port"], photos, 40)
    assert [a["status"] for a in answers] == [200] * 40
    assert len({a["body"]["request_id"] for a in answers}) == 40
    # the same photo gets the same answer wherever in the row it comes
    assert answers[0]["body"]["category"] == answers[8]["body"]["category"] == answers[16]["body"]["category"]
    served_held = held(server["port"]) - before
    # 39 could be held; a client pausing past the hold now and then is served through the poller
    assert 20 <= served_held <= 39


def test_a_connection_goes_back_to_the_poller_after_the_most_in_a_row(server):
    count = HOLD_MAX_REQUESTS + 50
    before = held(server["port"])
    answers = predict_in_a_row(server["port"], [product_png()], count)
    assert all(a["status"] == 200 for a in answers)
    served_held = held(server["port"]) - before
    assert served_held <= count - 2, "no request of the row went through the poller"
    assert served_held >= count // 2


def test_a_second_client_is_answered_while_the_first_never_pauses(server):
    stop_first, errors = threading.Event(), []

    def busy_client():
        conn = http.client.HTTPConnection("127.0.0.1", server["port"], timeout=30)
        try:
            while not stop_first.is_set():
                conn.request("POST", "/predict", body=photo_body(product_png()), headers=HEADERS)
                response = conn.getresponse()
                response.read()
                if response.status != 200:
                    errors.append(response.status)
        finally:
            conn.close()

    threads = [threading.Thread(target=busy_client) for _ in range(3)]  # more than 2 workers
    for thread in threads:
        thread.start()
    try:
        time.sleep(0.3)
        others = [predict_in_a_row(server["port"], [product_png()], 3) for _ in range(5)]
    finally:
        stop_first.set()
        for thread in threads:
            thread.join(30)
    assert all(a["status"] == 200 for answers in others for a in answers)
    assert not errors


def test_requests_sent_together_are_answered_in_order(server):
    """Two requests in one write (pipelining): the second is already in gunicorn's buffer, not
    on the socket, when the first is answered."""
    one = b"GET /health HTTP/1.1\r\nHost: t\r\n\r\n"
    two = b"GET /openapi.json HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
    with socket.create_connection(("127.0.0.1", server["port"]), timeout=30) as sock:
        sock.sendall(one + two)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    statuses = re.findall(rb"^HTTP/1\.1 (\d{3}) ", answer, re.M)
    assert statuses == [b"200", b"200"], answer[:300]
    assert answer.index(b'"status"') < answer.index(b'"openapi"')  # /health's body first


def test_a_body_the_app_did_not_read_does_not_become_the_next_request(server):
    """A 404 for a POST with a body: the body is left unread by the app; the next request on
    the held connection must be answered as itself."""
    conn = http.client.HTTPConnection("127.0.0.1", server["port"], timeout=30)
    try:
        conn.request("POST", "/no-such-route", body=b"GET /health HTTP/1.1\r\n\r\n" * 50)
        response = conn.getresponse()
        assert response.status == 404 and json.loads(response.read())["code"] == "not_found"
        conn.request("GET", "/health")
        response = conn.getresponse()
        assert response.status == 200 and "status" in json.loads(response.read())
    finally:
        conn.close()


def test_a_next_request_that_trickles_in_on_a_held_connection_gets_a_json_408(server):
    first = b"GET /health HTTP/1.1\r\nHost: t\r\n\r\n"
    started = time.monotonic()
    answer = exchange(server["port"], first + b"GET /health HTTP/1.1\r\n", trickle=b"Host: slowly\r\n",
                      every=0.5)
    assert answer.startswith(b"HTTP/1.1 200")
    second = answer[answer.index(b"HTTP/1.1 408"):]
    assert_json_error(second, 408, "request_timeout")
    assert time.monotonic() - started < HEADER_TIMEOUT + 5


def test_with_the_hold_off_every_request_goes_through_the_poller(tmp_path):
    running = start_server(tmp_path, FASHION_API_KEEPALIVE_HOLD_MS="0", RATELIMIT_ENABLED="false")
    try:
        answers = predict_in_a_row(running["port"], [product_png()], 20)
        assert all(a["status"] == 200 for a in answers)
        assert held(running["port"]) == 0
    finally:
        stop(running["process"])
        running["log"].close()


def test_a_stop_while_a_client_never_pauses_is_graceful(tmp_path):
    running = start_server(tmp_path, RATELIMIT_ENABLED="false")
    statuses, failures = [], []

    def busy_client():
        conn = http.client.HTTPConnection("127.0.0.1", running["port"], timeout=30)
        try:
            while True:
                conn.request("POST", "/predict", body=photo_body(product_png()), headers=HEADERS)
                response = conn.getresponse()
                response.read()
                statuses.append(response.status)
                if response.getheader("Connection", "").lower() == "close":
                    return
        except (OSError, http.client.HTTPException) as exc:  # the server closed between requests
            failures.append(type(exc).__name__)
        finally:
            conn.close()

    client = threading.Thread(target=busy_client)
    client.start()
    try:
        time.sleep(1.0)
        started = time.monotonic()
        running["process"].send_signal(signal.SIGTERM)
        code = running["process"].wait(30)
        client.join(30)
    finally:
        stop(running["process"])
        running["log"].close()
    assert code == 0
    assert time.monotonic() - started < 15
    assert len(statuses) > 10 and set(statuses) == {200}
    assert not client.is_alive()

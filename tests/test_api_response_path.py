"""The cheap paths of a request: a response's head sent with its body (``coalesce``), and a
/predict upload kept in memory (``uploads.UploadRequest``). Real sockets, a real file, the app."""

from __future__ import annotations

import http.client
import socket
from io import BytesIO

import pytest
from api_support import make_app, product_png, state, upload
from test_api_gunicorn import stop
from test_api_hardening import start_server

from fashion_classifier.api.coalesce import ResponseSocket
from fashion_classifier.api.uploads import MULTIPART_SLACK, UploadRequest

HEAD = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n"


@pytest.fixture
def pair():
    ours, peer = socket.socketpair()
    peer.settimeout(5)
    sock = ResponseSocket(ours, header_timeout=5)
    yield sock, peer
    sock.close()
    peer.close()


def nothing_waiting(peer: socket.socket) -> bool:
    peer.setblocking(False)
    try:
        peer.recv(1, socket.MSG_PEEK)
        return False
    except BlockingIOError:
        return True
    finally:
        peer.settimeout(5)


def receive(peer: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = peer.recv(size - len(data))
        assert chunk, "connection closed early"
        data += chunk
    return data


def test_the_head_waits_for_the_body_and_both_go_in_order(pair):
    sock, peer = pair
    with sock.holding():
        sock.sendall(HEAD)
        assert nothing_waiting(peer)
        sock.sendall(b"hello")
        assert receive(peer, len(HEAD) + 5) == HEAD + b"hello"
        sock.sendall(b"more")  # later chunks pass straight through
        assert receive(peer, 4) == b"more"


def test_a_head_without_a_body_is_sent_when_the_response_ends(pair):
    sock, peer = pair
    with sock.holding():
        sock.sendall(b"HTTP/1.1 204 No Content\r\n\r\n")
        assert nothing_waiting(peer)
    assert receive(peer, 27) == b"HTTP/1.1 204 No Content\r\n\r\n"


def test_outside_a_response_nothing_is_kept(pair):
    sock, peer = pair
    sock.sendall(HEAD)  # e.g. the worker's own JSON error page
    assert receive(peer, len(HEAD)) == HEAD


def test_a_file_sent_after_the_head_comes_after_it(pair, tmp_path):
    sock, peer = pair
    path = tmp_path / "body.bin"
    path.write_bytes(b"F" * 5000)
    with sock.holding(), open(path, "rb") as file:
        sock.sendall(HEAD)
        sock.sendfile(file)
    assert receive(peer, len(HEAD) + 5000) == HEAD + b"F" * 5000


def test_a_kept_head_is_sent_before_a_shutdown(pair):
    sock, peer = pair
    with sock.holding():
        sock.sendall(HEAD)
        sock.shutdown(socket.SHUT_WR)
    assert receive(peer, len(HEAD)) == HEAD
    assert peer.recv(10) == b""  # then the end


def test_a_head_kept_for_a_client_that_left_is_dropped_quietly(pair):
    sock, peer = pair
    peer.close()
    with sock.holding():
        sock.sendall(HEAD)
        sock.close()  # no BrokenPipeError out of close


def test_answers_without_a_body_over_http(tmp_path):
    running = start_server(tmp_path, RATELIMIT_ENABLED="false")
    try:
        conn = http.client.HTTPConnection("127.0.0.1", running["port"], timeout=30)
        conn.request("HEAD", "/health")
        response = conn.getresponse()
        assert response.status == 200 and response.read() == b""
        conn.request("OPTIONS", "/predict")  # answered on the same kept-alive connection
        response = conn.getresponse()
        assert response.status in (200, 204) and "POST" in response.getheader("Allow", "")
        response.read()
        conn.request("GET", "/health")
        assert conn.getresponse().status == 200
        conn.close()
    finally:
        stop(running["process"])
        running["log"].close()


# --- uploads in memory -----------------------------------------------------------------------
def test_a_predict_sized_body_is_kept_in_memory_a_bigger_one_is_not(tmp_config, shipped_predictor):
    app = make_app(tmp_config, shipped_predictor, max_upload_bytes=5000)
    with app.test_request_context("/predict", method="POST"):
        request = UploadRequest({"REQUEST_METHOD": "POST"})
        assert isinstance(request._get_file_stream(5000 + MULTIPART_SLACK, "image/jpeg"), BytesIO)
        spooled = request._get_file_stream(5001 + MULTIPART_SLACK, "image/jpeg")
        assert not isinstance(spooled, BytesIO)  # Werkzeug's spooled temporary file
        spooled.close()
    state(app).recorder.close()


def test_uploads_kept_in_memory_still_meet_their_limit(tmp_config, shipped_predictor):
    app = make_app(tmp_config, shipped_predictor, max_upload_bytes=50_000)
    client = app.test_client()
    photo = product_png()
    assert upload(client, photo).get_json()["category"]
    too_big = upload(client, photo + bytes(50_001 - len(photo)))
    assert too_big.status_code == 413 and too_big.get_json()["code"] == "file_too_large"
    state(app).recorder.close()

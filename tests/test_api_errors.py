"""Every error is JSON {error, status, code, timestamp, request_id}; bad input never fails the service."""

from __future__ import annotations

import io
import json

import pytest
from api_support import (
    assert_error,
    image_bytes,
    make_app,
    product_png,
    real_photos,
    state,
    upload,
    upload_batch,
)
from PIL import Image


def test_404_and_405_are_json(client):
    assert_error(client.get("/no/such/endpoint"), 404, "not_found")
    response = client.delete("/predict")
    assert_error(response, 405, "method_not_allowed")
    assert "POST" in response.headers["Allow"]
    assert_error(client.get("/predict"), 405)


def test_500_is_json_and_logged(tmp_config, shipped_predictor, capsys):
    app = make_app(tmp_config, shipped_predictor, api_log_level="INFO")

    def broken():
        raise RuntimeError("boom")

    app.add_url_rule("/broken", "broken", broken)  # a real failing view, not a mock
    body = assert_error(app.test_client().get("/broken"), 500, "internal_error")
    assert "boom" not in body["error"]  # internals are not leaked to clients
    logged = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line.startswith("{")]
    errors = [line for line in logged if line["level"] == "ERROR"]
    assert errors and errors[0]["request_id"] == body["request_id"]
    assert "RuntimeError: boom" in errors[0]["exception"]
    state(app).recorder.close()


@pytest.mark.parametrize("make_request", [
    lambda c: c.post("/predict"),
    lambda c: c.post("/predict", data={}, content_type="multipart/form-data"),
    lambda c: c.post("/predict", data={"image": (io.BytesIO(product_png()), "x.png")},
                     content_type="multipart/form-data"),
    lambda c: c.post("/predict", data={"file": "just text"}, content_type="multipart/form-data"),
    lambda c: c.post("/predict", json={"file": "abc"}),
], ids=["no-body", "empty-form", "wrong-field", "text-field", "json-body"])
def test_missing_file_is_400(client, make_request):
    body = assert_error(make_request(client), 400, "missing_file")
    assert "file" in body["error"]


def test_empty_file_is_400(client):
    assert_error(upload(client, b"", "empty.jpg"), 400, "empty_file")
    assert_error(upload(client, b"", ""), 400, "empty_file")  # a form sent with no file chosen


@pytest.mark.parametrize("data", [
    b"hello, this is text",
    b"%PDF-1.4\n1 0 obj<<>>endobj\n" * 20,
    b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"></svg>',
    image_bytes(Image.new("RGB", (16, 16)), "ICO"),  # a real image, but not a format we accept
    bytes(range(256)) * 4,
], ids=["text", "pdf", "svg", "ico", "binary"])
def test_not_an_image_is_400_unsupported_format(client, data):
    # 400, as the spec's error table counts "no file, wrong format" (it was 415 before issue 16)
    assert_error(upload(client, data, "photo.jpg"), 400, "unsupported_format")


def test_format_is_judged_by_content_not_name(client):
    png = product_png()
    ok = client.post("/predict", data={"file": (io.BytesIO(png), "notes.txt", "text/plain")},
                     content_type="multipart/form-data")
    assert ok.status_code == 200
    fake = client.post("/predict", data={"file": (io.BytesIO(b"plain text"), "photo.jpg", "image/jpeg")},
                       content_type="multipart/form-data")
    assert_error(fake, 400, "unsupported_format")


def test_corrupt_and_truncated_images_are_400(client):
    photo = real_photos(1)[0]
    assert_error(upload(client, photo[:300]), 400, "truncated_image")
    broken_png = bytearray(product_png())
    broken_png[60:80] = b"\xff" * 20  # inside the compressed data
    assert_error(upload(client, bytes(broken_png)), 400, "corrupt_image")


def test_decompression_bomb_is_400(client):
    bomb = image_bytes(Image.new("1", (9000, 9000)))  # 81 MP of nothing: a few kB of PNG
    assert len(bomb) < 100_000
    assert_error(upload(client, bomb, "bomb.png"), 400, "image_too_large")


def test_body_over_10_mb_is_413(client):
    big = b"\xff\xd8\xff" + bytes(10 * 1024 * 1024 + 100_000)
    assert_error(upload(client, big, "huge.jpg"), 413, "payload_too_large")


def test_file_just_over_the_limit_is_413(tmp_config, shipped_predictor):
    app = make_app(tmp_config, shipped_predictor, max_upload_bytes=5000)
    client = app.test_client()
    assert_error(upload(client, bytes(5001)), 413, "file_too_large")
    assert upload(client, product_png()).status_code == 200  # a smaller photo still works
    state(app).recorder.close()


def test_batch_file_over_the_limit_fails_alone(tmp_config, shipped_predictor):
    app = make_app(tmp_config, shipped_predictor, max_upload_bytes=5000)
    body = upload_batch(app.test_client(), [(product_png(), "ok.png"), (bytes(6000), "big.jpg")]).get_json()
    assert [r["status"] for r in body["results"]] == ["success", "error"]
    assert body["results"][1]["code"] == "file_too_large"
    state(app).recorder.close()


def test_batch_body_limit_is_413(tmp_config, shipped_predictor):
    app = make_app(tmp_config, shipped_predictor, max_batch_upload_bytes=20_000)
    response = upload_batch(app.test_client(), [(bytes(8000), f"{i}.jpg") for i in range(3)])
    assert_error(response, 413, "payload_too_large")
    state(app).recorder.close()


def test_batch_without_files_is_400(client):
    assert_error(client.post("/predict_batch", data={}, content_type="multipart/form-data"), 400,
                 "missing_files")
    # the single-file field name does not count for the batch
    response = client.post("/predict_batch", data={"file": (io.BytesIO(product_png()), "a.png")},
                           content_type="multipart/form-data")
    assert_error(response, 400, "missing_files")


def test_more_than_fifty_files_is_400(client):
    response = upload_batch(client, [(b"x", f"{i}.jpg") for i in range(51)])
    body = assert_error(response, 400, "too_many_files")
    assert body["max_batch_files"] == 50


HOSTILE_NAMES = [
    "../../../../etc/passwd",
    "..\\..\\windows\\system32\\config.jpg",
    "<script>alert(1)</script>.jpg",
    "photo.jpg; rm -rf /",
    "фото товара 📷.jpg",
    "a" * 5000 + ".jpg",
    "/absolute/path.png",
    "tab\tand\x07bell.jpg",
    ".hidden",
    "",
]


@pytest.mark.parametrize("name", HOSTILE_NAMES, ids=range(len(HOSTILE_NAMES)))
def test_hostile_file_names_do_not_matter(client, name):
    response = upload(client, product_png(), name)
    assert response.status_code == 200, response.get_json()


def test_hostile_names_are_echoed_harmlessly_in_batch(client):
    items = [(product_png(), name) for name in HOSTILE_NAMES]
    body = upload_batch(client, items).get_json()
    assert body["successful"] == len(HOSTILE_NAMES)
    names = [r["filename"] for r in body["results"]]
    assert names[0] == "../../../../etc/passwd"  # echoed as data, never used as a path
    assert len(names[5]) == 255
    assert all(ord(ch) >= 32 for name in names for ch in name)


def test_request_id_is_echoed_when_sane(client):
    response = client.get("/health", headers={"X-Request-ID": "batch-2026-11-25.0001"})
    assert response.headers["X-Request-ID"] == "batch-2026-11-25.0001"
    body = assert_error(client.get("/missing", headers={"X-Request-ID": "abc-123"}), 404)
    assert body["request_id"] == "abc-123"


@pytest.mark.parametrize("bad_id", ["x" * 300, "has space", "quote\"s", "", "-leading-dash"])
def test_insane_request_ids_are_replaced(client, bad_id):
    response = client.get("/health", headers={"X-Request-ID": bad_id})
    assert response.headers["X-Request-ID"] != bad_id
    assert len(response.headers["X-Request-ID"]) == 32


def test_every_response_has_a_request_id(client):
    for response in (client.get("/"), client.get("/metrics"), client.get("/docs"), client.get("/zzz"),
                     upload(client, b"junk")):
        assert response.headers.get("X-Request-ID")

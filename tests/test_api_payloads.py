"""JSON bodies (api/payloads.py) and the reference's keys (api/compat.py): the pure functions,
then the JSON forms through the app (limits, per-item errors, history rows)."""

from __future__ import annotations

import base64
import json

import pytest
from api_support import assert_error, flush, make_app, product_png, real_photos, state, upload

from fashion_classifier.api import compat
from fashion_classifier.api.errors import ApiError
from fashion_classifier.api.payloads import (
    JSON_SLACK,
    batch_images,
    decode_base64,
    encoded_limit,
    json_body_limit,
    parse_json,
    single_image,
)
from fashion_classifier.api.uploads import FileTooLargeError
from fashion_classifier.history import HistoryDB

DATA = bytes(range(256)) * 3


def code_of(call) -> tuple[int, str]:
    with pytest.raises(ApiError) as info:
        call()
    return info.value.status, info.value.code


# --- decode_base64 -------------------------------------------------------------------------
@pytest.mark.parametrize("text", [
    base64.b64encode(DATA).decode(),
    base64.encodebytes(DATA).decode(),  # MIME line breaks
    "data:image/jpeg;base64," + base64.b64encode(DATA).decode(),
    base64.b64encode(DATA).decode().rstrip("="),
    base64.urlsafe_b64encode(DATA).decode(),
    base64.urlsafe_b64encode(DATA).decode().rstrip("="),
], ids=["plain", "mime", "data-url", "no-padding", "url-safe", "url-safe-no-padding"])
def test_base64_forms_clients_send_decode(text):
    assert decode_base64(text, len(DATA)) == DATA


@pytest.mark.parametrize("text", ["not base64!", "QUJD*", "Zm9v\u00e9", "A", "QUJDRA=x"])
def test_broken_base64_is_a_400_with_its_code(text):
    assert code_of(lambda: decode_base64(text, 1000)) == (400, "invalid_base64")


def test_size_limit_applies_to_the_decoded_bytes():
    text = base64.b64encode(DATA).decode()
    assert decode_base64(text, len(DATA)) == DATA
    with pytest.raises(FileTooLargeError) as info:
        decode_base64(text, len(DATA) - 1)
    assert (info.value.status, info.value.code) == (413, "file_too_large")
    # a text far too long is refused on its length, before any decoding (it is not even valid)
    with pytest.raises(FileTooLargeError):
        decode_base64("!" * (encoded_limit(100) + 1), 100)


def test_limits_of_the_encoded_forms():
    assert encoded_limit(3) == 4 and encoded_limit(4) == 8 and encoded_limit(0) == 0
    assert len(base64.b64encode(bytes(10 * 1024 * 1024))) == encoded_limit(10 * 1024 * 1024)
    assert json_body_limit(300) == 400 + JSON_SLACK


# --- parse_json, single_image, batch_images --------------------------------------------------------
@pytest.mark.parametrize("raw", [b"{not json", b"\xff\xfe\x00garbage", b"[" * 100_000, b""])
def test_bodies_that_are_not_json_are_400_invalid_json(raw):
    assert code_of(lambda: parse_json(raw)) == (400, "invalid_json")


def test_single_image_shapes():
    assert single_image({"image": base64.b64encode(b"abc").decode(), "extra": 1}, 10) == b"abc"
    for body in ({}, [], "image", {"images": ["x"]}, None):
        assert code_of(lambda body=body: single_image(body, 10)) == (400, "missing_file")
    assert code_of(lambda: single_image({"image": 12}, 10)) == (400, "invalid_json")
    assert code_of(lambda: single_image({"image": "@@"}, 10)) == (400, "invalid_base64")


def test_batch_images_names_and_forms():
    texts = [base64.b64encode(bytes([i]) * 5).decode() for i in range(3)]
    plain = batch_images({"images": texts}, 50)
    served = batch_images({"instances": [{"b64": t} for t in texts]}, 50)
    names = ["image_0.jpg", "image_1.jpg", "image_2.jpg"]
    assert [i.name for i in plain] == [i.name for i in served] == names
    assert [i.load(10) for i in plain] == [i.load(10) for i in served] == [bytes([i]) * 5 for i in range(3)]
    bad = batch_images({"images": ["!!"]}, 50)[0]  # decoded only when its turn comes
    assert code_of(lambda: bad.load(10)) == (400, "invalid_base64")


@pytest.mark.parametrize("body,code", [
    ({}, "missing_files"), ([], "missing_files"), ({"images": []}, "missing_files"),
    ({"images": ["a"], "instances": [{"b64": "a"}]}, "invalid_json"),
    ({"images": "abc"}, "invalid_json"), ({"images": ["QUJD", 5]}, "invalid_json"),
    ({"instances": ["QUJD"]}, "invalid_json"), ({"instances": [{"image": "QUJD"}]}, "invalid_json"),
    ({"instances": [{"b64": None}]}, "invalid_json"),
    ({"images": ["QUJD"] * 4}, "too_many_files"),
])
def test_batch_shapes_that_fail_the_whole_request(body, code):
    assert code_of(lambda: batch_images(body, 3)) == (400, code)


# --- compat ----------------------------------------------------------------------------------
def test_reference_keys_are_added_beside_ours():
    item = compat.prediction({"category": "Tops", "all_predictions": {"Tops": 0.9, "Tshirts": 0.1}})
    assert item["all_probabilities"] == item["all_predictions"] and item["all_probabilities"] is not \
        item["all_predictions"]
    body = compat.batch({"results": [{"status": "error", "code": "empty_file"}, dict(item)], "total": 2})
    assert body["total_processed"] == 2 and "all_probabilities" not in body["results"][0]
    assert compat.classes({"classes": ["a"], "count": 1}) == {"classes": ["a"], "count": 1, "total": 1}
    assert compat.health({"model_loaded": False}, 10)["classes"] == 0
    home = compat.index({"model_loaded": True}, 10)
    assert home["status"] == "running" and home["model"] == {"loaded": True, "classes": 10}


def test_reference_stats_before_and_after_images():
    empty = compat.stats({"total_predictions": 0, "uptime_seconds": 59.9}, 0, False)
    assert (empty["total_images_processed"], empty["success_rate"]) == (0, 0)
    assert empty["uptime_human"] == "0:00:59"
    body = compat.stats({"total_predictions": 2, "uptime_seconds": 93784.2}, 3, True)
    assert (body["successful_predictions"], body["failed_predictions"]) == (2, 1)
    assert body["success_rate"] == 66.67 and body["uptime_human"] == "1 day, 2:03:04" and body["model_loaded"]


# --- through the app -------------------------------------------------------------------------------
def test_json_body_over_its_limit_is_413(tmp_config, shipped_predictor):
    app = make_app(tmp_config, shipped_predictor, max_upload_bytes=1000)
    client = app.test_client()
    fits = base64.b64encode(b"x" * 1000).decode()
    assert_error(client.post("/predict", json={"image": fits}), 400, "unsupported_format")
    assert_error(client.post("/predict", json={"image": base64.b64encode(b"x" * 1001).decode()}), 413,
                 "file_too_large")
    huge = json.dumps({"image": "A" * (json_body_limit(1000) + 10)})
    too_big = client.post("/predict", data=huge, content_type="application/json")
    assert_error(too_big, 413, "payload_too_large")
    state(app).recorder.close()


def test_json_batch_items_fail_alone_and_are_recorded(app, client, tmp_config):
    photos = real_photos(2)
    images = [base64.b64encode(photos[0]).decode(), "%%%", base64.b64encode(b"").decode(),
              base64.b64encode(bytes(11 * 1024 * 1024)).decode(), base64.b64encode(photos[1]).decode()]
    response = client.post("/predict_batch", json={"images": images})
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    body = response.get_json()
    outcomes = [(r["filename"], r["status"], r.get("code")) for r in body["results"]]
    assert outcomes == [("image_0.jpg", "success", None), ("image_1.jpg", "error", "invalid_base64"),
                        ("image_2.jpg", "error", "empty_file"), ("image_3.jpg", "error", "file_too_large"),
                        ("image_4.jpg", "success", None)]
    assert body["total"] == body["total_processed"] == 5 and body["failed"] == 3
    flush(app)
    db = HistoryDB(tmp_config.path("history_db"))
    row = dict(db.execute("SELECT * FROM api_calls WHERE endpoint = '/predict_batch'")[0])
    db.close()
    assert (row["images"], row["failed"]) == (5, 3)
    assert row["error"] == "empty_file,file_too_large,invalid_base64"


def test_json_and_multipart_answer_the_same(client):
    photo = real_photos(1)[0]
    by_upload = upload(client, photo).get_json()
    by_json = client.post("/predict", json={"image": base64.b64encode(photo).decode()}).get_json()
    for key in ("category", "confidence", "all_predictions", "all_probabilities", "top3", "tier"):
        assert by_json[key] == by_upload[key], key
    assert list(by_json["all_probabilities"]) == list(by_upload["all_predictions"])  # highest first


def test_stats_count_images_of_both_endpoints(app, client):
    upload(client, product_png())
    upload(client, b"not an image")
    client.post("/predict_batch", json={"images": [base64.b64encode(product_png()).decode(), "!!"]})
    client.post("/predict", json={"image": "!!"})  # refused before it is an image: not counted
    flush(app)
    stats = client.get("/stats").get_json()
    assert (stats["total_images_processed"], stats["successful_predictions"], stats["failed_predictions"]) \
        == (4, 2, 2)
    assert stats["success_rate"] == 50.0 and stats["model_loaded"] is True
    assert stats["total_predictions"] == 2, "our own keys stay"
